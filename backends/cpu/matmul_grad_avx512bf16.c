/* The AVX512_BF16 level of the GEMM's mixed-precision mode (matmul_grad.h,
 * bf16 = 1): op(A) and op(B) are converted to bfloat16 while they are
 * packed (VCVTNE(2)PS2BF16: to nearest even), two consecutive k in each
 * 32-bit pair, and a 12×32 tile of C accumulates in 24 zmm registers with
 * VDPBF16PS, which adds two exact products per F32 lane — twice the F32
 * FMA rate on the same pipes. Per k pair: two 64-byte loads of the B
 * micro-panel and twelve broadcasts of A pairs. The tile is added into C
 * once at the end, as the F32 kernels do. */
#include "cpu/matmul_grad.h"

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

#include "cpu/simd_avx512.h"
#include <string.h>

enum { MR = EF_GEMM_BF16_MR, NR = EF_GEMM_BF16_NR };

int ef_cpu_avx512bf16_kernels_built(void) { return 1; }

/* c[12][ldc] (+)= A·B over kp pairs: A pair (i, p) at ap[i·a_row + p·a_k]
 * ([kp][12] or [12][kp]); bp: [kp][32] pairs, 64-byte aligned. */
static inline __attribute__((always_inline)) void tile_12x32(int64_t kp, const float *ap, int64_t a_row,
                                                             int64_t a_k, const float *bp, float *c, int64_t ldc,
                                                             int add) {
    __m512 acc[MR][2]; /* [row][two 16-float halves] */
#pragma GCC unroll 12 /* keeps the accumulators in registers, no stack copies */
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        ef_avx512_prefetch_row32(c + i * ldc); /* C's tile is read last: fetched while the k loop runs */
    }
    for (int64_t k = 0; k < kp; k++) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(bp + k * NR);      /* [16] pairs */
        const __m512bh b1 = (__m512bh)_mm512_load_si512(bp + k * NR + 16); /* [16] pairs */
        for (int i = 0; i < MR; i++) {
            /* the pair's bits broadcast as a float: a move, no arithmetic */
            const __m512bh a = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(ap[i * a_row + k * a_k]));
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], b0, a);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], b1, a);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) ef_avx512_row32_out(c + i * ldc, acc[i][0], acc[i][1], add);
}

/* ap: [kp][12] pairs (k-major, packed from a stored Aᵀ) */
void ef_gemm_ukernel_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_12x32(kp, ap, 1, MR, bp, c, ldc, add);
}
/* ap: [12][kp] pairs (rows of A) */
void ef_gemm_ukernel_rows_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc,
                                      int add) {
    tile_12x32(kp, ap, kp, 1, bp, c, ldc, add);
}
/* ap: [12][a_row] pairs, kp of each row read */
void ef_gemm_ukernel_rows_ld_bf16_avx512(int64_t kp, const float *ap, int64_t a_row, const float *bp, float *c,
                                         int64_t ldc, int add) {
    tile_12x32(kp, ap, a_row, 1, bp, c, ldc, add);
}

static inline __mmask16 mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* d[0..n) = src[0..n) in bfloat16, and d[n] = 0 when pad (n odd). */
static void to_bf16(uint16_t *d, const float *src, int64_t n, int pad) {
    for (int64_t k = 0; k < n; k += 32) {
        const int64_t m = n - k < 32 ? n - k : 32;
        const __m512 lo = _mm512_maskz_loadu_ps(mask16(m), src + k);        /* [16] */
        const __m512 hi = _mm512_maskz_loadu_ps(mask16(m - 16), src + k + 16); /* [16] */
        const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);              /* [32] bf16 */
        const int64_t w = pad ? (m + 1) & ~(int64_t)1 : m;                  /* a pad is a zero */
        _mm512_mask_storeu_epi16(d + k, w >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << w) - 1u), v);
    }
}

void ef_cpu_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n) { to_bf16(dst, src, n, 0); }

/* dst[0..2·kp) = row `row` of a stored matrix from column k0, kc values in
 * bfloat16 and a zero past kc (kp = ceil(kc/2)): copied from the bf16 twin
 * h when there is one, else converted from f. */
static void row_pairs(float *dst, const float *f, const uint16_t *h, int64_t ld, int64_t row, int64_t k0,
                      int64_t kc) {
    uint16_t *d = (uint16_t *)(void *)dst;
    if (!h) {
        to_bf16(d, f + row * ld + k0, kc, 1);
        return;
    }
    memcpy(d, h + row * ld + k0, sizeof(uint16_t) * (size_t)kc);
    if (kc & 1) d[kc] = 0;
}

/* Pairs {r0[c], r1[c]} for c < n (n ≤ 16), zero pairs to 16; r1 NULL: zero
 * high halves (an odd kc's last pair). Both runs convert in one
 * instruction, then one word permutation interleaves them. */
static inline __m512i pair16(const float *r0, const float *r1, int64_t n) {
    const __mmask16 m = mask16(n);
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512 lo = _mm512_maskz_loadu_ps(m, r0);                            /* [16] */
    const __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps(); /* [16] */
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* pair16 from rows row and row + 1 (none when !next) of a stored matrix,
 * columns col.. (n of them, ≤ 16): from the bf16 twin h when there is one. */
static inline __m512i pairs_at(const float *f, const uint16_t *h, int64_t ld, int64_t row, int next, int64_t col,
                               int64_t n) {
    if (!h) {
        const float *r0 = f + row * ld + col;
        return pair16(r0, next ? r0 + ld : NULL, n);
    }
    const __mmask16 m = mask16(n);
    const uint16_t *r0 = h + row * ld + col;
    const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0));
    if (!next) return lo;
    const __m512i hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0 + ld));
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

void ef_gemm_pack_a_bf16_avx512(const ef_gemm_f32 *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                                float *ap) {
    const int64_t kp = (kc + 1) / 2;
    if (g->trans_a) { /* rows 2q and 2q+1 of the stored Aᵀ give pair q of every panel */
        for (int64_t q = 0; q < kp; q++) {
            const int next = 2 * q + 1 < kc;
            for (int64_t p = 0; p < mc; p += mr) /* panel p: [kp][mr] pairs at ap + p·kp */
                _mm512_mask_storeu_epi32(ap + p * kp + q * mr, mask16(mr),
                                         pairs_at(g->A, g->A16, g->lda, k0 + 2 * q, next, i0 + p, mc - p));
        }
        return;
    }
    for (int64_t p = 0; p < mc; p += mr) { /* rows of a stored A: each row's pairs as they come */
        const int64_t rows = mc - p < mr ? mc - p : mr;
        float *dst = ap + p * kp; /* [mr][kp] pairs */
        for (int64_t r = 0; r < rows; r++) row_pairs(dst + r * kp, g->A, g->A16, g->lda, i0 + p + r, k0, kc);
        memset(dst + rows * kp, 0, sizeof(float) * (size_t)((mr - rows) * kp));
    }
}

void ef_gemm_pack_b_bf16_avx512(const ef_gemm_f32 *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                float *bp, float *tmp) {
    const int64_t kp = (kc + 1) / 2;
    if (!g->trans_b) { /* B is [K][N]: rows 2p and 2p+1 give pair p of every panel */
        for (int64_t p = 0; p < kp; p++) {
            const int next = 2 * p + 1 < kc;
            for (int64_t c = 0; c < nc; c += 16) /* panel c/nr: [kp][nr] pairs at bp + (c/nr)·nr·kp */
                _mm512_store_si512(bp + (c / nr) * nr * kp + p * nr + c % nr,
                                   pairs_at(g->B, g->B16, g->ldb, k0 + 2 * p, next, j0 + c, nc - c));
        }
        /* columns past nc up to the last panel's edge: zero pairs */
        const int64_t c_end = (nc + nr - 1) / nr * nr;
        for (int64_t c = (nc + 15) / 16 * 16; c < c_end; c += 16)
            for (int64_t p = 0; p < kp; p++)
                _mm512_store_si512(bp + (c / nr) * nr * kp + p * nr + c % nr, _mm512_setzero_si512());
        return;
    }
    for (int64_t q = 0; q < nc; q += nr) { /* B is [N][K]: a column's pairs are a stored row */
        const int64_t cols = nc - q < nr ? nc - q : nr;
        for (int64_t c = 0; c < cols; c++) row_pairs(tmp + c * kp, g->B, g->B16, g->ldb, j0 + q + c, k0, kc);
        ef_gemm_pack_bt_avx2(tmp, kp, kp, cols, nr, bp + q * kp); /* [kp][nr] pairs */
    }
}

#else /* built without the AVX512_BF16 flags: never selected (ef_cpu_avx512bf16_kernels_built is 0) */

int ef_cpu_avx512bf16_kernels_built(void) { return 0; }
void ef_cpu_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n) { (void)dst, (void)src, (void)n; }
void ef_gemm_ukernel_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kp, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc,
                                      int add) {
    (void)kp, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_ld_bf16_avx512(int64_t kp, const float *ap, int64_t a_row, const float *bp, float *c,
                                         int64_t ldc, int add) {
    (void)kp, (void)ap, (void)a_row, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_pack_a_bf16_avx512(const ef_gemm_f32 *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                                float *ap) {
    (void)g, (void)i0, (void)mc, (void)k0, (void)kc, (void)mr, (void)ap;
}
void ef_gemm_pack_b_bf16_avx512(const ef_gemm_f32 *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                float *bp, float *tmp) {
    (void)g, (void)k0, (void)kc, (void)j0, (void)nc, (void)nr, (void)bp, (void)tmp;
}

#endif
