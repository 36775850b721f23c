/* Running a session's weight matmuls on a plugin backend. Weights go to the
 * backend once, at their first use, into a cache shared by every session of
 * the same model on the same backend (and options); activations are
 * uploaded and downloaded per call. Weights of a type the backend does not
 * claim (`supports`), and weights whose upload or matmul failed, run on the
 * cpu kernels (out of memory for activations: for that call only). Sessions
 * on "cpu" have no binding: the kernels run direct. */
#ifndef EF_EXEC_BACKEND_H
#define EF_EXEC_BACKEND_H

#include <stdint.h>

#include "backend/backend_internal.h"
#include "exec/forward.h"
#include "model/model.h"

typedef struct ef_exec_backend ef_exec_backend;

/* Binds to backend b with the choice's options ("NAME.key" options of other
 * backends are ignored). Errors: EF_ERR_INVALID_ARG (an option the backend
 * refuses), EF_ERR_BACKEND (its init failed), EF_ERR_NO_MEMORY. */
ef_status ef_exec_backend_open(const ef_model *m, const struct ef_backend *b, const ef_backend_choice *choice,
                               int32_t n_threads, ef_exec_backend **out);
/* Drops the binding; the last session of a (model, backend) frees its weights. NULL is a no-op. */
void ef_exec_backend_close(ef_exec_backend *xb);

/* y[n][out] = x[n][in] · Wᵀ on the backend. 1 if it ran there, 0 if the
 * caller must run the cpu kernels (type not claimed, or a failure, logged once). */
int ef_exec_backend_matmul(ef_exec_backend *xb, const ef_tensor *w, const float *x, int32_t n, float *y);

/* Weight matmuls of the exec state run through xb (NULL: the cpu kernels). */
void ef_exec_attach_backend(ef_exec *e, ef_exec_backend *xb);

/* Matmuls that ran on the backend and that fell back, since the binding opened. */
void ef_exec_backend_counts(const ef_exec_backend *xb, uint64_t *on_backend, uint64_t *fallback);

/* ---- for the device-resident forward pass (forward_device.c) ----
 * Host-side options of a binding, given without a backend prefix:
 *   device_resident=1|0   whole layer stack on the backend when it can (default 1)
 *   kv_device_budget=N    bytes (K/M/G suffixes) of device K/V per session; 0 = n_ctx rows;
 *                         not given: the KV cache's hot-tier budget when it has one */
typedef struct ef_exec_device_opts {
    int32_t resident;
    uint64_t kv_budget;
    int32_t kv_budget_given; /* kv_device_budget was among the options */
} ef_exec_device_opts;
const ef_exec_device_opts *ef_exec_backend_device_opts(const ef_exec_backend *xb);
/* The backend and its context shared by the sessions of this (model, options). */
const struct ef_backend *ef_exec_backend_of(const ef_exec_backend *xb);
ef_be_ctx *ef_exec_backend_ctx(const ef_exec_backend *xb);
/* Holds the shared context for a whole forward chunk; also applies the
 * session's thread count. The calls below need it held. */
void ef_exec_backend_lock(ef_exec_backend *xb);
void ef_exec_backend_unlock(ef_exec_backend *xb);
/* The weight's device buffer, uploaded at first use; NULL when its type is
 * not claimed (*st EF_OK) or the upload failed (*st says why). */
ef_be_buffer *ef_exec_backend_weight(ef_exec_backend *xb, const ef_tensor *w, ef_status *st);
/* Adds n matmuls to the on-backend count. */
void ef_exec_backend_count(ef_exec_backend *xb, uint64_t n);
/* The session's device state (forward_device.c allocates it; close frees it). */
struct ef_fwd_device **ef_exec_backend_device_slot(ef_exec_backend *xb);

#endif
