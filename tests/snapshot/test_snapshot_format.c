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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
