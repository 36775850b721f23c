/* The streaming snapshot reader (snapshot_format.h, "streaming reader"):
 * two passes over a file or memory with bounded memory, whatever the
 * snapshot's size. The first pass checks every frame's header and CRC
 * without decoding; the second hands out decoded payloads piece by piece,
 * checking each CRC again (the file may change between the passes). Frame
 * and file headers are parsed and checked as the memory reader does
 * (snapshot_internal.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crc32.h"
#include "base/platform.h"
#include "kv/snapshot_format.h"
#include "kv/snapshot_internal.h"

#ifndef EF_NO_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

#define STREAM_READ_BYTES ((size_t)64 << 10)
/* zstd's window for streamed decoding: the writer's level 1 never asks for
 * more than 2^19, and hostile frames must not make it allocate much. */
#define STREAM_WINDOW_LOG_MAX 20

struct ef_snap_stream {
    FILE *file;         /* file source, or NULL */
    char *path;         /* file source's name, for messages */
    const uint8_t *buf; /* [buf_len] the file source's read buffer, or the whole memory input */
    uint8_t *own;       /* [STREAM_READ_BYTES] the read buffer (file source) */
    size_t buf_len, buf_pos;
    uint64_t offset;    /* input offset of buf[buf_pos] */
    uint64_t max_raw;
    int32_t verified, ended, in_frame;
    /* the current frame */
    ef_snap_frame_head head;
    uint64_t frame_off;  /* offset of its header, for messages */
    uint64_t raw_left, stored_left;
    uint32_t crc;        /* CRC so far: header, then the stored bytes consumed */
    size_t zret;         /* the last ZSTD_decompressStream result: 0 at the end of a zstd frame */
    void *dctx;          /* ZSTD_DCtx, created on first use */
};

static ef_status stream_new(ef_snap_stream **out, uint64_t max_raw) {
    ef_snap_stream *s = ef_calloc(1, sizeof *s);
    if (!s) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a reader");
    s->max_raw = max_raw;
    *out = s;
    return EF_OK;
}

ef_status ef_snap_stream_open_mem(const void *data, uint64_t size, uint64_t max_raw, ef_snap_stream **out) {
    if (!out || (size && !data)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_stream_open_mem: NULL argument");
    if (size > SIZE_MAX) return ef_err(EF_ERR_INVALID_ARG, "snapshot of %llu bytes is too large for this host",
                                       (unsigned long long)size);
    EF_TRY(stream_new(out, max_raw));
    (*out)->buf = data;
    (*out)->buf_len = (size_t)size;
    return EF_OK;
}

ef_status ef_snap_stream_open_file(const char *path, uint64_t max_raw, ef_snap_stream **out) {
    if (!path || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_stream_open_file: NULL argument");
    ef_snap_stream *s = NULL;
    EF_TRY(stream_new(&s, max_raw));
    s->path = ef_strdup(path);
    s->own = ef_malloc(STREAM_READ_BYTES);
    if (!s->path || !s->own) {
        ef_snap_stream_close(s);
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for a read buffer");
    }
    s->buf = s->own;
    /* Refuse what is not a non-empty regular file (a directory, a device, a
     * FIFO, which fopen would wait on) as model files are: mapping it only
     * reserves address space, nothing is read. A platform call that opens
     * regular files only would spare the mapping. */
    ef_file_map probe;
    ef_status st = ef_file_map_open(path, 1, &probe);
    if (st != EF_OK) {
        ef_snap_stream_close(s);
        return st;
    }
    ef_file_map_close(&probe);
    s->file = ef_fopen(path, "rb");
    if (!s->file) {
        st = ef_err(EF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        ef_snap_stream_close(s);
        return st;
    }
    *out = s;
    return EF_OK;
}

void ef_snap_stream_set_limit(ef_snap_stream *s, uint64_t max_raw) {
    if (s) s->max_raw = max_raw;
}

void ef_snap_stream_close(ef_snap_stream *s) {
    if (!s) return;
    if (s->file) fclose(s->file);
#ifndef EF_NO_ZSTD
    ZSTD_freeDCtx(s->dctx);
#endif
    ef_free(s->own);
    ef_free(s->path);
    ef_free(s);
}

/* Bytes ready at buf + buf_pos (reading more from the file when none are);
 * 0 at the end of the input. */
static ef_status stream_avail(ef_snap_stream *s, size_t *n) {
    if (s->file && s->buf_pos == s->buf_len) {
        s->buf_len = fread(s->own, 1, STREAM_READ_BYTES, s->file);
        s->buf_pos = 0;
        if (s->buf_len == 0 && ferror(s->file))
            return ef_err(EF_ERR_IO, "cannot read '%s' at offset %llu: %s", s->path, (unsigned long long)s->offset,
                          strerror(errno));
    }
    *n = s->buf_len - s->buf_pos;
    return EF_OK;
}

static void stream_skip(ef_snap_stream *s, size_t n) {
    s->buf_pos += n;
    s->offset += n;
}

/* Up to n bytes into dst (*got < n only at the end of the input). */
static ef_status stream_take(ef_snap_stream *s, uint8_t *dst, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        size_t a = 0;
        EF_TRY(stream_avail(s, &a));
        if (a == 0) break;
        if (a > n - *got) a = n - *got;
        memcpy(dst + *got, s->buf + s->buf_pos, a);
        stream_skip(s, a);
        *got += a;
    }
    return EF_OK;
}

/* Back to the first byte, then past the checked file header. */
static ef_status stream_start(ef_snap_stream *s) {
    if (s->file) {
        rewind(s->file);
        s->buf_len = s->buf_pos = 0;
    } else {
        s->buf_pos = 0;
    }
    s->offset = 0;
    s->ended = s->in_frame = 0;
    uint8_t h[EF_SNAP_HEADER_BYTES];
    size_t got = 0;
    uint32_t version, flags;
    EF_TRY(stream_take(s, h, sizeof h, &got));
    return ef_snap_check_file_header(h, got, &version, &flags);
}

/* Reads the next frame header into s->head (CRC not checked yet). */
static ef_status stream_head(ef_snap_stream *s) {
    uint8_t h[EF_SNAP_FRAME_HEADER_BYTES];
    size_t got = 0;
    s->frame_off = s->offset;
    EF_TRY(stream_take(s, h, sizeof h, &got));
    if (got < sizeof h)
        return ef_err(EF_ERR_FORMAT, "snapshot is truncated at offset %llu (no end frame)",
                      (unsigned long long)s->frame_off);
    ef_snap_parse_frame_head(h, &s->head);
    s->crc = ef_crc32(0, h, EF_SNAP_FRAME_CRC_OFFSET);
    s->raw_left = s->head.raw;
    s->stored_left = s->head.stored;
    return EF_OK;
}

static ef_status truncated_in_frame(const ef_snap_stream *s) {
    return ef_err(EF_ERR_FORMAT, "snapshot is truncated in frame '%s' at offset %llu (%llu bytes announced, %llu "
                  "missing)", s->head.name, (unsigned long long)s->frame_off, (unsigned long long)s->head.stored,
                  (unsigned long long)s->stored_left);
}

static ef_status crc_mismatch(const ef_snap_stream *s) {
    return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' at offset %llu fails its CRC-32 check", s->head.name,
                  (unsigned long long)s->frame_off);
}

ef_status ef_snap_stream_verify(ef_snap_stream *s) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_stream_verify: NULL argument");
    s->verified = 0;
    EF_TRY(stream_start(s));
    for (;;) {
        EF_TRY(stream_head(s));
        while (s->stored_left > 0) {
            size_t a = 0;
            EF_TRY(stream_avail(s, &a));
            if (a == 0) return truncated_in_frame(s);
            if (a > s->stored_left) a = (size_t)s->stored_left;
            s->crc = ef_crc32(s->crc, s->buf + s->buf_pos, a);
            stream_skip(s, a);
            s->stored_left -= a;
        }
        if (s->crc != s->head.crc) return crc_mismatch(s);
        EF_TRY(ef_snap_check_frame_head(&s->head, s->max_raw));
        if (s->head.tag == EF_SNAP_TAG_END) break;
    }
    size_t a = 0;
    EF_TRY(stream_avail(s, &a));
    if (a != 0) return ef_err(EF_ERR_FORMAT, "snapshot has unexpected bytes after its end frame (offset %llu)",
                              (unsigned long long)s->offset);
    EF_TRY(stream_start(s));
    s->verified = 1;
    return EF_OK;
}

#ifndef EF_NO_ZSTD
static ef_status zstd_failure(const ef_snap_stream *s, size_t r) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
        return ef_err(EF_ERR_NO_MEMORY, "snapshot: zstd ran out of memory decoding frame '%s'", s->head.name);
    return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' does not decompress to its %llu bytes (%s)", s->head.name,
                  (unsigned long long)s->head.raw, ZSTD_getErrorName(r));
}

/* One ZSTD_decompressStream step into out from the frame's stored bytes;
 * *progress = 0 when nothing moved (the stream cannot go on). */
static ef_status zstd_step(ef_snap_stream *s, ZSTD_outBuffer *out, int *progress) {
    size_t a = 0;
    EF_TRY(stream_avail(s, &a));
    if (a > s->stored_left) a = (size_t)s->stored_left;
    if (a == 0 && s->stored_left > 0) return truncated_in_frame(s);
    ZSTD_inBuffer in = {s->buf + s->buf_pos, a, 0};
    const size_t out_before = out->pos;
    size_t r = ZSTD_decompressStream(s->dctx, out, &in);
    if (ZSTD_isError(r)) return zstd_failure(s, r);
    s->zret = r;
    s->crc = ef_crc32(s->crc, s->buf + s->buf_pos, in.pos);
    stream_skip(s, in.pos);
    s->stored_left -= in.pos;
    *progress = in.pos > 0 || out->pos > out_before;
    return EF_OK;
}
#endif

/* The end of the current frame: its zstd stream must end with its raw
 * bytes, and its CRC (computed again while reading) must match. */
static ef_status stream_finish_frame(ef_snap_stream *s) {
#ifndef EF_NO_ZSTD
    while (s->head.codec == EF_SNAP_CODEC_ZSTD && (s->stored_left > 0 || s->zret != 0)) {
        uint8_t extra;
        ZSTD_outBuffer out = {&extra, 1, 0};
        int progress = 0;
        EF_TRY(zstd_step(s, &out, &progress));
        if (out.pos > 0 || !progress)
            return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' does not decompress to its %llu bytes (%s)",
                          s->head.name, (unsigned long long)s->head.raw, out.pos ? "more" : "truncated zstd stream");
    }
#endif
    s->in_frame = 0;
    if (s->crc != s->head.crc) return crc_mismatch(s);
    return EF_OK;
}

ef_status ef_snap_stream_next(ef_snap_stream *s, uint32_t *tag, uint64_t *raw) {
    if (!s || !tag || !raw) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_stream_next: NULL argument");
    if (!s->verified || s->ended) return ef_err(EF_ERR_STATE, "snapshot reader: no more frames");
    if (s->in_frame) {
        if (s->raw_left != 0) return ef_err(EF_ERR_STATE, "snapshot frame '%s' was not read to its end", s->head.name);
        EF_TRY(stream_finish_frame(s));
    }
    EF_TRY(stream_head(s));
    EF_TRY(ef_snap_check_frame_head(&s->head, s->max_raw)); /* checked in the first pass; the file may have changed since */
    s->in_frame = 1;
    s->zret = 0;
    if (s->head.tag == EF_SNAP_TAG_END) {
        EF_TRY(stream_finish_frame(s));
        s->ended = 1;
    }
#ifndef EF_NO_ZSTD
    if (s->head.codec == EF_SNAP_CODEC_ZSTD) {
        if (!s->dctx) {
            s->dctx = ef_snap_zstd_dctx_new();
            if (!s->dctx) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory creating a zstd context");
            size_t r = ZSTD_DCtx_setParameter(s->dctx, ZSTD_d_windowLogMax, STREAM_WINDOW_LOG_MAX);
            if (ZSTD_isError(r)) return zstd_failure(s, r);
        }
        ZSTD_DCtx_reset(s->dctx, ZSTD_reset_session_only);
    }
#endif
    *tag = s->head.tag;
    *raw = s->head.raw;
    return EF_OK;
}

uint64_t ef_snap_stream_left(const ef_snap_stream *s) { return s && s->in_frame ? s->raw_left : 0; }

ef_status ef_snap_stream_read(ef_snap_stream *s, void *dst, uint64_t n) {
    if (!s || (n && !dst)) return ef_err(EF_ERR_INVALID_ARG, "ef_snap_stream_read: NULL argument");
    if (!s->in_frame) return ef_err(EF_ERR_STATE, "snapshot reader: no frame is open");
    if (n > s->raw_left)
        return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' ends %llu bytes too early", s->head.name,
                      (unsigned long long)(n - s->raw_left));
    if (n > SIZE_MAX) return ef_err(EF_ERR_FORMAT, "snapshot frame '%s' is too large for this host", s->head.name);
    uint8_t *d = dst;
    if (s->head.codec == EF_SNAP_CODEC_NONE) {
        for (uint64_t done = 0; done < n;) {
            size_t a = 0;
            EF_TRY(stream_avail(s, &a));
            if (a == 0) return truncated_in_frame(s);
            if (a > n - done) a = (size_t)(n - done);
            memcpy(d + done, s->buf + s->buf_pos, a);
            s->crc = ef_crc32(s->crc, s->buf + s->buf_pos, a);
            stream_skip(s, a);
            s->stored_left -= a;
            done += a;
        }
    } else {
#ifndef EF_NO_ZSTD
        ZSTD_outBuffer out = {d, (size_t)n, 0};
        while (out.pos < out.size) {
            int progress = 0;
            EF_TRY(zstd_step(s, &out, &progress));
            if (!progress)
                return ef_err(EF_ERR_CORRUPT, "snapshot frame '%s' does not decompress to its %llu bytes (%s)",
                              s->head.name, (unsigned long long)s->head.raw, "too few");
        }
#endif
    }
    s->raw_left -= n;
    return EF_OK;
}
