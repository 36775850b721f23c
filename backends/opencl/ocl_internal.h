/* State and helpers shared by the OpenCL plugin's files. Plugins see only
 * backend.h (and edgeformer.h for the status codes), never lib/ internals. */
#ifndef EF_BACKENDS_OPENCL_INTERNAL_H
#define EF_BACKENDS_OPENCL_INTERNAL_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeformer/backend.h"
#include "edgeformer/edgeformer.h"

/* Work-group size of every kernel that reduces within a group (the kernels
 * are built with -DEF_WG=ctx->wg). GPUs want wide groups; CPU devices (PoCL)
 * run a group's items as loops and pay for each barrier, so there a small
 * group with 16-wide vector loads per item is about 10x faster. */
#define EF_OCL_WG_GPU 64
#define EF_OCL_WG_CPU 4
/* Largest head_dim flash_attn handles (its local q copy and accumulators). */
#define EF_OCL_MAX_HEAD_DIM 256

/* Kernels of the one program, in the order of ef_ocl_kernel_names. */
typedef enum ef_ocl_kernel {
    EF_OCL_GEMV_F32,
    EF_OCL_GEMV_F16,
    EF_OCL_GEMV_Q8_0,
    EF_OCL_GEMV_Q4_0,
    EF_OCL_GEMV_Q4_K,
    EF_OCL_GEMV_BF16,
    EF_OCL_DEQUANT_F32,
    EF_OCL_DEQUANT_F16,
    EF_OCL_DEQUANT_Q8_0,
    EF_OCL_DEQUANT_Q4_0,
    EF_OCL_DEQUANT_Q4_K,
    EF_OCL_DEQUANT_BF16,
    EF_OCL_F32_TO_F16,
    EF_OCL_RMSNORM,
    EF_OCL_ROPE,
    EF_OCL_SWIGLU,
    EF_OCL_ADD,
    EF_OCL_SCALE,
    EF_OCL_SOFTMAX,
    EF_OCL_FLASH_ATTN,
    EF_OCL_KERNEL_COUNT
} ef_ocl_kernel;

extern const char *const ef_ocl_kernel_names[EF_OCL_KERNEL_COUNT];

struct ef_be_buffer {
    cl_mem mem;
    uint64_t bytes; /* as requested (the cl_mem holds at least 1 byte) */
    void *mapped;   /* host pointer while mapped, else NULL */
};

/* A device buffer reused across calls and grown on demand (ids, factors,
 * dequantized weights). */
typedef struct ef_ocl_scratch {
    cl_mem mem;
    size_t bytes;
} ef_ocl_scratch;

/* What device selection found and how the device describes itself. */
typedef struct ef_ocl_device {
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type type;
    int32_t unified; /* CL_DEVICE_HOST_UNIFIED_MEMORY */
    int32_t fp16;    /* cl_khr_fp16 */
    int32_t fp64;    /* cl_khr_fp64 */
    uint64_t memory; /* CL_DEVICE_GLOBAL_MEM_SIZE */
    int32_t score;
    char name[128];
    char platform_name[128];
    char driver[64];
    char c_version[64];   /* "OpenCL C 1.2 ..." */
    char description[EF_BE_REASON_MAX];
} ef_ocl_device;

/* Device-type filter of "opencl.device". */
#define EF_OCL_DEV_ANY (-1)
#define EF_OCL_DEV_GPU (-2)
#define EF_OCL_DEV_CPU (-3)

struct ef_be_ctx {
    ef_be_host host; /* copied: the caller's struct may not outlive init */
    ef_ocl_device dev;
    int32_t wg;           /* EF_OCL_WG_GPU or EF_OCL_WG_CPU */
    int32_t prefill_gemv; /* batched GEMV instead of CLBlast for n > 1 (CPU devices) */
    int32_t fp16_math;    /* HGEMM for F16 weights: opencl.fp16_math=1 on a cl_khr_fp16 device */
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[EF_OCL_KERNEL_COUNT];
    ef_ocl_scratch ids;      /* int32 row ids of get_rows */
    ef_ocl_scratch factors;  /* float rope freq_factors */
    ef_ocl_scratch dequant;  /* float weights dequantized for SGEMM */
    ef_ocl_scratch half_xy;  /* HGEMM's x and y as half: [n][in] ‖ [n][out] */
};

/* ---- logging and errors (ocl_context.c) ---- */
void ef_ocl_log(const ef_be_host *host, int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Logs "what failed: CL error N" and returns EF_ERR_BACKEND (or
 * EF_ERR_NO_MEMORY for the out-of-memory codes). */
int32_t ef_ocl_fail(const ef_be_ctx *ctx, const char *what, cl_int err);

/* ---- device selection (ocl_device.c) ---- */
/* Fills the platform list; returns how many (0 with *err set when none). */
cl_uint ef_ocl_platforms(cl_platform_id *out, cl_uint cap, cl_int *err);
/* Queries name, type, memory, extensions and the score of one device. */
void ef_ocl_describe(cl_platform_id platform, cl_device_id device, ef_ocl_device *out);
/* Picks a device: platform < 0 searches all platforms; device is an index
 * into the platform's devices or one of EF_OCL_DEV_*. Among several matches
 * the highest score wins (GPUs first). Writes a reason into err on failure. */
int32_t ef_ocl_select(int32_t platform, int32_t device, ef_ocl_device *out, char *err, size_t err_cap);

/* ---- program build and cache (ocl_program.c, ocl_program_cache.c) ---- */
int32_t ef_ocl_program_build(ef_be_ctx *ctx);
/* The directory binaries are cached in; 0 when none can be named. */
int32_t ef_ocl_cache_dir(char *out, size_t cap);
/* 64-bit FNV-1a, chained through h (start with EF_OCL_FNV_SEED). */
#define EF_OCL_FNV_SEED 0xcbf29ce484222325ull
uint64_t ef_ocl_hash(uint64_t h, const void *data, size_t n);
/* Reads a cache entry; returns a host->alloc'ed binary or NULL when the file
 * is missing or fails its checks (then it is rebuilt). */
unsigned char *ef_ocl_cache_load(const ef_be_host *host, const char *path, size_t *size);
/* Writes an entry atomically (temp file + rename); failures only log. */
void ef_ocl_cache_store(const ef_be_host *host, const char *path, const unsigned char *bin, size_t size);

/* ---- buffers (ocl_buffer.c) ---- */
int32_t ef_ocl_buffer_alloc(ef_be_ctx *ctx, uint64_t bytes, uint32_t flags, ef_be_buffer **out);
void ef_ocl_buffer_free(ef_be_ctx *ctx, ef_be_buffer *buf);
int32_t ef_ocl_buffer_upload(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, const void *src, uint64_t bytes);
int32_t ef_ocl_buffer_download(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, void *dst, uint64_t bytes);
void *ef_ocl_buffer_map(ef_be_ctx *ctx, ef_be_buffer *buf);
int32_t ef_ocl_buffer_unmap(ef_be_ctx *ctx, ef_be_buffer *buf);
int32_t ef_ocl_synchronize(ef_be_ctx *ctx);
/* Grows s to at least bytes (contents are not kept). */
int32_t ef_ocl_scratch_reserve(ef_be_ctx *ctx, ef_ocl_scratch *s, size_t bytes);
void ef_ocl_scratch_release(ef_ocl_scratch *s);

/* ---- kernel launch and tensor checks (ocl_launch.c) ---- */
typedef struct ef_ocl_arg {
    size_t size;
    const void *ptr; /* NULL with size > 0: a __local buffer of that size */
} ef_ocl_arg;
#define EF_OCL_ARG(v) ((ef_ocl_arg){sizeof(v), &(v)})
/* Sets the arguments and enqueues kernel k over a 1-3 dim range. */
int32_t ef_ocl_run(ef_be_ctx *ctx, ef_ocl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                   const ef_ocl_arg *args, cl_uint n_args);
/* Dim i, with unused dims (0 or negative beyond ne[0]) read as 1, as the
 * cpu backend reads them. */
int64_t ef_ocl_dim(const ef_be_tensor *t, int i);
int64_t ef_ocl_nelem(const ef_be_tensor *t);
/* Bytes of one row of ne0 elements of type; 0 when the type is unknown or
 * ne0 is not a whole number of blocks. */
uint64_t ef_ocl_row_bytes(uint32_t type, int64_t ne0);
/* EF_ERR_INVALID_ARG (with a message naming `what`) unless t is a tensor of
 * `type` whose bytes lie inside its buffer. */
int32_t ef_ocl_check(const ef_be_ctx *ctx, const ef_be_tensor *t, uint32_t type, const char *what);
/* The same for a tensor of any type the dequant kernels read. */
int32_t ef_ocl_check_any(const ef_be_ctx *ctx, const ef_be_tensor *t, const char *what);
/* Kernel that turns rows of `type` into F32 rows; EF_OCL_KERNEL_COUNT if none. */
ef_ocl_kernel ef_ocl_dequant_kernel(uint32_t type);

/* ---- ops (one file per family) ---- */
int32_t ef_ocl_matmul(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y);
/* y = x · Wᵀ in half precision for an F16 W {in, out} (ocl_matmul_half.c). */
int32_t ef_ocl_matmul_hgemm(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y,
                            size_t in, size_t out, size_t n);
int32_t ef_ocl_get_rows(ef_be_ctx *ctx, const ef_be_tensor *w, const int32_t *ids, int32_t n, const ef_be_tensor *y);
int32_t ef_ocl_convert(ef_be_ctx *ctx, const ef_be_tensor *src, const ef_be_tensor *dst);
/* Dequantizes n_rows rows of w (all of them from row 0) into F32 rows at
 * dst + dst_off floats; ids (device int32, or NULL) picks the rows. */
int32_t ef_ocl_dequant_rows(ef_be_ctx *ctx, const ef_be_tensor *w, cl_mem ids, int64_t n_rows, cl_mem dst,
                            uint64_t dst_off);
int32_t ef_ocl_rmsnorm(ef_be_ctx *ctx, const ef_be_tensor *x, const ef_be_tensor *w, float eps, const ef_be_tensor *y);
int32_t ef_ocl_rope(ef_be_ctx *ctx, const ef_be_tensor *x, int32_t pos0, const ef_be_rope *p);
int32_t ef_ocl_swiglu(ef_be_ctx *ctx, const ef_be_tensor *gate, const ef_be_tensor *up, const ef_be_tensor *out);
int32_t ef_ocl_add(ef_be_ctx *ctx, const ef_be_tensor *y, const ef_be_tensor *x);
int32_t ef_ocl_scale(ef_be_ctx *ctx, const ef_be_tensor *y, float s);
int32_t ef_ocl_softmax(ef_be_ctx *ctx, const ef_be_tensor *x);
int32_t ef_ocl_flash_attn(ef_be_ctx *ctx, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                          const ef_be_tensor *v, const ef_be_tensor *out);

/* ---- context (ocl_context.c) ---- */
int32_t ef_ocl_init(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out, char *err,
                    size_t err_cap);
void ef_ocl_shutdown(ef_be_ctx *ctx);

/* ---- ocl_platform.c: the plugin's operating-system calls ---- */
int ef_ocl_make_dir(const char *path);                  /* 0, also when it exists; -1 */
long ef_ocl_process_id(void);
int ef_ocl_replace_file(const char *tmp, const char *path); /* rename over path: 0 or -1 */

#endif
