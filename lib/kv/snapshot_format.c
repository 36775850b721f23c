/* The snapshot container (snapshot_format.h): a frame writer (to a growable
 * buffer, the caller's buffer, or a temporary file renamed into place) that
 * takes payloads piece by piece and compresses them in chunks, and a reader
 * over memory that validates every byte before handing out a payload, with
 * the header checks it shares with the streaming reader (snapshot_stream.c).
 * zstd's own allocations go through the ef_* allocator too
 * (ZSTD_customMem), so injected allocation failures reach it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "base/crc32.h"
#include "kv/snapshot_format.h"
#include "kv/snapshot_internal.h"

#ifndef EF_NO_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: zstd allocates through ef_malloc */
#include <zstd.h>
#include <zstd_errors.h>
#endif

/* zstd level 1: KV rows barely compress (docs/snapshots.md), so speed wins. */
#define SNAP_ZSTD_LEVEL 1

/* ---- little-endian helpers ---- */

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_le32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void ef_snap_tag_name(uint32_t tag, char out[5]) {
    for (int i = 0; i < 4; i++) {
        char c = (char)(tag >> (8 * i));
        out[i] = (c >= 0x20 && c < 0x7F) ? c : '?';
    }
    out[4] = '\0';
}

/* ---- zstd with the ef_* allocator ---- */

#ifndef EF_NO_ZSTD
static void *zstd_alloc(void *opaque, size_t size) {
    (void)opaque;
    return ef_malloc(size);
}
static void zstd_free(void *opaque, void *address) {
    (void)opaque;
    ef_free(address);
}
static const ZSTD_customMem k_zstd_mem = {zstd_alloc, zstd_free, NULL};
#endif

void *ef_snap_zstd_dctx_new(void) {
#ifdef EF_NO_ZSTD
    return NULL;
#else
    return ZSTD_createDCtx_advanced(k_zstd_mem);
#endif
}

/* ---- payload buffers ---- */

int ef_snap_buf_reserve(ef_snap_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (extra <= b->cap - b->len) return 1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return 0;
    }
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) cap *= 2;
    uint8_t *grown = ef_realloc(b->data, cap);
    if (!grown) {
        b->failed = 1;
        return 0;
    }
    b->data = grown;
    b->cap = cap;
    return 1;
}

void ef_snap_buf_put(ef_snap_buf *b, const void *src, size_t n) {
    if (n == 0 || !ef_snap_buf_reserve(b, n)) return;
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

void ef_snap_buf_put_u32(ef_snap_buf *b, uint32_t v) {
    uint8_t le[4];
    put_le32(le, v);
    ef_snap_buf_put(b, le, 4);
}

void ef_snap_buf_put_u64(ef_snap_buf *b, uint64_t v) {
    uint8_t le[8];
    put_le64(le, v);
    ef_snap_buf_put(b, le, 8);
}

void ef_snap_buf_free(ef_snap_buf *b) {
    ef_free(b->data);
    memset(b, 0, sizeof *b);
}

const uint8_t *ef_snap_cur_bytes(ef_snap_cur *c, uint64_t n) {
    if (c->failed || n > c->n) {
        c->failed = 1;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->n -= n;
    return p;
}

uint32_t ef_snap_cur_u32(ef_snap_cur *c) {
    const uint8_t *p = ef_snap_cur_bytes(c, 4);
    return p ? get_le32(p) : 0;
}

uint64_t ef_snap_cur_u64(ef_snap_cur *c) {
    const uint8_t *p = ef_snap_cur_bytes(c, 8);
    return p ? get_le64(p) : 0;
}

/* ---- CRC of a concatenation ---- */

/* a·b modulo the CRC polynomial, in the CRC's reflected bit order (bit 31 is x^0). */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b) {
    uint32_t p = 0;
    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m) p ^= b;
        b = (b >> 1) ^ (0xEDB88320u & (0u - (b & 1u))); /* b·x */
    }
    return p;
}

/* CRC-32 of A‖B from crc(A), crc(B) and |B|: crc(A)·x^(8|B|) ⊕ crc(B). A
 * streamed zstd frame's header (which holds the compressed length) is only
 * known after its payload, yet the CRC covers the header first. */
static uint32_t crc32_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
    uint32_t power = 1u << 31; /* x^0 */
    uint32_t base = 1u << 23;  /* x^8: one zero byte */
    for (; len_b; len_b >>= 1) {
        if (len_b & 1) power = gf2_mulmod(power, base);
        base = gf2_mulmod(base, base);
    }
    return gf2_mulmod(crc_a, power) ^ crc_b;
}

/* ---- writer ---- */

struct ef_snap_writer {
    FILE *file;      /* file writer: the temporary file, NULL for memory */
    char *path;      /* final name (file writer) */
    char *tmp_path;  /* "<path>.tmp-<pid>-<n>" */
    ef_snap_buf mem; /* memory writer: the snapshot so far */
    uint8_t *fixed;  /* buffer writer: the caller's buffer [fixed_cap] */
    size_t fixed_cap;
    int32_t is_fixed;
    uint64_t total;  /* bytes written so far (stored or only counted) */
    uint8_t *chunk;  /* [EF_SNAP_CHUNK_BYTES] raw payload waiting to be compressed */
    size_t chunk_len;
    uint8_t *scratch;/* [scratch_cap] the compressed chunk */
    size_t scratch_cap;
    void *cctx;      /* ZSTD_CCtx, created on first use */
    int32_t failed;  /* a write failed: only free is allowed */
    int32_t finished;
};

/* Appends n bytes to the writer's destination. */
static ef_status emit(ef_snap_writer *w, const void *src, size_t n) {
    if (n == 0) return EF_OK;
    const uint64_t at = w->total;
    w->total += n;
    if (w->is_fixed) { /* past the end: only counted */
        if (at < w->fixed_cap) memcpy(w->fixed + at, src, n < w->fixed_cap - at ? n : (size_t)(w->fixed_cap - at));
        return EF_OK;
    }
    if (w->file) {
        if (fwrite(src, 1, n, w->file) != n)
            return ef_err(EF_ERR_IO, "snapshot: cannot write '%s': %s", w->tmp_path, strerror(errno));
        return EF_OK;
    }
    ef_snap_buf_put(&w->mem, src, n);
    if (w->mem.failed)
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory growing the buffer past %zu bytes", w->mem.len);
    return EF_OK;
}

static ef_status emit_header(ef_snap_writer *w) {
    uint8_t h[EF_SNAP_HEADER_BYTES];
    memcpy(h, EF_SNAP_MAGIC, 8);
    put_le32(h + 8, EF_SNAP_VERSION);
    put_le32(h + 12, 0); /* flags: none defined in version 1 */
    return emit(w, h, sizeof h);
}

ef_status ef_snap_writer_open_mem(ef_snap_writer **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_writer_open_mem: out is NULL");
    ef_snap_writer *w = ef_calloc(1, sizeof *w);
    if (!w) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a writer");
    ef_status st = emit_header(w);
    if (st != EF_OK) {
        ef_snap_writer_free(w);
        return st;
    }
    *out = w;
    return EF_OK;
}

ef_status ef_snap_writer_open_buffer(void *buf, size_t cap, ef_snap_writer **out) {
    if (!out || (cap && !buf)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_writer_open_buffer: NULL argument");
    ef_snap_writer *w = ef_calloc(1, sizeof *w);
    if (!w) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a writer");
    w->fixed = buf;
    w->fixed_cap = cap;
    w->is_fixed = 1;
    ef_status st = emit_header(w);
    if (st != EF_OK) {
        ef_snap_writer_free(w);
        return st;
    }
    *out = w;
    return EF_OK;
}

uint64_t ef_snap_writer_size(const ef_snap_writer *w) { return w ? w->total : 0; }

ef_status ef_snap_writer_open_file(const char *path, ef_snap_writer **out) {
    if (!path || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_writer_open_file: NULL argument");
    static atomic_uint counter; /* several snapshots of one process may be written at once */
    ef_snap_writer *w = ef_calloc(1, sizeof *w);
    if (!w) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a writer");
    size_t n = strlen(path) + 48;
    w->path = ef_strdup(path);
    w->tmp_path = ef_malloc(n);
    if (!w->path || !w->tmp_path) {
        ef_snap_writer_free(w);
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for a file name");
    }
    snprintf(w->tmp_path, n, "%s.tmp-%lld-%u", path, (long long)ef_process_id(),
             atomic_fetch_add(&counter, 1u));
    w->file = ef_fopen(w->tmp_path, "wb");
    if (!w->file) {
        ef_status st = ef_err(EF_ERR_IO, "snapshot: cannot create '%s': %s", w->tmp_path, strerror(errno));
        ef_snap_writer_free(w);
        return st;
    }
    ef_status st = emit_header(w);
    if (st != EF_OK) {
        ef_snap_writer_free(w);
        return st;
    }
    *out = w;
    return EF_OK;
}

/* Compresses src[len] (at most one chunk) into w->scratch; *got = 0 when
 * zstd is absent or fails for another reason than memory (the frame is then
 * stored raw). */
static ef_status compress_chunk(ef_snap_writer *w, const void *src, size_t len, size_t *got) {
    *got = 0;
#ifdef EF_NO_ZSTD
    (void)w;
    (void)src;
    (void)len;
    return EF_OK;
#else
    size_t bound = ZSTD_compressBound(EF_SNAP_CHUNK_BYTES);
    if (!w->cctx) {
        w->cctx = ZSTD_createCCtx_advanced(k_zstd_mem);
        if (!w->cctx) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a zstd context");
    }
    if (!w->scratch) {
        w->scratch = ef_malloc(bound);
        if (!w->scratch) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for %zu compressed bytes", bound);
        w->scratch_cap = bound;
    }
    size_t n = ZSTD_compressCCtx(w->cctx, w->scratch, w->scratch_cap, src, len, SNAP_ZSTD_LEVEL);
    if (ZSTD_isError(n)) {
        /* zstd reports its own allocation failures this way */
        if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
            return ef_err(EF_ERR_NO_MEMORY, "snapshot: zstd ran out of memory compressing %zu bytes", len);
        return EF_OK; /* store raw */
    }
    *got = n;
    return EF_OK;
#endif
}

/* What a sink does with the bytes it is given. */
enum {
    SINK_MEASURE, /* first pass: CRC of the raw frame, compressed size and CRC; nothing written */
    SINK_RAW,     /* write the payload as it is */
    SINK_ZSTD     /* write the payload compressed, chunk by chunk */
};

struct ef_snap_sink {
    ef_snap_writer *w;
    int32_t mode;
    int32_t compress;   /* MEASURE: still worth compressing (zstd present, no failure) */
    uint64_t raw_len, fed;
    uint32_t crc;       /* MEASURE: CRC of the raw frame (header first); RAW/ZSTD: of what was written */
    uint32_t crc_z;     /* MEASURE: CRC of the compressed payload alone */
    uint64_t z_len;     /* compressed bytes so far */
};

/* Handles the chunk collected so far (MEASURE and ZSTD modes). */
static ef_status sink_flush(ef_snap_sink *k) {
    ef_snap_writer *w = k->w;
    const size_t n = w->chunk_len;
    if (n == 0) return EF_OK;
    w->chunk_len = 0; /* the bytes stay in w->chunk: a one-chunk frame is written from there */
    size_t got = 0;
    if (k->mode == SINK_MEASURE) {
        k->crc = ef_crc32(k->crc, w->chunk, n);
        if (!k->compress) return EF_OK;
        EF_TRY(compress_chunk(w, w->chunk, n, &got));
        if (got == 0) k->compress = 0;
        k->crc_z = ef_crc32(k->crc_z, w->scratch, got);
        k->z_len += got;
        return EF_OK;
    }
    EF_TRY(compress_chunk(w, w->chunk, n, &got));
    if (got == 0) return ef_err(EF_ERR_STATE, "snapshot: a chunk that compressed before no longer does");
    k->crc = ef_crc32(k->crc, w->scratch, got);
    k->z_len += got;
    return emit(w, w->scratch, got);
}

ef_status ef_snap_sink_put(ef_snap_sink *k, const void *data, size_t n) {
    if (n == 0) return EF_OK;
    if (!data || n > k->raw_len - k->fed)
        return ef_err(EF_ERR_INVALID_ARG, "snapshot: a frame of %llu bytes was given more",
                      (unsigned long long)k->raw_len);
    k->fed += n;
    if (k->mode == SINK_RAW) {
        k->crc = ef_crc32(k->crc, data, n);
        return emit(k->w, data, n);
    }
    ef_snap_writer *w = k->w;
    const uint8_t *p = data;
    while (n > 0) {
        size_t take = EF_SNAP_CHUNK_BYTES - w->chunk_len;
        if (take > n) take = n;
        memcpy(w->chunk + w->chunk_len, p, take);
        w->chunk_len += take;
        p += take;
        n -= take;
        if (w->chunk_len == EF_SNAP_CHUNK_BYTES) EF_TRY(sink_flush(k));
    }
    return EF_OK;
}

ef_status ef_snap_sink_put_u32(ef_snap_sink *k, uint32_t v) {
    uint8_t le[4];
    put_le32(le, v);
    return ef_snap_sink_put(k, le, 4);
}

ef_status ef_snap_sink_put_u64(ef_snap_sink *k, uint64_t v) {
    uint8_t le[8];
    put_le64(le, v);
    return ef_snap_sink_put(k, le, 8);
}

/* Runs produce through a sink in `mode`; checks that it gave raw_len bytes. */
static ef_status run_producer(ef_snap_sink *k, ef_snap_produce_fn produce, void *ctx) {
    k->w->chunk_len = 0;
    ef_status st = produce(ctx, k);
    if (st == EF_OK && k->mode != SINK_RAW) st = sink_flush(k);
    if (st == EF_OK && k->fed != k->raw_len)
        st = ef_err(EF_ERR_INVALID_ARG, "snapshot: a frame of %llu bytes was given %llu",
                    (unsigned long long)k->raw_len, (unsigned long long)k->fed);
    return st;
}

static void frame_header(uint8_t h[EF_SNAP_FRAME_HEADER_BYTES], uint32_t tag, uint64_t raw, uint64_t stored,
                         uint32_t codec) {
    put_le32(h, tag);
    put_le64(h + 4, raw);
    put_le64(h + 12, stored);
    put_le32(h + 20, codec);
    put_le32(h + EF_SNAP_FRAME_CRC_OFFSET, 0);
}

/* The frame: measure (CRC, compressed size), header, then the payload from
 * the measuring pass's buffers (one chunk) or from a second production. */
static ef_status write_frame_stream(ef_snap_writer *w, uint32_t tag, uint64_t raw_len, ef_snap_produce_fn produce,
                                    void *ctx) {
    if (!w->chunk && !(w->chunk = ef_malloc(EF_SNAP_CHUNK_BYTES)))
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for a %zu-byte chunk", EF_SNAP_CHUNK_BYTES);
    uint8_t h[EF_SNAP_FRAME_HEADER_BYTES];
    frame_header(h, tag, raw_len, raw_len, EF_SNAP_CODEC_NONE);
    ef_snap_sink m = {w, SINK_MEASURE, 0, raw_len, 0, ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET), 0, 0};
#ifndef EF_NO_ZSTD
    m.compress = raw_len >= 64; /* below that the zstd frame header alone eats the gain */
#endif
    EF_TRY(run_producer(&m, produce, ctx));
    const int zstd = m.compress && m.z_len < raw_len;
    uint32_t crc = m.crc;
    if (zstd) {
        frame_header(h, tag, raw_len, m.z_len, EF_SNAP_CODEC_ZSTD);
        crc = crc32_concat(ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET), m.crc_z, m.z_len);
    }
    put_le32(h + EF_SNAP_FRAME_CRC_OFFSET, crc);
    EF_TRY(emit(w, h, sizeof h));
    if (raw_len <= EF_SNAP_CHUNK_BYTES) /* still in the chunk and scratch buffers */
        return zstd ? emit(w, w->scratch, (size_t)m.z_len) : emit(w, w->chunk, (size_t)raw_len);
    ef_snap_sink k = {w, zstd ? SINK_ZSTD : SINK_RAW, 0, raw_len, 0, ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET), 0, 0};
    EF_TRY(run_producer(&k, produce, ctx));
    if (k.crc != crc || (zstd && k.z_len != m.z_len)) {
        char name[5];
        ef_snap_tag_name(tag, name);
        return ef_err(EF_ERR_STATE, "snapshot frame '%s' changed while it was written", name);
    }
    return EF_OK;
}

ef_status ef_snap_write_frame_stream(ef_snap_writer *w, uint32_t tag, uint64_t raw_len, ef_snap_produce_fn produce,
                                     void *ctx) {
    if (!w || !produce) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_write_frame_stream: NULL argument");
    if (w->failed || w->finished) return ef_err(EF_ERR_STATE, "snapshot writer: already failed or finished");
    if (tag == EF_SNAP_TAG_END) return ef_err(EF_ERR_INVALID_ARG, "snapshot writer: the end frame is written by finish");
    ef_status st = write_frame_stream(w, tag, raw_len, produce, ctx);
    if (st != EF_OK) w->failed = 1;
    return st;
}

/* A frame already in memory, as a producer. */
typedef struct bytes_producer {
    const void *data;
    size_t len;
} bytes_producer;

static ef_status produce_bytes(void *ctx, ef_snap_sink *sink) {
    const bytes_producer *b = ctx;
    return ef_snap_sink_put(sink, b->data, b->len);
}

ef_status ef_snap_write_frame(ef_snap_writer *w, uint32_t tag, const void *data, uint64_t len) {
    if (!w || (len && !data)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_write_frame: NULL argument");
    if (len > SIZE_MAX) return ef_err(EF_ERR_INVALID_ARG, "snapshot frame of %llu bytes is too large for this host",
                                      (unsigned long long)len);
    bytes_producer b = {data, (size_t)len};
    return ef_snap_write_frame_stream(w, tag, len, produce_bytes, &b);
}

ef_status ef_snap_writer_finish(ef_snap_writer *w) {
    if (!w) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_writer_finish: writer is NULL");
    if (w->failed || w->finished) return ef_err(EF_ERR_STATE, "snapshot writer: already failed or finished");
    uint8_t h[EF_SNAP_FRAME_HEADER_BYTES] = {0};
    put_le32(h, EF_SNAP_TAG_END);
    put_le32(h + EF_SNAP_FRAME_CRC_OFFSET, ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET));
    ef_status st = emit(w, h, sizeof h);
    if (w->file) {
        if (fclose(w->file) != 0 && st == EF_OK)
            st = ef_err(EF_ERR_IO, "snapshot: cannot close '%s': %s", w->tmp_path, strerror(errno));
        w->file = NULL;
        if (st == EF_OK) st = ef_file_rename(w->tmp_path, w->path);
        if (st != EF_OK) ef_file_remove(w->tmp_path);
        else w->finished = 1; /* nothing left to remove */
    } else if (st == EF_OK) {
        w->finished = 1;
    }
    if (st != EF_OK) w->failed = 1;
    return st;
}

const uint8_t *ef_snap_writer_bytes(const ef_snap_writer *w, size_t *size) {
    if (!w || !w->finished || w->path || w->is_fixed) {
        if (size) *size = 0;
        return NULL;
    }
    if (size) *size = w->mem.len;
    return w->mem.data;
}

void ef_snap_writer_free(ef_snap_writer *w) {
    if (!w) return;
    if (w->file) {
        fclose(w->file);
        ef_file_remove(w->tmp_path); /* unfinished: leave nothing behind */
    }
#ifndef EF_NO_ZSTD
    ZSTD_freeCCtx(w->cctx);
#endif
    ef_free(w->scratch);
    ef_free(w->chunk);
    ef_snap_buf_free(&w->mem);
    ef_free(w->path);
    ef_free(w->tmp_path);
    ef_free(w);
}

/* ---- reader ---- */

void ef_snap_parse_frame_head(const uint8_t *h, ef_snap_frame_head *fh) {
    fh->tag = get_le32(h);
    fh->raw = get_le64(h + 4);
    fh->stored = get_le64(h + 12);
    fh->codec = get_le32(h + 20);
    fh->crc = get_le32(h + EF_SNAP_FRAME_CRC_OFFSET);
    ef_snap_tag_name(fh->tag, fh->name);
}

ef_status ef_snap_check_frame_head(const ef_snap_frame_head *fh, uint64_t max_raw) {
    if (fh->raw > max_raw) /* checksummed, so not damage: state too big for the caller */
        return ef_err(EF_ERR_MISMATCH, "snapshot frame '%s' holds %llu bytes, more than the %llu this session can use",
                      fh->name, (unsigned long long)fh->raw, (unsigned long long)max_raw);
    if (fh->tag == EF_SNAP_TAG_END) {
        if (fh->raw != 0 || fh->stored != 0 || fh->codec != EF_SNAP_CODEC_NONE)
            return ef_err(EF_ERR_FORMAT, "snapshot end frame has a payload");
        return EF_OK;
    }
    if (fh->codec == EF_SNAP_CODEC_NONE) {
        if (fh->raw != fh->stored)
            return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' is uncompressed but its lengths differ", fh->name);
        return EF_OK;
    }
    if (fh->codec != EF_SNAP_CODEC_ZSTD)
        return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' has unknown codec %u", fh->name, fh->codec);
#ifdef EF_NO_ZSTD
    return ef_err(EF_ERR_UNSUPPORTED, "snapshot frame '%s' is zstd-compressed and this build has no zstd", fh->name);
#else
    if (fh->raw == 0) return ef_err(EF_ERR_FORMAT, "snapshot frame '%s': zstd codec on an empty payload", fh->name);
    if (fh->raw > SIZE_MAX) return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' is too large for this host", fh->name);
    return EF_OK;
#endif
}

ef_status ef_snap_check_file_header(const uint8_t *p, uint64_t size, uint32_t *version, uint32_t *flags) {
    if (size < EF_SNAP_HEADER_BYTES || memcmp(p, EF_SNAP_MAGIC, 8) != 0)
        return ef_err(EF_ERR_FORMAT, "not an EdgeFormer snapshot (%llu bytes, no \"%s\" header)",
                      (unsigned long long)size, EF_SNAP_MAGIC);
    *version = get_le32(p + 8);
    *flags = get_le32(p + 12);
    if (*version != EF_SNAP_VERSION)
        return ef_err(EF_ERR_FORMAT, "snapshot format version %u is not supported (this build reads version %u)",
                      *version, EF_SNAP_VERSION);
    if (*flags != 0) return ef_err(EF_ERR_FORMAT, "snapshot header has unknown flags 0x%x", *flags);
    return EF_OK;
}

ef_status ef_snap_reader_init(ef_snap_reader *r, const void *data, uint64_t size, uint64_t max_raw) {
    if (!r || (size && !data)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_reader_init: NULL argument");
    memset(r, 0, sizeof *r);
    EF_TRY(ef_snap_check_file_header(data, size, &r->version, &r->flags));
    r->data = data;
    r->size = size;
    r->pos = EF_SNAP_HEADER_BYTES;
    r->max_raw = max_raw;
    return EF_OK;
}

void ef_snap_frame_release(ef_snap_frame *f) {
    if (!f) return;
    ef_free(f->owned);
    memset(f, 0, sizeof *f);
}

void ef_snap_reader_close(ef_snap_reader *r) {
    if (!r) return;
#ifndef EF_NO_ZSTD
    ZSTD_freeDCtx(r->dctx);
#endif
    r->dctx = NULL;
}

/* Decompresses a zstd payload (checked by ef_snap_check_frame_head) into a fresh buffer of exactly raw bytes. */
static ef_status decode_zstd(ef_snap_reader *r, const char *name, const uint8_t *stored, uint64_t stored_len,
                             uint64_t raw, ef_snap_frame *f) {
#ifdef EF_NO_ZSTD /* ef_snap_check_frame_head refused the frame already */
    (void)r;
    (void)stored;
    (void)stored_len;
    (void)raw;
    (void)f;
    return ef_err(EF_ERR_UNSUPPORTED, "snapshot frame '%s' is zstd-compressed and this build has no zstd", name);
#else
    if (!r->dctx) {
        r->dctx = ef_snap_zstd_dctx_new();
        if (!r->dctx) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a zstd context");
    }
    uint8_t *out = ef_malloc((size_t)raw);
    if (!out)
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for frame '%s' (%llu bytes)", name,
                      (unsigned long long)raw);
    size_t got = ZSTD_decompressDCtx(r->dctx, out, (size_t)raw, stored, (size_t)stored_len);
    if (ZSTD_isError(got) || got != raw) {
        ef_free(out);
        if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
            return ef_err(EF_ERR_NO_MEMORY, "snapshot: zstd ran out of memory decoding frame '%s'", name);
        return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' does not decompress to its %llu bytes (%s)", name,
                      (unsigned long long)raw, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    }
    f->owned = out;
    f->data = out;
    return EF_OK;
#endif
}

ef_status ef_snap_reader_next(ef_snap_reader *r, ef_snap_frame *f) {
    if (!r || !f) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_reader_next: NULL argument");
    memset(f, 0, sizeof *f);
    if (!r->data || r->ended) return ef_err(EF_ERR_STATE, "snapshot reader: no more frames");
    uint64_t left = r->size - r->pos;
    if (left < EF_SNAP_FRAME_HEADER_BYTES)
        return ef_err(EF_ERR_FORMAT, "snapshot is truncated at offset %llu (no end frame)",
                      (unsigned long long)r->pos);
    const uint8_t *h = r->data + r->pos;
    ef_snap_frame_head fh;
    ef_snap_parse_frame_head(h, &fh);
    left -= EF_SNAP_FRAME_HEADER_BYTES;
    if (fh.stored > left)
        return ef_err(EF_ERR_FORMAT, "snapshot is truncated in frame '%s' at offset %llu (%llu bytes announced, %llu left)",
                      fh.name, (unsigned long long)r->pos, (unsigned long long)fh.stored, (unsigned long long)left);
    const uint8_t *stored = h + EF_SNAP_FRAME_HEADER_BYTES;
    uint32_t want = ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET);
    want = ef_crc32(want, stored, (size_t)fh.stored);
    if (want != fh.crc)
        return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' at offset %llu fails its CRC-32 check", fh.name,
                      (unsigned long long)r->pos);
    EF_TRY(ef_snap_check_frame_head(&fh, r->max_raw));
    if (fh.tag == EF_SNAP_TAG_END) {
        if (left != 0)
            return ef_err(EF_ERR_FORMAT, "snapshot has %llu unexpected bytes after its end frame",
                          (unsigned long long)left);
        r->ended = 1;
        r->pos = r->size;
        f->tag = fh.tag;
        return EF_OK;
    }
    if (fh.codec == EF_SNAP_CODEC_NONE)
        f->data = fh.stored ? stored : NULL;
    else
        EF_TRY(decode_zstd(r, fh.name, stored, fh.stored, fh.raw, f));
    f->tag = fh.tag;
    f->size = fh.raw;
    r->pos += EF_SNAP_FRAME_HEADER_BYTES + fh.stored;
    return EF_OK;
}

ef_status ef_snap_validate(const void *data, uint64_t size, uint64_t max_raw) {
    ef_snap_reader r;
    EF_TRY(ef_snap_reader_init(&r, data, size, max_raw));
    ef_status st = EF_OK;
    while (st == EF_OK && !r.ended) {
        ef_snap_frame f;
        st = ef_snap_reader_next(&r, &f);
        ef_snap_frame_release(&f);
    }
    ef_snap_reader_close(&r);
    return st;
}
