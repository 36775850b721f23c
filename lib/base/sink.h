/* A byte sink for the two-call buffer pattern: it stores what fits in the
 * caller's buffer and counts everything, so one pass yields both the output
 * and the size needed. */
#ifndef EF_BASE_SINK_H
#define EF_BASE_SINK_H

#include <stddef.h>
#include <string.h>

typedef struct ef_sink {
    char *buf;  /* may be NULL: count only */
    size_t cap;
    size_t len; /* bytes appended so far, stored or not */
} ef_sink;

static inline void ef_sink_put(ef_sink *s, const char *p, size_t n) {
    if (s->buf && s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

#endif
