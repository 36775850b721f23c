/* Helpers for the tokenizer unit tests: write a vocabulary-only GGUF with
 * the library's writer into EF_TEST_TMP and load it back, compare token
 * lists, detokenize, and count live allocations for failure injection. */
#ifndef EF_TESTS_TOK_TEST_UTIL_H
#define EF_TESTS_TOK_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

/* Writes w to EF_TEST_TMP/<name>.gguf, opens it, loads the vocabulary.
 * Returns ef_vocab_load's status; on success *g and *v are set (free both
 * with tt_close). The writer is freed. */
ef_status tt_load(ef_gguf_writer *w, const char *name, ef_gguf **g, ef_vocab **v);
void tt_close(ef_gguf *g, ef_vocab *v);

/* Tokenizes text (len = strlen when (size_t)-1) and asserts the ids. */
void tt_expect(const ef_vocab *v, const char *text, size_t len, uint32_t flags,
               const int32_t *want, size_t n_want);
#define TT_EXPECT(v, text, flags, ...)                                              \
    do {                                                                            \
        const int32_t tt_want_[] = {__VA_ARGS__};                                   \
        tt_expect(v, text, (size_t)-1, flags, tt_want_, sizeof tt_want_ / sizeof *tt_want_); \
    } while (0)

/* Detokenizes into a malloc'd buffer (*len bytes, NUL-terminated). */
char *tt_detok(const ef_vocab *v, const int32_t *ids, size_t n, uint32_t flags, size_t *len);

/* Asserts detokenize(tokenize(text)) == text. */
void tt_roundtrip(const ef_vocab *v, const char *text, size_t len);

/* Failure injection: after tt_fail_after(k) the k-th following allocation
 * (1-based) fails; 0 disables. tt_live() counts blocks not yet freed. */
void tt_alloc_install(void);
void tt_alloc_uninstall(void);
void tt_fail_after(long k);
long tt_live(void);
int tt_failed(void); /* whether the injected failure has happened */

/* xorshift random numbers for reproducible random texts */
uint32_t tt_rand(uint64_t *state);

#endif
