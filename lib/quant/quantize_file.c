#include "quant/quantize_file.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/platform.h"
#include "format/gguf.h"
#include "quant/types.h"

typedef struct job {
    const ef_gguf_tensor *src;
    uint32_t dst_type;
    int64_t index, total;      /* for progress */
    ef_progress_fn progress;
    void *user;
} job;

/* Produces one requantized tensor (called by the writer). */
static ef_status fill_tensor(void *user, const char *name, void *dst, uint64_t nbytes) {
    job *j = user;
    (void)nbytes;
    if (j->progress && j->progress(j->user, name, (uint64_t)j->index, (uint64_t)j->total))
        return ef_err(EF_ERR_CANCELLED, "quantization cancelled at tensor '%s'", name);
    int64_t row_len = j->src->ne[0];
    int64_t n_rows = j->src->ne[1] * j->src->ne[2] * j->src->ne[3];
    float *scratch = ef_malloc((size_t)row_len * sizeof(float));
    if (!scratch) return ef_err(EF_ERR_NO_MEMORY, "out of memory quantizing '%s'", name);
    ef_status st = ef_convert_rows(j->src->type, j->src->data, j->dst_type, dst, row_len, n_rows, scratch);
    ef_free(scratch);
    return st == EF_OK ? EF_OK : ef_err_prefix(st, "tensor '%s'", name);
}

/* {arch}.block_count, for the per-layer rules; 0 when absent. */
static int32_t block_count(const ef_gguf *g) {
    const char *arch;
    uint64_t len;
    char key[96];
    uint32_t n = 0;
    if (ef_gguf_get_str(g, "general.architecture", &arch, &len) != EF_OK || len > 64) return 0;
    snprintf(key, sizeof key, "%.*s.block_count", (int)len, arch);
    return ef_gguf_get_u32(g, key, &n) == EF_OK ? (int32_t)n : 0;
}

ef_status ef_quantize_gguf(const char *in_path, const char *out_path, const ef_quant_profile *profile,
                           ef_progress_fn progress, void *user, uint64_t *bytes_in, uint64_t *bytes_out) {
    if (!in_path || !out_path || !profile)
        return ef_err(EF_ERR_INVALID_ARG, "quantize: input, output and profile are required");
    if (!strcmp(in_path, out_path) || ef_file_same(in_path, out_path))
        return ef_err(EF_ERR_INVALID_ARG, "quantize: refusing to overwrite the input '%s'", in_path);
    ef_gguf *g = NULL;
    EF_TRY(ef_gguf_open(in_path, 1, &g));
    ef_gguf_writer *w = NULL;
    job *jobs = NULL;
    int64_t n_t = ef_gguf_n_tensors(g);
    uint64_t in_bytes = 0, out_bytes = 0;
    int32_t n_layer = block_count(g);
    ef_status st = ef_gguf_writer_create(&w);
    if (st == EF_OK && n_t > 0) {
        jobs = ef_calloc((size_t)n_t, sizeof *jobs);
        if (!jobs) st = ef_err(EF_ERR_NO_MEMORY, "out of memory planning %lld tensors", (long long)n_t);
    }
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_kv(g); i++) st = ef_gguf_writer_copy_kv(w, g, i);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (st == EF_OK) st = ef_gguf_writer_set_str(w, "edgeformer.quantization.profile", profile->name);
    for (int64_t i = 0; st == EF_OK && i < n_t; i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        uint32_t type;
        st = ef_quant_profile_choose(profile, t->name, (int32_t)t->n_dims, t->ne, t->type, n_layer, &type);
        if (st != EF_OK) break;
        in_bytes += t->nbytes;
        if (type == t->type) { /* kept: the mapped input bytes go straight out */
            st = ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
            out_bytes += t->nbytes;
            continue;
        }
        const ef_type_info *src = ef_type_get(t->type);
        if (!src || !src->to_float) {
            st = ef_err(EF_ERR_UNSUPPORTED, "tensor '%s': cannot read its type %s", t->name, ef_type_name(t->type));
            break;
        }
        uint64_t nbytes = ef_type_row_size(type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        jobs[i] = (job){t, type, i, n_t, progress, user};
        st = ef_gguf_writer_add_tensor_fill(w, t->name, type, t->n_dims, t->ne, nbytes, fill_tensor, &jobs[i]);
        out_bytes += nbytes;
    }
    if (st == EF_OK) st = ef_gguf_writer_write(w, out_path);
    if (st == EF_OK && progress) progress(user, "done", (uint64_t)n_t, (uint64_t)n_t);
    ef_gguf_writer_free(w);
    ef_free(jobs);
    ef_gguf_close(g);
    if (st != EF_OK) return st;
    if (bytes_in) *bytes_in = in_bytes;
    if (bytes_out) *bytes_out = out_bytes;
    EF_LOGI("quantized %s -> %s (%s): %llu -> %llu bytes of tensors", in_path, out_path, profile->name,
            (unsigned long long)in_bytes, (unsigned long long)out_bytes);
    return EF_OK;
}
