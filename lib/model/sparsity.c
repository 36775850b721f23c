/* Sparse-MLP metadata read at load: the FFN activation (SiLU or ReLU), the
 * calibrated thresholds per layer and level, and the static keep mask
 * (applied by ffn_mask.c). See sparsity.h for the keys. */
#include "model/sparsity.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

void ef_sparsity_free(ef_sparsity_meta *s) {
    if (!s) return;
    ef_free(s->levels);
    ef_free(s->thresholds);
    ef_free(s);
}

int32_t ef_model_ffn_is_relu(const ef_model *m) { return m && m->sparsity && m->sparsity->relu; }

/* edgeformer.ffn_activation: "silu" or "relu". */
static ef_status read_activation(const ef_gguf *g, int32_t *relu) {
    *relu = 0;
    if (ef_gguf_find_key(g, EF_SPARSITY_KEY_ACTIVATION) < 0) return EF_OK;
    const char *s;
    uint64_t len;
    EF_TRY(ef_gguf_get_str(g, EF_SPARSITY_KEY_ACTIVATION, &s, &len));
    if (len == 4 && memcmp(s, "relu", 4) == 0) {
        *relu = 1;
        return EF_OK;
    }
    if (len == 4 && memcmp(s, "silu", 4) == 0) return EF_OK;
    return ef_err(EF_ERR_FORMAT, "key '%s' is \"%.*s\", expected \"silu\" or \"relu\"", EF_SPARSITY_KEY_ACTIVATION,
                  (int)(len > 32 ? 32 : len), s);
}

/* A f32 array key of exactly n items (n == 0: any count, returned in *n_out),
 * copied out: array data inside the file need not be 4-byte aligned. */
static ef_status read_f32_array(const ef_gguf *g, const char *key, uint64_t n, float **out, uint64_t *n_out) {
    uint32_t elem;
    uint64_t count;
    EF_TRY(ef_gguf_get_arr(g, key, &elem, &count));
    if (elem != EF_GGUF_F32) return ef_err(EF_ERR_FORMAT, "key '%s' must be an array of f32", key);
    if (count == 0 || (n && count != n) || count > (1u << 24))
        return ef_err(EF_ERR_FORMAT, "key '%s' has %llu items, expected %llu", key, (unsigned long long)count,
                      (unsigned long long)n);
    const void *p;
    EF_TRY(ef_gguf_get_arr_data(g, key, &p));
    *out = ef_malloc(sizeof(float) * (size_t)count);
    if (!*out) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading key '%s'", key);
    memcpy(*out, p, sizeof(float) * (size_t)count);
    if (n_out) *n_out = count;
    return EF_OK;
}

/* The levels grid and the per-layer thresholds, validated. */
static ef_status read_thresholds(const ef_gguf *g, ef_sparsity_meta *s) {
    if (ef_gguf_find_key(g, EF_SPARSITY_KEY_LEVELS) < 0) {
        if (ef_gguf_find_key(g, EF_SPARSITY_KEY_THRESHOLDS) >= 0)
            return ef_err(EF_ERR_FORMAT, "key '%s' without '%s'", EF_SPARSITY_KEY_THRESHOLDS, EF_SPARSITY_KEY_LEVELS);
        return EF_OK;
    }
    uint64_t n_levels = 0;
    EF_TRY(read_f32_array(g, EF_SPARSITY_KEY_LEVELS, 0, &s->levels, &n_levels));
    if (n_levels > 1000) return ef_err(EF_ERR_FORMAT, "key '%s' has %llu levels (at most 1000)",
                                       EF_SPARSITY_KEY_LEVELS, (unsigned long long)n_levels);
    const float *lv = s->levels;
    for (uint64_t i = 0; i < n_levels; i++) {
        float prev = i ? lv[i - 1] : 0.0f;
        if (!(lv[i] > prev && lv[i] < 1.0f))
            return ef_err(EF_ERR_FORMAT, "key '%s': level %llu (%g) must be ascending and in (0, 1)",
                          EF_SPARSITY_KEY_LEVELS, (unsigned long long)i, (double)lv[i]);
    }
    const uint64_t n_th = (uint64_t)s->n_layer * n_levels;
    EF_TRY(read_f32_array(g, EF_SPARSITY_KEY_THRESHOLDS, n_th, &s->thresholds, NULL));
    const float *th = s->thresholds;
    for (int32_t il = 0; il < s->n_layer; il++)
        for (uint64_t i = 0; i < n_levels; i++) {
            float t = th[(uint64_t)il * n_levels + i], prev = i ? th[(uint64_t)il * n_levels + i - 1] : 0.0f;
            if (!isfinite(t) || t < prev)
                return ef_err(EF_ERR_FORMAT, "key '%s': layer %d level %llu threshold %g must be finite and "
                              "not below the previous level's", EF_SPARSITY_KEY_THRESHOLDS, (int)il,
                              (unsigned long long)i, (double)t);
        }
    s->n_levels = (int32_t)n_levels;
    if (ef_gguf_find_key(g, EF_SPARSITY_KEY_DEFAULT) >= 0) {
        EF_TRY(ef_gguf_get_f32(g, EF_SPARSITY_KEY_DEFAULT, &s->default_level));
        if (!(s->default_level >= 0.0f && s->default_level < 1.0f))
            return ef_err(EF_ERR_FORMAT, "key '%s' is %g, expected [0, 1)", EF_SPARSITY_KEY_DEFAULT,
                          (double)s->default_level);
    }
    return EF_OK;
}

ef_status ef_sparsity_load(ef_model *m) {
    const ef_gguf *g = m->gguf;
    const int has_any = ef_gguf_find_key(g, EF_SPARSITY_KEY_ACTIVATION) >= 0 ||
                        ef_gguf_find_key(g, EF_SPARSITY_KEY_LEVELS) >= 0 ||
                        ef_gguf_find_key(g, EF_SPARSITY_KEY_THRESHOLDS) >= 0 ||
                        ef_gguf_find_key(g, EF_SPARSITY_KEY_KEEP) >= 0;
    if (!has_any) return EF_OK;
    ef_sparsity_meta *s = ef_calloc(1, sizeof *s);
    if (!s) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading the sparsity metadata");
    s->n_layer = m->hp.n_layer;
    s->n_ff_file = m->hp.n_ff;
    ef_status st = read_activation(g, &s->relu);
    if (st == EF_OK) st = read_thresholds(g, s);
    if (st == EF_OK && ef_gguf_find_key(g, EF_SPARSITY_KEY_KEEP) >= 0) st = ef_ffn_mask_apply(m, s);
    if (st != EF_OK) {
        ef_sparsity_free(s);
        return st;
    }
    m->sparsity = s;
    return EF_OK;
}

float ef_sparsity_threshold(const ef_sparsity_meta *s, int32_t il, float level) {
    if (!s || s->n_levels == 0 || il < 0 || il >= s->n_layer || !(level > 0.0f)) return 0.0f;
    const float *lv = s->levels, *th = s->thresholds + (int64_t)il * s->n_levels;
    const int32_t n = s->n_levels;
    if (level >= lv[n - 1]) return th[n - 1];
    float l0 = 0.0f, t0 = 0.0f; /* level 0 skips nothing: threshold 0 */
    for (int32_t i = 0; i < n; i++) {
        if (level <= lv[i]) {
            float f = (level - l0) / (lv[i] - l0);
            return t0 + f * (th[i] - t0);
        }
        l0 = lv[i];
        t0 = th[i];
    }
    return th[n - 1];
}
