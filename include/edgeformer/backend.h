/*
 * backend.h — the plugin ABI of EdgeFormer compute backends.
 *
 * A backend plugin is a shared library (libedgeformer-NAME.so, or
 * edgeformer-NAME.dll) that exports one C function, EF_BACKEND_ENTRY_NAME
 * ("ef_backend_plugin_entry"), of type ef_backend_entry_fn. The host
 * (libedgeformer) finds plugins on EF_BACKEND_PATH, then next to itself,
 * then in its install libdir; it loads each one, calls the entry point with
 * its own services (ef_be_host) and an empty function table (ef_be_iface),
 * and refuses the plugin if the table's abi_version differs from
 * EF_BACKEND_ABI_VERSION.
 *
 * Versioning. This header is versioned apart from edgeformer.h. Both
 * structs start with {abi_version, size}; later versions only append
 * members, so a host reads the members that fit in `size` and treats the
 * rest as absent (NULL). The static asserts at the end freeze the layout of
 * version 1: a change that moves a member fails to compile.
 *
 * Conventions. Every function returns an ef_status (0 = OK; the codes of
 * edgeformer.h: EF_ERR_BACKEND for device failures, EF_ERR_NO_MEMORY,
 * EF_ERR_UNSUPPORTED for a type or shape the backend does not handle) and
 * never aborts or exits. Messages go to host->log. A plugin allocates its
 * host-side memory through host->alloc/free so the host's accounting and
 * failure injection see it. Ops may run asynchronously; results are
 * visible after buffer_download or synchronize. One ef_be_ctx is used by
 * one thread at a time.
 *
 * Data. Tensors are described by ef_be_tensor: a buffer, a byte offset, a
 * type id (the GGUF ids below) and up to 4 dims, ne[0] contiguous. Weights
 * are 2-D {ne0 = in, ne1 = out} in any type the backend claims through
 * `supports`; activations are F32 rows, contiguous. Quantized weights use
 * the block layouts defined here, identical to GGUF's, so every backend
 * reads the same bytes.
 */
#ifndef EDGEFORMER_BACKEND_H
#define EDGEFORMER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EF_BACKEND_ABI_VERSION 1u
#define EF_BACKEND_ENTRY_NAME "ef_backend_plugin_entry"

#if defined(_WIN32)
#define EF_BACKEND_EXPORT __declspec(dllexport)
#else
#define EF_BACKEND_EXPORT __attribute__((visibility("default")))
#endif

/* ---- element types (GGUF type ids) and block layouts ---------------- */

#define EF_BE_TYPE_F32   0u
#define EF_BE_TYPE_F16   1u
#define EF_BE_TYPE_Q4_0  2u
#define EF_BE_TYPE_Q4_1  3u
#define EF_BE_TYPE_Q5_0  6u
#define EF_BE_TYPE_Q5_1  7u
#define EF_BE_TYPE_Q8_0  8u
#define EF_BE_TYPE_Q2_K 10u
#define EF_BE_TYPE_Q3_K 11u
#define EF_BE_TYPE_Q4_K 12u
#define EF_BE_TYPE_Q5_K 13u
#define EF_BE_TYPE_Q6_K 14u
#define EF_BE_TYPE_BF16 30u
#define EF_BE_TYPE_TQ2_0 35u

/* Elements per block (QK) of the 32-element types and of the K-quants. */
#define EF_BE_QK   32
#define EF_BE_QK_K 256

/* Q8_0: 32 weights = d (f16 bits) * qs[i]. */
typedef struct ef_be_block_q8_0 {
    uint16_t d;
    int8_t qs[EF_BE_QK];
} ef_be_block_q8_0;

/* Q4_0: weight i = d * ((nibble i) - 8); element i < 16 is the low nibble of
 * qs[i], element i ≥ 16 the high nibble of qs[i - 16]. */
typedef struct ef_be_block_q4_0 {
    uint16_t d;
    uint8_t qs[EF_BE_QK / 2];
} ef_be_block_q4_0;

/* Q4_K: 256 weights in 8 sub-blocks of 32; sub-block j has a 6-bit scale
 * sc_j and min m_j packed in `scales` (j < 4: sc = scales[j] & 63,
 * m = scales[j + 4] & 63; j ≥ 4: sc = (scales[j + 4] & 15) |
 * ((scales[j - 4] >> 6) << 4), m = (scales[j + 4] >> 4) |
 * ((scales[j] >> 6) << 4)); weight = d * sc_j * q - dmin * m_j. Nibbles:
 * the 32-byte group g (of qs) holds sub-block 2g in its low nibbles and
 * 2g + 1 in its high nibbles. */
typedef struct ef_be_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[EF_BE_QK_K / 2];
} ef_be_block_q4_k;

/* ---- the host's services ---------------------------------------------- */

#define EF_BE_LOG_ERROR 0
#define EF_BE_LOG_WARN  1
#define EF_BE_LOG_INFO  2
#define EF_BE_LOG_DEBUG 3

typedef struct ef_be_host {
    uint32_t abi_version; /* EF_BACKEND_ABI_VERSION of the host */
    uint32_t size;        /* sizeof(ef_be_host) of the host */
    void *user;           /* passed back to the functions below */
    /* Host memory; alloc returns NULL on failure (never aborts). */
    void *(*alloc)(void *user, size_t bytes);
    void (*free)(void *user, void *ptr);
    /* One line of text (no trailing newline needed). */
    void (*log)(void *user, int32_t level, const char *msg);
} ef_be_host;

/* ---- what the plugin fills in ------------------------------------------ */

typedef struct ef_be_ctx ef_be_ctx;       /* the plugin's per-session state */
typedef struct ef_be_buffer ef_be_buffer; /* the plugin's memory object */

/* What probe reports. Strings are copied by the host. */
#define EF_BE_REASON_MAX 256
typedef struct ef_be_probe {
    int32_t available;              /* 1 = usable */
    int32_t score;                  /* "auto" picks the highest; cpu is 100 */
    uint64_t memory;                /* device memory in bytes, 0 unknown */
    uint32_t caps;                  /* EF_BE_CAP_* */
    uint32_t reserved;
    char device[EF_BE_REASON_MAX];  /* e.g. "pthread-haswell (PoCL 3.1, OpenCL 1.2)" */
    char reason[EF_BE_REASON_MAX];  /* why unavailable, e.g. "no OpenCL platform" */
} ef_be_probe;

/* caps */
#define EF_BE_CAP_HOST_MEMORY 1u  /* buffers are host memory: buffer_map never fails, the
                                     host may run ops the plugin lacks on mapped pointers */
#define EF_BE_CAP_UNIFIED     2u  /* device shares memory with the host (integrated GPU) */
#define EF_BE_CAP_FP16        4u  /* computes in fp16 natively */

/* A key = value option (e.g. "opencl.device" = "any"). */
typedef struct ef_be_option {
    const char *key;
    const char *value;
} ef_be_option;

/* buffer_alloc flags */
#define EF_BE_BUF_WEIGHTS   1u /* written once, read by many ops */
#define EF_BE_BUF_HOST_VISIBLE 2u /* prefer memory the host can map (unified memory) */

typedef struct ef_be_tensor {
    ef_be_buffer *buf;
    uint64_t offset;   /* bytes into buf */
    uint32_t type;     /* EF_BE_TYPE_* */
    int32_t n_dims;    /* 1..4 */
    int64_t ne[4];     /* ne[0] contiguous; unused dims are 1 */
} ef_be_tensor;

/* The op ids of `supports`. */
#define EF_BE_OP_MATMUL     1u
#define EF_BE_OP_GET_ROWS   2u
#define EF_BE_OP_RMSNORM    3u
#define EF_BE_OP_ROPE       4u
#define EF_BE_OP_SWIGLU     5u
#define EF_BE_OP_ADD        6u
#define EF_BE_OP_SCALE      7u
#define EF_BE_OP_SOFTMAX    8u
#define EF_BE_OP_CONVERT    9u
#define EF_BE_OP_FLASH_ATTN 10u

/* RoPE: as edgeformer's reference (backends/cpu/cpu_rope.c). */
#define EF_BE_ROPE_NORM 0 /* adjacent pairs (x[2i], x[2i+1]) — llama */
#define EF_BE_ROPE_NEOX 1 /* halves (x[i], x[i + n_rot/2]) — qwen2 */
typedef struct ef_be_rope {
    int32_t mode;            /* EF_BE_ROPE_* */
    int32_t n_rot;           /* rotated dims per head, even, ≤ head_dim */
    float freq_base;         /* θ_i = base^(-2i/n_rot) */
    float freq_scale;        /* positions multiplied by this */
    const float *freq_factors; /* host pointer [n_rot/2] (θ_i divided by it) or NULL */
} ef_be_rope;

/* Causal attention of n_tok queries at positions n_past.. over the cache
 * rows 0 .. n_past + t of K and V ([n_ctx][n_head_kv * head_dim], row-major,
 * F32 or F16), query head h reading KV head h / (n_head / n_head_kv),
 * scores scaled by `scale`, online softmax. */
typedef struct ef_be_attn {
    int32_t n_tok, n_past;
    int32_t n_head, n_head_kv, head_dim;
    float scale;
} ef_be_attn;

typedef struct ef_be_iface {
    uint32_t abi_version; /* the plugin sets EF_BACKEND_ABI_VERSION */
    uint32_t size;        /* the plugin sets sizeof(ef_be_iface) */
    const char *name;     /* "onednn", "opencl": static storage */

    /* Is the backend usable here? Must be cheap and never crash when a
     * driver or library is missing. */
    int32_t (*probe)(const ef_be_host *host, ef_be_probe *out);
    /* A context with these options; unknown keys → EF_ERR_INVALID_ARG with
     * a message in err (NUL-terminated, cap bytes). */
    int32_t (*init)(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out,
                    char *err, size_t err_cap);
    void (*shutdown)(ef_be_ctx *ctx);
    /* Compute threads (CPU backends); others may ignore it. */
    int32_t (*set_threads)(ef_be_ctx *ctx, int32_t n_threads);

    /* Buffers. map returns a host pointer to the whole buffer (or NULL if
     * it cannot); unmap ends it before the device uses the buffer again. */
    int32_t (*buffer_alloc)(ef_be_ctx *ctx, uint64_t bytes, uint32_t flags, ef_be_buffer **out);
    void (*buffer_free)(ef_be_ctx *ctx, ef_be_buffer *buf);
    int32_t (*buffer_upload)(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, const void *src, uint64_t bytes);
    int32_t (*buffer_download)(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, void *dst, uint64_t bytes);
    void *(*buffer_map)(ef_be_ctx *ctx, ef_be_buffer *buf);
    int32_t (*buffer_unmap)(ef_be_ctx *ctx, ef_be_buffer *buf);
    int32_t (*synchronize)(ef_be_ctx *ctx);

    /* 1 if op runs with weights/inputs of `type` (F32 for type-less ops). */
    int32_t (*supports)(ef_be_ctx *ctx, uint32_t op, uint32_t type);

    /* y[n][out] = x[n][in] · Wᵀ for w = {in, out}; x, y F32 {in, n}, {out, n}. */
    int32_t (*matmul)(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y);
    /* y[i][:] = row ids[i] of the table w {dim, rows} as F32; ids: host int32[n]. */
    int32_t (*get_rows)(ef_be_ctx *ctx, const ef_be_tensor *w, const int32_t *ids, int32_t n,
                        const ef_be_tensor *y);
    /* y[i] = x[i] / sqrt(mean(x[i]²) + eps) * w over rows of ne[0] (w F32 {dim}). */
    int32_t (*rmsnorm)(ef_be_ctx *ctx, const ef_be_tensor *x, const ef_be_tensor *w, float eps,
                       const ef_be_tensor *y);
    /* x {head_dim, n_heads, n_tok} rotated in place; token t at position pos0 + t. */
    int32_t (*rope)(ef_be_ctx *ctx, const ef_be_tensor *x, int32_t pos0, const ef_be_rope *p);
    /* out = silu(gate) * up, elementwise (out may alias gate). */
    int32_t (*swiglu)(ef_be_ctx *ctx, const ef_be_tensor *gate, const ef_be_tensor *up, const ef_be_tensor *out);
    /* y += x, elementwise. */
    int32_t (*add)(ef_be_ctx *ctx, const ef_be_tensor *y, const ef_be_tensor *x);
    /* y *= s. */
    int32_t (*scale)(ef_be_ctx *ctx, const ef_be_tensor *y, float s);
    /* softmax over each row of ne[0], in place. */
    int32_t (*softmax)(ef_be_ctx *ctx, const ef_be_tensor *x);
    /* dst = src converted elementwise (F32 ↔ F16, or any claimed type → F32);
     * both hold the same number of elements. */
    int32_t (*convert)(ef_be_ctx *ctx, const ef_be_tensor *src, const ef_be_tensor *dst);
    /* out {n_head*head_dim, n_tok} = attention of q (same shape) over k, v. */
    int32_t (*flash_attn)(ef_be_ctx *ctx, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                          const ef_be_tensor *v, const ef_be_tensor *out);
} ef_be_iface;

/* The one exported function: fill *iface (iface_size bytes, zeroed by the
 * host) and return 0, or an ef_status if the plugin cannot run at all. */
typedef int32_t (*ef_backend_entry_fn)(const ef_be_host *host, ef_be_iface *iface, size_t iface_size);

/* ---- version 1 is frozen ------------------------------------------------ */

#if defined(__cplusplus)
#define EF_BE_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define EF_BE_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

EF_BE_STATIC_ASSERT(sizeof(ef_be_block_q8_0) == 34, "Q8_0 block is 34 bytes");
EF_BE_STATIC_ASSERT(sizeof(ef_be_block_q4_0) == 18, "Q4_0 block is 18 bytes");
EF_BE_STATIC_ASSERT(sizeof(ef_be_block_q4_k) == 144, "Q4_K block is 144 bytes");
EF_BE_STATIC_ASSERT(offsetof(ef_be_host, alloc) == 16 || sizeof(void *) != 8, "ef_be_host v1 layout");
EF_BE_STATIC_ASSERT(offsetof(ef_be_iface, probe) == 16 || sizeof(void *) != 8, "ef_be_iface v1 layout");
EF_BE_STATIC_ASSERT(offsetof(ef_be_iface, flash_attn) == 16 + 21 * sizeof(void *) || sizeof(void *) != 8,
                    "ef_be_iface v1 layout: append new members after flash_attn");
EF_BE_STATIC_ASSERT(sizeof(ef_be_tensor) == 56 || sizeof(void *) != 8, "ef_be_tensor v1 layout");
EF_BE_STATIC_ASSERT(sizeof(ef_be_probe) == 24 + 2 * EF_BE_REASON_MAX, "ef_be_probe v1 layout");

#ifdef __cplusplus
}
#endif

#endif /* EDGEFORMER_BACKEND_H */
