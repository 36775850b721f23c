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

#endif
