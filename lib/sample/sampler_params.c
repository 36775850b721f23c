/* Sampler options: defaults, range checks, and the public option object
 * (ef_sampler_params_*) that hosts fill through typed setters. */
#include <math.h>

#include "base/alloc.h"
#include "sample/sampler.h"

void ef_sampler_params_defaults(struct ef_sampler_params *p) {
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

/* Each check names the setter so the host's message points at its own call. */
static ef_status check_temperature(float t) {
    if (!(t >= 0.0f) || isinf(t))
        return ef_err(EF_ERR_INVALID_ARG, "sampler temperature %g: must be a finite number >= 0", (double)t);
    return EF_OK;
}

static ef_status check_top_k(int32_t k) {
    if (k < 0) return ef_err(EF_ERR_INVALID_ARG, "sampler top_k %d: must be >= 0 (0 disables)", (int)k);
    return EF_OK;
}

static ef_status check_top_p(float top_p) {
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "sampler top_p %g: must be in (0, 1] (1 disables)", (double)top_p);
    return EF_OK;
}

static ef_status check_min_p(float min_p) {
    if (!(min_p >= 0.0f && min_p < 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "sampler min_p %g: must be in [0, 1) (0 disables)", (double)min_p);
    return EF_OK;
}

static ef_status check_repeat(float penalty, int32_t last_n) {
    if (!(penalty >= 1.0f) || isinf(penalty))
        return ef_err(EF_ERR_INVALID_ARG, "sampler repeat penalty %g: must be a finite number >= 1 (1 disables)",
                      (double)penalty);
    if (last_n < 0)
        return ef_err(EF_ERR_INVALID_ARG, "sampler repeat last_n %d: must be >= 0", (int)last_n);
    return EF_OK;
}

ef_status ef_sampler_params_validate(const struct ef_sampler_params *p) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "sampler params: NULL");
    EF_TRY(check_temperature(p->temperature));
    EF_TRY(check_top_k(p->top_k));
    EF_TRY(check_top_p(p->top_p));
    EF_TRY(check_min_p(p->min_p));
    EF_TRY(check_repeat(p->repeat_penalty, p->repeat_last_n));
    return EF_OK;
}

/* ---- public option object ---- */

ef_status ef_sampler_params_create(ef_sampler_params **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_sampler_params_create: out is NULL");
    ef_sampler_params *p = ef_malloc(sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "ef_sampler_params_create: out of memory");
    ef_sampler_params_defaults(p);
    *out = p;
    return EF_OK;
}

void ef_sampler_params_free(ef_sampler_params *params) { ef_free(params); }

#define EF_REQUIRE_PARAMS(p, fn) \
    do { \
        if (!(p)) return ef_err(EF_ERR_INVALID_ARG, fn ": params is NULL"); \
    } while (0)

ef_status ef_sampler_params_set_temperature(ef_sampler_params *p, float temperature) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_temperature");
    EF_TRY(check_temperature(temperature));
    p->temperature = temperature;
    return EF_OK;
}

ef_status ef_sampler_params_set_top_k(ef_sampler_params *p, int32_t top_k) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_top_k");
    EF_TRY(check_top_k(top_k));
    p->top_k = top_k;
    return EF_OK;
}

ef_status ef_sampler_params_set_top_p(ef_sampler_params *p, float top_p) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_top_p");
    EF_TRY(check_top_p(top_p));
    p->top_p = top_p;
    return EF_OK;
}

ef_status ef_sampler_params_set_min_p(ef_sampler_params *p, float min_p) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_min_p");
    EF_TRY(check_min_p(min_p));
    p->min_p = min_p;
    return EF_OK;
}

ef_status ef_sampler_params_set_repeat_penalty(ef_sampler_params *p, float penalty, int32_t last_n) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_repeat_penalty");
    EF_TRY(check_repeat(penalty, last_n));
    p->repeat_penalty = penalty;
    p->repeat_last_n = last_n;
    return EF_OK;
}

ef_status ef_sampler_params_set_seed(ef_sampler_params *p, uint64_t seed) {
    EF_REQUIRE_PARAMS(p, "ef_sampler_params_set_seed");
    p->seed = seed;
    return EF_OK;
}
