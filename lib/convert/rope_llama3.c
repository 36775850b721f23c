/* Llama 3.1 rope scaling: long wavelengths (past original_ctx/low_freq_factor)
 * are slowed by `factor`, short ones (under original_ctx/high_freq_factor) kept,
 * and the band between blends the two linearly in original_ctx/wavelength.
 * GGUF stores the result as per-frequency divisors (rope_freqs.weight). */
#include <math.h>

#include "convert/convert.h"

void ef_rope_llama3_factors(const ef_hf_config *cfg, float *factors) {
    const double pi = 3.14159265358979323846;
    const double orig = (double)cfg->rope_orig_ctx;
    const double low_wavelen = orig / cfg->low_freq_factor;   /* longer: fully scaled */
    const double high_wavelen = orig / cfg->high_freq_factor; /* shorter: unscaled */
    const int64_t half = cfg->head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        double freq = pow(cfg->rope_theta, -(double)(2 * i) / (double)cfg->head_dim);
        double wavelen = 2.0 * pi / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = cfg->rope_factor;
        } else {
            double smooth = (orig / wavelen - cfg->low_freq_factor) /
                            (cfg->high_freq_factor - cfg->low_freq_factor);
            /* new_freq = (1 - smooth) * freq / factor + smooth * freq */
            f = 1.0 / ((1.0 - smooth) / cfg->rope_factor + smooth);
        }
        factors[i] = (float)f;
    }
}
