/* The snapshot container: a framed, versioned, checksummed byte format that
 * knows nothing about sessions (lib/api/api_snapshot.c decides what the frames
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
/* A writer into the caller's buffer[cap] (NULL when cap is 0): what does not
 * fit is counted, not stored, so one pass tells the size a snapshot needs
 * (ef_snap_writer_size) without allocating it. */
ef_status ef_snap_writer_open_buffer(void *buf, size_t cap, ef_snap_writer **out);
/* Bytes written so far, stored or (buffer writer) only counted. */
uint64_t ef_snap_writer_size(const ef_snap_writer *w);
/* A writer that streams to "<path>.tmp-<pid>-<n>", renamed to path by
 * ef_snap_writer_finish (ef_snap_writer_free before that removes it).
 * Errors: EF_ERR_IO naming the file, EF_ERR_NO_MEMORY. */
ef_status ef_snap_writer_open_file(const char *path, ef_snap_writer **out);
/* Appends one frame of `len` raw bytes (data may be NULL when len is 0),
 * compressed with zstd when that makes it smaller. tag must not be END.
 * After a failure the writer only accepts ef_snap_writer_free. */
ef_status ef_snap_write_frame(ef_snap_writer *w, uint32_t tag, const void *data, uint64_t len);
/* A frame whose payload is produced piece by piece (a KV sequence read one
 * page at a time), so saving needs no memory in proportion to it: `produce`
 * hands its bytes to ef_snap_sink_put* in order, raw_len in all. The frame
 * is compressed in chunks of EF_SNAP_CHUNK_BYTES (each its own zstd frame);
 * a payload larger than one chunk is produced twice, first to measure its
 * CRC and compressed size (the header comes first), then to write it, so
 * produce must give the same bytes both times (EF_ERR_STATE otherwise).
 * Errors: those of produce, EF_ERR_INVALID_ARG (a byte count other than
 * raw_len), EF_ERR_IO, EF_ERR_NO_MEMORY. */
#define EF_SNAP_CHUNK_BYTES ((size_t)256 << 10)
typedef struct ef_snap_sink ef_snap_sink;
typedef ef_status (*ef_snap_produce_fn)(void *ctx, ef_snap_sink *sink);
ef_status ef_snap_write_frame_stream(ef_snap_writer *w, uint32_t tag, uint64_t raw_len, ef_snap_produce_fn produce,
                                     void *ctx);
ef_status ef_snap_sink_put(ef_snap_sink *sink, const void *data, size_t n);
ef_status ef_snap_sink_put_u32(ef_snap_sink *sink, uint32_t v);
ef_status ef_snap_sink_put_u64(ef_snap_sink *sink, uint64_t v);
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

/* ---- streaming reader (restores of any size with bounded memory; snapshot_stream.c) ---- */

/* Reads a snapshot from a file or from memory a little at a time: a first
 * pass (ef_snap_stream_verify) checks the container (every frame's
 * lengths, codec and CRC, the end frame) without decoding; the second pass
 * hands out each frame's decoded payload in pieces of the caller's choosing,
 * with the CRC checked again (the file may change between the passes).
 * Memory: a read buffer and zstd's streaming window, whatever the size. */
typedef struct ef_snap_stream ef_snap_stream;

/* Errors: EF_ERR_IO (cannot open), EF_ERR_NO_MEMORY. */
ef_status ef_snap_stream_open_file(const char *path, uint64_t max_raw, ef_snap_stream **out);
/* data[size] must outlive the stream. */
ef_status ef_snap_stream_open_mem(const void *data, uint64_t size, uint64_t max_raw, ef_snap_stream **out);
/* Changes the bound on every frame's raw length (before verify). */
void ef_snap_stream_set_limit(ef_snap_stream *s, uint64_t max_raw);
/* The first pass, then back to the first frame. Errors as
 * ef_snap_reader_next (no EF_ERR_CORRUPT for zstd streams yet: those are
 * decoded in the second pass), and EF_ERR_IO. */
ef_status ef_snap_stream_verify(ef_snap_stream *s);
/* Starts the next frame: its tag and raw length (*tag is EF_SNAP_TAG_END at
 * the end). The previous frame must have been read to its end; its zstd
 * stream must end there too (EF_ERR_CORRUPT) and its CRC match again. */
ef_status ef_snap_stream_next(ef_snap_stream *s, uint32_t *tag, uint64_t *raw);
/* The next n decoded bytes of the current frame. Errors: EF_ERR_FORMAT
 * (fewer than n left), EF_ERR_CORRUPT (the zstd stream does not decode to
 * the frame's raw bytes), EF_ERR_IO, EF_ERR_NO_MEMORY. */
ef_status ef_snap_stream_read(ef_snap_stream *s, void *dst, uint64_t n);
/* Decoded bytes of the current frame not read yet. */
uint64_t ef_snap_stream_left(const ef_snap_stream *s);
/* NULL is a no-op. */
void ef_snap_stream_close(ef_snap_stream *s);

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
