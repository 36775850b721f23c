/* Builds the one program holding every kernel, from the on-disk binary
 * cache when an entry matches, else from the embedded source. */
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"
#include "ocl_kernel_source.h"

const char *const ef_ocl_kernel_names[EF_OCL_KERNEL_COUNT] = {
    "gemv_f32",    "gemv_f16",     "gemv_q8_0",    "gemv_q4_0",    "gemv_q4_k",  "gemv_bf16",
    "dequant_f32", "dequant_f16",  "dequant_q8_0", "dequant_q4_0", "dequant_q4_k", "dequant_bf16",
    "f32_to_f16",  "rmsnorm",      "rope",         "swiglu",       "add_f32",    "scale_f32",
    "softmax_rows", "flash_attn",
};

static void build_options(const ef_be_ctx *ctx, char *out, size_t cap) {
    snprintf(out, cap, "-cl-std=CL1.2 -DEF_WG=%d -DEF_MAX_HEAD_DIM=%d%s", (int)ctx->wg, EF_OCL_MAX_HEAD_DIM,
             ctx->dev.fp64 ? " -DEF_HAS_FP64=1" : "");
}

static void log_build_log(const ef_be_ctx *ctx, cl_program prog) {
    char buf[1024];
    size_t n = 0;
    if (clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, sizeof buf, buf, &n) != CL_SUCCESS)
        return;
    buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: build log: %s", buf);
}

static cl_program from_binary(ef_be_ctx *ctx, const unsigned char *bin, size_t size, const char *opts) {
    cl_int err = CL_SUCCESS, bin_status = CL_SUCCESS;
    cl_program prog =
        clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &size, &bin, &bin_status, &err);
    if (!prog) return NULL;
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS ||
        clBuildProgram(prog, 1, &ctx->dev.device, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static cl_program from_source(ef_be_ctx *ctx, const char *opts) {
    const char *src = ef_ocl_kernel_source;
    cl_int err = CL_SUCCESS;
    cl_program prog = clCreateProgramWithSource(ctx->context, 1, &src, NULL, &err);
    if (!prog) {
        ef_ocl_fail(ctx, "clCreateProgramWithSource", err);
        return NULL;
    }
    err = clBuildProgram(prog, 1, &ctx->dev.device, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        ef_ocl_fail(ctx, "clBuildProgram", err);
        log_build_log(ctx, prog);
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static void store_binary(ef_be_ctx *ctx, cl_program prog, const char *path) {
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || size == 0)
        return;
    unsigned char *bin = ctx->host.alloc(ctx->host.user, size);
    if (!bin) return;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
        ef_ocl_cache_store(&ctx->host, path, bin, size);
    ctx->host.free(ctx->host.user, bin);
}

int32_t ef_ocl_program_build(ef_be_ctx *ctx) {
    char opts[160];
    build_options(ctx, opts, sizeof opts);
    /* The cache key: everything that changes the compiled code. */
    uint64_t key = EF_OCL_FNV_SEED;
    const char *parts[] = {ctx->dev.platform_name, ctx->dev.name, ctx->dev.driver, ctx->dev.c_version, opts,
                           ef_ocl_kernel_source};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) key = ef_ocl_hash(key, parts[i], strlen(parts[i]) + 1);

    char dir[900], path[1024];
    int have_path = ef_ocl_cache_dir(dir, sizeof dir);
    if (have_path) snprintf(path, sizeof path, "%s/opencl-%016llx.bin", dir, (unsigned long long)key);

    cl_program prog = NULL;
    if (have_path) {
        size_t size = 0;
        unsigned char *bin = ef_ocl_cache_load(&ctx->host, path, &size);
        if (bin) {
            prog = from_binary(ctx, bin, size, opts);
            ctx->host.free(ctx->host.user, bin);
            if (prog)
                ef_ocl_log(&ctx->host, EF_BE_LOG_DEBUG, "opencl: kernels loaded from the cache %s", path);
            else
                ef_ocl_log(&ctx->host, EF_BE_LOG_WARN, "opencl: cached binary %s rejected, rebuilding", path);
        }
    }
    if (!prog) {
        prog = from_source(ctx, opts);
        if (!prog) return EF_ERR_BACKEND;
        if (have_path) {
            store_binary(ctx, prog, path);
            ef_ocl_log(&ctx->host, EF_BE_LOG_DEBUG, "opencl: kernels built, cached as %s", path);
        }
    }
    ctx->program = prog;

    for (int i = 0; i < EF_OCL_KERNEL_COUNT; i++) {
        cl_int err = CL_SUCCESS;
        ctx->kernels[i] = clCreateKernel(prog, ef_ocl_kernel_names[i], &err);
        if (!ctx->kernels[i]) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: kernel %s missing (CL error %d)", ef_ocl_kernel_names[i],
                       (int)err);
            return EF_ERR_BACKEND;
        }
        size_t wg = 0;
        clGetKernelWorkGroupInfo(ctx->kernels[i], ctx->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
        if (wg < (size_t)ctx->wg) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: kernel %s allows work-groups of %zu, needs %d",
                       ef_ocl_kernel_names[i], wg, (int)ctx->wg);
            return EF_ERR_UNSUPPORTED;
        }
    }
    return EF_OK;
}
