/* A growable byte buffer, and UTF-8 cleaning for JSON output. */
#include <stdlib.h>
#include <string.h>

#include "server.h"

void strbuf_append(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always a C string, for cJSON */
}

void strbuf_free(strbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Length of the UTF-8 sequence a lead byte starts (0: not a lead byte), and
 * the allowed range of its second byte (which excludes overlongs and
 * surrogates). */
static int utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

void strbuf_append_utf8_clean(strbuf *b, const char *s, size_t n) {
    static const char replacement[] = "\xEF\xBF\xBD";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char lo, hi;
        int need = utf8_lead(u[i], &lo, &hi);
        if (need == 1) {
            size_t j = i;
            while (j < n && u[j] < 0x80) j++; /* a run of ASCII at once */
            strbuf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        /* Take continuation bytes while they fit; a short or broken sequence
         * (its maximal valid prefix) becomes one U+FFFD. */
        size_t k = 1;
        if (need > 1) {
            while ((int)k < need && i + k < n) {
                unsigned char c = u[i + k];
                unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
                if (c < l || c > h) break;
                k++;
            }
        }
        if (need > 1 && (int)k == need) {
            strbuf_append(b, s + i, k);
        } else {
            strbuf_append(b, replacement, 3);
        }
        i += k;
    }
}
