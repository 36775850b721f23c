/* Flash attention: causal GQA over F32 or F16 K/V with the online softmax
 * (kernels/flash_attn.cl), one work-group per (query head, token). */
#include "ocl_internal.h"

int32_t ef_ocl_flash_attn(ef_be_ctx *ctx, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                          const ef_be_tensor *v, const ef_be_tensor *out) {
    if (!ctx || !a) return EF_ERR_INVALID_ARG;
    if (a->n_tok < 0 || a->n_past < 0 || a->n_head <= 0 || a->n_head_kv <= 0 || a->n_head % a->n_head_kv ||
        a->head_dim <= 0 || a->head_dim > EF_OCL_MAX_HEAD_DIM) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR,
                   "opencl: flash_attn: n_tok %d n_past %d heads %d/%d head_dim %d (at most %d) not handled", a->n_tok,
                   a->n_past, a->n_head, a->n_head_kv, a->head_dim, EF_OCL_MAX_HEAD_DIM);
        return a->head_dim > EF_OCL_MAX_HEAD_DIM ? EF_ERR_UNSUPPORTED : EF_ERR_INVALID_ARG;
    }
    if (a->n_tok == 0) return EF_OK;
    int32_t st;
    if ((st = ef_ocl_check(ctx, q, EF_BE_TYPE_F32, "flash_attn q")) != EF_OK ||
        (st = ef_ocl_check(ctx, out, EF_BE_TYPE_F32, "flash_attn out")) != EF_OK ||
        (st = ef_ocl_check_any(ctx, k, "flash_attn k")) != EF_OK ||
        (st = ef_ocl_check_any(ctx, v, "flash_attn v")) != EF_OK)
        return st;
    if ((k->type != EF_BE_TYPE_F32 && k->type != EF_BE_TYPE_F16) || v->type != k->type) return EF_ERR_UNSUPPORTED;
    const int64_t q_elems = (int64_t)a->n_tok * a->n_head * a->head_dim;
    const int64_t kv_elems = (int64_t)(a->n_past + a->n_tok) * a->n_head_kv * a->head_dim;
    if (ef_ocl_nelem(q) != q_elems || ef_ocl_nelem(out) != q_elems || ef_ocl_nelem(k) < kv_elems ||
        ef_ocl_nelem(v) < kv_elems) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: flash_attn: q/out/k/v sizes do not match the shape");
        return EF_ERR_INVALID_ARG;
    }
    const cl_int kv_f16 = k->type == EF_BE_TYPE_F16, n_past = a->n_past, n_head = a->n_head,
                 n_head_kv = a->n_head_kv, head_dim = a->head_dim;
    const float scale = a->scale;
    const ef_ocl_arg args[] = {EF_OCL_ARG(q->buf->mem),  EF_OCL_ARG(q->offset),   EF_OCL_ARG(k->buf->mem),
                               EF_OCL_ARG(k->offset),    EF_OCL_ARG(v->buf->mem), EF_OCL_ARG(v->offset),
                               EF_OCL_ARG(kv_f16),       EF_OCL_ARG(out->buf->mem), EF_OCL_ARG(out->offset),
                               EF_OCL_ARG(n_past),       EF_OCL_ARG(n_head),     EF_OCL_ARG(n_head_kv),
                               EF_OCL_ARG(head_dim),     EF_OCL_ARG(scale)};
    const size_t global[2] = {(size_t)a->n_head * (size_t)ctx->wg, (size_t)a->n_tok}, local[2] = {(size_t)ctx->wg, 1};
    return ef_ocl_run(ctx, EF_OCL_FLASH_ATTN, 2, global, local, args, 14);
}
