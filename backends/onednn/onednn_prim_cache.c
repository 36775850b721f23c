/*
 * onednn_prim_cache.c — matmul primitives cached per (M, K, N, kind).
 *
 * Creating a primitive JITs code (first execute 26-80 ms here), and M is
 * the number of tokens of the call, so shapes recur but vary: a bounded
 * cache with least-recently-used eviction.
 */
#include <string.h>

#include "onednn_internal.h"

static void prim_destroy(onednn_prim *p)
{
    if (p->prim != NULL)
        dnnl_primitive_destroy(p->prim);
    dnnl_memory_t mems[] = {p->src, p->wei, p->dst, p->scales};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i] != NULL)
            dnnl_memory_destroy(mems[i]);
    memset(p, 0, sizeof *p);
}

void onednn_prim_cache_clear(ef_be_ctx *ctx)
{
    for (int32_t i = 0; i < ctx->n_cached; i++)
        prim_destroy(&ctx->cache[i]);
    ctx->n_cached = 0;
}

/* A memory object with no data yet: handles are set per call. */
static dnnl_status_t make_memory(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, dnnl_engine_t engine)
{
    return dnnl_memory_create(mem, md, engine, DNNL_MEMORY_NONE);
}

static dnnl_status_t prim_create(ef_be_ctx *ctx, onednn_prim *p)
{
    const int int8 = p->kind != ONEDNN_KIND_F32;
    dnnl_memory_desc_t src_md, wei_md, dst_md;
    dnnl_dims_t src_dims = {p->m, p->k}; /* x [m][k] row-major */
    dnnl_dims_t wei_dims = {p->k, p->n}; /* W^T: edgeformer stores W [n][k], read as k x n with strides {1, k} */
    dnnl_dims_t wei_strides = {1, p->k};
    dnnl_dims_t dst_dims = {p->m, p->n}; /* y [m][n] row-major */
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, int8 ? dnnl_u8 : dnnl_f32, dnnl_ab)) ||
        (st = dnnl_memory_desc_init_by_strides(&wei_md, 2, wei_dims, int8 ? dnnl_s8 : dnnl_f32, wei_strides)) ||
        (st = dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab)))
        return st;

    dnnl_matmul_desc_t desc;
    if ((st = dnnl_matmul_desc_init(&desc, &src_md, &wei_md, NULL, &dst_md)))
        return st;
    dnnl_primitive_attr_t attr = NULL;
    if ((st = dnnl_primitive_attr_create(&attr)))
        return st;
    if (int8) {
        const float runtime_scale = DNNL_RUNTIME_F32_VAL;
        const int32_t zero_point = ONEDNN_ACT_ZERO_POINT;
        /* one scale per output column n (dim 1 of dst), given per call; the source's fixed zero point */
        if ((st = dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, &runtime_scale)) ||
            (st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zero_point))) {
            dnnl_primitive_attr_destroy(attr);
            return st;
        }
    }
    if (p->kind == ONEDNN_KIND_INT8_ACC) {
        /* dst = output_scale * acc + dst: the split scheme's lo pass onto the hi pass */
        dnnl_post_ops_t ops = NULL;
        if ((st = dnnl_post_ops_create(&ops)) == dnnl_success) {
            if ((st = dnnl_post_ops_append_sum(ops, 1.0f)) == dnnl_success)
                st = dnnl_primitive_attr_set_post_ops(attr, ops);
            dnnl_post_ops_destroy(ops);
        }
        if (st != dnnl_success) {
            dnnl_primitive_attr_destroy(attr);
            return st;
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    st = dnnl_primitive_desc_create(&pd, &desc, attr, ctx->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st)
        return st;
    st = dnnl_primitive_create(&p->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st)
        return st;
    if ((st = make_memory(&p->src, &src_md, ctx->engine)) || (st = make_memory(&p->wei, &wei_md, ctx->engine)) ||
        (st = make_memory(&p->dst, &dst_md, ctx->engine)))
        return st;
    if (int8) {
        dnnl_memory_desc_t scales_md;
        dnnl_dims_t scales_dims = {p->n};
        if ((st = dnnl_memory_desc_init_by_tag(&scales_md, 1, scales_dims, dnnl_f32, dnnl_a)) ||
            (st = make_memory(&p->scales, &scales_md, ctx->engine)))
            return st;
    }
    return dnnl_success;
}

int32_t onednn_prim_get(ef_be_ctx *ctx, int64_t m, int64_t k, int64_t n, onednn_kind kind, onednn_prim **out)
{
    ctx->clock++;
    int32_t victim = 0;
    for (int32_t i = 0; i < ctx->n_cached; i++) {
        onednn_prim *p = &ctx->cache[i];
        if (p->m == m && p->k == k && p->n == n && p->kind == kind) {
            p->last_used = ctx->clock;
            *out = p;
            return ONEDNN_OK;
        }
        if (p->last_used < ctx->cache[victim].last_used)
            victim = i;
    }
    onednn_prim *p;
    if (ctx->n_cached < ONEDNN_PRIM_CACHE_MAX) {
        p = &ctx->cache[ctx->n_cached++];
    } else {
        p = &ctx->cache[victim];
        prim_destroy(p);
    }
    p->m = m;
    p->k = k;
    p->n = n;
    p->kind = kind;
    p->last_used = ctx->clock;
    dnnl_status_t st = prim_create(ctx, p);
    if (st != dnnl_success) {
        prim_destroy(p);
        /* keep the array dense: move the last entry into the hole */
        ctx->n_cached--;
        if (p != &ctx->cache[ctx->n_cached]) {
            *p = ctx->cache[ctx->n_cached];
            memset(&ctx->cache[ctx->n_cached], 0, sizeof ctx->cache[0]);
        }
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: cannot create a %s matmul %lldx%lldx%lld (dnnl status %d)",
                   kind == ONEDNN_KIND_F32 ? "f32" : "u8s8", (long long)m, (long long)k, (long long)n, (int)st);
        return ONEDNN_ERR_BACKEND;
    }
    ctx->n_prim_created++;
    *out = p;
    return ONEDNN_OK;
}
