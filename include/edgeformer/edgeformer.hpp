/*
 * edgeformer.hpp — a header-only C++17 wrapper over the C ABI in edgeformer.h.
 *
 *   edgeformer::Model model = edgeformer::Model::load("model.gguf");
 *   edgeformer::Session session = model.session();
 *   session.set_sampler(edgeformer::SamplerParams::greedy());
 *   session.generate("Once upon a time", 32, [](int32_t, std::string_view text) {
 *       std::cout << text << std::flush;
 *       return true;                      // true: continue, false: stop
 *   });
 *
 * Handles are move-only RAII owners. Every failing call throws
 * edgeformer::Error, which carries the ef_status and the library's message.
 * Exceptions thrown by callbacks stop the C call and are rethrown after it
 * returns; they never unwind through C frames. Thread rules are those of the
 * C API: share a Model freely, use a Session from one thread at a time
 * (cancel() from anywhere). A Trainer (built from TrainParams) trains a
 * small model and exports it as a GGUF file.
 */
#ifndef EDGEFORMER_HPP
#define EDGEFORMER_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgeformer.h"

namespace edgeformer {

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** A failed library call: status() is the ef_status, what() "EF_ERR_X: message". */
class Error : public std::runtime_error {
public:
    Error(ef_status status, const std::string &message)
        : std::runtime_error(std::string(ef_status_str(status)) + ": " + message),
          status_(status), message_(message) {}
    ef_status status() const noexcept { return status_; }
    const char *status_name() const noexcept { return ef_status_str(status_); }
    /** The library's message alone. */
    const std::string &message() const noexcept { return message_; }

private:
    ef_status status_;
    std::string message_;
};

namespace detail {

/** Throws the Error of a failed status with this thread's ef_last_error(). */
inline void check(ef_status status) {
    if (status != EF_OK) throw Error(status, ef_last_error());
}

/** Runs a two-call getter of a NUL-terminated string: fn(buf, cap, &needed). */
template <typename Fn>
std::string two_call_string(Fn fn) {
    size_t needed = 0;
    ef_status st = fn(nullptr, 0, &needed);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) check(st);
    std::string out(needed ? needed : 1, '\0');
    check(fn(&out[0], out.size(), &needed));
    out.resize(needed ? needed - 1 : 0); /* drop the NUL */
    return out;
}

/** Owns a C handle through its free function. */
template <typename T, void (*Free)(T *)>
class Handle {
public:
    Handle() = default;
    explicit Handle(T *p) : p_(p) {}
    Handle(Handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) reset(std::exchange(o.p_, nullptr));
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { reset(); }
    void reset(T *p = nullptr) noexcept {
        if (p_) Free(p_);
        p_ = p;
    }
    T *get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    T *p_ = nullptr;
};

/** The handle, or an EF_ERR_STATE Error when it was moved from or closed. */
template <typename T>
T *live(T *p, const char *what) {
    if (!p) throw Error(EF_ERR_STATE, std::string(what) + " is closed or moved from");
    return p;
}

} // namespace detail

/* ------------------------------------------------------------------------ */
/* Library                                                                  */
/* ------------------------------------------------------------------------ */

inline std::string version() { return ef_version_string(); }
inline uint32_t version_number() { return ef_version_number(); }
inline std::string last_error() { return ef_last_error(); }
inline std::string tensor_type_name(uint32_t type) { return ef_tensor_type_name(type); }

/** Receives every diagnostic; call before creating handles. The function may run on worker threads. */
using LogFn = std::function<void(int32_t level, std::string_view message)>;

namespace detail {
inline LogFn &log_slot() {
    static LogFn fn;
    return fn;
}
inline void log_trampoline(void *, int32_t level, const char *message) {
    try {
        if (log_slot()) log_slot()(level, message ? message : "");
    } catch (...) { /* never unwind into C */
    }
}
} // namespace detail

/** Installs fn (empty: discard everything) with the most verbose level that reaches it. */
inline void set_log_callback(LogFn fn, int32_t max_level = EF_LOG_WARN) {
    bool on = static_cast<bool>(fn);
    ef_set_log_callback(nullptr, nullptr, max_level); /* no call sees a half-swapped slot */
    detail::log_slot() = std::move(fn);
    if (on) ef_set_log_callback(&detail::log_trampoline, nullptr, max_level);
}

/** Replaces the allocator (all three functions, or all null to restore); no handle may exist. */
inline void set_allocator(ef_malloc_fn malloc_fn, ef_realloc_fn realloc_fn, ef_free_fn free_fn,
                          void *user = nullptr) {
    detail::check(ef_set_allocator(malloc_fn, realloc_fn, free_fn, user));
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

/** The sampling chain's settings; the defaults are the library's. */
struct SamplerParams {
    float temperature = 0.8f;
    int32_t top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    int32_t repeat_last_n = 64;
    uint64_t seed = 0;

    static SamplerParams greedy() {
        SamplerParams p;
        p.temperature = 0.0f;
        return p;
    }
};

struct SessionOptions {
    int32_t n_ctx = 0;          /**< 0: min(training context, 4096) */
    int32_t threads = 0;        /**< 0: all cores */
    int32_t n_batch = 512;
    uint64_t seed = 0;
    uint64_t memory_budget = 0; /**< bytes; 0: no cap */
    std::string kv_type;        /**< KV-cache element type, "f16" or "f32"; empty: the default */
    std::string matmul_mode;    /**< "weight-only" or "integer-dot"; empty: EF_MATMUL_MODE, else weight-only */
    int32_t mla_path = EF_MLA_PATH_AUTO; /**< one of EF_MLA_PATH_*: how MLA layers attend */
    int32_t window = -1;        /**< sliding window in tokens; 0: full attention; -1: the model's */
    int32_t sinks = -1;         /**< attention-sink tokens; -1: the model's */
};

/** A quantization profile ("balanced", "fast", "experimental", "ternary", "f16", "f32") plus rules. */
class QuantProfile {
public:
    explicit QuantProfile(const std::string &name = "balanced") {
        ef_quant_profile *p = nullptr;
        detail::check(ef_quant_profile_create(name.c_str(), &p));
        h_.reset(p);
    }
    std::string name() const { return ef_quant_profile_name(get()); }
    QuantProfile &set_default_type(const std::string &type) {
        detail::check(ef_quant_profile_set_default_type(get(), type.c_str()));
        return *this;
    }
    QuantProfile &add_rule(const std::string &pattern, const std::string &type) {
        detail::check(ef_quant_profile_add_rule(get(), pattern.c_str(), type.c_str()));
        return *this;
    }
    QuantProfile &keep_embeddings(const std::string &type) {
        detail::check(ef_quant_profile_keep_embeddings(get(), type.c_str()));
        return *this;
    }
    ef_quant_profile *get() const { return detail::live(h_.get(), "quant profile"); }

private:
    detail::Handle<ef_quant_profile, ef_quant_profile_free> h_;
};

struct ModelOptions {
    int32_t threads = 0;                       /**< 0: all cores */
    bool mmap = true;
    std::string backend;                       /**< empty: the library's default ("cpu") */
    const QuantProfile *quant_profile = nullptr; /**< quantize in memory while loading */
};

/** progress(item, done, total): return false to cancel. */
using ProgressFn = std::function<bool(std::string_view item, uint64_t done, uint64_t total)>;

namespace detail {
/** Runs call(progress_fn, user) with a trampoline to `progress` (may be empty);
 *  an exception from progress cancels the call and is rethrown after it. */
template <typename Call>
void with_progress(const ProgressFn &progress, Call call) {
    struct Ctx {
        const ProgressFn *fn;
        std::exception_ptr error;
    } ctx{&progress, nullptr};
    ef_progress_fn tramp = [](void *user, const char *item, uint64_t done, uint64_t total) -> int32_t {
        Ctx *c = static_cast<Ctx *>(user);
        try {
            return (*c->fn)(item ? item : "", done, total) ? 0 : 1;
        } catch (...) {
            c->error = std::current_exception();
            return 1;
        }
    };
    ef_status st = call(progress ? tramp : nullptr, static_cast<void *>(&ctx));
    if (ctx.error) std::rethrow_exception(ctx.error);
    check(st);
}
} // namespace detail

/** Writes a quantized copy of a GGUF file; returns {tensor bytes in, tensor bytes out}. */
inline std::pair<uint64_t, uint64_t> quantize_file(const std::string &in_path, const std::string &out_path,
                                                   const QuantProfile &profile,
                                                   const ProgressFn &progress = nullptr) {
    uint64_t in = 0, out = 0;
    detail::with_progress(progress, [&](ef_progress_fn fn, void *user) {
        return ef_quantize_file(in_path.c_str(), out_path.c_str(), profile.get(), fn, user, &in, &out);
    });
    return {in, out};
}

/**
 * Converts a Hugging Face checkpoint folder (config.json, *.safetensors,
 * tokenizer.json) into one GGUF file. type_name: "f32", "f16", "bf16",
 * "q8_0"...; empty means "f16". No file is left at out_path on failure.
 */
inline void convert_hf(const std::string &hf_dir, const std::string &out_path, const std::string &type_name = "",
                       const ProgressFn &progress = nullptr) {
    detail::with_progress(progress, [&](ef_progress_fn fn, void *user) {
        return ef_convert_hf(hf_dir.c_str(), out_path.c_str(), type_name.empty() ? nullptr : type_name.c_str(),
                             fn, user);
    });
}

/* ------------------------------------------------------------------------ */
/* Chat templates                                                           */
/* ------------------------------------------------------------------------ */

struct ChatMessage {
    std::string role;    /**< "system", "user", "assistant" */
    std::string content;
};

namespace detail {
/** Runs a chat-template renderer fn(roles, contents, n, gen, buf, cap, needed). */
template <typename Fn>
std::string render_chat(const std::vector<ChatMessage> &messages, bool add_generation_prompt, Fn fn) {
    std::vector<const char *> roles, contents;
    for (const auto &m : messages) {
        roles.push_back(m.role.c_str());
        contents.push_back(m.content.c_str());
    }
    int32_t gen = add_generation_prompt ? 1 : 0;
    return two_call_string([&](char *b, size_t c, size_t *n) {
        return fn(roles.data(), contents.data(), messages.size(), gen, b, c, n);
    });
}
} // namespace detail

/** Renders messages in a named format ("llama2", "llama3", "chatml"); tokenize with parse_special. */
inline std::string apply_chat_template(const std::string &template_name, const std::vector<ChatMessage> &messages,
                                       bool add_generation_prompt = true) {
    return detail::render_chat(messages, add_generation_prompt,
                               [&](const char *const *r, const char *const *c, size_t n, int32_t g, char *b,
                                   size_t cap, size_t *need) {
                                   return ef_chat_apply_template_named(template_name.c_str(), r, c, n, g, b, cap,
                                                                       need);
                               });
}

/* ------------------------------------------------------------------------ */
/* Model                                                                    */
/* ------------------------------------------------------------------------ */

struct TensorInfo {
    std::string name;
    uint32_t type = 0;
    std::string type_name;
    std::vector<int64_t> shape; /**< ne[0..n_dims), ne[0] the contiguous dimension */
};

class Session;

/** A loaded GGUF model. Immutable; its sessions keep the native model alive. */
class Model {
public:
    static Model load(const std::string &path, const ModelOptions &opts = {}) {
        ef_model_params *raw = nullptr;
        detail::check(ef_model_params_create(&raw));
        detail::Handle<ef_model_params, ef_model_params_free> params(raw);
        detail::check(ef_model_params_set_threads(raw, opts.threads));
        detail::check(ef_model_params_set_mmap(raw, opts.mmap ? 1 : 0));
        if (!opts.backend.empty()) detail::check(ef_model_params_set_backend(raw, opts.backend.c_str()));
        if (opts.quant_profile) detail::check(ef_model_params_set_quant_profile(raw, opts.quant_profile->get()));
        ef_model *m = nullptr;
        detail::check(ef_model_load(path.c_str(), raw, &m));
        Model model;
        model.h_.reset(m);
        return model;
    }

    ef_model *get() const { return detail::live(h_.get(), "model"); }
    /** Releases this reference early (sessions keep the native model alive). */
    void close() noexcept { h_.reset(); }

    std::string arch() const { return ef_model_arch(get()); }
    uint64_t n_params() const { return ef_model_n_params(get()); }
    uint64_t size_bytes() const { return ef_model_size_bytes(get()); }
    int32_t n_ctx_train() const { return ef_model_n_ctx_train(get()); }
    int32_t n_vocab() const { return ef_model_n_vocab(get()); }
    int32_t n_embd() const { return ef_model_n_embd(get()); }
    int32_t n_layer() const { return ef_model_n_layer(get()); }

    int64_t meta_count() const { return ef_model_meta_count(get()); }
    std::string meta_key(int64_t index) const {
        ef_model *m = get();
        return detail::two_call_string(
            [&](char *b, size_t c, size_t *n) { return ef_model_meta_key(m, index, b, c, n); });
    }
    /** The value rendered as text; throws Error(EF_ERR_NOT_FOUND) when absent. */
    std::string meta_get(const std::string &key) const {
        ef_model *m = get();
        return detail::two_call_string(
            [&](char *b, size_t c, size_t *n) { return ef_model_meta_get(m, key.c_str(), b, c, n); });
    }
    std::map<std::string, std::string> metadata() const {
        std::map<std::string, std::string> out;
        for (int64_t i = 0; i < meta_count(); i++) {
            std::string k = meta_key(i);
            out[k] = meta_get(k);
        }
        return out;
    }

    std::vector<TensorInfo> tensors() const {
        std::vector<TensorInfo> out;
        for (int64_t i = 0; i < ef_model_tensor_count(get()); i++) {
            const char *name = nullptr;
            uint32_t type = 0;
            int32_t n_dims = 0;
            int64_t ne[4] = {1, 1, 1, 1};
            detail::check(ef_model_tensor_info(get(), i, &name, &type, &n_dims, ne));
            out.push_back({name ? name : "", type, ef_tensor_type_name(type),
                           std::vector<int64_t>(ne, ne + (n_dims < 0 ? 0 : n_dims > 4 ? 4 : n_dims))});
        }
        return out;
    }

    std::vector<int32_t> tokenize(std::string_view text, bool add_special = true,
                                  bool parse_special = false) const {
        uint32_t flags = (add_special ? EF_TOKENIZE_ADD_SPECIAL : 0u) |
                         (parse_special ? EF_TOKENIZE_PARSE_SPECIAL : 0u);
        size_t needed = 0;
        ef_status st = ef_tokenize(get(), text.data(), text.size(), flags, nullptr, 0, &needed);
        if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) detail::check(st);
        std::vector<int32_t> ids(needed);
        detail::check(ef_tokenize(get(), text.data(), text.size(), flags, ids.data(), ids.size(), &needed));
        ids.resize(needed);
        return ids;
    }

    /** The tokens' bytes (not necessarily valid UTF-8 for a partial sequence). */
    std::string detokenize(const std::vector<int32_t> &tokens, bool render_special = false) const {
        uint32_t flags = render_special ? EF_DETOKENIZE_RENDER_SPECIAL : 0u;
        size_t needed = 0;
        ef_status st = ef_detokenize(get(), tokens.data(), tokens.size(), flags, nullptr, 0, &needed);
        if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) detail::check(st);
        std::string out(needed, '\0');
        detail::check(ef_detokenize(get(), tokens.data(), tokens.size(), flags, out.empty() ? nullptr : &out[0],
                                    out.size(), &needed));
        out.resize(needed);
        return out;
    }

    /** The vocabulary piece of a token; empty when out of range. */
    std::string token_text(int32_t token) const {
        const char *t = ef_token_text(get(), token);
        return t ? t : "";
    }
    int32_t bos() const { return ef_token_bos(get()); }
    int32_t eos() const { return ef_token_eos(get()); }
    bool is_eog(int32_t token) const { return ef_token_is_eog(get(), token) != 0; }

    /** The chat format of this model: "llama2", "llama3" or "chatml". */
    std::string chat_template_family() const { return ef_chat_template_family(get()); }
    /** Renders messages in the model's chat format; tokenize with parse_special. */
    std::string apply_chat_template(const std::vector<ChatMessage> &messages, bool add_generation_prompt = true) const {
        ef_model *m = get();
        return detail::render_chat(messages, add_generation_prompt,
                                   [&](const char *const *r, const char *const *c, size_t n, int32_t g, char *b,
                                       size_t cap, size_t *need) {
                                       return ef_chat_apply_template(m, r, c, n, g, b, cap, need);
                                   });
    }

    inline Session session(const SessionOptions &opts = {}) const;

private:
    detail::Handle<ef_model, ef_model_free> h_;
};

/* ------------------------------------------------------------------------ */
/* Session                                                                  */
/* ------------------------------------------------------------------------ */

/** Values of ef_session_stat(). */
struct Stats {
    double prompt_tokens = 0, prompt_seconds = 0, gen_tokens = 0, gen_seconds = 0;
    int32_t stop_reason = EF_STOP_NONE; /**< one of EF_STOP_* */
    uint64_t memory_used = 0, memory_peak = 0, memory_budget = 0;
    uint64_t kv_bytes_per_token = 0; /**< bytes the KV cache grows by per token */
    uint64_t prefill_chunk = 0;      /**< tokens per forward call the memory budget allowed */
};

/** on_token(id, text): text is complete UTF-8 (empty while a character is pending;
 *  id -1 delivers a final incomplete tail). Return false to stop. */
using TokenFn = std::function<bool(int32_t token, std::string_view text)>;

/** One conversation: KV cache, scratch and sampler. Use from one thread at a time. */
class Session {
public:
    explicit Session(const Model &model, const SessionOptions &opts = {}) {
        ef_session_params *raw = nullptr;
        detail::check(ef_session_params_create(&raw));
        detail::Handle<ef_session_params, ef_session_params_free> params(raw);
        detail::check(ef_session_params_set_n_ctx(raw, opts.n_ctx));
        detail::check(ef_session_params_set_threads(raw, opts.threads));
        detail::check(ef_session_params_set_n_batch(raw, opts.n_batch));
        detail::check(ef_session_params_set_seed(raw, opts.seed));
        detail::check(ef_session_params_set_memory_budget(raw, opts.memory_budget));
        if (!opts.kv_type.empty()) detail::check(ef_session_params_set_kv_type(raw, opts.kv_type.c_str()));
        if (!opts.matmul_mode.empty())
            detail::check(ef_session_params_set_matmul_mode(raw, opts.matmul_mode.c_str()));
        detail::check(ef_session_params_set_mla_path(raw, opts.mla_path));
        detail::check(ef_session_params_set_window(raw, opts.window));
        detail::check(ef_session_params_set_sinks(raw, opts.sinks));
        ef_session *s = nullptr;
        detail::check(ef_session_create(model.get(), raw, &s));
        h_.reset(s);
        n_vocab_ = model.n_vocab();
    }

    ef_session *get() const { return detail::live(h_.get(), "session"); }
    void close() noexcept { h_.reset(); }

    int32_t n_ctx() const { return ef_session_n_ctx(get()); }
    int32_t n_past() const { return ef_session_n_past(get()); }
    /** "weight-only" or "integer-dot": how quantized weights are multiplied. */
    std::string matmul_mode() const { return ef_session_matmul_mode(get()); }
    int32_t n_vocab() const noexcept { return n_vocab_; }
    std::string errmsg() const { return ef_session_errmsg(get()); }
    void reset() { check(ef_session_reset(get())); }

    void eval(const int32_t *tokens, size_t n_tokens, bool all_logits = false) {
        check(ef_session_eval(get(), tokens, n_tokens, all_logits ? EF_EVAL_ALL_LOGITS : 0u));
    }
    void eval(const std::vector<int32_t> &tokens, bool all_logits = false) {
        eval(tokens.data(), tokens.size(), all_logits);
    }

    /** n_vocab() floats owned by the session, valid until its next eval/reset. */
    const float *logits(int32_t index = -1) {
        const float *out = nullptr;
        check(ef_session_logits(get(), index, &out));
        return out;
    }

    void set_sampler(const SamplerParams &p) {
        ef_sampler_params *raw = nullptr;
        detail::check(ef_sampler_params_create(&raw));
        detail::Handle<ef_sampler_params, ef_sampler_params_free> params(raw);
        detail::check(ef_sampler_params_set_temperature(raw, p.temperature));
        detail::check(ef_sampler_params_set_top_k(raw, p.top_k));
        detail::check(ef_sampler_params_set_top_p(raw, p.top_p));
        detail::check(ef_sampler_params_set_min_p(raw, p.min_p));
        detail::check(ef_sampler_params_set_repeat_penalty(raw, p.repeat_penalty, p.repeat_last_n));
        detail::check(ef_sampler_params_set_seed(raw, p.seed));
        check(ef_session_set_sampler(get(), raw));
    }

    int32_t sample() {
        int32_t tok = -1;
        check(ef_session_sample(get(), &tok));
        return tok;
    }

    /**
     * ef_session_generate: streams each token to on_token (may be empty) and
     * returns the whole generated text. Throws Error (EF_ERR_CANCELLED after
     * cancel()); an exception from on_token stops generation and is rethrown.
     */
    std::string generate(std::string_view prompt, int32_t max_tokens, const TokenFn &on_token = nullptr) {
        struct Ctx {
            const TokenFn *fn;
            std::string text;
            std::exception_ptr error;
        } ctx{&on_token, {}, nullptr};
        ef_token_fn tramp = [](void *user, int32_t token, const char *text, size_t len) -> int32_t {
            Ctx *c = static_cast<Ctx *>(user);
            try {
                c->text.append(text, len);
                return (*c->fn && !(*c->fn)(token, std::string_view(text, len))) ? 1 : 0;
            } catch (...) {
                c->error = std::current_exception();
                return 1;
            }
        };
        ef_status st = ef_session_generate(get(), prompt.data(), prompt.size(), max_tokens, tramp, &ctx);
        if (ctx.error) std::rethrow_exception(ctx.error);
        check(st);
        return std::move(ctx.text);
    }

    /** Asks a running eval/generate to stop; safe from any thread. */
    void cancel() noexcept {
        if (h_) ef_session_cancel(h_.get());
    }

    double stat(int32_t key) const {
        double v = 0;
        detail::check(ef_session_stat(get(), key, &v));
        return v;
    }
    Stats stats() const {
        Stats s;
        s.prompt_tokens = stat(EF_STAT_PROMPT_TOKENS);
        s.prompt_seconds = stat(EF_STAT_PROMPT_SECONDS);
        s.gen_tokens = stat(EF_STAT_GEN_TOKENS);
        s.gen_seconds = stat(EF_STAT_GEN_SECONDS);
        s.stop_reason = static_cast<int32_t>(stat(EF_STAT_STOP_REASON));
        s.memory_used = static_cast<uint64_t>(stat(EF_STAT_MEMORY_USED));
        s.memory_peak = static_cast<uint64_t>(stat(EF_STAT_MEMORY_PEAK));
        s.memory_budget = static_cast<uint64_t>(stat(EF_STAT_MEMORY_BUDGET));
        s.kv_bytes_per_token = static_cast<uint64_t>(stat(EF_STAT_KV_BYTES_PER_TOKEN));
        s.prefill_chunk = static_cast<uint64_t>(stat(EF_STAT_PREFILL_CHUNK));
        return s;
    }

private:
    /* session calls read the thread-local message, which every failing call sets */
    static void check(ef_status st) { detail::check(st); }

    detail::Handle<ef_session, ef_session_free> h_;
    int32_t n_vocab_ = 0;
};

inline Session Model::session(const SessionOptions &opts) const { return Session(*this, opts); }

/* ------------------------------------------------------------------------ */
/* Training                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Training settings by key (see ef_train_params_set_int/_float/_str in
 * edgeformer.h). set() picks the setter from the value's type: integers and
 * bool go to set_int, floating-point to set_float, strings to set_str.
 *
 *   edgeformer::TrainParams p;
 *   p.set("text", corpus).set("vocab", "synthetic:300").set("dim", 32).set("lr", 1e-3);
 *   edgeformer::Trainer t(p);
 */
class TrainParams {
public:
    TrainParams() {
        ef_train_params *p = nullptr;
        detail::check(ef_train_params_create(&p));
        h_.reset(p);
    }
    TrainParams &set_int(const std::string &key, int64_t value) {
        detail::check(ef_train_params_set_int(get(), key.c_str(), value));
        return *this;
    }
    TrainParams &set_float(const std::string &key, double value) {
        detail::check(ef_train_params_set_float(get(), key.c_str(), value));
        return *this;
    }
    TrainParams &set_str(const std::string &key, const std::string &value) {
        detail::check(ef_train_params_set_str(get(), key.c_str(), value.c_str()));
        return *this;
    }
    template <typename T>
    TrainParams &set(const std::string &key, const T &value) {
        if constexpr (std::is_integral_v<T>) {
            return set_int(key, static_cast<int64_t>(value));
        } else if constexpr (std::is_floating_point_v<T>) {
            return set_float(key, static_cast<double>(value));
        } else {
            static_assert(std::is_convertible_v<const T &, std::string>,
                          "a training setting is an integer, a floating-point number or a string");
            return set_str(key, std::string(value));
        }
    }
    ef_train_params *get() const { return detail::live(h_.get(), "training settings"); }

private:
    detail::Handle<ef_train_params, ef_train_params_free> h_;
};

/**
 * A model being trained: parameters, AdamW state, data and position.
 * Move-only; use it from one thread at a time.
 */
class Trainer {
public:
    /** Loads and tokenizes the data and initialises the model. */
    explicit Trainer(const TrainParams &params) {
        ef_trainer *t = nullptr;
        detail::check(ef_trainer_create(params.get(), &t));
        h_.reset(t);
    }
    /** One optimizer step; returns its mean training loss. */
    float step() {
        float loss = 0.0f;
        detail::check(ef_trainer_step(get(), &loss));
        return loss;
    }
    /** Mean loss over the fixed validation windows (perplexity = exp of it). */
    float evaluate() {
        float loss = 0.0f;
        detail::check(ef_trainer_evaluate(get(), &loss));
        return loss;
    }
    int64_t step_count() const { return ef_trainer_step_count(get()); }
    /** Learning rate the next step will use. */
    float lr() const { return ef_trainer_lr(get()); }
    uint64_t n_params() const { return ef_trainer_n_params(get()); }
    /** batch × seq × accum. */
    int64_t tokens_per_step() const { return ef_trainer_tokens_per_step(get()); }
    /** Writes a checkpoint (parameters, AdamW moments, data position). */
    void save(const std::string &path) const { detail::check(ef_trainer_save(get(), path.c_str())); }
    /** Restores a checkpoint of a trainer of the same shape; on error nothing changes. */
    void load(const std::string &path) { detail::check(ef_trainer_load(get(), path.c_str())); }
    /** Writes the model as an F32 GGUF that Model::load() reads ("export" is a C++ keyword). */
    void export_gguf(const std::string &path) const { detail::check(ef_trainer_export(get(), path.c_str())); }
    ef_trainer *get() const { return detail::live(h_.get(), "trainer"); }

private:
    detail::Handle<ef_trainer, ef_trainer_free> h_;
};

} // namespace edgeformer

#endif /* EDGEFORMER_HPP */
