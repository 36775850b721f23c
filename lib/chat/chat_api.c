/* Public chat-template calls: pick the family (from the model's
 * tokenizer.chat_template, or by name) and render with the two-call pattern. */
#include <string.h>

#include "base/log.h"
#include "chat/chat.h"
#include "model/model.h"

static const char k_template_key[] = "tokenizer.chat_template";

static ef_status render_once(ef_chat_family family, const ef_chat_messages *m, int add_gen, ef_chat_out *o) {
    switch (family) {
    case EF_CHAT_LLAMA2: return ef_chat_render_llama2(m, add_gen, o);
    case EF_CHAT_LLAMA3: return ef_chat_render_llama3(m, add_gen, o);
    default: return ef_chat_render_chatml(m, add_gen, o);
    }
}

ef_status ef_chat_render(ef_chat_family family, const ef_chat_messages *m, int add_generation_prompt,
                         char *buf, size_t cap, size_t *needed) {
    if (!needed) return ef_err(EF_ERR_INVALID_ARG, "chat template: needed is NULL");
    if (!buf && cap) return ef_err(EF_ERR_INVALID_ARG, "chat template: buf is NULL but cap is %zu", cap);
    if (m->n && (!m->roles || !m->contents))
        return ef_err(EF_ERR_INVALID_ARG, "chat template: roles or contents is NULL for %zu messages", m->n);
    for (size_t i = 0; i < m->n; i++)
        if (!m->roles[i] || !m->contents[i])
            return ef_err(EF_ERR_INVALID_ARG, "chat template: message %zu has a NULL %s", i,
                          m->roles[i] ? "content" : "role");
    /* Measure first, so a buffer that is too small is left untouched. */
    ef_chat_out count = {NULL, 0, 0};
    EF_TRY(render_once(family, m, add_generation_prompt, &count));
    *needed = count.len + 1;
    if (*needed > cap)
        return ef_err(EF_ERR_BUFFER_TOO_SMALL, "chat template: the prompt needs %zu bytes, buffer has %zu",
                      *needed, cap);
    ef_chat_out out = {buf, cap, 0};
    EF_TRY(render_once(family, m, add_generation_prompt, &out));
    buf[out.len] = '\0';
    return EF_OK;
}

/* The family of a model's template; warns once per call when falling back. */
static ef_chat_family model_family(const ef_model *model, int warn) {
    const char *tmpl = NULL;
    uint64_t len = 0;
    if (ef_gguf_find_key(model->gguf, k_template_key) < 0) {
        if (warn) EF_LOGW("the model has no %s; using the ChatML format", k_template_key);
        return EF_CHAT_UNKNOWN;
    }
    if (ef_gguf_get_str(model->gguf, k_template_key, &tmpl, &len) != EF_OK) {
        ef_err_clear();
        if (warn) EF_LOGW("%s is not a string; using the ChatML format", k_template_key);
        return EF_CHAT_UNKNOWN;
    }
    ef_chat_family f = ef_chat_detect(tmpl, (size_t)len);
    if (f == EF_CHAT_UNKNOWN && warn)
        EF_LOGW("the model's chat template is none of llama2, llama3, chatml; using the ChatML format");
    return f;
}

ef_status ef_chat_apply_template(const ef_model *model, const char *const *roles, const char *const *contents,
                                 size_t n_messages, int32_t add_generation_prompt, char *buf, size_t cap,
                                 size_t *needed) {
    if (!model) return ef_err(EF_ERR_INVALID_ARG, "ef_chat_apply_template: model is NULL");
    ef_chat_messages m = {roles, contents, n_messages};
    return ef_chat_render(model_family(model, 1), &m, add_generation_prompt != 0, buf, cap, needed);
}

ef_status ef_chat_apply_template_named(const char *template_name, const char *const *roles,
                                       const char *const *contents, size_t n_messages,
                                       int32_t add_generation_prompt, char *buf, size_t cap, size_t *needed) {
    ef_chat_family f = ef_chat_family_from_name(template_name);
    if (f == EF_CHAT_UNKNOWN)
        return ef_err(EF_ERR_INVALID_ARG, "unknown chat template '%s' (llama2, llama3, chatml)",
                      template_name ? template_name : "(null)");
    ef_chat_messages m = {roles, contents, n_messages};
    return ef_chat_render(f, &m, add_generation_prompt != 0, buf, cap, needed);
}

const char *ef_chat_template_family(const ef_model *model) {
    if (!model) return "chatml";
    return ef_chat_family_name(model_family(model, 0));
}
