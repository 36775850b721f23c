/* ef_convert_hf for builds without cJSON (EF_WITH_CJSON=OFF, e.g. Windows):
 * the converter needs a JSON parser for config.json, tokenizer.json and the
 * safetensors headers, so it reports EF_ERR_UNSUPPORTED instead. With cJSON
 * this file compiles to nothing and convert_hf.c provides the function. */
#ifdef EF_NO_CJSON
#include "edgeformer/edgeformer.h"

#include "base/error.h"

ef_status ef_convert_hf(const char *hf_dir, const char *out_path, const char *type_name,
                        ef_progress_fn progress, void *user) {
    (void)hf_dir, (void)out_path, (void)type_name, (void)progress, (void)user;
    return ef_err(EF_ERR_UNSUPPORTED,
                  "ef_convert_hf: this build has no JSON parser (configured with EF_WITH_CJSON=OFF); "
                  "convert the checkpoint with a build that has cJSON and copy the GGUF file");
}
#endif
