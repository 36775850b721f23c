/* Training data: the tokenizer (GPT-2 BPE, a synthetic byte-level BPE, or
 * a GGUF's), a text file or the Brown corpus (POS tags stripped), one token
 * stream split into train and validation parts, and the seeded windows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "train/trainer.h"

/* The tokenizer keys go through a GGUF image, the only input ef_vocab_load
 * takes: written to a temporary file, read into memory, removed. */
static ef_status vocab_from_writer(ef_gguf_writer *w, ef_gguf **g) {
    static _Atomic int counter;
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/edgeformer-vocab-%lld-%d.gguf", dir && *dir ? dir : "/tmp",
             (long long)ef_process_id(), counter++);
    ef_status st = ef_gguf_writer_set_str(w, "general.architecture", "edgeformer");
    if (st == EF_OK) st = ef_gguf_writer_write(w, path);
    if (st == EF_OK) st = ef_gguf_open(path, 0, g);
    ef_file_remove(path);
    return st;
}

ef_status ef_train_vocab_open(const char *spec, ef_gguf **g, ef_vocab **v) {
    *g = NULL;
    *v = NULL;
    ef_status st;
    if (!spec) spec = "synthetic:512";
    if (strncmp(spec, "gguf:", 5) == 0) {
        st = ef_gguf_open(spec + 5, 0, g);
    } else {
        ef_gguf_writer *w;
        EF_TRY(ef_gguf_writer_create(&w));
        if (strncmp(spec, "gpt2:", 5) == 0) {
            char enc[1024], bpe[1024];
            snprintf(enc, sizeof enc, "%s/encoder.json", spec + 5);
            snprintf(bpe, sizeof bpe, "%s/vocab.bpe", spec + 5);
            st = ef_vocab_write_gpt2_files(w, enc, bpe);
        } else if (strncmp(spec, "synthetic:", 10) == 0) {
            char *end;
            long n = strtol(spec + 10, &end, 10);
            st = (*end || n < 260 || n > 1000000)
                     ? ef_err(EF_ERR_INVALID_ARG, "vocab '%s': expected synthetic:N with N >= 260", spec)
                     : ef_vocab_write_synthetic(w, (int32_t)n);
        } else {
            st = ef_err(EF_ERR_INVALID_ARG,
                        "vocab '%s': expected gpt2:DIR, synthetic:N or gguf:PATH", spec);
        }
        if (st == EF_OK) st = vocab_from_writer(w, g);
        ef_gguf_writer_free(w);
    }
    if (st == EF_OK) st = ef_vocab_load(*g, v);
    if (st != EF_OK) {
        ef_gguf_close(*g);
        *g = NULL;
    }
    return st;
}

static ef_status read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return ef_err(EF_ERR_IO, "cannot open data file '%s'", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = ef_malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = ef_realloc(buf, cap * 2);
            if (!nb) {
                ef_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading '%s'", path);
    if (err) {
        ef_free(buf);
        return ef_err(EF_ERR_IO, "error reading data file '%s'", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EF_OK;
}

/* Brown's "word/tag" tokens → "word", in place; blank-line-separated
 * paragraphs keep one newline, other whitespace becomes one space. */
static size_t strip_brown_tags(char *s, size_t n) {
    size_t o = 0, i = 0;
    int newlines = 0, pending_space = 0;
    while (i < n) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
            if (s[i] == '\n') newlines++;
            pending_space = 1;
            i++;
            continue;
        }
        size_t b = i;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') i++;
        size_t e = i; /* the word ends at its last '/' */
        for (size_t k = i; k > b; k--)
            if (s[k - 1] == '/') {
                e = k - 1;
                break;
            }
        if (e == b) continue;
        if (pending_space && o > 0) s[o++] = newlines >= 2 ? '\n' : ' ';
        pending_space = 0;
        newlines = 0;
        memmove(s + o, s + b, e - b);
        o += e - b;
    }
    if (o > 0) s[o++] = '\n';
    return o;
}

/* Appends the tokens of text[0..len) to d. */
static ef_status append_tokens(ef_train_data *d, int64_t *cap, const ef_vocab *v, const char *text,
                               size_t len) {
    int32_t *toks;
    size_t n;
    EF_TRY(ef_vocab_tokenize(v, text, len, 0, &toks, &n));
    if (d->n_tokens + (int64_t)n > *cap) {
        int64_t nc = (*cap ? *cap : 4096);
        while (nc < d->n_tokens + (int64_t)n) nc *= 2;
        int32_t *nt = ef_realloc(d->tokens, sizeof(int32_t) * (size_t)nc);
        if (!nt) {
            ef_free(toks);
            return ef_err(EF_ERR_NO_MEMORY, "out of memory holding %lld tokens", (long long)nc);
        }
        d->tokens = nt;
        *cap = nc;
    }
    memcpy(d->tokens + d->n_tokens, toks, sizeof(int32_t) * n);
    d->n_tokens += (int64_t)n;
    ef_free(toks);
    return EF_OK;
}

/* Brown: files c[a-r][0-9][0-9] of the corpus folder, in name order. */
static ef_status load_brown(const char *dir, const ef_vocab *v, ef_train_data *d, int64_t *cap) {
    int found = 0;
    for (char cat = 'a'; cat <= 'r'; cat++)
        for (int num = 1; num <= 99; num++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/c%c%02d", dir, cat, num);
            FILE *probe = fopen(path, "rb");
            if (!probe) continue;
            fclose(probe);
            char *text;
            size_t len;
            EF_TRY(read_file(path, &text, &len));
            len = strip_brown_tags(text, len);
            ef_status st = append_tokens(d, cap, v, text, len);
            ef_free(text);
            EF_TRY(st);
            found++;
        }
    if (!found) return ef_err(EF_ERR_IO, "no Brown corpus files (ca01...) in '%s'", dir);
    return EF_OK;
}

ef_status ef_train_data_load(const ef_train_params *p, const ef_vocab *v, ef_train_data *d) {
    memset(d, 0, sizeof *d);
    int64_t cap = 0;
    ef_status st;
    if (p->text) {
        st = append_tokens(d, &cap, v, p->text, strlen(p->text));
    } else if (p->data && strncmp(p->data, "brown:", 6) == 0) {
        st = load_brown(p->data + 6, v, d, &cap);
    } else if (p->data) {
        char *text;
        size_t len;
        st = read_file(p->data, &text, &len);
        if (st == EF_OK) {
            st = append_tokens(d, &cap, v, text, len);
            ef_free(text);
        }
    } else {
        st = ef_err(EF_ERR_INVALID_ARG, "training: no data given (set \"data\" or \"text\")");
    }
    const int64_t window = (int64_t)p->shape.seq + 1;
    if (st == EF_OK) {
        int64_t n_val = (int64_t)((double)d->n_tokens * p->val_fraction);
        if (p->val_fraction > 0 && n_val < window) n_val = window;
        d->n_train = d->n_tokens - n_val;
        if (d->n_train < window)
            st = ef_err(EF_ERR_FORMAT,
                        "training data has %lld tokens: too few for a %lld-token window plus "
                        "the validation part",
                        (long long)d->n_tokens, (long long)window);
    }
    if (st != EF_OK) ef_train_data_free(d);
    return st;
}

void ef_train_data_free(ef_train_data *d) {
    ef_free(d->tokens);
    memset(d, 0, sizeof *d);
}

static void fill_window(ef_trainer *t, int32_t b, int64_t start) {
    const int32_t T = t->p.shape.seq;
    memcpy(t->inputs + (int64_t)b * T, t->data.tokens + start, sizeof(int32_t) * (size_t)T);
    memcpy(t->targets + (int64_t)b * T, t->data.tokens + start + 1, sizeof(int32_t) * (size_t)T);
}

void ef_train_data_sample(ef_trainer *t) {
    const uint64_t span = (uint64_t)(t->data.n_train - t->p.shape.seq); /* window starts */
    for (int32_t b = 0; b < t->p.batch; b++) fill_window(t, b, (int64_t)(ef_rng_next(&t->rng) % span));
}

/* Validation windows are evenly spaced over the held-out part (or over the
 * training part when none is held out), the same at every evaluation. */
void ef_train_data_val(ef_trainer *t, int64_t batch_index) {
    int64_t lo = t->data.n_train, hi = t->data.n_tokens;
    if (hi - lo < (int64_t)t->p.shape.seq + 1) lo = 0, hi = t->data.n_train;
    const int64_t span = hi - lo - t->p.shape.seq;
    const int64_t n_windows = (int64_t)t->p.eval_batches * t->p.batch;
    for (int32_t b = 0; b < t->p.batch; b++) {
        int64_t w = batch_index * t->p.batch + b;
        fill_window(t, b, lo + (span * w) / n_windows);
    }
}
