/* libFuzzer target for both tokenizers. Two vocabularies are built at
 * start-up with the library's own GGUF writer: the synthetic byte-level BPE
 * ("gpt2", 512 tokens) and a small SentencePiece-style one ("llama": byte
 * fallback pieces, a few merges, a user-defined and a control token).
 * The first byte of the input picks the vocabulary (bit 0), encode or
 * decode (bit 1) and the flags (bits 2-3); the rest is text to encode, or
 * little-endian int32 ids to decode (any value, in range or not).
 * Checked: every id produced is in range; the two-call detokenize agrees
 * on its size; and for the byte-level BPE, whose encoding is lossless,
 * detokenize(tokenize(text)) == text for every valid UTF-8 text. */
#include "fuzz_tmpdir.h"

#include "base/alloc.h"
#include "edgeformer/edgeformer.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ef_gguf *g_gguf[2];
static ef_vocab *g_vocab[2]; /* [0] gpt2, [1] llama */

static void free_vocabs(void) {
    for (int i = 0; i < 2; i++) {
        ef_vocab_free(g_vocab[i]);
        ef_gguf_close(g_gguf[i]);
    }
}

/* ids 0..2 specials, 3..258 <0xAB> bytes, then pieces and a few merges. */
static ef_gguf_writer *spm_writer(void) {
    static const char *const pieces[] = {"\xE2\x96\x81", "a", "b", "c", "ab", "abc", "\xE2\x96\x81" "a",
                                         "\xC3\xA9", "<|user|>", "<ctl>"};
    enum { N_PIECES = sizeof pieces / sizeof *pieces, N = 3 + 256 + N_PIECES };
    static char byte_names[256][8];
    const char *tokens[N];
    float scores[N];
    int32_t types[N];
    tokens[0] = "<unk>"; types[0] = EF_TOKEN_UNKNOWN;
    tokens[1] = "<s>"; types[1] = EF_TOKEN_CONTROL;
    tokens[2] = "</s>"; types[2] = EF_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], "<0x%02X>", b);
        tokens[3 + b] = byte_names[b];
        types[3 + b] = EF_TOKEN_BYTE;
    }
    for (int i = 0; i < N; i++) scores[i] = 0;
    for (int i = 0; i < N_PIECES; i++) {
        tokens[259 + i] = pieces[i];
        scores[259 + i] = -(float)i;
        types[259 + i] = EF_TOKEN_NORMAL;
    }
    types[N - 2] = EF_TOKEN_USER_DEFINED;
    types[N - 1] = EF_TOKEN_CONTROL;
    ef_gguf_writer *w = NULL;
    if (ef_gguf_writer_create(&w) != EF_OK) abort();
    if (ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") != EF_OK ||
        ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, N) != EF_OK ||
        ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, scores, N) != EF_OK ||
        ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, N) != EF_OK ||
        ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) != EF_OK ||
        ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) != EF_OK ||
        ef_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0) != EF_OK ||
        ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1) != EF_OK)
        abort();
    return w;
}

static void load_vocab(int which, ef_gguf_writer *w) {
    char path[512];
    snprintf(path, sizeof path, "%s/vocab%d.gguf", fuzz_tmpdir(), which);
    if (ef_gguf_writer_write(w, path) != EF_OK) abort();
    ef_gguf_writer_free(w);
    if (ef_gguf_open(path, 0, &g_gguf[which]) != EF_OK) abort();
    if (ef_vocab_load(g_gguf[which], &g_vocab[which]) != EF_OK) abort();
}

static void init_vocabs(void) {
    if (g_vocab[0]) return;
    ef_gguf_writer *w = NULL;
    if (ef_gguf_writer_create(&w) != EF_OK || ef_vocab_write_synthetic(w, 512) != EF_OK) abort();
    load_vocab(0, w);
    load_vocab(1, spm_writer());
    atexit(free_vocabs);
}

static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : (uint32_t)(c & (0x7F >> len));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Detokenizes with the two-call pattern; returns the text (ef_free) or NULL
 * when the ids are refused. */
static char *detok(const ef_vocab *v, const int32_t *ids, size_t n, uint32_t flags, size_t *len) {
    size_t need = 0;
    ef_status st = ef_vocab_detokenize(v, ids, n, flags, NULL, 0, &need);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) return NULL;
    if (st == EF_OK && need != 0) abort(); /* a zero-capacity call fits only an empty text */
    char *buf = ef_malloc(need + 1);
    if (!buf) return NULL;
    size_t got = 0;
    if (ef_vocab_detokenize(v, ids, n, flags, buf, need, &got) != EF_OK || got != need) abort();
    *len = got;
    return buf;
}

static void fuzz_encode(int which, uint32_t flags, const uint8_t *text, size_t n) {
    const ef_vocab *v = g_vocab[which];
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (ef_vocab_tokenize(v, (const char *)text, n, flags, &ids, &n_ids) != EF_OK) return;
    const int32_t n_vocab = ef_vocab_n_tokens(v);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) abort();
    size_t len = 0;
    char *back = detok(v, ids, n_ids, 0, &len);
    if (!back) abort(); /* ids the tokenizer made must decode */
    if (which == 0 && flags == 0 && valid_utf8(text, n) && (len != n || memcmp(back, text, n) != 0))
        abort(); /* byte-level BPE loses nothing */
    ef_free(back);
    ef_free(ids);
}

static void fuzz_decode(int which, uint32_t flags, const uint8_t *data, size_t size) {
    const ef_vocab *v = g_vocab[which];
    size_t n = size / 4;
    int32_t *ids = ef_malloc(n * sizeof *ids + 1);
    if (!ids) return;
    int in_range = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                     (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
        /* mostly small ids, so that many inputs decode */
        ids[i] = (u >> 31) ? (int32_t)u : (int32_t)(u % 600);
        if (ids[i] < 0 || ids[i] >= ef_vocab_n_tokens(v)) in_range = 0;
        const char *text = ef_vocab_token_text(v, ids[i]);
        if ((text != NULL) != (ids[i] >= 0 && ids[i] < ef_vocab_n_tokens(v))) abort();
    }
    size_t len = 0;
    char *text = detok(v, ids, n, flags & EF_DETOKENIZE_RENDER_SPECIAL, &len);
    if ((text != NULL) != in_range) abort(); /* exactly the out-of-range ids are refused */
    ef_free(text);
    ef_free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    init_vocabs();
    int which = data[0] & 1;
    uint32_t flags = (data[0] >> 2) & 3u; /* EF_TOKENIZE_ADD_SPECIAL | EF_TOKENIZE_PARSE_SPECIAL */
    if (data[0] & 2) fuzz_decode(which, flags, data + 1, size - 1);
    else fuzz_encode(which, flags, data + 1, size - 1);
    return 0;
}
