/* What the two snapshot readers share, private to lib/kv: the memory
 * reader (snapshot_format.c) and the streaming reader (snapshot_stream.c)
 * parse and check frame and file headers the same way, and both decode
 * zstd through the ef_* allocator. */
#ifndef EF_KV_SNAPSHOT_INTERNAL_H
#define EF_KV_SNAPSHOT_INTERNAL_H

#include <stdint.h>

#include "base/error.h"
#include "kv/snapshot_format.h"

/* A frame header's fields. */
typedef struct ef_snap_frame_head {
    uint32_t tag, codec, crc;
    uint64_t raw, stored;
    char name[5]; /* the tag's four characters, for messages */
} ef_snap_frame_head;

/* Decodes h[EF_SNAP_FRAME_HEADER_BYTES] (the CRC is not checked here). */
void ef_snap_parse_frame_head(const uint8_t *h, ef_snap_frame_head *fh);

/* What a frame header must satisfy once its CRC matched: raw within
 * max_raw (EF_ERR_MISMATCH), an empty end frame, equal lengths without a
 * codec, a known codec (EF_ERR_FORMAT; EF_ERR_UNSUPPORTED for zstd in a
 * build without it). */
ef_status ef_snap_check_frame_head(const ef_snap_frame_head *fh, uint64_t max_raw);

/* Checks the 16-byte file header p[size] (size may be short: EF_ERR_FORMAT). */
ef_status ef_snap_check_file_header(const uint8_t *p, uint64_t size, uint32_t *version, uint32_t *flags);

/* A ZSTD_DCtx whose allocations go through ef_malloc (so injected failures
 * reach zstd), or NULL when out of memory or built without zstd. */
void *ef_snap_zstd_dctx_new(void);

#endif
