/* Static FFN neuron pruning from data (api_sparsity.c). Not in the public
 * header yet: `edgeformer calibrate-sparsity --prune` uses it through the static
 * library (docs/sparsity.md, "Static masks"). */
#ifndef EF_API_SPARSITY_PRUNE_H
#define EF_API_SPARSITY_PRUNE_H

#include <stddef.h>

#include "model/model.h"

/* Keeps in every FFN layer the `keep` fraction of neurons (rounded to a
 * multiple of 32, at least 32) with the largest importance on the text,
 * mean |act(gate_j)| · ‖W_up[j]‖ · ‖W_down[:, j]‖, and writes a copy of the
 * model's file with that keep mask (edgeformer.sparsity.keep); loading the
 * copy drops the other neurons. EF_ERR_INVALID_ARG (keep outside (0, 1]),
 * EF_ERR_UNSUPPORTED (MoE layers, a model already masked, a weight type
 * without dequantizer), EF_ERR_IO, EF_ERR_NO_MEMORY. */
ef_status ef_sparsity_prune(ef_model *model, const char *text, size_t text_len, float keep, const char *out_path);

#endif
