/* Activation sparsity of the dense FFN in decode (docs/sparsity.md): the
 * controls a session uses, and the observer calibration uses. The compute
 * is in ffn_sparse.c; forward.c calls it from its FFN block. */
#ifndef EF_EXEC_FFN_SPARSE_H
#define EF_EXEC_FFN_SPARSE_H

#include <stdint.h>

#include "exec/forward.h"

/* Turns sparse decode on at `level` (fraction of FFN neurons to skip, in
 * (0, 1)) with the model's calibrated thresholds, or with `thresholds`
 * ([n_layer] |act(gate)| cut-offs; NULL: the model's) when given. Uses the
 * model's neuron-row copy of every dense layer's ffn_down, built by the
 * first sparse session (model/sparsity.h; not charged to the session's
 * account). level 0 (and thresholds NULL) turns it off.
 * EF_ERR_UNSUPPORTED when the model has neither thresholds nor a ReLU FFN;
 * EF_ERR_NO_MEMORY/EF_ERR_BUDGET with the exec left as it was. */
ef_status ef_exec_set_sparsity(ef_exec *e, float level, const float *thresholds);

/* The fraction of FFN neurons the sparse decode skipped since sparsity was
 * turned on (0 when off or before any decode token). */
double ef_exec_sparse_skipped(const ef_exec *e);

/* Calibration hook: called in every dense FFN block with act(gate) for n
 * tokens ([n][n_ff], before the product with up). NULL turns it off. */
typedef void (*ef_ffn_observe_fn)(void *user, int32_t il, const float *act, int32_t n, int32_t n_ff);
void ef_exec_set_ffn_observer(ef_exec *e, ef_ffn_observe_fn fn, void *user);

#endif
