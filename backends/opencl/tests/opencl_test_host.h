/* A minimal host for the OpenCL plugin's standalone tests: loads the module
 * with dlopen, serves alloc/free/log, and offers the helpers every test
 * uses (uploads, f16 bits, error measures, a seeded RNG). */
#ifndef EF_OPENCL_TEST_HOST_H
#define EF_OPENCL_TEST_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "edgeformer/backend.h"

typedef struct oclt {
    void *dl;
    ef_be_iface be;
    ef_be_host host;
    ef_be_ctx *ctx;
    int failures;
    int64_t live_allocs; /* host allocations not yet freed */
    char last_log[512];
    char log_all[8192]; /* every message, one per line (cut when full) */
} oclt;

/* dlopen the plugin at path and fill t->be; 0 on success. */
int oclt_load(oclt *t, const char *path);
/* init with the given options; returns the plugin's status. */
int32_t oclt_init(oclt *t, const ef_be_option *opts, int32_t n, char *err, size_t cap);
void oclt_close(oclt *t);

/* A device buffer of `bytes` holding data (NULL: zeroed). */
ef_be_buffer *oclt_buffer(oclt *t, const void *data, size_t bytes);
ef_be_tensor oclt_tensor(ef_be_buffer *b, uint64_t offset, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2);
void oclt_download(oclt *t, ef_be_buffer *b, uint64_t offset, void *dst, size_t bytes);

uint16_t oclt_f32_to_f16(float f);
float oclt_f16_to_f32(uint16_t h);

/* Seeded xorshift: uniform in [-1, 1). */
float oclt_rand(void);
uint32_t oclt_rand_u32(void);

/* Normalized mean squared error of got against want: Σ(g-w)² / Σw². */
double oclt_nmse(const float *got, const double *want, size_t n);
/* Records a pass or a failure (printed) when nmse > thr. */
void oclt_expect_close(oclt *t, const char *what, const float *got, const double *want, size_t n, double thr);
void oclt_expect(oclt *t, int ok, const char *what);

#endif
