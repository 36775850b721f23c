/* ef-conformance: checks a compute backend against the built-in cpu backend,
 * op by op through the backend's own buffers and end to end on tiny models.
 * Shared by conf_main.c (arguments, driver), conf_util.c (random data,
 * NMSE, the result table), conf_ops.c (one check per op) and conf_e2e.c
 * (sessions on generated models). */
#ifndef EF_CONFORMANCE_H
#define EF_CONFORMANCE_H

#include <stdint.h>

#include "backend/backend_internal.h"

/* One backend opened for testing: its table and a context. */
typedef struct conf_backend {
    const struct ef_backend *b;
    ef_be_ctx *ctx;
} conf_backend;

typedef struct conf_run {
    conf_backend test;     /* the backend under test */
    conf_backend ref;      /* the cpu backend */
    const char *only_op;   /* --op: run just this op ("matmul", ...), NULL = all */
    uint64_t seed;
    int verbose;
    int32_t n_threads;
    int n_fail, n_pass, n_skip;
    /* options for the backend under test (--backend-opt), also given to sessions */
    ef_backend_choice choice;
    ef_be_option opts[EF_BACKEND_OPTS_MAX];
    int32_t n_opts;
} conf_run;

/* ---- conf_util.c ---- */
/* xorshift64* uniform in [-1, 1) and approximately normal(0, 1). */
float conf_uniform(uint64_t *state);
float conf_normal(uint64_t *state);
/* Normalized mean squared error Σ(got-ref)² / Σref² (ref all 0: Σgot²). */
double conf_nmse(const float *got, const float *ref, int64_t n);
/* One line of the result table; counts a pass or failure. */
void conf_report(conf_run *r, const char *op, const char *type, const char *shape, double nmse, double threshold,
                 const char *error);
void conf_report_header(void);
/* The table of every (op, type) checked: cases, worst NMSE, threshold, result. */
void conf_print_summary(void);
/* A tensor of `type` with ne = {ne0, ne1, ne2, ne3} in a new buffer of backend c,
 * holding `data` (its bytes, or NULL for uninitialized). */
int32_t conf_tensor(conf_backend *c, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                    const void *data, ef_be_tensor *out);
/* The same at byte `offset` of a buffer with `offset` bytes of padding
 * before and after (a backend must honour ef_be_tensor.offset). */
int32_t conf_tensor_at(conf_backend *c, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                       const void *data, uint64_t offset, ef_be_tensor *out);
/* Downloads all of t's bytes (from its offset) into dst after synchronize. */
int32_t conf_fetch(conf_backend *c, const ef_be_tensor *t, void *dst);
/* Frees t's buffer. */
void conf_release(conf_backend *c, ef_be_tensor *t);
/* Bytes of a tensor of `type` with n elements (n a multiple of the block). */
uint64_t conf_bytes(uint32_t type, int64_t n);
/* Random weights of `type`: rows × cols floats quantized row by row into a
 * new ef_malloc'd buffer; NULL on failure. */
void *conf_random_weights(uint32_t type, int64_t cols, int64_t rows, uint64_t *rng);

/* ---- conf_buffers.c ---- */
/* Upload/download at offsets, map/unmap, and an op on tensors at offsets. */
void conf_check_buffers(conf_run *r);

/* ---- conf_ops.c ---- */
/* Every op the backend claims, every type it claims for matmul/get_rows/convert. */
void conf_check_ops(conf_run *r);

/* ---- conf_e2e.c ---- */
/* Generates the tiny models into work_dir (with `edgeformer make-model`'s
 * code) and compares logits and greedy tokens of sessions on the backend
 * with cpu sessions. */
void conf_check_models(conf_run *r, const char *work_dir);

#endif
