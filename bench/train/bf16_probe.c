/* What docs/training.md says of this processor's VDPBF16PS: its peak rate
 * against F32 FMA (12 independent accumulators, registers only, one core),
 * and how it rounds a lane's two products into the accumulator, compared
 * with three F32 orders on random bfloat16 operands.
 * build: cc -O3 -mavx512f -mavx512bf16 bench/train/bf16_probe.c -o bf16_probe
 * (needs a processor with AVX512_BF16; reports wall-clock rates). */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float bf16_value(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int main(void) {
    enum { ACC = 12 };
    const long n = 200000000 / ACC;
    __m512 acc[ACC];
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x3f003f00);
    double t0 = now();
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(a)); /* keeps the loop from being folded */
    }
    const double t_bf16 = now() - t0;
    __m512 f = _mm512_set1_ps(1.0001f), g = _mm512_set1_ps(0.9999f);
    t0 = now();
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(f, g, acc[i]);
        __asm__ volatile("" : "+v"(f));
    }
    const double t_fma = now() - t0;
    float sink = 0;
    for (int i = 0; i < ACC; i++) sink += _mm512_reduce_add_ps(acc[i]);
    printf("vdpbf16ps zmm: %.1f GFLOP/s, vfmadd zmm: %.1f GFLOP/s (one core; sink %g)\n",
           (double)n * ACC * 64 / t_bf16 * 1e-9, (double)n * ACC * 32 / t_fma * 1e-9, (double)sink);

    /* rounding: c + a0·b0 + a1·b1 per lane; the products are exact in F32 */
    srand(1);
    long total = 0, odd_first = 0, even_first = 0, one_rounding = 0;
    for (int it = 0; it < 200000; it++) {
        uint16_t x[32], y[32];
        float c[16], out[16];
        for (int i = 0; i < 32; i++) {
            x[i] = (uint16_t)((rand() & 0x7fff) % 0x3f00 + 0x3000) | (uint16_t)((rand() & 1) << 15);
            y[i] = (uint16_t)((rand() & 0x7fff) % 0x3f00 + 0x3000) | (uint16_t)((rand() & 1) << 15);
        }
        for (int i = 0; i < 16; i++)
            c[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * bf16_value(x[2 * i]) * bf16_value(y[2 * i]) * 4;
        _mm512_storeu_ps(out, _mm512_dpbf16_ps(_mm512_loadu_ps(c), (__m512bh)_mm512_loadu_si512(x),
                                               (__m512bh)_mm512_loadu_si512(y)));
        for (int i = 0; i < 16; i++) {
            const float p0 = bf16_value(x[2 * i]) * bf16_value(y[2 * i]);
            const float p1 = bf16_value(x[2 * i + 1]) * bf16_value(y[2 * i + 1]);
            total++;
            odd_first += out[i] == (c[i] + p1) + p0;
            even_first += out[i] == (c[i] + p0) + p1;
            one_rounding += out[i] == (float)((double)c[i] + (double)p0 + (double)p1);
        }
    }
    printf("lanes %ld: equal to (c+p1)+p0 %ld, (c+p0)+p1 %ld, one rounding of c+p0+p1 %ld\n", total, odd_first,
           even_first, one_rounding);
    return 0;
}
