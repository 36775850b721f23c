/* Pre-tokenizer regexes.
 *
 * GPT-2 (gpt-3-encoder's Encoder.js, a JavaScript regex with the 'u' flag):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * JavaScript's \s is WhiteSpace + LineTerminator: TAB, LF, VT, FF, CR,
 * U+2028, U+2029, U+FEFF and the Zs category. PCRE2's UCP \s differs (it adds
 * U+0085 and U+180E, lacks U+FEFF), so the GPT-2 pattern spells JS's class
 * out. Llama 3 and Qwen2 come from Hugging Face tokenizers (Rust regex,
 * where \s is Unicode White_Space, which PCRE2's UCP \s matches):
 *   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2:  the same with \p{N} (single digits) in place of \p{N}{1,3}. */
#include "tokenizer/pretokenize.h"

#include <string.h>
#ifndef EF_NO_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

#include "base/alloc.h"
#include "base/log.h"

#define JS_WS "\\t\\n\\x{0B}\\f\\r\\x{2028}\\x{2029}\\x{FEFF}\\p{Zs}"

static const char k_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" JS_WS "\\p{L}\\p{N}]+"
    "|[" JS_WS "]+(?![^" JS_WS "])|[" JS_WS "]+";

static const char k_llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char k_qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int name_is(const char *name, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

ef_pre_kind ef_pre_kind_from_name(const char *name, size_t len, int *known) {
    *known = 1;
    if (!name) return EF_PRE_GPT2;
    if (name_is(name, len, "gpt-2") || name_is(name, len, "default")) return EF_PRE_GPT2;
    if (name_is(name, len, "llama3") || name_is(name, len, "llama-bpe")) return EF_PRE_LLAMA3;
    if (name_is(name, len, "qwen2")) return EF_PRE_QWEN2;
    *known = 0;
    return EF_PRE_GPT2;
}

const char *ef_pre_pattern(ef_pre_kind kind) {
    switch (kind) {
    case EF_PRE_LLAMA3: return k_llama3_pattern;
    case EF_PRE_QWEN2: return k_qwen2_pattern;
    default: return k_gpt2_pattern;
    }
}

#ifdef EF_NO_PCRE2
/* Built without PCRE2 (EF_WITH_PCRE2=OFF, e.g. Windows): the regex
 * pre-tokenizers are unavailable, so gpt2-style vocabularies fail to load with
 * a clear error; SentencePiece ("llama") vocabularies need no pre-tokenizer. */
ef_status ef_pretokenizer_create(ef_pre_kind kind, ef_pretokenizer **out) {
    *out = NULL;
    return ef_err(EF_ERR_UNSUPPORTED,
                  "pre-tokenizer '%s': this build has no regex engine (configured with EF_WITH_PCRE2=OFF), "
                  "so gpt2-style BPE vocabularies are unsupported",
                  kind == EF_PRE_LLAMA3 ? "llama3" : kind == EF_PRE_QWEN2 ? "qwen2" : "gpt2");
}

void ef_pretokenizer_free(ef_pretokenizer *p) { (void)p; }

ef_status ef_pretokenize(const ef_pretokenizer *p, const char *text, size_t len, ef_chunk_fn fn,
                         void *user) {
    (void)p, (void)text, (void)len, (void)fn, (void)user;
    return ef_err(EF_ERR_UNSUPPORTED, "pre-tokenizer: this build has no regex engine (EF_WITH_PCRE2=OFF)");
}
#else
struct ef_pretokenizer {
    pcre2_general_context *gctx;
    pcre2_code *code;
    int jit; /* pcre2_jit_compile succeeded */
};

/* PCRE2's allocations go through the library allocator too. */
static void *pcre_alloc(PCRE2_SIZE size, void *user) {
    (void)user;
    return ef_malloc(size);
}
static void pcre_free(void *p, void *user) {
    (void)user;
    ef_free(p);
}

ef_status ef_pretokenizer_create(ef_pre_kind kind, ef_pretokenizer **out) {
    *out = NULL;
    ef_pretokenizer *p = ef_calloc(1, sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "pre-tokenizer: out of memory");
    p->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    pcre2_compile_context *cctx = p->gctx ? pcre2_compile_context_create(p->gctx) : NULL;
    if (!cctx) {
        ef_pretokenizer_free(p);
        return ef_err(EF_ERR_NO_MEMORY, "pre-tokenizer: cannot create a PCRE2 context");
    }
    const char *pattern = ef_pre_pattern(kind);
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    p->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                            PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff,
                            cctx);
    pcre2_compile_context_free(cctx);
    if (!p->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        ef_pretokenizer_free(p);
        if (errcode == PCRE2_ERROR_HEAP_FAILED)
            return ef_err(EF_ERR_NO_MEMORY, "pre-tokenizer: %s", (const char *)msg);
        return ef_err(EF_ERR_INTERNAL, "pre-tokenizer regex at offset %zu: %s", (size_t)erroff,
                      (const char *)msg);
    }
    /* JIT is an optimisation only: without it the interpreter runs. */
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
    *out = p;
    return EF_OK;
}

void ef_pretokenizer_free(ef_pretokenizer *p) {
    if (!p) return;
    pcre2_code_free(p->code);
    pcre2_general_context_free(p->gctx);
    ef_free(p);
}

/* One match at or after `start`; returns 1 with [*ms, *me) set, 0 when no
 * more matches, or a negative PCRE2 error. Falls back from the JIT to the
 * interpreter when the JIT's stack runs out (very long whitespace runs). */
static int next_match(const ef_pretokenizer *p, pcre2_match_data *md, const char *text,
                      size_t len, size_t start, size_t *ms, size_t *me) {
    int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, 0, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

ef_status ef_pretokenize(const ef_pretokenizer *p, const char *text, size_t len, ef_chunk_fn fn,
                         void *user) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->code, p->gctx);
    if (!md) return ef_err(EF_ERR_NO_MEMORY, "pre-tokenizer: cannot allocate match data");
    ef_status st = EF_OK;
    size_t pos = 0;
    while (pos < len && st == EF_OK) {
        size_t ms = len, me = len;
        int rc = next_match(p, md, text, len, pos, &ms, &me);
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = ef_err(rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT
                            ? EF_ERR_NO_MEMORY : EF_ERR_INTERNAL,
                        "pre-tokenizer: matching at byte %zu failed: %s", pos,
                        (const char *)msg);
            break;
        }
        if (rc == 0) ms = me = len;
        /* Bytes the regex skipped (invalid UTF-8) form their own chunk. */
        if (ms > pos) st = fn(user, text + pos, ms - pos);
        if (st != EF_OK) break;
        if (me > ms) {
            st = fn(user, text + ms, me - ms);
            pos = me;
        } else if (rc == 1) {
            /* The patterns never match empty; guard against looping anyway. */
            pos = ms + 1;
        } else {
            pos = len;
        }
    }
    pcre2_match_data_free(md);
    return st;
}
#endif /* EF_NO_PCRE2 */
