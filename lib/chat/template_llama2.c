/* The Llama-2 chat format, as Meta's published chat_template writes it:
 *
 *   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
 *
 * A leading system message is folded into the first turn; user and assistant
 * texts are stripped of surrounding whitespace; the generation prompt is
 * empty (the model answers right after "[/INST]"). */
#include <string.h>

#include "chat/chat.h"

static const char k_bos[] = "<s>";
static const char k_eos[] = "</s>";

/* Whether s holds nothing but whitespace. */
static int is_blank(const char *s) {
    for (; *s; s++)
        if (!strchr(" \t\n\r\f\v", *s)) return 0;
    return 1;
}

ef_status ef_chat_render_llama2(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o) {
    (void)add_generation_prompt; /* the format has no generation prompt */
    size_t first = 0;
    const char *system = NULL;
    if (m->n > 0 && !strcmp(m->roles[0], "system")) {
        system = m->contents[0];
        first = 1;
    }
    for (size_t i = first; i < m->n; i++) {
        const char *role = m->roles[i], *content = m->contents[i];
        int is_user = !strcmp(role, "user");
        if (!is_user && strcmp(role, "assistant") != 0)
            return ef_err(EF_ERR_INVALID_ARG,
                          "llama2 chat template: message %zu has role '%s' (only a first 'system', then "
                          "'user' and 'assistant' are allowed)", i, role);
        if (is_user) {
            ef_chat_puts(o, k_bos);
            ef_chat_puts(o, "[INST] ");
        } else {
            ef_chat_puts(o, " ");
        }
        if (i == first && system) {
            /* strip() of "<<SYS>>...<</SYS>>\n\n" + content: only trailing
             * whitespace can go, and a blank content takes the "\n\n" along */
            ef_chat_puts(o, "<<SYS>>\n");
            ef_chat_puts(o, system);
            ef_chat_puts(o, is_blank(content) ? "\n<</SYS>>" : "\n<</SYS>>\n\n");
            size_t n = strlen(content);
            while (n > 0 && strchr(" \t\n\r\f\v", content[n - 1])) n--;
            ef_chat_put(o, content, n);
        } else {
            ef_chat_put_stripped(o, content);
        }
        if (is_user) {
            ef_chat_puts(o, " [/INST]");
        } else {
            ef_chat_puts(o, " ");
            ef_chat_puts(o, k_eos);
        }
    }
    return EF_OK;
}
