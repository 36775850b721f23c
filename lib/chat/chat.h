/* Chat templates: turning a list of (role, content) messages into the prompt
 * text a chat model was trained on. Each family is written out explicitly
 * (no Jinja engine); the family is recognised from the model's
 * tokenizer.chat_template by its distinctive markers. */
#ifndef EF_CHAT_CHAT_H
#define EF_CHAT_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum ef_chat_family {
    EF_CHAT_UNKNOWN = 0,
    EF_CHAT_LLAMA2 = 1, /* "<s>[INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] reply </s>" */
    EF_CHAT_LLAMA3 = 2, /* "<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>" */
    EF_CHAT_CHATML = 3  /* "<|im_start|>role\n...<|im_end|>\n" (Qwen, many others) */
} ef_chat_family;

/* The family whose markers occur in a Jinja template text (len bytes, not
 * NUL-terminated); EF_CHAT_UNKNOWN when none does. */
ef_chat_family ef_chat_detect(const char *tmpl, size_t len);

/* Family by its name ("llama2", "llama3", "chatml"); EF_CHAT_UNKNOWN otherwise. */
ef_chat_family ef_chat_family_from_name(const char *name);
/* Name of a family ("chatml" for EF_CHAT_UNKNOWN, the fallback). */
const char *ef_chat_family_name(ef_chat_family family);

/* Output of a renderer: writes what fits into buf[0..cap) and counts every
 * byte, so one pass serves both calls of the two-call pattern without
 * allocating. */
typedef struct ef_chat_out {
    char *buf;
    size_t cap;
    size_t len; /* bytes produced so far (may exceed cap) */
} ef_chat_out;

void ef_chat_put(ef_chat_out *o, const char *s, size_t n);
void ef_chat_puts(ef_chat_out *o, const char *s);
/* s without leading and trailing ASCII whitespace (Jinja's str.strip()). */
void ef_chat_put_stripped(ef_chat_out *o, const char *s);

/* The messages of one render call; roles/contents are NUL-terminated. */
typedef struct ef_chat_messages {
    const char *const *roles;
    const char *const *contents;
    size_t n;
} ef_chat_messages;

/* One renderer per family. They check the roles their format allows and
 * fail with EF_ERR_INVALID_ARG naming the offending message. */
ef_status ef_chat_render_llama2(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o);
ef_status ef_chat_render_llama3(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o);
ef_status ef_chat_render_chatml(const ef_chat_messages *m, int add_generation_prompt, ef_chat_out *o);

/* Renders with one family and finishes the two-call pattern: NUL-terminates
 * when it fits, sets *needed (bytes including the NUL), and returns
 * EF_ERR_BUFFER_TOO_SMALL when cap was too small. */
ef_status ef_chat_render(ef_chat_family family, const ef_chat_messages *m, int add_generation_prompt,
                         char *buf, size_t cap, size_t *needed);

#endif
