/* The snapshot container: a framed, versioned, checksummed byte format that
 * knows nothing about sessions (snapshot_session.c decides what the frames
 * hold). docs/snapshots.md is the byte-level reference.
 *
 *   header  "EFSNAPSH" (8 bytes), version u32 (= 1), flags u32 (= 0)
 *   frame   tag u32, raw length u64, stored length u64, codec u32, crc u32,
 *           then `stored length` payload bytes
 *   ...     more frames, then the end frame (tag "END!", both lengths 0)
 *
 * All integers are little-endian. The CRC-32 (IEEE) covers the first 24
 * header bytes of the frame (tag, lengths, codec) and the stored payload,
 * so a damaged length or codec is caught as surely as damaged data. The
 * codec is zstd when that made the payload smaller, else none (stored ==
 * raw). Nothing may follow the end frame. */
#ifndef EF_KV_SNAPSHOT_FORMAT_H
#define EF_KV_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define EF_SNAP_MAGIC "EFSNAPSH"
#define EF_SNAP_VERSION 1u
#define EF_SNAP_HEADER_BYTES 16u       /* magic, version, flags */
#define EF_SNAP_FRAME_HEADER_BYTES 28u /* tag, raw, stored, codec, crc */
#define EF_SNAP_FRAME_CRC_OFFSET 24u   /* the crc field inside a frame header */

#define EF_SNAP_TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define EF_SNAP_TAG_END EF_SNAP_TAG('E', 'N', 'D', '!')

enum { EF_SNAP_CODEC_NONE = 0, EF_SNAP_CODEC_ZSTD = 1 };

/* ---- writing ---- */

typedef struct ef_snap_writer ef_snap_writer;

/* A writer that collects the snapshot in a growable memory buffer. */
ef_status ef_snap_writer_open_mem(ef_snap_writer **out);
/* A writer that streams to "<path>.tmp-<pid>-<n>", renamed to path by
 * ef_snap_writer_finish (ef_snap_writer_free before that removes it).
 * Errors: EF_ERR_IO naming the file, EF_ERR_NO_MEMORY. */
ef_status ef_snap_writer_open_file(const char *path, ef_snap_writer **out);
/* Appends one frame of `len` raw bytes (data may be NULL when len is 0),
 * compressed with zstd when that makes it smaller. tag must not be END.
 * After a failure the writer only accepts ef_snap_writer_free. */
ef_status ef_snap_write_frame(ef_snap_writer *w, uint32_t tag, const void *data, uint64_t len);
/* Appends the end frame; a file writer closes and renames the file. */
ef_status ef_snap_writer_finish(ef_snap_writer *w);
/* The bytes of a finished memory writer (valid until ef_snap_writer_free). */
const uint8_t *ef_snap_writer_bytes(const ef_snap_writer *w, size_t *size);
/* Frees the writer; an unfinished file writer's temporary file is removed. */
void ef_snap_writer_free(ef_snap_writer *w);

/* ---- reading ---- */

/* One decoded frame. data points into the input (codec none) or into
 * `owned` (decompressed); release with ef_snap_frame_release. */
typedef struct ef_snap_frame {
    uint32_t tag;
    const uint8_t *data; /* [size] raw payload; NULL when size is 0 */
    uint64_t size;
    uint8_t *owned;      /* the decompression buffer, or NULL */
} ef_snap_frame;

/* Reads frames from memory, validating as it goes. */
typedef struct ef_snap_reader {
    const uint8_t *data; /* [size] the whole snapshot */
    uint64_t size;
    uint64_t pos;        /* offset of the next frame header */
    uint64_t max_raw;    /* frames announcing more raw bytes are refused before allocating */
    uint32_t version, flags;
    int32_t ended;       /* 1 once the end frame was read */
    void *dctx;          /* zstd decompression context (ef_* allocator), created on first use */
} ef_snap_reader;

/* Checks the header. max_raw bounds every frame's raw length (hostile input
 * must not make the reader allocate more than the caller expects).
 * Errors: EF_ERR_FORMAT (too short, not a snapshot, unknown version or flags). */
ef_status ef_snap_reader_init(ef_snap_reader *r, const void *data, uint64_t size, uint64_t max_raw);
/* The next frame. At the end frame f->tag is EF_SNAP_TAG_END and the reader
 * checks that nothing follows; calling again after that is EF_ERR_STATE.
 * Errors: EF_ERR_FORMAT (truncated, a length past the input, unknown codec,
 * bytes after the end), EF_ERR_CORRUPT (CRC, a zstd stream that does not
 * decode to exactly the raw length), EF_ERR_MISMATCH (a frame, checksum
 * intact, above max_raw),
 * EF_ERR_UNSUPPORTED (zstd frame in a build without zstd), EF_ERR_NO_MEMORY. */
ef_status ef_snap_reader_next(ef_snap_reader *r, ef_snap_frame *f);
void ef_snap_frame_release(ef_snap_frame *f);
void ef_snap_reader_close(ef_snap_reader *r);

/* Validates a whole snapshot (every frame, through the end) without
 * keeping anything: the container half of a restore, used by the fuzzer. */
ef_status ef_snap_validate(const void *data, uint64_t size, uint64_t max_raw);

/* The four characters of a tag, for messages ("seq ", "END!"). */
void ef_snap_tag_name(uint32_t tag, char out[5]);

/* ---- payload encoding helpers (little-endian) ---- */

/* A growable byte buffer with a sticky failure (check .failed once at the end). */
typedef struct ef_snap_buf {
    uint8_t *data; /* [cap] */
    size_t len, cap;
    int32_t failed; /* 1 after an allocation failed: later puts do nothing */
} ef_snap_buf;

/* Reserves room for `extra` more bytes up front (0 on failure: .failed set). */
int ef_snap_buf_reserve(ef_snap_buf *b, size_t extra);
void ef_snap_buf_put(ef_snap_buf *b, const void *src, size_t n);
void ef_snap_buf_put_u32(ef_snap_buf *b, uint32_t v);
void ef_snap_buf_put_u64(ef_snap_buf *b, uint64_t v);
void ef_snap_buf_free(ef_snap_buf *b);

/* A bounds-checked reader over one payload with a sticky failure. */
typedef struct ef_snap_cur {
    const uint8_t *p; /* [n] bytes left */
    uint64_t n;
    int32_t failed; /* 1 after a read past the end: later reads give zeros */
} ef_snap_cur;

uint32_t ef_snap_cur_u32(ef_snap_cur *c);
uint64_t ef_snap_cur_u64(ef_snap_cur *c);
/* Pointer to the next n bytes (advancing past them), or NULL (and .failed). */
const uint8_t *ef_snap_cur_bytes(ef_snap_cur *c, uint64_t n);

#endif
