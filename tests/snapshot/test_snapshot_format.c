/* The snapshot container alone (lib/kv/snapshot_format.c): round trips
 * (empty, big, many frames, memory == file), every truncation and every
 * single-bit flip of a valid snapshot refused with FORMAT or CORRUPT,
 * unknown versions, hostile lengths refused before allocating, and an
 * allocation failure at each allocation of a write and of a read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "kv/snapshot_format.h"
#ifndef EF_NO_ZSTD
#include <zstd.h> /* to write a frame as the writer before the chunked one did */
#endif
#include "train/train.h" /* ef_crc32: to forge frames with valid checksums */

#define TAG_A EF_SNAP_TAG('a', 'a', 'a', 'a')
#define TAG_B EF_SNAP_TAG('b', 'b', 'b', 'b')
#define TAG_C EF_SNAP_TAG('c', 'c', 'c', 'c')
#define NO_LIMIT ((uint64_t)1 << 40)

/* ---- a counting, failing allocator ---- */

#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, g_largest, counting_malloc, counting_realloc, counting_free */
static void counting_on(long countdown) {
    g_countdown = countdown;
    g_failures = 0;
    g_largest = 0;
    assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
}
static void counting_off(void) { assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK); }

/* ---- helpers ---- */

/* Deterministic bytes: compressible (a repeating ramp) or not (xorshift). */
static uint8_t *make_bytes(size_t n, int compressible, uint32_t seed) {
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        if (compressible) {
            p[i] = (uint8_t)((i / 7) % 13);
        } else {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p[i] = (uint8_t)x;
        }
    }
    return p;
}

typedef struct frame_spec {
    uint32_t tag;
    const uint8_t *data;
    size_t len;
} frame_spec;

/* Writes frames to a memory snapshot; returns a malloc'ed copy. */
static uint8_t *write_mem(const frame_spec *frames, int n, size_t *size) {
    ef_snap_writer *w = NULL;
    assert_int_equal(ef_snap_writer_open_mem(&w), EF_OK);
    for (int i = 0; i < n; i++) assert_int_equal(ef_snap_write_frame(w, frames[i].tag, frames[i].data, frames[i].len), EF_OK);
    assert_int_equal(ef_snap_writer_finish(w), EF_OK);
    size_t len = 0;
    const uint8_t *bytes = ef_snap_writer_bytes(w, &len);
    assert_non_null(bytes);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    ef_snap_writer_free(w);
    *size = len;
    return copy;
}

/* Reads every frame back and compares with the specs. */
static void expect_frames(const uint8_t *snap, size_t size, const frame_spec *frames, int n) {
    ef_snap_reader r;
    assert_int_equal(ef_snap_reader_init(&r, snap, size, NO_LIMIT), EF_OK);
    for (int i = 0; i <= n; i++) {
        ef_snap_frame f;
        assert_int_equal(ef_snap_reader_next(&r, &f), EF_OK);
        if (i == n) {
            assert_int_equal(f.tag, EF_SNAP_TAG_END);
        } else {
            assert_int_equal(f.tag, frames[i].tag);
            assert_int_equal(f.size, frames[i].len);
            if (frames[i].len) assert_memory_equal(f.data, frames[i].data, frames[i].len);
        }
        ef_snap_frame_release(&f);
    }
    ef_snap_frame f;
    assert_int_equal(ef_snap_reader_next(&r, &f), EF_ERR_STATE); /* nothing after the end */
    ef_snap_reader_close(&r);
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Offset of the k-th frame header (0 = first after the file header). */
static size_t frame_offset(const uint8_t *snap, int k) {
    size_t pos = EF_SNAP_HEADER_BYTES;
    for (int i = 0; i < k; i++) pos += EF_SNAP_FRAME_HEADER_BYTES + (size_t)rd64(snap + pos + 12);
    return pos;
}

/* Recomputes the CRC of the frame at pos (after a deliberate edit). */
static void fix_crc(uint8_t *snap, size_t pos) {
    uint32_t crc = ef_crc32(0, snap + pos, EF_SNAP_FRAME_CRC_OFFSET);
    crc = ef_crc32(crc, snap + pos + EF_SNAP_FRAME_HEADER_BYTES, (size_t)rd64(snap + pos + 12));
    wr32(snap + pos + EF_SNAP_FRAME_CRC_OFFSET, crc);
}

/* A small snapshot mixing codecs: compressible, incompressible, empty. */
static uint8_t *small_snapshot(size_t *size, uint8_t **a, uint8_t **b) {
    *a = make_bytes(300, 1, 1);
    *b = make_bytes(40, 0, 2);
    frame_spec fr[3] = {{TAG_A, *a, 300}, {TAG_B, *b, 40}, {TAG_C, NULL, 0}};
    return write_mem(fr, 3, size);
}

/* ---- tests ---- */

static void test_empty_round_trip(void **state) {
    (void)state;
    size_t size = 0;
    uint8_t *snap = write_mem(NULL, 0, &size);
    assert_int_equal(size, EF_SNAP_HEADER_BYTES + EF_SNAP_FRAME_HEADER_BYTES);
    assert_memory_equal(snap, EF_SNAP_MAGIC, 8);
    expect_frames(snap, size, NULL, 0);
    assert_int_equal(ef_snap_validate(snap, size, 0), EF_OK);
    free(snap);
}

static void test_big_round_trip(void **state) {
    (void)state;
    size_t n = 3u << 20;
    uint8_t *easy = make_bytes(n, 1, 3), *hard = make_bytes(n, 0, 4);
    frame_spec fr[2] = {{TAG_A, easy, n}, {TAG_B, hard, n}};
    size_t size = 0;
    uint8_t *snap = write_mem(fr, 2, &size);
    expect_frames(snap, size, fr, 2);
#ifndef EF_NO_ZSTD
    /* the ramp compresses, the noise is stored raw */
    assert_int_equal(rd32(snap + frame_offset(snap, 0) + 20), EF_SNAP_CODEC_ZSTD);
    assert_true(rd64(snap + frame_offset(snap, 0) + 12) < n / 10);
#endif
    assert_int_equal(rd32(snap + frame_offset(snap, 1) + 20), EF_SNAP_CODEC_NONE);
    assert_int_equal(rd64(snap + frame_offset(snap, 1) + 12), n);
    free(snap);
    free(easy);
    free(hard);
}

static void test_many_frames(void **state) {
    (void)state;
    enum { N = 600 };
    static frame_spec fr[N];
    uint8_t *bufs[N];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37 % 500);
        bufs[i] = make_bytes(len, i % 2, (uint32_t)i);
        fr[i].tag = EF_SNAP_TAG('f', (char)('0' + i % 10), (char)('0' + i / 10 % 10), (char)('0' + i / 100));
        fr[i].data = len ? bufs[i] : NULL;
        fr[i].len = len;
    }
    size_t size = 0;
    uint8_t *snap = write_mem(fr, N, &size);
    expect_frames(snap, size, fr, N);
    free(snap);
    for (int i = 0; i < N; i++) free(bufs[i]);
}

static void test_file_equals_memory(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    const char *path = EF_TEST_TMP "/snap_format.efs";
    remove(path);
    ef_snap_writer *w = NULL;
    assert_int_equal(ef_snap_writer_open_file(path, &w), EF_OK);
    assert_int_equal(ef_snap_write_frame(w, TAG_A, a, 300), EF_OK);
    assert_int_equal(ef_snap_write_frame(w, TAG_B, b, 40), EF_OK);
    assert_int_equal(ef_snap_write_frame(w, TAG_C, NULL, 0), EF_OK);
    FILE *f = fopen(path, "rb");
    assert_null(f); /* nothing under the final name before finish */
    assert_int_equal(ef_snap_writer_finish(w), EF_OK);
    ef_snap_writer_free(w);
    f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *disk = malloc(size + 1);
    assert_int_equal(fread(disk, 1, size + 1, f), size);
    fclose(f);
    assert_memory_equal(disk, snap, size);
    free(disk);

    /* an abandoned file writer leaves neither the file nor its temporary */
    const char *gone = EF_TEST_TMP "/snap_abandoned.efs";
    remove(gone);
    assert_int_equal(ef_snap_writer_open_file(gone, &w), EF_OK);
    assert_int_equal(ef_snap_write_frame(w, TAG_A, a, 300), EF_OK);
    ef_snap_writer_free(w);
    assert_null(fopen(gone, "rb"));
    /* an unwritable place is EF_ERR_IO */
    assert_int_equal(ef_snap_writer_open_file(EF_TEST_TMP "/no/such/dir/x.efs", &w), EF_ERR_IO);
    free(snap);
    free(a);
    free(b);
}

static void test_every_truncation_fails(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    for (size_t len = 0; len < size; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
        memcpy(cut, snap, len);
        ef_status st = ef_snap_validate(cut, len, NO_LIMIT);
        if (st != EF_ERR_FORMAT && st != EF_ERR_CORRUPT) fail_msg("truncated to %zu bytes: status %d", len, st);
        free(cut);
    }
    /* and bytes after the end frame */
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, snap, size);
    longer[size] = 0;
    assert_int_equal(ef_snap_validate(longer, size + 1, NO_LIMIT), EF_ERR_FORMAT);
    free(longer);
    free(snap);
    free(a);
    free(b);
}

static void test_every_bit_flip_fails(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    uint8_t *bad = malloc(size);
    for (size_t bit = 0; bit < size * 8; bit++) {
        memcpy(bad, snap, size);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ef_status st = ef_snap_validate(bad, size, NO_LIMIT);
        if (st != EF_ERR_FORMAT && st != EF_ERR_CORRUPT)
            fail_msg("bit %zu (byte %zu) flipped: status %d", bit, bit / 8, st);
    }
    free(bad);
    free(snap);
    free(a);
    free(b);
}

static void test_unknown_version_and_flags(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    ef_snap_reader r;
    wr32(snap + 8, EF_SNAP_VERSION + 1);
    assert_int_equal(ef_snap_reader_init(&r, snap, size, NO_LIMIT), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "version 2"));
    wr32(snap + 8, EF_SNAP_VERSION);
    wr32(snap + 12, 1);
    assert_int_equal(ef_snap_reader_init(&r, snap, size, NO_LIMIT), EF_ERR_FORMAT);
    wr32(snap + 12, 0);
    memcpy(snap, "GGUF", 4);
    assert_int_equal(ef_snap_reader_init(&r, snap, size, NO_LIMIT), EF_ERR_FORMAT);
    free(snap);
    free(a);
    free(b);
}

/* Frames whose checksums are right but whose contents lie. */
static void test_forged_frames(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    uint8_t *bad = malloc(size);
    size_t f1 = frame_offset(snap, 1);

#ifndef EF_NO_ZSTD
    size_t f0 = frame_offset(snap, 0);
    /* a zstd frame announcing one byte more or less than it decodes to */
    assert_int_equal(rd32(snap + f0 + 20), EF_SNAP_CODEC_ZSTD);
    for (int d = -1; d <= 1; d += 2) {
        memcpy(bad, snap, size);
        wr64(bad + f0 + 4, (uint64_t)(300 + d));
        fix_crc(bad, f0);
        assert_int_equal(ef_snap_validate(bad, size, NO_LIMIT), EF_ERR_CORRUPT);
    }
    /* a zstd frame claiming a huge raw size is refused before allocating */
    memcpy(bad, snap, size);
    wr64(bad + f0 + 4, (uint64_t)1 << 36);
    fix_crc(bad, f0);
    counting_on(-1);
    assert_int_equal(ef_snap_validate(bad, size, (uint64_t)1 << 20), EF_ERR_MISMATCH);
    counting_off();
    assert_true(g_largest < ((size_t)1 << 20));
    /* garbage in place of the zstd stream */
    memcpy(bad, snap, size);
    memset(bad + f0 + EF_SNAP_FRAME_HEADER_BYTES, 0x5A, (size_t)rd64(snap + f0 + 12));
    fix_crc(bad, f0);
    assert_int_equal(ef_snap_validate(bad, size, NO_LIMIT), EF_ERR_CORRUPT);
#endif
    /* an uncompressed frame whose lengths differ */
    memcpy(bad, snap, size);
    assert_int_equal(rd32(snap + f1 + 20), EF_SNAP_CODEC_NONE);
    wr64(bad + f1 + 4, 41);
    fix_crc(bad, f1);
    assert_int_equal(ef_snap_validate(bad, size, NO_LIMIT), EF_ERR_FORMAT);
    /* an unknown codec */
    memcpy(bad, snap, size);
    wr32(bad + f1 + 20, 7);
    fix_crc(bad, f1);
    assert_int_equal(ef_snap_validate(bad, size, NO_LIMIT), EF_ERR_FORMAT);
    /* a frame above the caller's limit */
    assert_int_equal(ef_snap_validate(snap, size, 299), EF_ERR_MISMATCH);
    assert_int_equal(ef_snap_validate(snap, size, 300), EF_OK);
    /* a stored length past the end (with a matching CRC of what is there) */
    memcpy(bad, snap, size);
    wr64(bad + f1 + 12, UINT64_MAX - 3);
    assert_int_equal(ef_snap_validate(bad, size, NO_LIMIT), EF_ERR_FORMAT);
    free(bad);
    free(snap);
    free(a);
    free(b);
}

/* One write-then-read; returns the first failing status. */
static ef_status write_and_read(const uint8_t *big, size_t n) {
    ef_snap_writer *w = NULL;
    ef_status st = ef_snap_writer_open_mem(&w);
    if (st == EF_OK) st = ef_snap_write_frame(w, TAG_A, big, n);
    if (st == EF_OK) st = ef_snap_write_frame(w, TAG_B, big + 1, n - 1);
    if (st == EF_OK) st = ef_snap_writer_finish(w);
    if (st == EF_OK) {
        size_t size = 0;
        const uint8_t *bytes = ef_snap_writer_bytes(w, &size);
        ef_snap_reader r;
        st = ef_snap_reader_init(&r, bytes, size, NO_LIMIT);
        while (st == EF_OK && !r.ended) {
            ef_snap_frame f;
            st = ef_snap_reader_next(&r, &f);
            ef_snap_frame_release(&f);
        }
        ef_snap_reader_close(&r);
    }
    ef_snap_writer_free(w);
    return st;
}

static void test_allocation_failures(void **state) {
    (void)state;
    size_t n = 200000;
    uint8_t *big = make_bytes(n, 1, 9);
    long points = 0;
    for (long k = 0;; k++) {
        counting_on(k);
        g_live = 0;
        ef_status st = write_and_read(big, n);
        counting_off();
        assert_int_equal(g_live, 0); /* nothing leaked */
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_true(k < 1000);
    }
    print_message("  snapshot container write + read: %ld allocation points, each failed cleanly\n", points);
    assert_true(points >= 3);
    free(big);
}

/* ---- the streaming reader and writer ---- */

/* Reads every frame of a snapshot through the streaming reader, in pieces
 * of `piece` bytes, comparing with frames[n] when given; the first failing
 * status. */
static ef_status stream_read_all(ef_snap_stream *r, const frame_spec *frames, int n, size_t piece) {
    ef_status st = ef_snap_stream_verify(r);
    uint8_t *buf = malloc(piece);
    for (int i = 0; st == EF_OK; i++) {
        uint32_t tag = 0;
        uint64_t raw = 0;
        st = ef_snap_stream_next(r, &tag, &raw);
        if (st != EF_OK || tag == EF_SNAP_TAG_END) {
            if (st == EF_OK && frames) assert_int_equal(i, n);
            break;
        }
        if (frames) {
            assert_true(i < n);
            assert_int_equal(tag, frames[i].tag);
            assert_int_equal(raw, frames[i].len);
        }
        for (uint64_t at = 0; st == EF_OK && at < raw; at += piece) {
            const size_t take = raw - at < piece ? (size_t)(raw - at) : piece;
            st = ef_snap_stream_read(r, buf, take);
            if (st == EF_OK && frames) assert_memory_equal(buf, frames[i].data + at, take);
        }
        if (st == EF_OK) assert_int_equal(ef_snap_stream_left(r), 0);
    }
    free(buf);
    return st;
}

static ef_status stream_mem(const uint8_t *snap, size_t size, uint64_t max_raw) {
    ef_snap_stream *r = NULL;
    ef_status st = ef_snap_stream_open_mem(snap, size, max_raw, &r);
    if (st == EF_OK) st = stream_read_all(r, NULL, 0, 4096);
    ef_snap_stream_close(r);
    return st;
}

/* Big frames (several chunks, zstd and raw) written to a file and read
 * back from the file and from memory in odd-sized pieces. */
static void test_stream_round_trip(void **state) {
    (void)state;
    size_t n = (3u << 20) + 12345;
    uint8_t *easy = make_bytes(n, 1, 3), *hard = make_bytes(n, 0, 4);
    frame_spec fr[4] = {{TAG_A, easy, n}, {TAG_B, hard, n}, {TAG_C, NULL, 0}, {TAG_A, easy, EF_SNAP_CHUNK_BYTES}};
    size_t size = 0;
    uint8_t *snap = write_mem(fr, 4, &size);
    const char *path = EF_TEST_TMP "/snap_stream.efs";
    remove(path);
    ef_snap_writer *w = NULL;
    assert_int_equal(ef_snap_writer_open_file(path, &w), EF_OK);
    for (int i = 0; i < 4; i++) assert_int_equal(ef_snap_write_frame(w, fr[i].tag, fr[i].data, fr[i].len), EF_OK);
    assert_int_equal(ef_snap_writer_finish(w), EF_OK);
    ef_snap_writer_free(w);
    for (int from_file = 0; from_file <= 1; from_file++) {
        const size_t pieces[3] = {1000, 77777, 1u << 20};
        for (int k = 0; k < 3; k++) {
            ef_snap_stream *r = NULL;
            if (from_file)
                assert_int_equal(ef_snap_stream_open_file(path, NO_LIMIT, &r), EF_OK);
            else
                assert_int_equal(ef_snap_stream_open_mem(snap, size, NO_LIMIT, &r), EF_OK);
            assert_int_equal(stream_read_all(r, fr, 4, pieces[k]), EF_OK);
            uint32_t tag;
            uint64_t raw;
            assert_int_equal(ef_snap_stream_next(r, &tag, &raw), EF_ERR_STATE); /* nothing after the end */
            ef_snap_stream_close(r);
        }
    }
    /* the file holds the memory writer's bytes; zstd frames span several chunks */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *disk = malloc(size + 1);
    assert_int_equal(fread(disk, 1, size + 1, f), size);
    fclose(f);
    assert_memory_equal(disk, snap, size);
#ifndef EF_NO_ZSTD
    assert_int_equal(rd32(snap + frame_offset(snap, 0) + 20), EF_SNAP_CODEC_ZSTD);
    assert_true(rd64(snap + frame_offset(snap, 0) + 12) < n / 10);
#endif
    assert_int_equal(rd32(snap + frame_offset(snap, 1) + 20), EF_SNAP_CODEC_NONE);
    /* a frame read short is not skipped silently */
    ef_snap_stream *r = NULL;
    assert_int_equal(ef_snap_stream_open_mem(snap, size, NO_LIMIT, &r), EF_OK);
    assert_int_equal(ef_snap_stream_verify(r), EF_OK);
    uint32_t tag;
    uint64_t raw;
    assert_int_equal(ef_snap_stream_next(r, &tag, &raw), EF_OK);
    uint8_t few[10];
    assert_int_equal(ef_snap_stream_read(r, few, sizeof few), EF_OK);
    assert_int_equal(ef_snap_stream_next(r, &tag, &raw), EF_ERR_STATE);
    ef_snap_stream_close(r);
    /* a missing file is EF_ERR_IO */
    assert_int_equal(ef_snap_stream_open_file(EF_TEST_TMP "/no/such/snap.efs", NO_LIMIT, &r), EF_ERR_IO);
    remove(path);
    free(disk);
    free(snap);
    free(easy);
    free(hard);
}

/* Every truncation and every bit flip, through the streaming reader. */
static void test_stream_damage_fails(void **state) {
    (void)state;
    uint8_t *a, *b;
    size_t size = 0;
    uint8_t *snap = small_snapshot(&size, &a, &b);
    assert_int_equal(stream_mem(snap, size, NO_LIMIT), EF_OK);
    for (size_t len = 0; len < size; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, snap, len);
        ef_status st = stream_mem(cut, len, NO_LIMIT);
        if (st != EF_ERR_FORMAT && st != EF_ERR_CORRUPT) fail_msg("truncated to %zu bytes: status %d", len, st);
        free(cut);
    }
    uint8_t *bad = malloc(size + 1);
    memcpy(bad, snap, size);
    bad[size] = 0;
    assert_int_equal(stream_mem(bad, size + 1, NO_LIMIT), EF_ERR_FORMAT);
    for (size_t bit = 0; bit < size * 8; bit++) {
        memcpy(bad, snap, size);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ef_status st = stream_mem(bad, size, NO_LIMIT);
        if (st != EF_ERR_FORMAT && st != EF_ERR_CORRUPT) fail_msg("bit %zu flipped: status %d", bit, st);
    }
#ifndef EF_NO_ZSTD
    /* checksums right, zstd stream wrong: one byte more or less than announced, or garbage */
    size_t f0 = frame_offset(snap, 0);
    for (int d = -1; d <= 1; d += 2) {
        memcpy(bad, snap, size);
        wr64(bad + f0 + 4, (uint64_t)(300 + d));
        fix_crc(bad, f0);
        assert_int_equal(stream_mem(bad, size, NO_LIMIT), EF_ERR_CORRUPT);
    }
    memcpy(bad, snap, size);
    memset(bad + f0 + EF_SNAP_FRAME_HEADER_BYTES, 0x5A, (size_t)rd64(snap + f0 + 12));
    fix_crc(bad, f0);
    assert_int_equal(stream_mem(bad, size, NO_LIMIT), EF_ERR_CORRUPT);
    /* a huge announced size is refused before anything is allocated for it */
    memcpy(bad, snap, size);
    wr64(bad + f0 + 4, (uint64_t)1 << 36);
    fix_crc(bad, f0);
    counting_on(-1);
    assert_int_equal(stream_mem(bad, size, (uint64_t)1 << 20), EF_ERR_MISMATCH);
    counting_off();
    assert_true(g_largest < ((size_t)1 << 20));
#endif
    assert_int_equal(stream_mem(snap, size, 299), EF_ERR_MISMATCH);
    free(bad);
    free(snap);
    free(a);
    free(b);
}

#ifndef EF_NO_ZSTD
/* A frame compressed whole as one zstd frame, as the writer before the
 * chunked one did, still reads with both readers. */
static void test_one_zstd_frame_reads(void **state) {
    (void)state;
    const size_t n = 2u << 20;
    uint8_t *data = make_bytes(n, 1, 11);
    size_t bound = ZSTD_compressBound(n);
    uint8_t *snap = malloc(EF_SNAP_HEADER_BYTES + 2 * EF_SNAP_FRAME_HEADER_BYTES + bound);
    size_t zn = ZSTD_compress(snap + EF_SNAP_HEADER_BYTES + EF_SNAP_FRAME_HEADER_BYTES, bound, data, n, 1);
    assert_false(ZSTD_isError(zn));
    memcpy(snap, EF_SNAP_MAGIC, 8);
    wr32(snap + 8, EF_SNAP_VERSION);
    wr32(snap + 12, 0);
    uint8_t *h = snap + EF_SNAP_HEADER_BYTES;
    wr32(h, TAG_A);
    wr64(h + 4, n);
    wr64(h + 12, zn);
    wr32(h + 20, EF_SNAP_CODEC_ZSTD);
    fix_crc(snap, EF_SNAP_HEADER_BYTES);
    uint8_t *end = h + EF_SNAP_FRAME_HEADER_BYTES + zn;
    memset(end, 0, EF_SNAP_FRAME_HEADER_BYTES);
    wr32(end, EF_SNAP_TAG_END);
    fix_crc(snap, (size_t)(end - snap));
    const size_t size = (size_t)(end - snap) + EF_SNAP_FRAME_HEADER_BYTES;
    frame_spec fr[1] = {{TAG_A, data, n}};
    expect_frames(snap, size, fr, 1);
    ef_snap_stream *r = NULL;
    assert_int_equal(ef_snap_stream_open_mem(snap, size, NO_LIMIT, &r), EF_OK);
    assert_int_equal(stream_read_all(r, fr, 1, 100000), EF_OK);
    ef_snap_stream_close(r);
    free(snap);
    free(data);
}
#endif

/* A producer that gives other bytes the second time, or too few or too many. */
typedef struct fickle {
    const uint8_t *data;
    size_t len;
    int calls, mode; /* 0: changes on the second call, 1: one byte short, 2: one byte more */
} fickle;

static ef_status produce_fickle(void *ctx, ef_snap_sink *sink) {
    fickle *f = ctx;
    f->calls++;
    if (f->mode == 1) return ef_snap_sink_put(sink, f->data, f->len - 1);
    if (f->mode == 2) return ef_snap_sink_put(sink, f->data, f->len + 1);
    ef_status st = ef_snap_sink_put(sink, f->data, f->len - 1);
    const uint8_t last = (uint8_t)(f->data[f->len - 1] + (f->calls > 1));
    return st == EF_OK ? ef_snap_sink_put(sink, &last, 1) : st;
}

static void test_stream_writer_checks(void **state) {
    (void)state;
    const size_t n = 3 * EF_SNAP_CHUNK_BYTES / 2; /* two passes */
    for (int compressible = 0; compressible <= 1; compressible++) {
        uint8_t *data = make_bytes(n + 1, compressible, 5);
        for (int mode = 0; mode <= 2; mode++) {
            ef_snap_writer *w = NULL;
            assert_int_equal(ef_snap_writer_open_mem(&w), EF_OK);
            fickle f = {data, n, 0, mode};
            ef_status st = ef_snap_write_frame_stream(w, TAG_A, n, produce_fickle, &f);
            assert_int_equal(st, mode == 0 ? EF_ERR_STATE : EF_ERR_INVALID_ARG);
            assert_int_equal(ef_snap_writer_finish(w), EF_ERR_STATE); /* a failed writer stays failed */
            ef_snap_writer_free(w);
        }
        free(data);
    }
}

/* An allocation failure at each allocation of a streamed write and read. */
static ef_status stream_write_and_read(const uint8_t *big, size_t n, const char *path) {
    ef_snap_writer *w = NULL;
    ef_status st = ef_snap_writer_open_file(path, &w);
    if (st == EF_OK) st = ef_snap_write_frame(w, TAG_A, big, n);
    if (st == EF_OK) st = ef_snap_write_frame(w, TAG_B, big + 1, n - 1);
    if (st == EF_OK) st = ef_snap_writer_finish(w);
    ef_snap_writer_free(w);
    ef_snap_stream *r = NULL;
    if (st == EF_OK) st = ef_snap_stream_open_file(path, NO_LIMIT, &r);
    if (st == EF_OK) st = stream_read_all(r, NULL, 0, 10000);
    ef_snap_stream_close(r);
    return st;
}

static void test_stream_allocation_failures(void **state) {
    (void)state;
    size_t n = 600000;
    uint8_t *big = make_bytes(n, 1, 9);
    const char *path = EF_TEST_TMP "/snap_stream_alloc.efs";
    long points = 0;
    for (long k = 0;; k++) {
        remove(path);
        counting_on(k);
        g_live = 0;
        ef_status st = stream_write_and_read(big, n, path);
        counting_off();
        assert_int_equal(g_live, 0); /* nothing leaked */
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_true(k < 1000);
    }
    print_message("  streamed write + read: %ld allocation points, each failed cleanly\n", points);
    assert_true(points >= 5);
    remove(path);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_round_trip),
        cmocka_unit_test(test_big_round_trip),
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_file_equals_memory),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_every_bit_flip_fails),
        cmocka_unit_test(test_unknown_version_and_flags),
        cmocka_unit_test(test_forged_frames),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_stream_round_trip),
        cmocka_unit_test(test_stream_damage_fails),
        cmocka_unit_test(test_stream_writer_checks),
#ifndef EF_NO_ZSTD
        cmocka_unit_test(test_one_zstd_frame_reads),
#endif
        cmocka_unit_test(test_stream_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
