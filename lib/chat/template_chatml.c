/* The ChatML format (Qwen and many others):
 *
 *   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
 *
 * Contents are kept verbatim; any role name is allowed. */
#include "chat/chat.h"

ef_status ef_chat_render_chatml(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o) {
    for (size_t i = 0; i < m->n; i++) {
        ef_chat_puts(o, "<|im_start|>");
        ef_chat_puts(o, m->roles[i]);
        ef_chat_puts(o, "\n");
        ef_chat_puts(o, m->contents[i]);
        ef_chat_puts(o, "<|im_end|>\n");
    }
    if (add_generation_prompt) ef_chat_puts(o, "<|im_start|>assistant\n");
    return EF_OK;
}
