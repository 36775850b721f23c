/* Reductions over rows for the training step, each with REDUCE_LANES
 * independent partial results combined in a fixed order at the end: the
 * compiler vectorizes them (one running sum is a serial chain of adds), and
 * the bits depend only on the row, never on the thread count. */
#ifndef EF_TRAIN_TRAIN_REDUCE_H
#define EF_TRAIN_TRAIN_REDUCE_H

#include <math.h>
#include <stdint.h>

enum { EF_TR_REDUCE_LANES = 8 };

/* Σ x[i] (squares: Σ x[i]²) in double. */
static inline double ef_tr_reduce_sum(const float *x, int64_t n, int squares) {
    double acc[EF_TR_REDUCE_LANES] = {0}; /* [lanes] partial sums */
    int64_t i = 0;
    for (; i + EF_TR_REDUCE_LANES <= n; i += EF_TR_REDUCE_LANES)
        for (int l = 0; l < EF_TR_REDUCE_LANES; l++) acc[l] += squares ? (double)x[i + l] * x[i + l] : x[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += squares ? (double)x[i] * x[i] : x[i];
    double s = 0.0;
    for (int l = 0; l < EF_TR_REDUCE_LANES; l++) s += acc[l];
    return s;
}

/* Σ a[i]·b[i] (c NULL) or Σ a[i]·b[i]·c[i], in double. */
static inline double ef_tr_reduce_dot(const float *a, const float *b, const float *c, int64_t n) {
    double acc[EF_TR_REDUCE_LANES] = {0}; /* [lanes] partial sums */
    int64_t i = 0;
    for (; i + EF_TR_REDUCE_LANES <= n; i += EF_TR_REDUCE_LANES)
        for (int l = 0; l < EF_TR_REDUCE_LANES; l++)
            acc[l] += c ? (double)a[i + l] * b[i + l] * c[i + l] : (double)a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += c ? (double)a[i] * b[i] * c[i] : (double)a[i] * b[i];
    double s = 0.0;
    for (int l = 0; l < EF_TR_REDUCE_LANES; l++) s += acc[l];
    return s;
}

/* max x[i] (n ≥ 1; −inf for a row of −inf). */
static inline float ef_tr_reduce_max(const float *x, int64_t n) {
    float acc[EF_TR_REDUCE_LANES]; /* [lanes] partial maxima */
    for (int l = 0; l < EF_TR_REDUCE_LANES; l++) acc[l] = -INFINITY;
    int64_t i = 0;
    for (; i + EF_TR_REDUCE_LANES <= n; i += EF_TR_REDUCE_LANES)
        for (int l = 0; l < EF_TR_REDUCE_LANES; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    for (int l = 0; i < n; i++, l++) acc[l] = x[i] > acc[l] ? x[i] : acc[l];
    float m = acc[0];
    for (int l = 1; l < EF_TR_REDUCE_LANES; l++) m = acc[l] > m ? acc[l] : m;
    return m;
}

#endif
