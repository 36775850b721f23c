/* libFuzzer target for the chat template renderers and the template
 * family detector (lib/chat). Input: byte 0 picks the format (0 llama2,
 * 1 llama3, 2 chatml, 3 the first field is the format name itself), byte 1
 * bit 0 asks for the generation prompt; the rest is NUL-separated fields:
 * role, content, role, content... The whole rest is also fed to
 * ef_chat_detect as a template text. Checked: the two-call pattern (size
 * query, exact fit NUL-terminated with *needed counting the NUL, one byte
 * short refused with the buffer untouched) and that a render either fails
 * the same way every time or produces the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "edgeformer/edgeformer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64

static void check_render(const char *name, const char *const *roles, const char *const *contents,
                         size_t n, int gen) {
    size_t needed = 0;
    ef_status st = ef_chat_apply_template_named(name, roles, contents, n, gen, NULL, 0, &needed);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) {
        if (st != EF_ERR_INVALID_ARG) abort(); /* the only documented refusal */
        return;
    }
    if (st != EF_ERR_BUFFER_TOO_SMALL || needed == 0) abort(); /* the NUL alone needs a byte */
    char *buf = malloc(needed + 1);
    if (!buf) return;
    memset(buf, 0x5A, needed + 1);
    size_t again = 0;
    if (ef_chat_apply_template_named(name, roles, contents, n, gen, buf, needed, &again) != EF_OK) abort();
    if (again != needed || buf[needed - 1] != '\0' || strlen(buf) + 1 != needed) abort();
    if (buf[needed] != 0x5A) abort(); /* nothing written past cap */
    if (needed > 1) {
        char *shorter = malloc(needed);
        if (shorter) {
            memset(shorter, 0x5A, needed);
            if (ef_chat_apply_template_named(name, roles, contents, n, gen, shorter, needed - 1, &again) !=
                    EF_ERR_BUFFER_TOO_SMALL || again != needed)
                abort();
            for (size_t i = 0; i < needed; i++)
                if (shorter[i] != 0x5A) abort(); /* a buffer too small is left untouched */
            free(shorter);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const char *const names[] = {"llama2", "llama3", "chatml"};
    int which = data[0] & 3;
    int gen = data[1] & 1;
    const uint8_t *rest = data + 2;
    size_t n_rest = size - 2;

    (void)ef_chat_detect((const char *)rest, n_rest);

    /* A NUL-terminated copy, split at NULs into fields. */
    char *text = malloc(n_rest + 1);
    if (!text) return 0;
    memcpy(text, rest, n_rest);
    text[n_rest] = '\0';
    const char *fields[MAX_FIELDS];
    size_t n_fields = 0;
    for (size_t i = 0; i <= n_rest && n_fields < MAX_FIELDS;) {
        fields[n_fields++] = text + i;
        i += strlen(text + i) + 1;
    }
    size_t first = 0;
    const char *name = which < 3 ? names[which] : (first = 1, fields[0]);
    const char *roles[MAX_FIELDS / 2], *contents[MAX_FIELDS / 2];
    size_t n = 0;
    for (size_t i = first; i + 1 < n_fields; i += 2, n++) {
        roles[n] = fields[i];
        contents[n] = fields[i + 1];
    }
    check_render(name, roles, contents, n, gen);
    ef_chat_family family = ef_chat_family_from_name(name);
    if (family != EF_CHAT_UNKNOWN && strcmp(ef_chat_family_name(family), name) != 0) abort();
    free(text);
    return 0;
}
