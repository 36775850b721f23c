/* Hugging Face checkpoint → GGUF conversion (internal to lib/convert).
 *
 *   safetensors.c     the tensor files (single or sharded), validated
 *   json_file.c       reading a JSON file of the checkpoint with cJSON
 *   hf_config.c       config.json → hyperparameters and "{arch}.*" keys
 *   rope_llama3.c     Llama 3.1 rope frequency factors
 *   tensor_map.c      HF tensor names → GGUF names
 *   tensor_convert.c  dtype conversion, llama Q/K row permutation
 *   hf_tokenizer.c    tokenizer.json (+ tokenizer_config.json) → tokenizer.ggml.*
 *   convert_hf.c      the public entry point tying them together */
#ifndef EF_CONVERT_CONVERT_H
#define EF_CONVERT_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/platform.h"
#include "format/gguf.h"

struct cJSON;

/* ---- safetensors ---- */
#define EF_ST_MAX_DIMS 8

typedef struct ef_st_tensor {
    char *name;                      /* NUL-terminated copy */
    uint32_t type;                   /* EF_TYPE_F32, EF_TYPE_F16 or EF_TYPE_BF16 */
    int32_t n_dims;                  /* 0..EF_ST_MAX_DIMS */
    int64_t shape[EF_ST_MAX_DIMS];   /* numpy order: shape[0] is the outermost dim */
    const uint8_t *data;             /* [nbytes] inside the file's mapping */
    uint64_t nbytes;
    const char *file;                /* the file it came from (for messages) */
} ef_st_tensor;

typedef struct ef_st_set {
    ef_file_map *maps;    /* [n_files] */
    char **file_names;    /* [n_files] */
    size_t n_files;
    ef_st_tensor *tensors;/* [n_tensors] */
    size_t n_tensors, cap_tensors;
} ef_st_set;

/* Opens hf_dir/model.safetensors, or, when hf_dir/model.safetensors.index.json
 * exists, every shard its weight_map names. Every header, dtype, shape and
 * offset is checked against the file. Errors: EF_ERR_IO (missing file,
 * named), EF_ERR_FORMAT (malformed header, named), EF_ERR_UNSUPPORTED
 * (dtype other than F32/F16/BF16, naming tensor and dtype), EF_ERR_NO_MEMORY. */
ef_status ef_st_open_dir(const char *hf_dir, ef_st_set **out);
/* Adds the tensors of one .safetensors file to `set`. */
ef_status ef_st_add_file(ef_st_set *set, const char *path);
ef_status ef_st_set_create(ef_st_set **out);
void ef_st_set_free(ef_st_set *set);
const ef_st_tensor *ef_st_find(const ef_st_set *set, const char *name); /* NULL if absent */

/* ---- JSON files ---- */
/* Parses dir/name into *out (free with cJSON_Delete). EF_ERR_IO when the file
 * cannot be read (named), EF_ERR_FORMAT when it is not JSON. When `optional`
 * is set, a missing file gives EF_OK with *out = NULL. */
ef_status ef_json_read_file(const char *dir, const char *name, int optional, struct cJSON **out);
/* "dir/name" in a new string (ef_free), or NULL when out of memory. */
char *ef_path_join(const char *dir, const char *name);

/* ---- config.json ---- */
typedef enum ef_hf_rope_scaling {
    EF_HF_ROPE_NONE = 0, EF_HF_ROPE_LINEAR = 1, EF_HF_ROPE_LLAMA3 = 2
} ef_hf_rope_scaling;

typedef struct ef_hf_config {
    const char *arch_name;   /* "llama" or "qwen2" (static) */
    int32_t arch;            /* EF_ARCH_* */
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx, n_vocab;
    int64_t head_dim;        /* from head_dim, else n_embd / n_head */
    int32_t head_dim_given;  /* config.json has head_dim */
    double norm_eps, rope_theta;
    int32_t tie_embeddings;
    ef_hf_rope_scaling rope_scaling;
    double rope_factor;      /* linear and llama3 */
    double low_freq_factor, high_freq_factor; /* llama3 */
    int64_t rope_orig_ctx;   /* llama3: original_max_position_embeddings */
    int64_t bos_id, eos_id;  /* bos_token_id / eos_token_id, -1 if absent */
} ef_hf_config;

/* Reads hf_dir/config.json. Errors: EF_ERR_IO (missing), EF_ERR_FORMAT (a
 * required field missing or out of range, named), EF_ERR_UNSUPPORTED
 * (architecture or rope scaling this engine does not run). */
ef_status ef_hf_config_read(const char *hf_dir, ef_hf_config *cfg);
/* Writes general.architecture and the "{arch}.*" hyperparameter keys. */
ef_status ef_hf_config_write(const ef_hf_config *cfg, ef_gguf_writer *w);

/* Llama 3.1 rope factors: factors[i] (i < head_dim/2) divides the frequency
 * base^(-2i/head_dim), as rope_freqs.weight stores it. */
void ef_rope_llama3_factors(const ef_hf_config *cfg, float *factors);

/* ---- tensor names ---- */
typedef enum ef_hf_permute {
    EF_PERMUTE_NONE = 0, EF_PERMUTE_Q = 1, EF_PERMUTE_K = 2
} ef_hf_permute;

/* Maps an HF tensor name to its GGUF name (into gguf_name, cap bytes).
 * Returns 1 when mapped, 0 when the tensor is to be skipped (rotary
 * inv_freq buffers), -1 when the name is unknown. *permute says whether the
 * rows need llama's Q/K reordering. */
int ef_hf_map_name(const char *hf_name, const ef_hf_config *cfg, char *gguf_name, size_t cap,
                   ef_hf_permute *permute);

/* ---- tensor data ---- */
/* Output type of a tensor: `matrix_type` for 2-D tensors whose rows fit its
 * block size, F16 for matrices that do not (with a warning), F32 for the rest. */
uint32_t ef_convert_pick_type(const ef_st_tensor *t, uint32_t matrix_type);

/* One tensor's conversion, planned before the output is written and carried
 * out when the writer asks for its bytes (one tensor in memory at a time). */
typedef struct ef_convert_job {
    const ef_st_tensor *t;
    uint32_t out_type;
    int64_t rows, cols;   /* output [rows][cols] elements */
    int64_t head_rows;    /* > 0: llama Q/K rows reordered in heads of this many */
    uint64_t nbytes;      /* output size */
    int direct;           /* 1: the mapped input bytes are the output */
} ef_convert_job;

/* Plans converting t into `out_type`, reordering rows for llama Q/K when
 * `n_heads` > 0 (rows in heads of rows/n_heads, (i, i + hd/2) → (2i, 2i + 1)). */
ef_status ef_convert_plan(const ef_st_tensor *t, uint32_t out_type, int64_t n_heads, ef_convert_job *job);
/* Writes the planned output into dst[job->nbytes]. */
ef_status ef_convert_fill(const ef_convert_job *job, void *dst);

/* Plan + fill into a new buffer: *data is either inside t's mapping
 * (*owned = NULL) or a new buffer (*owned, free with ef_free). */
ef_status ef_convert_tensor(const ef_st_tensor *t, uint32_t out_type, int64_t n_heads,
                            const void **data, uint64_t *nbytes, void **owned);

/* ---- tokenizer ---- */
/* Writes tokenizer.ggml.* keys from hf_dir/tokenizer.json and, when present,
 * tokenizer_config.json, padded to n_vocab tokens ("[PAD{id}]", UNUSED).
 * Errors: EF_ERR_IO (no tokenizer.json), EF_ERR_FORMAT, EF_ERR_UNSUPPORTED
 * (a tokenizer model other than BPE). */
ef_status ef_hf_tokenizer_write(const char *hf_dir, const ef_hf_config *cfg, int64_t n_vocab,
                                ef_gguf_writer *w);

#endif
