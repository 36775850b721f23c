/* Pins the byte layout of every block format this build dequantizes:
 * hand-made blocks whose values are known (literal checks of nibble order,
 * scale position and sign conventions), and blocks of random bytes checked
 * against a second dequantizer written here in the loop structure of the
 * published ggml layouts (walking the fields in storage order rather than
 * per element as lib/quant does), so the two must agree bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/fp16.h"
#include "quant/types.h"

/* ---- helpers ---- */

static uint64_t lcg_state = 777;
static uint8_t rand_byte(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(lcg_state >> 56);
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = ef_f32_to_f16(v);
    memcpy(p, &h, 2);
}

static float get_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ef_f16_to_f32(h);
}

/* Dequantizes n elements of `type` through the type table. */
static void dequant(uint32_t type, const void *blk, float *out, int64_t n) {
    const ef_type_info *t = ef_type_get(type);
    assert_non_null(t);
    assert_non_null(t->to_float);
    t->to_float(blk, out, n);
}

/* Random block bytes with finite, modest fp16 scales at the given offsets. */
static void random_block(uint8_t *blk, int bytes, const int *f16_offsets, int n_f16) {
    for (int i = 0; i < bytes; i++) blk[i] = rand_byte();
    for (int k = 0; k < n_f16; k++) put_f16(blk + f16_offsets[k], (float)(rand_byte() - 128) / 64.0f);
}

static void assert_same(const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("element %d: library %.9g, reference %.9g", i, (double)a[i], (double)b[i]);
    }
}

/* ---- 32-element formats: literal blocks ---- */

static void test_q8_0_literal(void **state) {
    (void)state;
    uint8_t blk[34];
    put_f16(blk, 0.5f);
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)(j - 16); /* signed bytes */
    float y[32];
    dequant(EF_TYPE_Q8_0, blk, y, 32);
    for (int j = 0; j < 32; j++) assert_true(y[j] == 0.5f * (float)(j - 16));
    assert_true(y[0] == -8.0f);
}

static void test_q4_0_literal(void **state) {
    (void)state;
    uint8_t blk[18];
    put_f16(blk, 2.0f);
    for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    dequant(EF_TYPE_Q4_0, blk, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 2.0f * (float)(j - 8));           /* low nibble: element j */
        assert_true(y[j + 16] == 2.0f * (float)(15 - j - 8)); /* high nibble: element j+16 */
    }
    assert_true(y[0] == -16.0f && y[16] == 14.0f);
}

static void test_q4_1_literal(void **state) {
    (void)state;
    uint8_t blk[20];
    put_f16(blk, 0.5f);
    put_f16(blk + 2, -1.0f); /* m follows d */
    for (int j = 0; j < 16; j++) blk[4 + j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    dequant(EF_TYPE_Q4_1, blk, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 0.5f * (float)j - 1.0f);
        assert_true(y[j + 16] == 0.5f * (float)(15 - j) - 1.0f);
    }
}

static void test_q5_literal(void **state) {
    (void)state;
    /* qh = 0xAAAA5555 little-endian: bits 0,2,..,14 and 17,19,..,31 set. */
    const uint8_t qh[4] = {0x55, 0x55, 0xAA, 0xAA};
    uint8_t b0[22], b1[24];
    put_f16(b0, 1.0f);
    memcpy(b0 + 2, qh, 4);
    put_f16(b1, 1.0f);
    put_f16(b1 + 2, 0.25f);
    memcpy(b1 + 4, qh, 4);
    for (int j = 0; j < 16; j++) b0[6 + j] = b1[8 + j] = (uint8_t)(j | (15 - j) << 4);
    float y0[32], y1[32];
    dequant(EF_TYPE_Q5_0, b0, y0, 32);
    dequant(EF_TYPE_Q5_1, b1, y1, 32);
    for (int j = 0; j < 16; j++) {
        const int hi_lo = j % 2 == 0 ? 16 : 0;  /* bit j */
        const int hi_hi = j % 2 == 1 ? 16 : 0;  /* bit j+16 */
        assert_true(y0[j] == (float)(j + hi_lo - 16));
        assert_true(y0[j + 16] == (float)(15 - j + hi_hi - 16));
        assert_true(y1[j] == (float)(j + hi_lo) + 0.25f);
        assert_true(y1[j + 16] == (float)(15 - j + hi_hi) + 0.25f);
    }
    assert_true(y0[0] == 0.0f && y0[1] == -15.0f && y0[16] == -1.0f && y0[17] == 14.0f);
}

/* ---- K-quants and ternary: literal blocks ---- */

static void test_q6_k_literal(void **state) {
    (void)state;
    uint8_t blk[210];
    memset(blk, 0, sizeof blk);
    /* element 0: ql[0] low nibble 5, qh[0] bits 0-1 = 2 -> code 37 -> q = 5 */
    /* element 64: ql[0] high nibble 1, qh[0] bits 4-5 = 0 -> code 1 -> q = -31 */
    blk[0] = 0x15;
    blk[128] = 0x02;
    /* element 200 = half 1, k 2, l 8: ql[64+8] high nibble, qh[32+8] bits 4-5 */
    blk[72] = 0xF0;
    blk[128 + 40] = 0x30; /* code 63 -> q = 31 */
    for (int s = 0; s < 16; s++) blk[192 + s] = (uint8_t)(int8_t)(s - 8); /* sc[16], signed */
    put_f16(blk + 208, 0.5f);
    float y[256];
    dequant(EF_TYPE_Q6_K, blk, y, 256);
    assert_true(y[0] == 0.5f * -8.0f * 5.0f);          /* sc[0] = -8 */
    assert_true(y[64] == 0.5f * -4.0f * -31.0f);       /* sc[4] = -4 */
    assert_true(y[200] == 0.5f * 4.0f * 31.0f);        /* sc[12] = 4 */
    assert_true(y[1] == 0.5f * -8.0f * -32.0f);        /* all-zero code = -32 */
}

static void test_q4_k_literal(void **state) {
    (void)state;
    uint8_t blk[144];
    memset(blk, 0, sizeof blk);
    put_f16(blk, 1.0f);     /* d */
    put_f16(blk + 2, 0.5f); /* dmin */
    uint8_t *sc = blk + 4, *qs = blk + 16;
    sc[1] = 3;           /* sub-block 1: sc = 3 */
    sc[5] = 2;           /* sub-block 1: m = 2 */
    sc[1 + 8] = 0x97;    /* sub-block 5: sc low 4 = 7, m low 4 = 9 */
    sc[1] |= 1u << 6;    /* sub-block 5: sc bits 4-5 = 1 -> sc = 23 */
    sc[5] |= 2u << 6;    /* sub-block 5: m bits 4-5 = 2 -> m = 41 */
    qs[0 * 32 + 4] = 0xA0;  /* element 36 (sub-block 1, high nibble of chunk 0) = 10 */
    qs[2 * 32 + 7] = 0xC0;  /* element 167 (sub-block 5, high nibble of chunk 2) = 12 */
    float y[256];
    dequant(EF_TYPE_Q4_K, blk, y, 256);
    assert_true(y[36] == 3.0f * 10.0f - 0.5f * 2.0f);
    assert_true(y[167] == 23.0f * 12.0f - 0.5f * 41.0f);
    assert_true(y[4] == 0.0f); /* sub-block 0: sc = m = 0 */
}

static void test_tq2_0_literal(void **state) {
    (void)state;
    uint8_t blk[66];
    memset(blk, 0x55, 64); /* every code 1 -> 0 */
    blk[3] = 0x06;         /* bits 0-1 = 2 (element 3), bits 2-3 = 1 (element 35) */
    blk[32 + 5] = 0x45;    /* bits 6-7 = 1... set element 128+96+5 = 229 to 1 (zero) */
    blk[32 + 6] = 0x15;    /* bits 6-7 = 0 -> element 230 = -1 */
    put_f16(blk + 64, 0.75f);
    float y[256];
    dequant(EF_TYPE_TQ2_0, blk, y, 256);
    assert_true(y[3] == 0.75f && y[35] == 0.0f && y[229] == 0.0f && y[230] == -0.75f);
    assert_true(y[0] == 0.0f);
}

static void test_tq1_0_literal(void **state) {
    (void)state;
    uint8_t blk[54];
    /* digits (2,0,1,1,2) -> v = 2*81 + 0 + 9 + 3 + 2 = 176 -> ceil(176*256/243) = 186 */
    for (int k = 0; k < 52; k++) blk[k] = 186;
    /* qh digits (0,2,2,1) + trailing 0 -> v = 0 + 54 + 18 + 3 = 75 -> ceil(75*256/243) = 80 */
    for (int k = 48; k < 52; k++) blk[k] = 80;
    put_f16(blk + 52, 2.0f);
    float y[256];
    dequant(EF_TYPE_TQ1_0, blk, y, 256);
    const float first[5] = {2.0f, -2.0f, 0.0f, 0.0f, 2.0f};
    for (int i = 0; i < 5; i++) {
        assert_true(y[32 * i + 7] == first[i]);       /* qs[7], digit i */
        assert_true(y[160 + 16 * i + 3] == first[i]); /* qs[35], digit i */
    }
    const float last[4] = {-2.0f, 2.0f, 2.0f, 0.0f};
    for (int i = 0; i < 4; i++) assert_true(y[240 + 4 * i + 1] == last[i]);
}

/* ---- random blocks against storage-order reference dequantizers ---- */

static void ref_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = get_f16(b + 208);
    for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
            const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            y[l] = d * (float)sc[is + 0] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

static void scale_min_k4(int j, const uint8_t *s, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(s[j] & 63);
        *m = (float)(s[j + 4] & 63);
    } else {
        *sc = (float)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* qh NULL: Q4_K. */
static void ref_q4_q5_k(const uint8_t *b, const uint8_t *qh, const uint8_t *ql, float *y) {
    const float d = get_f16(b), dmin = get_f16(b + 2);
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 256; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
        float sc, m;
        scale_min_k4(is, b + 4, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, b + 4, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((ql[l] & 0xF) + (qh && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((ql[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - m2;
    }
}

static void ref_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *q = b + 32;
    const float d_all = get_f16(b + 108);
    /* Unpack the 12 scale bytes as four u32 words with masks. */
    uint32_t aux[4];
    memcpy(aux, b + 96, 12);
    const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu, tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int8_t scales[16];
    memcpy(scales, aux, 16);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128, q += 32) {
        int shift = 0;
        for (int j = 0; j < 4; j++, shift += 2, m <<= 1) {
            float dl = d_all * (float)(scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = d_all * (float)(scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * (float)(((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        }
    }
}

static void ref_q2_k(const uint8_t *b, float *y) {
    const uint8_t *scales = b, *q = b + 16;
    const float d = get_f16(b + 80), dmin = get_f16(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
            uint8_t sc = scales[is++];
            float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l] >> shift) & 3) - ml;
            sc = scales[is++];
            dl = d * (float)(sc & 0xF);
            ml = dmin * (float)(sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16] >> shift) & 3) - ml;
        }
    }
}

static void ref_tq2_0(const uint8_t *b, float *y) {
    const float d = get_f16(b + 64);
    for (int j = 0; j < 64; j += 32)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++) *y++ = (float)(((b[j + m] >> (2 * l)) & 3) - 1) * d;
}

static void ref_tq1_0(const uint8_t *b, float *y) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const float d = get_f16(b + 52);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 32; m++) *y++ = (float)((((uint8_t)(b[m] * pow3[n]) * 3) >> 8) - 1) * d;
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 16; m++) *y++ = (float)((((uint8_t)(b[32 + m] * pow3[n]) * 3) >> 8) - 1) * d;
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++) *y++ = (float)((((uint8_t)(b[48 + j] * pow3[n]) * 3) >> 8) - 1) * d;
}

#define N_RANDOM_BLOCKS 64

static void test_random_k_and_ternary_blocks(void **state) {
    (void)state;
    uint8_t blk[210];
    float got[256], want[256];
    for (int r = 0; r < N_RANDOM_BLOCKS; r++) {
        const int q6[] = {208}, q45[] = {0, 2}, q3[] = {108}, q2[] = {80, 82}, tq2[] = {64}, tq1[] = {52};
        random_block(blk, 210, q6, 1);
        dequant(EF_TYPE_Q6_K, blk, got, 256);
        ref_q6_k(blk, want);
        assert_same(got, want, 256);

        random_block(blk, 144, q45, 2);
        dequant(EF_TYPE_Q4_K, blk, got, 256);
        ref_q4_q5_k(blk, NULL, blk + 16, want);
        assert_same(got, want, 256);

        random_block(blk, 176, q45, 2);
        dequant(EF_TYPE_Q5_K, blk, got, 256);
        ref_q4_q5_k(blk, blk + 16, blk + 48, want);
        assert_same(got, want, 256);

        random_block(blk, 110, q3, 1);
        dequant(EF_TYPE_Q3_K, blk, got, 256);
        ref_q3_k(blk, want);
        assert_same(got, want, 256);

        random_block(blk, 84, q2, 2);
        dequant(EF_TYPE_Q2_K, blk, got, 256);
        ref_q2_k(blk, want);
        assert_same(got, want, 256);

        random_block(blk, 66, tq2, 1);
        dequant(EF_TYPE_TQ2_0, blk, got, 256);
        ref_tq2_0(blk, want);
        assert_same(got, want, 256);

        random_block(blk, 54, tq1, 1);
        dequant(EF_TYPE_TQ1_0, blk, got, 256);
        ref_tq1_0(blk, want);
        assert_same(got, want, 256);
    }
}

/* Multi-block rows: block b's bytes start at b*type_size and fill y[b*32..]. */
static void test_row_of_blocks(void **state) {
    (void)state;
    uint8_t row[3 * 34];
    for (int b = 0; b < 3; b++) {
        put_f16(row + 34 * b, (float)(b + 1));
        for (int j = 0; j < 32; j++) row[34 * b + 2 + j] = (uint8_t)j;
    }
    float y[96];
    dequant(EF_TYPE_Q8_0, row, y, 96);
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < 32; j++) assert_true(y[32 * b + j] == (float)(b + 1) * (float)j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0_literal),
        cmocka_unit_test(test_q4_0_literal),
        cmocka_unit_test(test_q4_1_literal),
        cmocka_unit_test(test_q5_literal),
        cmocka_unit_test(test_q6_k_literal),
        cmocka_unit_test(test_q4_k_literal),
        cmocka_unit_test(test_tq2_0_literal),
        cmocka_unit_test(test_tq1_0_literal),
        cmocka_unit_test(test_random_k_and_ternary_blocks),
        cmocka_unit_test(test_row_of_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
