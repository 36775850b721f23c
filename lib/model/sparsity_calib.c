/* Calibration statistics of activation sparsity: log-spaced histograms of
 * |act(gate)| per layer and their quantiles (the per-layer thresholds). */
#include <math.h>

#include "base/alloc.h"
#include "model/sparsity.h"

ef_status ef_act_hist_create(int32_t n_layer, ef_act_hist **out) {
    *out = NULL;
    if (n_layer < 1) return ef_err(EF_ERR_INVALID_ARG, "activation histogram: %d layers", (int)n_layer);
    ef_act_hist *h = ef_calloc(1, sizeof *h);
    if (h) h->bins = ef_calloc((size_t)n_layer * EF_ACT_HIST_BINS, sizeof *h->bins);
    if (h && h->bins) h->total = ef_calloc((size_t)n_layer, sizeof *h->total);
    if (!h || !h->bins || !h->total) {
        ef_act_hist_free(h);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory for the activation histograms of %d layers", (int)n_layer);
    }
    h->n_layer = n_layer;
    *out = h;
    return EF_OK;
}

void ef_act_hist_free(ef_act_hist *h) {
    if (!h) return;
    ef_free(h->bins);
    ef_free(h->total);
    ef_free(h);
}

/* Bin 0: below 2^MIN_LOG2 (zeros too); bin b ≥ 1 covers
 * [2^(MIN + (b-1)/P), 2^(MIN + b/P)); the last bin also takes everything above. */
static int32_t bin_of(float v) {
    const float a = fabsf(v);
    if (!(a >= ldexpf(1.0f, EF_ACT_HIST_MIN_LOG2))) return 0; /* also NaN */
    const float pos = (log2f(a) - (float)EF_ACT_HIST_MIN_LOG2) * (float)EF_ACT_HIST_PER_OCTAVE;
    const int32_t b = 1 + (int32_t)(pos < (float)EF_ACT_HIST_BINS ? pos : (float)EF_ACT_HIST_BINS);
    return b < EF_ACT_HIST_BINS ? b : EF_ACT_HIST_BINS - 1;
}

static float bin_edge(int32_t b) { /* lower edge of bin b ≥ 1 */
    return exp2f((float)EF_ACT_HIST_MIN_LOG2 + (float)(b - 1) / (float)EF_ACT_HIST_PER_OCTAVE);
}

void ef_act_hist_add(ef_act_hist *h, int32_t il, const float *act, int64_t n) {
    if (!h || il < 0 || il >= h->n_layer) return;
    uint64_t *bins = h->bins + (int64_t)il * EF_ACT_HIST_BINS;
    for (int64_t i = 0; i < n; i++) bins[bin_of(act[i])]++;
    h->total[il] += (uint64_t)n;
}

float ef_act_hist_quantile(const ef_act_hist *h, int32_t il, float p) {
    if (!h || il < 0 || il >= h->n_layer || h->total[il] == 0 || !(p > 0.0f)) return 0.0f;
    const uint64_t *bins = h->bins + (int64_t)il * EF_ACT_HIST_BINS;
    const double target = (double)p * (double)h->total[il];
    double cum = 0.0;
    for (int32_t b = 0; b < EF_ACT_HIST_BINS; b++) {
        const double next = cum + (double)bins[b];
        if (bins[b] > 0 && next >= target) {
            const float frac = (float)((target - cum) / (double)bins[b]);
            if (b == 0) return frac * ldexpf(1.0f, EF_ACT_HIST_MIN_LOG2);
            const float lo = bin_edge(b); /* geometric interpolation inside the bin */
            return lo * exp2f(frac / (float)EF_ACT_HIST_PER_OCTAVE);
        }
        cum = next;
    }
    return bin_edge(EF_ACT_HIST_BINS);
}
