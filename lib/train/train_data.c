/* Training data: the tokenizer (GPT-2 BPE, a synthetic byte-level BPE, or
 * a GGUF's), a text file, a folder of *.txt files, the Brown corpus (POS
 * tags stripped) or WikiText's raw files, one token stream split into train
 * and validation parts (WikiText brings its own), the seeded windows, and
 * the optional token cache (token_cache.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
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
    FILE *f = ef_fopen(path, "rb");
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

/* One data source: its texts (file by file), tokenized one after another. */
typedef struct text_list {
    char **text;
    size_t *len;
    size_t n, cap;
} text_list;

static void texts_free(text_list *l) {
    for (size_t i = 0; i < l->n; i++) ef_free(l->text[i]);
    ef_free(l->text);
    ef_free(l->len);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of text (freed on failure). */
static ef_status texts_add(text_list *l, char *text, size_t len) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nt = ef_realloc(l->text, sizeof *nt * nc);
        if (nt) l->text = nt;
        size_t *nl = nt ? ef_realloc(l->len, sizeof *nl * nc) : NULL;
        if (nl) l->len = nl;
        if (!nt || !nl) {
            ef_free(text);
            return ef_err(EF_ERR_NO_MEMORY, "out of memory listing the training texts");
        }
        l->cap = nc;
    }
    l->text[l->n] = text;
    l->len[l->n++] = len;
    return EF_OK;
}

static ef_status texts_add_file(text_list *l, const char *path, int brown) {
    char *text;
    size_t len;
    EF_TRY(read_file(path, &text, &len));
    if (brown) len = strip_brown_tags(text, len);
    return texts_add(l, text, len);
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
static ef_status load_brown(const char *dir, text_list *l) {
    for (char cat = 'a'; cat <= 'r'; cat++)
        for (int num = 1; num <= 99; num++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/c%c%02d", dir, cat, num);
            FILE *probe = ef_fopen(path, "rb");
            if (!probe) continue;
            fclose(probe);
            EF_TRY(texts_add_file(l, path, 1));
        }
    if (!l->n) return ef_err(EF_ERR_IO, "no Brown corpus files (ca01...) in '%s'", dir);
    return EF_OK;
}

/* The *.txt names of a folder (ef_dir_each's callback cannot fail, so an
 * allocation failure is remembered in `oom`). */
typedef struct name_list {
    char **names;
    size_t n, cap;
    int oom;
} name_list;

static void collect_txt(void *user, const char *name) {
    name_list *nl = user;
    size_t len = strlen(name);
    if (nl->oom || len < 5 || strcmp(name + len - 4, ".txt") != 0) return;
    if (nl->n == nl->cap) {
        size_t nc = nl->cap ? nl->cap * 2 : 16;
        char **nn = ef_realloc(nl->names, sizeof *nn * nc);
        if (!nn) {
            nl->oom = 1;
            return;
        }
        nl->names = nn;
        nl->cap = nc;
    }
    if (!(nl->names[nl->n] = ef_strdup(name))) nl->oom = 1;
    else nl->n++;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void noop_entry(void *user, const char *name) {
    (void)user;
    (void)name;
}

/* Every *.txt file of `dir`, in byte-wise sorted name order. */
static ef_status load_txt_dir(const char *dir, text_list *l) {
    name_list nl = {0};
    ef_status st = ef_dir_each(dir, collect_txt, &nl);
    if (st == EF_OK && nl.oom) st = ef_err(EF_ERR_NO_MEMORY, "out of memory listing '%s'", dir);
    if (st == EF_OK && nl.n == 0) st = ef_err(EF_ERR_IO, "no *.txt files in data folder '%s'", dir);
    if (st == EF_OK) qsort(nl.names, nl.n, sizeof *nl.names, cmp_names);
    for (size_t i = 0; st == EF_OK && i < nl.n; i++) {
        char path[2048];
        if (snprintf(path, sizeof path, "%s" EF_DIR_SEP "%s", dir, nl.names[i]) >= (int)sizeof path)
            st = ef_err(EF_ERR_INVALID_ARG, "data path '%s/%s' is too long", dir, nl.names[i]);
        else
            st = texts_add_file(l, path, 0);
    }
    for (size_t i = 0; i < nl.n; i++) ef_free(nl.names[i]);
    ef_free(nl.names);
    return st;
}

/* What the token ids depend on besides the text: the tokenizer's kind and
 * every token's type and text. (Merge ranks are not hashed: two
 * vocabularies with the same tokens but other merges share a key.) */
static uint64_t vocab_fingerprint(const ef_vocab *v) {
    uint64_t h = EF_HASH64_SEED;
    const char *name = ef_vocab_model_name(v);
    h = ef_hash64(h, name, strlen(name) + 1);
    const int32_t n = ef_vocab_n_tokens(v);
    h = ef_hash64(h, &n, sizeof n);
    for (int32_t i = 0; i < n; i++) {
        const char *t = ef_vocab_token_text(v, i);
        const int32_t type = ef_vocab_token_type(v, i);
        const uint64_t len = t ? strlen(t) : 0;
        h = ef_hash64(h, &type, sizeof type);
        h = ef_hash64(h, &len, sizeof len);
        h = ef_hash64(h, t, (size_t)len);
    }
    return h;
}

/* The tokens of every text of l, one after another, into d->tokens and
 * d->n_tokens; from / into the cache folder when cache_dir is set. */
static ef_status tokenize_texts(const text_list *l, const ef_vocab *v, const char *cache_dir,
                                ef_train_data *d) {
    memset(d, 0, sizeof *d);
    char path[1200];
    if (cache_dir) {
        uint64_t key = ef_hash64(EF_HASH64_SEED, "edgeformer-tokens", 17);
        const uint64_t fp = vocab_fingerprint(v);
        key = ef_hash64(key, &fp, sizeof fp);
        for (size_t i = 0; i < l->n; i++) {
            const uint64_t len = l->len[i];
            key = ef_hash64(key, &len, sizeof len);
            key = ef_hash64(key, l->text[i], l->len[i]);
        }
        EF_TRY(ef_token_cache_path(path, sizeof path, cache_dir, key));
        if (ef_token_cache_read(path, &d->tokens, &d->n_tokens)) {
            const int32_t nv = ef_vocab_n_tokens(v);
            int64_t i = 0;
            while (i < d->n_tokens && d->tokens[i] >= 0 && d->tokens[i] < nv) i++;
            if (i == d->n_tokens) {
                EF_LOGI("token cache: %lld tokens read from '%s'", (long long)d->n_tokens, path);
                return EF_OK;
            }
            EF_LOGW("token cache '%s' holds id %d outside the vocabulary: tokenizing again", path,
                    (int)d->tokens[i]);
            ef_train_data_free(d);
        }
    }
    int64_t cap = 0;
    for (size_t i = 0; i < l->n; i++) {
        ef_status st = append_tokens(d, &cap, v, l->text[i], l->len[i]);
        if (st != EF_OK) {
            ef_train_data_free(d);
            return st;
        }
    }
    if (cache_dir) {
        uint64_t bytes = 0;
        if (ef_token_cache_write(path, d->tokens, d->n_tokens, &bytes) == EF_OK)
            EF_LOGI("token cache: %lld tokens written to '%s' (%llu bytes)",
                    (long long)d->n_tokens, path, (unsigned long long)bytes);
        else
            EF_LOGW("token cache not written: %s", ef_last_error());
    }
    return EF_OK;
}

/* WikiText raw layout: DIR/wiki.train.raw, DIR/wiki.valid.raw. */
static ef_status load_wikitext(const char *dir, const ef_vocab *v, const char *cache_dir,
                               ef_train_data *d) {
    char path[2][1100];
    static const char *const names[2] = {"wiki.train.raw", "wiki.valid.raw"};
    ef_train_data part[2] = {{0}, {0}};
    ef_status st = EF_OK;
    for (int i = 0; st == EF_OK && i < 2; i++) {
        text_list l = {0};
        if (snprintf(path[i], sizeof path[i], "%s" EF_DIR_SEP "%s", dir, names[i]) >= (int)sizeof path[i])
            st = ef_err(EF_ERR_INVALID_ARG, "WikiText folder path '%s' is too long", dir);
        if (st == EF_OK) st = texts_add_file(&l, path[i], 0);
        if (st == EF_OK) st = tokenize_texts(&l, v, cache_dir, &part[i]);
        texts_free(&l);
    }
    if (st == EF_OK) {
        const int64_t n = part[0].n_tokens + part[1].n_tokens;
        int32_t *all = ef_realloc(part[0].tokens, sizeof(int32_t) * (size_t)(n ? n : 1));
        if (!all) {
            st = ef_err(EF_ERR_NO_MEMORY, "out of memory holding %lld tokens", (long long)n);
        } else {
            part[0].tokens = NULL;
            memcpy(all + part[0].n_tokens, part[1].tokens, sizeof(int32_t) * (size_t)part[1].n_tokens);
            d->tokens = all;
            d->n_tokens = n;
            d->n_train = part[0].n_tokens;
        }
    }
    ef_train_data_free(&part[0]);
    ef_train_data_free(&part[1]);
    return st;
}

static int is_dir(const char *path) {
    return ef_file_exists(path) && ef_dir_each(path, noop_entry, NULL) == EF_OK;
}

/* The texts of a "data" spec other than wikitext:DIR. */
static ef_status load_texts(const char *data, text_list *l) {
    if (strncmp(data, "brown:", 6) == 0) return load_brown(data + 6, l);
    if (strncmp(data, "dir:", 4) == 0) return load_txt_dir(data + 4, l);
    if (is_dir(data)) return load_txt_dir(data, l);
    return texts_add_file(l, data, 0);
}

ef_status ef_train_data_each_text(const char *data, ef_text_fn fn, void *user) {
    text_list l = {0};
    ef_status st;
    if (strncmp(data, "wikitext:", 9) == 0) { /* its training part only */
        char path[1100];
        st = snprintf(path, sizeof path, "%s" EF_DIR_SEP "wiki.train.raw", data + 9) >= (int)sizeof path
                 ? ef_err(EF_ERR_INVALID_ARG, "WikiText folder path '%s' is too long", data + 9)
                 : texts_add_file(&l, path, 0);
    } else {
        st = load_texts(data, &l);
    }
    for (size_t i = 0; st == EF_OK && i < l.n; i++) st = fn(user, l.text[i], l.len[i]);
    texts_free(&l);
    return st;
}

ef_status ef_train_data_load(const ef_train_params *p, const ef_vocab *v, ef_train_data *d) {
    memset(d, 0, sizeof *d);
    ef_status st;
    int split = 1; /* 0: the source gave its own validation part */
    text_list l = {0};
    if (p->text) {
        size_t n = strlen(p->text);
        char *copy = ef_malloc(n + 1);
        if (copy) memcpy(copy, p->text, n + 1);
        st = copy ? texts_add(&l, copy, n) /* owns copy from here */
                  : ef_err(EF_ERR_NO_MEMORY, "out of memory copying the training text");
    } else if (p->data && strncmp(p->data, "wikitext:", 9) == 0) {
        st = load_wikitext(p->data + 9, v, p->token_cache, d);
        split = 0;
    } else if (p->data) {
        st = load_texts(p->data, &l);
    } else {
        st = ef_err(EF_ERR_INVALID_ARG, "training: no data given (set \"data\" or \"text\")");
    }
    if (st == EF_OK && split) st = tokenize_texts(&l, v, p->token_cache, d);
    texts_free(&l);
    const int64_t window = (int64_t)p->shape.seq + 1;
    if (st == EF_OK && split) {
        int64_t n_val = (int64_t)((double)d->n_tokens * p->val_fraction);
        if (p->val_fraction > 0 && n_val < window) n_val = window;
        d->n_train = d->n_tokens - n_val;
        if (d->n_train < window)
            st = ef_err(EF_ERR_FORMAT,
                        "training data has %lld tokens: too few for a %lld-token window plus "
                        "the validation part",
                        (long long)d->n_tokens, (long long)window);
    } else if (st == EF_OK) {
        if (d->n_train < window || d->n_tokens - d->n_train < window)
            st = ef_err(EF_ERR_FORMAT,
                        "WikiText data has %lld training and %lld validation tokens: each part "
                        "needs at least one %lld-token window",
                        (long long)d->n_train, (long long)(d->n_tokens - d->n_train),
                        (long long)window);
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
