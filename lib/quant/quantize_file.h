/* Quantizing a GGUF file into another: every metadata entry is kept, each
 * weight gets the type its profile chooses, tensors are produced one at a
 * time at write time (memory: one tensor), and the output appears only when
 * complete (temporary file + rename). */
#ifndef EF_QUANT_QUANTIZE_FILE_H
#define EF_QUANT_QUANTIZE_FILE_H

#include "edgeformer/edgeformer.h"
#include "quant/profile.h"

ef_status ef_quantize_gguf(const char *in_path, const char *out_path, const ef_quant_profile *profile,
                           ef_progress_fn progress, void *user, uint64_t *bytes_in, uint64_t *bytes_out);

#endif
