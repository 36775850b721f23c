/*
 * onednn_internal.h — state shared by the files of the oneDNN backend plugin.
 *
 * The plugin sees only include/edgeformer/backend.h; everything the host
 * provides (memory, logging) comes through the ef_be_host it is given.
 */
#ifndef EF_ONEDNN_INTERNAL_H
#define EF_ONEDNN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "edgeformer/backend.h"

/* ef_status codes of edgeformer.h; plugins do not include it. */
enum {
    ONEDNN_OK = 0,
    ONEDNN_ERR_INVALID_ARG = 1,
    ONEDNN_ERR_NO_MEMORY = 2,
    ONEDNN_ERR_UNSUPPORTED = 5,
    ONEDNN_ERR_BACKEND = 11,
    ONEDNN_ERR_UNAVAILABLE = 12,
};

/* Which weight form a cached matmul primitive computes with. */
typedef enum onednn_kind {
    ONEDNN_KIND_F32 = 0,      /* f32 x f32 -> f32 */
    ONEDNN_KIND_INT8 = 1,     /* u8 (zero point) x s8 -> f32, per-N output scales */
    ONEDNN_KIND_INT8_ACC = 2, /* the same, added to dst (sum post-op): the split scheme's second pass */
} onednn_kind;

/* How Q8_0 weights become s8 (see onednn_weights.c and docs/backends-onednn.md). */
typedef enum onednn_int8_scheme {
    ONEDNN_INT8_OFF = 0,   /* Q8_0 stays on the host's kernels */
    ONEDNN_INT8_FULL = 1,  /* one pass, |q| <= 127: exact only with VNNI */
    ONEDNN_INT8_SPLIT = 2, /* two passes, q = 2 hi + lo with |hi| <= 63, lo in {-1, 0, 1}: exact anywhere */
    ONEDNN_INT8_7BIT = 3,  /* one pass, |q| <= 63: exact anywhere, coarser weights */
} onednn_int8_scheme;

/* A weight converted once from the buffer's bytes into the form oneDNN
 * computes with (F16/BF16 -> F32, Q8_0 -> per-channel s8 + scales). It is
 * keyed by where it came from and dropped when those bytes are rewritten. */
typedef struct onednn_derived {
    struct onednn_derived *next;
    uint64_t offset;       /* source bytes: [offset, offset + src_bytes) */
    uint64_t src_bytes;
    uint32_t src_type;     /* EF_BE_TYPE_* of the source */
    int64_t in, out;       /* weight shape {ne0 = in, ne1 = out} */
    onednn_kind kind;
    float *f32;            /* ONEDNN_KIND_F32: [out][in] */
    int8_t *s8;            /* INT8: [out][in], |q| <= 127 (63 for 7BIT); SPLIT: the hi part */
    int8_t *s8_lo;         /* SPLIT only: [out][in], the lo part */
    float *scale;          /* INT8: [out], the per-channel step */
    float *scale_hi;       /* SPLIT only: [out], 2 * scale (hi counts twice) */
} onednn_derived;

struct ef_be_buffer {
    uint8_t *data;         /* host memory [bytes], from host->alloc */
    uint64_t bytes;
    uint32_t flags;        /* EF_BE_BUF_* */
    int32_t mapped;        /* 1 between map and unmap */
    onednn_derived *derived; /* converted weights read from this buffer */
};

/* One cached primitive with its memory objects (handles set per call). */
typedef struct onednn_prim {
    int64_t m, k, n;
    onednn_kind kind;
    uint64_t last_used;    /* LRU clock */
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    dnnl_memory_t scales;  /* INT8: f32 [n], the weights' per-channel steps */
} onednn_prim;

#define ONEDNN_PRIM_CACHE_MAX 64

struct ef_be_ctx {
    ef_be_host host;       /* a copy: the caller's struct may not outlive init */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int32_t n_threads;     /* 0 = leave OpenMP's default */
    onednn_int8_scheme int8; /* "onednn.int8": auto = FULL with VNNI, SPLIT without */
    int32_t f16_enabled;   /* "onednn.f16" = "f32": convert F16/BF16 weights to F32 */
    onednn_prim cache[ONEDNN_PRIM_CACHE_MAX];
    int32_t n_cached;
    uint64_t clock;
    /* per-call scratch for the int8 path */
    uint8_t *xq;           /* [m][k] quantized activations */
    size_t xq_cap;
    float *row_step;       /* [m] */
    size_t row_step_cap;
    /* statistics for tests and the docs */
    uint64_t n_prim_created;
    uint64_t n_derived_built;
};

/* ---- logging and memory through the host ---- */
void onednn_log(const ef_be_host *host, int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void *onednn_alloc(const ef_be_ctx *ctx, size_t bytes);
void onednn_free(const ef_be_ctx *ctx, void *ptr);
/* Grows a scratch array to at least `bytes`; returns 0 or ONEDNN_ERR_NO_MEMORY. */
int32_t onednn_reserve(const ef_be_ctx *ctx, void **buf, size_t *cap, size_t bytes);

/* ---- CPU facts ---- */
int32_t onednn_isa_has_vnni(void);
const char *onednn_isa_name(void);
/* Host RAM in bytes (0 unknown). */
uint64_t onednn_host_ram_bytes(void);
/* Sets OpenMP's thread count of the calling thread (no-op if the runtime is not OpenMP). */
void onednn_apply_threads(int32_t n_threads);

/* ---- buffers (onednn_buffers.c) ---- */
int32_t onednn_buffer_alloc(ef_be_ctx *ctx, uint64_t bytes, uint32_t flags, ef_be_buffer **out);
void onednn_buffer_free(ef_be_ctx *ctx, ef_be_buffer *buf);
int32_t onednn_buffer_upload(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, const void *src, uint64_t bytes);
int32_t onednn_buffer_download(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, void *dst, uint64_t bytes);
void *onednn_buffer_map(ef_be_ctx *ctx, ef_be_buffer *buf);
int32_t onednn_buffer_unmap(ef_be_ctx *ctx, ef_be_buffer *buf);
/* Drops the converted weights whose source overlaps [offset, offset + bytes). */
void onednn_derived_invalidate(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, uint64_t bytes);

/* ---- weight conversion (onednn_weights.c) ---- */
/* The converted form of weight w for `kind`, built on first use. */
int32_t onednn_derived_get(ef_be_ctx *ctx, const ef_be_tensor *w, onednn_kind kind, const onednn_derived **out);
/* Q8_0 [out][in/32 blocks] -> s8 [out][in] with |q| <= qmax and scale [out]. */
void onednn_requant_q8_0_rows(const ef_be_block_q8_0 *src, int64_t in, int64_t out, int32_t qmax, int8_t *q,
                              float *scale);
/* q [n] -> hi, lo with q = 2 hi + lo, |hi| <= 63, lo in {-1, 0, 1} (q in place becomes hi). */
void onednn_split_s8(int8_t *q, int8_t *lo, size_t n);
float onednn_f16_to_f32(uint16_t h);
float onednn_bf16_to_f32(uint16_t h);

/* ---- activations (onednn_quant_act.c) ---- */
#define ONEDNN_ACT_ZERO_POINT 128
/* x f32 [m][k] -> u8 [m][k] with x[i][j] ≈ row_step[i] * (q[i][j] - 128). */
void onednn_quantize_u8_rows(const float *x, int64_t m, int64_t k, uint8_t *q, float *row_step);

/* ---- primitive cache (onednn_prim_cache.c) ---- */
int32_t onednn_prim_get(ef_be_ctx *ctx, int64_t m, int64_t k, int64_t n, onednn_kind kind, onednn_prim **out);
void onednn_prim_cache_clear(ef_be_ctx *ctx);

/* ---- matmul (onednn_matmul.c) ---- */
int32_t onednn_matmul(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y);

#endif /* EF_ONEDNN_INTERNAL_H */
