/* The snapshot container (snapshot_format.h): frame writer to memory or to a
 * temporary file that is renamed into place, and a reader that validates
 * every byte before handing out a payload. zstd's own allocations go
 * through the ef_* allocator too (ZSTD_customMem), so injected allocation
 * failures reach it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "kv/snapshot_format.h"
#include "base/crc32.h"

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

/* ---- writer ---- */

struct ef_snap_writer {
    FILE *file;      /* file writer: the temporary file, NULL for memory */
    char *path;      /* final name (file writer) */
    char *tmp_path;  /* "<path>.tmp-<pid>-<n>" */
    ef_snap_buf mem; /* memory writer: the snapshot so far */
    uint8_t *scratch;/* [scratch_cap] compressed payload of the frame being written */
    size_t scratch_cap;
    void *cctx;      /* ZSTD_CCtx, created on first use */
    int32_t failed;  /* a write failed: only free is allowed */
    int32_t finished;
};

/* Appends n bytes to the writer's destination. */
static ef_status emit(ef_snap_writer *w, const void *src, size_t n) {
    if (n == 0) return EF_OK;
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

/* Compresses src into w->scratch; *stored_len = 0 when zstd is absent, fails
 * or does not make the payload smaller (the frame is then stored raw). */
static ef_status try_compress(ef_snap_writer *w, const void *src, size_t len, size_t *stored_len) {
    *stored_len = 0;
#ifdef EF_NO_ZSTD
    (void)w;
    (void)src;
    (void)len;
    return EF_OK;
#else
    if (len < 64) return EF_OK; /* the zstd frame header alone would eat the gain */
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound)) return EF_OK;
    if (!w->cctx) {
        w->cctx = ZSTD_createCCtx_advanced(k_zstd_mem);
        if (!w->cctx) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a zstd context");
    }
    if (w->scratch_cap < bound) {
        uint8_t *bigger = ef_malloc(bound);
        if (!bigger) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for %zu compressed bytes", bound);
        ef_free(w->scratch);
        w->scratch = bigger;
        w->scratch_cap = bound;
    }
    size_t got = ZSTD_compressCCtx(w->cctx, w->scratch, w->scratch_cap, src, len, SNAP_ZSTD_LEVEL);
    if (ZSTD_isError(got)) {
        /* zstd reports its own allocation failures this way */
        if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
            return ef_err(EF_ERR_NO_MEMORY, "snapshot: zstd ran out of memory compressing %zu bytes", len);
        return EF_OK; /* store raw */
    }
    if (got < len) *stored_len = got;
    return EF_OK;
#endif
}

ef_status ef_snap_write_frame(ef_snap_writer *w, uint32_t tag, const void *data, uint64_t len) {
    if (!w || (len && !data)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_write_frame: NULL argument");
    if (w->failed || w->finished) return ef_err(EF_ERR_STATE, "snapshot writer: already failed or finished");
    if (tag == EF_SNAP_TAG_END) return ef_err(EF_ERR_INVALID_ARG, "snapshot writer: the end frame is written by finish");
    if (len > SIZE_MAX) return ef_err(EF_ERR_INVALID_ARG, "snapshot frame of %llu bytes is too large for this host",
                                      (unsigned long long)len);
    size_t stored_len = 0;
    ef_status st = try_compress(w, data, (size_t)len, &stored_len);
    const uint8_t *stored = stored_len ? w->scratch : data;
    uint32_t codec = stored_len ? EF_SNAP_CODEC_ZSTD : EF_SNAP_CODEC_NONE;
    if (!stored_len) stored_len = (size_t)len;

    uint8_t h[EF_SNAP_FRAME_HEADER_BYTES];
    put_le32(h, tag);
    put_le64(h + 4, len);
    put_le64(h + 12, stored_len);
    put_le32(h + 20, codec);
    uint32_t crc = ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET);
    if (stored_len) crc = ef_crc32(crc, stored, stored_len);
    put_le32(h + EF_SNAP_FRAME_CRC_OFFSET, crc);
    if (st == EF_OK) st = emit(w, h, sizeof h);
    if (st == EF_OK) st = emit(w, stored, stored_len);
    if (st != EF_OK) w->failed = 1;
    return st;
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
    if (!w || !w->finished || w->path) {
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
    ef_snap_buf_free(&w->mem);
    ef_free(w->path);
    ef_free(w->tmp_path);
    ef_free(w);
}

/* ---- reader ---- */

ef_status ef_snap_reader_init(ef_snap_reader *r, const void *data, uint64_t size, uint64_t max_raw) {
    if (!r || (size && !data)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_reader_init: NULL argument");
    memset(r, 0, sizeof *r);
    const uint8_t *p = data;
    if (size < EF_SNAP_HEADER_BYTES || memcmp(p, EF_SNAP_MAGIC, 8) != 0)
        return ef_err(EF_ERR_FORMAT, "not an EdgeFormer snapshot (%llu bytes, no \"%s\" header)",
                      (unsigned long long)size, EF_SNAP_MAGIC);
    r->version = get_le32(p + 8);
    r->flags = get_le32(p + 12);
    if (r->version != EF_SNAP_VERSION)
        return ef_err(EF_ERR_FORMAT, "snapshot format version %u is not supported (this build reads version %u)",
                      r->version, EF_SNAP_VERSION);
    if (r->flags != 0)
        return ef_err(EF_ERR_FORMAT, "snapshot header has unknown flags 0x%x", r->flags);
    r->data = p;
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

/* Decompresses a zstd payload into a fresh buffer of exactly raw bytes. */
static ef_status decode_zstd(ef_snap_reader *r, const char *name, const uint8_t *stored, uint64_t stored_len,
                             uint64_t raw, ef_snap_frame *f) {
#ifdef EF_NO_ZSTD
    (void)r;
    (void)stored;
    (void)stored_len;
    (void)raw;
    (void)f;
    return ef_err(EF_ERR_UNSUPPORTED, "snapshot frame '%s' is zstd-compressed and this build has no zstd", name);
#else
    if (raw == 0) return ef_err(EF_ERR_FORMAT, "snapshot frame '%s': zstd codec on an empty payload", name);
    if (raw > SIZE_MAX) return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' is too large for this host", name);
    if (!r->dctx) {
        r->dctx = ZSTD_createDCtx_advanced(k_zstd_mem);
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
    uint32_t tag = get_le32(h);
    uint64_t raw = get_le64(h + 4), stored_len = get_le64(h + 12);
    uint32_t codec = get_le32(h + 20), crc = get_le32(h + EF_SNAP_FRAME_CRC_OFFSET);
    char name[5];
    ef_snap_tag_name(tag, name);
    left -= EF_SNAP_FRAME_HEADER_BYTES;
    if (stored_len > left)
        return ef_err(EF_ERR_FORMAT, "snapshot is truncated in frame '%s' at offset %llu (%llu bytes announced, %llu left)",
                      name, (unsigned long long)r->pos, (unsigned long long)stored_len, (unsigned long long)left);
    const uint8_t *stored = h + EF_SNAP_FRAME_HEADER_BYTES;
    uint32_t want = ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET);
    want = ef_crc32(want, stored, (size_t)stored_len);
    if (want != crc)
        return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' at offset %llu fails its CRC-32 check", name,
                      (unsigned long long)r->pos);
    if (raw > r->max_raw) /* checksummed, so not damage: state too big for the caller */
        return ef_err(EF_ERR_MISMATCH, "snapshot frame '%s' holds %llu bytes, more than the %llu this session can use",
                      name, (unsigned long long)raw, (unsigned long long)r->max_raw);
    if (tag == EF_SNAP_TAG_END) {
        if (raw != 0 || stored_len != 0 || codec != EF_SNAP_CODEC_NONE)
            return ef_err(EF_ERR_FORMAT, "snapshot end frame has a payload");
        if (left != 0)
            return ef_err(EF_ERR_FORMAT, "snapshot has %llu unexpected bytes after its end frame",
                          (unsigned long long)left);
        r->ended = 1;
        r->pos = r->size;
        f->tag = tag;
        return EF_OK;
    }
    if (codec == EF_SNAP_CODEC_NONE) {
        if (raw != stored_len)
            return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' is uncompressed but its lengths differ", name);
        f->data = stored_len ? stored : NULL;
    } else if (codec == EF_SNAP_CODEC_ZSTD) {
        EF_TRY(decode_zstd(r, name, stored, stored_len, raw, f));
    } else {
        return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' has unknown codec %u", name, codec);
    }
    f->tag = tag;
    f->size = raw;
    r->pos += EF_SNAP_FRAME_HEADER_BYTES + stored_len;
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
