/* Public ef_kv_cache handle: creation, sequence operations, statistics.
 * Every call takes the cache's lock, so sessions sharing it may run on
 * other threads. */
#include <stdio.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "quant/types.h"

/* The layout a cache made outside a session gets: the model's windows with
 * rings sized for the default prefill chunk of 512 (the session clamps its
 * chunk to what the ring allows). */
#define EF_KV_DEFAULT_BATCH 512

ef_status ef_kv_cache_create(ef_model *model, const ef_kv_params *params, ef_kv_cache **out) {
    if (!model || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_kv_cache_create: model or out is NULL");
    *out = NULL;
    const ef_hparams *hp = &model->hp;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    int32_t n_ctx = params ? params->n_ctx : 0;
    if (n_ctx == 0) n_ctx = hp->n_ctx_train > 0 && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    int32_t *ring = ef_calloc((size_t)hp->n_layer * 2, sizeof *ring); /* [n_layer] rings ‖ [n_layer] windows */
    if (!ring) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a KV cache");
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const int64_t w = model->layers[il].n_swa;
        const int64_t r = w > 0 ? hp->n_sinks + w + EF_KV_DEFAULT_BATCH - 1 : 0;
        ring[il] = r < n_ctx ? (int32_t)r : 0;
        ring[hp->n_layer + il] = (int32_t)w;
    }
    const int32_t width = mla ? hp->kv_lora_rank + hp->qk_rope_dim : hp->n_head_kv * hp->head_dim;
    const ef_kv_geometry geo = {hp->n_layer, width, mla ? 0 : width, n_ctx, hp->n_sinks, ring, ring + hp->n_layer,
                                (mla ? hp->qk_rope_dim : hp->n_rot) > 0};
    ef_status st = ef_kvi_create(model, params, &geo, NULL, out);
    ef_free(ring);
    return st;
}

void ef_kv_cache_free(ef_kv_cache *kv) { ef_kvi_release(kv); }

const char *ef_kv_cache_errmsg(const ef_kv_cache *kv) { return kv ? kv->errmsg : ""; }

/* Checks seq (-1 allowed when any_ok); records the failure on the cache. */
static ef_status check_seq(ef_kv_cache *kv, int32_t seq, int any_ok) {
    if (seq >= 0 && seq < kv->n_seq_max) return EF_OK;
    if (any_ok && seq == -1) return EF_OK;
    return ef_kvi_fail(kv, ef_err(EF_ERR_INVALID_ARG, "sequence %d is outside the KV cache's 0..%d", (int)seq,
                                  (int)kv->n_seq_max - 1));
}

ef_status ef_kv_seq_clear(ef_kv_cache *kv, int32_t seq) {
    if (!kv) return ef_err(EF_ERR_INVALID_ARG, "KV cache is NULL");
    ef_kvi_lock(kv);
    ef_status st = check_seq(kv, seq, 1);
    for (int32_t s = 0; !st && s < kv->n_seq_max; s++)
        if (seq == -1 || s == seq) ef_kvq_clear(kv, s);
    ef_kvi_unlock(kv);
    return st;
}

ef_status ef_kv_seq_remove(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t p1) {
    if (!kv) return ef_err(EF_ERR_INVALID_ARG, "KV cache is NULL");
    ef_kvi_lock(kv);
    ef_status st = check_seq(kv, seq, 0);
    if (!st) {
        const int32_t n = kv->seqs[seq].n_tokens;
        if (p1 == -1) p1 = n;
        if (p0 < 0 || p0 > p1 || p1 > n)
            st = ef_err(EF_ERR_INVALID_ARG, "cannot remove positions [%d, %d) of KV sequence %d holding %d",
                        (int)p0, (int)p1, (int)seq, (int)n);
        else
            st = ef_kvq_remove(kv, seq, p0, p1);
        if (st) ef_kvi_fail(kv, st);
    }
    ef_kvi_unlock(kv);
    return st;
}

ef_status ef_kv_seq_copy(ef_kv_cache *kv, int32_t src, int32_t dst) {
    if (!kv) return ef_err(EF_ERR_INVALID_ARG, "KV cache is NULL");
    ef_kvi_lock(kv);
    ef_status st = check_seq(kv, src, 0);
    if (!st) st = check_seq(kv, dst, 0);
    if (!st && (st = ef_kvq_copy(kv, src, dst)) != EF_OK) ef_kvi_fail(kv, st);
    ef_kvi_unlock(kv);
    return st;
}

ef_status ef_kv_seq_keep(ef_kv_cache *kv, int32_t seq) {
    if (!kv) return ef_err(EF_ERR_INVALID_ARG, "KV cache is NULL");
    ef_kvi_lock(kv);
    ef_status st = check_seq(kv, seq, 0);
    for (int32_t s = 0; !st && s < kv->n_seq_max; s++)
        if (s != seq) ef_kvq_clear(kv, s);
    ef_kvi_unlock(kv);
    return st;
}

ef_status ef_kv_seq_shift(ef_kv_cache *kv, int32_t seq, int32_t n_keep, int32_t n_discard) {
    if (!kv) return ef_err(EF_ERR_INVALID_ARG, "KV cache is NULL");
    if (n_keep < 0 || n_discard < 0 || n_keep > INT32_MAX - n_discard)
        return ef_kvi_fail(kv, ef_err(EF_ERR_INVALID_ARG, "context shift needs n_keep, n_discard >= 0 (got %d, %d)",
                                      (int)n_keep, (int)n_discard));
    return ef_kv_seq_remove(kv, seq, n_keep, n_keep + n_discard);
}

ef_status ef_kv_seq_pos_range(const ef_kv_cache *kv, int32_t seq, int32_t *pos_min, int32_t *pos_max) {
    if (!kv || !pos_min || !pos_max) return ef_err(EF_ERR_INVALID_ARG, "ef_kv_seq_pos_range: NULL argument");
    if (seq < 0 || seq >= kv->n_seq_max)
        return ef_err(EF_ERR_INVALID_ARG, "sequence %d is outside the KV cache's 0..%d", (int)seq,
                      (int)kv->n_seq_max - 1);
    ef_kv_cache *lk = (ef_kv_cache *)kv; /* the lock is not part of the cache's logical state */
    ef_kvi_lock(lk);
    const int32_t n = kv->seqs[seq].n_tokens;
    /* the oldest position every layer still holds: the first sink, else the oldest of the window rings */
    const int32_t first = kv->n_sinks > 0 ? 0 : ef_kvq_first_held(kv, &kv->seqs[seq]);
    ef_kvi_unlock(lk);
    *pos_min = n > 0 ? first : -1;
    *pos_max = n - 1;
    return EF_OK;
}

/* One statistic; called with the lock held. */
static ef_status stat_locked(const ef_kv_cache *kv, int32_t key, int32_t tier, double *value) {
    const int per_tier = key >= EF_KV_STAT_BYTES && key <= EF_KV_STAT_RESTORE_SECONDS;
    if (per_tier && (tier < 0 || tier >= EF_KV_N_TIERS))
        return ef_err(EF_ERR_INVALID_ARG, "KV tier %d does not exist (0..%d)", (int)tier, EF_KV_N_TIERS - 1);
    const ef_kv_tier_stats *t = per_tier ? &kv->tier[tier] : NULL;
    switch (key) {
    case EF_KV_STAT_BYTES: *value = (double)t->bytes; break;
    case EF_KV_STAT_PAGES: *value = (double)t->pages; break;
    case EF_KV_STAT_RAW_BYTES: *value = (double)t->raw_bytes; break;
    case EF_KV_STAT_OFFLOADS: *value = (double)t->offloads; break;
    case EF_KV_STAT_RESTORES: *value = (double)t->restores; break;
    case EF_KV_STAT_OFFLOAD_SECONDS: *value = t->offload_seconds; break;
    case EF_KV_STAT_RESTORE_SECONDS: *value = t->restore_seconds; break;
    case EF_KV_STAT_HIT_RATE:
        *value = kv->reads_total ? (double)kv->reads_hot / (double)kv->reads_total : 1.0;
        break;
    case EF_KV_STAT_PAGE_SIZE: *value = kv->page_rows; break;
    case EF_KV_STAT_PAGE_BYTES: *value = (double)kv->page_bytes; break;
    case EF_KV_STAT_TOKENS: {
        double n = 0;
        for (int32_t s = 0; s < kv->n_seq_max; s++) n += kv->seqs[s].n_tokens;
        *value = n;
        break;
    }
    case EF_KV_STAT_SHARED_PAGES: {
        double n = 0;
        for (int32_t id = 0; id < kv->pages_cap; id++) n += kv->pages[id].refs > 1;
        *value = n;
        break;
    }
    default: return ef_err(EF_ERR_INVALID_ARG, "unknown KV statistic key %d", (int)key);
    }
    return EF_OK;
}

ef_status ef_kv_cache_stat(const ef_kv_cache *kv, int32_t key, int32_t tier, double *value) {
    if (!kv || !value) return ef_err(EF_ERR_INVALID_ARG, "ef_kv_cache_stat: NULL argument");
    ef_kv_cache *lk = (ef_kv_cache *)kv; /* the lock is not part of the cache's logical state */
    ef_kvi_lock(lk);
    ef_status st = stat_locked(kv, key, tier, value);
    ef_kvi_unlock(lk);
    return st;
}

const char *ef_kv_cache_type(const ef_kv_cache *kv, int32_t which_v) {
    if (!kv) return "";
    switch (ef_kvi_type(kv, which_v)) {
    case EF_TYPE_F32: return "f32";
    case EF_TYPE_F16: return "f16";
    case EF_TYPE_Q8_0: return "q8_0";
    case EF_TYPE_Q4_0: return "q4_0";
    default: return "";
    }
}
