/* Element-wise ops: residual add, bias add, SwiGLU. */
#include "cpu/cpu_ops.h"
#include "cpu/silu.h"

void ef_cpu_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void ef_cpu_add_bias(float *y, const float *b, int32_t n, int32_t dim) {
    for (int32_t t = 0; t < n; t++) {
        float *yt = y + (int64_t)t * dim; /* [dim] */
        for (int32_t j = 0; j < dim; j++) yt[j] += b[j];
    }
}

void ef_cpu_swiglu(const float *gate, const float *up, float *out, int64_t n) {
    ef_cpu_silu(gate, out, n); /* vectorized, the sparse gate pass's rounding (cpu/silu.h); out may alias gate */
    for (int64_t i = 0; i < n; i++) out[i] *= up[i];
}
