/* A plugin context: options, the chosen device, its OpenCL context, queue
 * and program; logging helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"
#include "ocl_matmul_plan.h"

void ef_ocl_log(const ef_be_host *host, int32_t level, const char *fmt, ...) {
    if (!host || !host->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->log(host->user, level, msg);
}

int32_t ef_ocl_fail(const ef_be_ctx *ctx, const char *what, cl_int err) {
    ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s failed: CL error %d", what, (int)err);
    if (err == CL_OUT_OF_HOST_MEMORY || err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES)
        return EF_ERR_NO_MEMORY;
    return EF_ERR_BACKEND;
}

/* A non-negative decimal index, or -1. */
static int32_t parse_index(const char *s) {
    if (!s || !*s) return -1;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000) return -1;
    return (int32_t)v;
}

/* The parsed options; 0 / -1 fields mean "auto". */
typedef struct ocl_options {
    int32_t platform, device, wg, prefill_gemv;
    int32_t fp16_math; /* 1: asked for (taken only on cl_khr_fp16 devices) */
} ocl_options;

static int32_t parse_options(const ef_be_option *opts, int32_t n_opts, ocl_options *o, char *err, size_t err_cap) {
    int32_t *platform = &o->platform, *device = &o->device, *wg = &o->wg;
    *platform = -1;
    *device = EF_OCL_DEV_ANY;
    *wg = 0;
    o->prefill_gemv = -1;
    o->fp16_math = 0;
    for (int32_t i = 0; i < n_opts; i++) {
        const char *key = opts[i].key ? opts[i].key : "", *val = opts[i].value ? opts[i].value : "";
        if (strcmp(key, "opencl.platform") == 0) {
            *platform = parse_index(val);
            if (*platform < 0) {
                snprintf(err, err_cap, "opencl.platform: '%s' is not a platform index", val);
                return EF_ERR_INVALID_ARG;
            }
        } else if (strcmp(key, "opencl.device") == 0) {
            if (strcmp(val, "any") == 0)
                *device = EF_OCL_DEV_ANY;
            else if (strcmp(val, "gpu") == 0)
                *device = EF_OCL_DEV_GPU;
            else if (strcmp(val, "cpu") == 0)
                *device = EF_OCL_DEV_CPU;
            else if ((*device = parse_index(val)) < 0) {
                snprintf(err, err_cap, "opencl.device: '%s' is not any, gpu, cpu or a device index", val);
                return EF_ERR_INVALID_ARG;
            }
        } else if (strcmp(key, "opencl.work_group") == 0) {
            /* Tuning and tests: the group width of the reducing kernels. */
            *wg = strcmp(val, "auto") == 0 ? 0 : parse_index(val);
            if ((*wg < 1 && strcmp(val, "auto") != 0) || *wg > EF_OCL_MAX_HEAD_DIM || (*wg & (*wg - 1))) {
                snprintf(err, err_cap, "opencl.work_group: '%s' is not auto or a power of two up to %d", val,
                         EF_OCL_MAX_HEAD_DIM);
                return EF_ERR_INVALID_ARG;
            }
        } else if (strcmp(key, "opencl.prefill") == 0) {
            if (strcmp(val, "auto") == 0)
                o->prefill_gemv = -1;
            else if (strcmp(val, "clblast") == 0)
                o->prefill_gemv = 0;
            else if (strcmp(val, "gemv") == 0)
                o->prefill_gemv = 1;
            else {
                snprintf(err, err_cap, "opencl.prefill: '%s' is not auto, clblast or gemv", val);
                return EF_ERR_INVALID_ARG;
            }
        } else if (strcmp(key, "opencl.fp16_math") == 0) {
            if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0) {
                snprintf(err, err_cap, "opencl.fp16_math: '%s' is not 0 or 1", val);
                return EF_ERR_INVALID_ARG;
            }
            o->fp16_math = val[0] == '1';
        } else {
            snprintf(err, err_cap,
                     "unknown option '%s' (the opencl backend knows opencl.platform, opencl.device, "
                     "opencl.work_group, opencl.prefill, opencl.fp16_math)",
                     key);
            return EF_ERR_INVALID_ARG;
        }
    }
    return EF_OK;
}

int32_t ef_ocl_init(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out, char *err,
                    size_t err_cap) {
    char local_err[EF_BE_REASON_MAX];
    if (!err || err_cap == 0) {
        err = local_err;
        err_cap = sizeof local_err;
    }
    err[0] = '\0';
    if (!host || !host->alloc || !host->free || !out || (n_opts > 0 && !opts)) {
        snprintf(err, err_cap, "opencl: init needs a host, an out pointer and options");
        return EF_ERR_INVALID_ARG;
    }
    *out = NULL;
    ocl_options o;
    int32_t st = parse_options(opts, n_opts, &o, err, err_cap);
    if (st != EF_OK) return st;

    ef_be_ctx *ctx = host->alloc(host->user, sizeof *ctx);
    if (!ctx) {
        snprintf(err, err_cap, "opencl: out of host memory");
        return EF_ERR_NO_MEMORY;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->host = *host;
    st = ef_ocl_select(o.platform, o.device, &ctx->dev, err, err_cap);
    if (st != EF_OK) goto fail;
    /* CPU devices: narrow groups, and batched GEMV beats CLBlast's SGEMM
     * (2.5-4x on PoCL); GPUs: wide groups and SGEMM. */
    const int32_t cpu = (ctx->dev.type & CL_DEVICE_TYPE_CPU) != 0;
    ctx->wg = o.wg ? o.wg : cpu ? EF_OCL_WG_CPU : EF_OCL_WG_GPU;
    ctx->prefill_gemv = o.prefill_gemv >= 0 ? o.prefill_gemv : cpu;
    ctx->fp16_math = ef_ocl_fp16_math_on(o.fp16_math, ctx->dev.fp16);
    if (o.fp16_math && !ctx->fp16_math)
        ef_ocl_log(host, EF_BE_LOG_INFO,
                   "opencl: opencl.fp16_math=1 not taken: %s has no cl_khr_fp16, F16 weights stay on fp32 math",
                   ctx->dev.name);

    cl_int cerr = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->dev.platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->dev.device, NULL, NULL, &cerr);
    if (!ctx->context) {
        snprintf(err, err_cap, "opencl: clCreateContext failed (CL error %d)", (int)cerr);
        st = EF_ERR_BACKEND;
        goto fail;
    }
    /* In order: ops reuse scratch buffers and rely on that order. */
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->dev.device, 0, &cerr);
    if (!ctx->queue) {
        snprintf(err, err_cap, "opencl: clCreateCommandQueue failed (CL error %d)", (int)cerr);
        st = EF_ERR_BACKEND;
        goto fail;
    }
    st = ef_ocl_program_build(ctx);
    if (st != EF_OK) {
        snprintf(err, err_cap, "opencl: building the kernels failed on %s (see the log)", ctx->dev.name);
        goto fail;
    }
    ef_ocl_log(host, EF_BE_LOG_INFO, "opencl: using %s%s", ctx->dev.description,
               ctx->fp16_math ? "; fp16 math (HGEMM) for F16 weights" : "");
    *out = ctx;
    return EF_OK;

fail:
    ef_ocl_log(host, EF_BE_LOG_ERROR, "%s", err);
    ef_ocl_shutdown(ctx);
    return st;
}

void ef_ocl_shutdown(ef_be_ctx *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    ef_ocl_scratch_release(&ctx->ids);
    ef_ocl_scratch_release(&ctx->factors);
    ef_ocl_scratch_release(&ctx->dequant);
    ef_ocl_scratch_release(&ctx->half_xy);
    for (int i = 0; i < EF_OCL_KERNEL_COUNT; i++)
        if (ctx->kernels[i]) clReleaseKernel(ctx->kernels[i]);
    if (ctx->program) clReleaseProgram(ctx->program);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    ef_be_host host = ctx->host;
    host.free(host.user, ctx);
}
