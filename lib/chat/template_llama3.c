/* The Llama-3 chat format, as Meta's published chat_template writes it:
 *
 *   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
 *
 * Every content is stripped of surrounding whitespace; the beginning-of-text
 * marker comes with the first message; the generation prompt opens an
 * assistant header. Any role name is allowed (the format has no list). */
#include "chat/chat.h"

ef_status ef_chat_render_llama3(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o) {
    for (size_t i = 0; i < m->n; i++) {
        if (i == 0) ef_chat_puts(o, "<|begin_of_text|>");
        ef_chat_puts(o, "<|start_header_id|>");
        ef_chat_puts(o, m->roles[i]);
        ef_chat_puts(o, "<|end_header_id|>\n\n");
        ef_chat_put_stripped(o, m->contents[i]);
        ef_chat_puts(o, "<|eot_id|>");
    }
    if (add_generation_prompt) ef_chat_puts(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return EF_OK;
}
