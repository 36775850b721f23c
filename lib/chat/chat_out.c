/* The counting output buffer of the chat renderers. */
#include <string.h>

#include "chat/chat.h"

void ef_chat_put(ef_chat_out *o, const char *s, size_t n) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

void ef_chat_puts(ef_chat_out *o, const char *s) { ef_chat_put(o, s, strlen(s)); }

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void ef_chat_put_stripped(ef_chat_out *o, const char *s) {
    size_t n = strlen(s);
    while (n > 0 && is_space(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1])) n--;
    ef_chat_put(o, s, n);
}
