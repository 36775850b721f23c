/* Scale searches shared by the K-quant reference quantizers. Both fit one
 * 256-element super-block: per sub-block scales, themselves quantized against
 * one (or two) fp16 super-block scales. Codes are computed against the scales
 * as they will be stored (fp16-rounded), so dequantizing reproduces the fit. */
#ifndef EF_QUANT_K_QUANT_FIT_H
#define EF_QUANT_K_QUANT_FIT_H

#include <stdint.h>

/* Affine fit x ≈ d*sc[s]*q - dmin*m[s], codes q in 0..qmax, sc/m in 0..smax.
 * Per sub-block: min clamped to <= 0 (so m >= 0), scale = (max - min)/qmax;
 * d = largest scale/smax, dmin = largest -min/smax.
 * x: [n_sub*sub_len]; sc, m: [n_sub]; q: [n_sub*sub_len]; d, dmin: stored (fp16) values. */
void ef_kq_fit_affine(const float *x, int n_sub, int sub_len, int qmax, int smax,
                      float *d, float *dmin, uint8_t *sc, uint8_t *m, uint8_t *q);

/* Symmetric fit x ≈ d*sc[s]*q with q in [-qneg, qneg-1], sc in [-smax, smax].
 * Per sub-block: scale = (value of largest magnitude, signed) / -qneg, so that
 * value maps to -qneg exactly as in Q4_0; d = largest |scale| / smax.
 * x: [n_sub*sub_len]; sc: [n_sub]; q: [n_sub*sub_len]; d: stored (fp16) value. */
void ef_kq_fit_symmetric(const float *x, int n_sub, int sub_len, int qneg, int smax,
                         float *d, int8_t *sc, int8_t *q);

#endif
