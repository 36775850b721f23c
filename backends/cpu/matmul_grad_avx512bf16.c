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
#include <string.h>

enum { MR = EF_GEMM_BF16_MR, NR = EF_GEMM_BF16_NR };

int ef_cpu_avx512bf16_kernels_built(void) { return 1; }

/* c[12][ldc] (+)= A·B over kp pairs: A pair (i, p) at ap[i·a_row + p·a_k]
 * ([kp][12] or [12][kp]); bp: [kp][32] pairs, 64-byte aligned. */
static inline __attribute__((always_inline)) void tile_12x32(int64_t kp, const float *ap, int64_t a_row,
                                                             int64_t a_k, const float *bp, float *c, int64_t ldc,
                                                             int add) {
    __m512 acc[MR][2]; /* [row][two 16-float halves] */
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
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
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc; /* [32] */
        if (add) {
            acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(row), acc[i][0]);
            acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(row + 16), acc[i][1]);
        }
        _mm512_storeu_ps(row, acc[i][0]);
        _mm512_storeu_ps(row + 16, acc[i][1]);
    }
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

static inline __mmask16 mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* dst[0..2·kp) = src[0..kc) in bfloat16, a zero past kc (kp = ceil(kc/2)). */
static void convert_row(float *dst, const float *src, int64_t kc) {
    uint16_t *d = (uint16_t *)(void *)dst;
    for (int64_t k = 0; k < kc; k += 32) {
        const int64_t n = kc - k < 32 ? kc - k : 32;
        const __m512 lo = _mm512_maskz_loadu_ps(mask16(n), src + k);        /* [16] */
        const __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), src + k + 16); /* [16] */
        const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);              /* [32] bf16 */
        const int64_t even = (n + 1) & ~(int64_t)1;                         /* the pad is a zero */
        _mm512_mask_storeu_epi16(d + k, even >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << even) - 1u), v);
    }
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

void ef_gemm_pack_a_bf16_avx512(const ef_gemm_f32 *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                                float *ap) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t p = 0; p < mc; p += mr) {
        const int64_t rows = mc - p < mr ? mc - p : mr;
        float *dst = ap + p * kp; /* [kp][mr] or [mr][kp] pairs */
        if (g->trans_a) {         /* rows 2q and 2q+1 of the stored Aᵀ give pair q */
            for (int64_t q = 0; q < kp; q++) {
                const float *r0 = g->A + (k0 + 2 * q) * g->lda + i0 + p;
                const float *r1 = 2 * q + 1 < kc ? r0 + g->lda : NULL;
                _mm512_mask_storeu_epi32(dst + q * mr, mask16(mr), pair16(r0, r1, rows));
            }
        } else {
            for (int64_t r = 0; r < rows; r++) convert_row(dst + r * kp, g->A + (i0 + p + r) * g->lda + k0, kc);
            memset(dst + rows * kp, 0, sizeof(float) * (size_t)((mr - rows) * kp));
        }
    }
}

void ef_gemm_pack_b_bf16_avx512(const ef_gemm_f32 *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                float *bp, float *tmp) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t q = 0; q < nc; q += nr) {
        const int64_t cols = nc - q < nr ? nc - q : nr;
        float *dst = bp + q * kp; /* [kp][nr] pairs */
        if (!g->trans_b) {        /* B is [K][N]: rows 2p and 2p+1 give pair p */
            for (int64_t p = 0; p < kp; p++) {
                const float *r0 = g->B + (k0 + 2 * p) * g->ldb + j0 + q;
                const float *r1 = 2 * p + 1 < kc ? r0 + g->ldb : NULL;
                for (int h = 0; h < nr; h += 16)
                    _mm512_store_si512(dst + p * nr + h, pair16(r0 + h, r1 ? r1 + h : NULL, cols - h));
            }
        } else { /* B is [N][K]: each column's pairs are a stored row, converted then transposed */
            for (int64_t c = 0; c < cols; c++) convert_row(tmp + c * kp, g->B + (j0 + q + c) * g->ldb + k0, kc);
            ef_gemm_pack_bt_avx2(tmp, kp, kp, cols, nr, dst);
        }
    }
}

#else /* built without the AVX512_BF16 flags: never selected (ef_cpu_avx512bf16_kernels_built is 0) */

int ef_cpu_avx512bf16_kernels_built(void) { return 0; }
void ef_gemm_ukernel_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kp, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc,
                                      int add) {
    (void)kp, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
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
