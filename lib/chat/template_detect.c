/* Recognising a chat template family from its Jinja text, and family names. */
#include <string.h>

#include "chat/chat.h"

/* memmem without relying on _GNU_SOURCE in every build. */
static int contains(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0 || m > n) return m == 0;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

ef_chat_family ef_chat_detect(const char *tmpl, size_t len) {
    if (!tmpl) return EF_CHAT_UNKNOWN;
    /* Most specific markers first: a ChatML template may mention "[INST]" in
     * a comment, but none of the others writes <|im_start|>. */
    if (contains(tmpl, len, "<|im_start|>")) return EF_CHAT_CHATML;
    if (contains(tmpl, len, "<|start_header_id|>")) return EF_CHAT_LLAMA3;
    if (contains(tmpl, len, "[INST]")) return EF_CHAT_LLAMA2;
    return EF_CHAT_UNKNOWN;
}

ef_chat_family ef_chat_family_from_name(const char *name) {
    if (!name) return EF_CHAT_UNKNOWN;
    if (!strcmp(name, "llama2")) return EF_CHAT_LLAMA2;
    if (!strcmp(name, "llama3")) return EF_CHAT_LLAMA3;
    if (!strcmp(name, "chatml")) return EF_CHAT_CHATML;
    return EF_CHAT_UNKNOWN;
}

const char *ef_chat_family_name(ef_chat_family family) {
    switch (family) {
    case EF_CHAT_LLAMA2: return "llama2";
    case EF_CHAT_LLAMA3: return "llama3";
    default: return "chatml";
    }
}
