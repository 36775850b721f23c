/* edgeformer perplexity: how well a model predicts a text, computed the way
 * llama.cpp's perplexity tool does so the numbers compare across tools:
 *
 *   - the whole text is tokenized once (BOS added when the model asks for it,
 *     special-token texts not parsed);
 *   - it is cut into n_chunk = min(--chunks, n_tokens / n_ctx) chunks of
 *     n_ctx tokens; each is evaluated from an empty context, with its first
 *     token replaced by BOS when the model adds BOS;
 *   - only the second half is scored: logits row j, first = n_ctx/2 <= j <
 *     n_ctx-1, predicts token j+1 (n_ctx-1-first tokens per chunk);
 *   - PPL = exp(mean NLL), and its error exp(mean) * sqrt(var(NLL)/(N-1)).
 *
 * With --kl-base FILE the scored rows are also compared with a base run
 * (usually the unquantized model): when FILE does not exist, the base
 * log-probabilities are saved to it; when it does, the mean KL divergence
 * KL(base || current), the PPL difference, the share of rows whose most
 * likely token agrees, and the RMS of the change in the correct token's
 * probability are reported, each with its error estimate.
 *
 * Base file format, version 1 (all fields little-endian):
 *   offset 0   char[8] "EFKLBASE"
 *          8   u32     version (1)
 *         12   u32     n_vocab
 *         16   u32     n_ctx
 *         20   u32     n_chunk
 *         24   u32     first scored row (n_ctx / 2)
 *         28   u32     add_bos (0 or 1)
 *         32   u32     top_k: 0 = full rows, else rows keep the top_k most likely tokens
 *         36   u32     reserved (0)
 *         40   u64     vocabulary fingerprint (FNV-1a 64 of every token text)
 *         48   i32     tokens[n_chunk * n_ctx], as in the text (before BOS)
 *              row     rows[n_chunk][n_ctx - 1 - first], each either
 *                        top_k = 0: f32 log_p[n_vocab]
 *                        top_k > 0: f32 log_p(correct token), f32 log(mass outside the top_k),
 *                                   top_k x (i32 id, f32 log_p), most likely first
 *              u64     FNV-1a 64 of every byte before it
 * Full float32 rows keep KL(base || base) below 1e-6 and make the KLD exact;
 * they cost 4 * n_vocab bytes per scored token, so large vocabularies (over
 * 8192 tokens, unless --kl-top-k says otherwise) store the top 64: their KLD
 * treats the tokens outside the base's top-K as one outcome, a lower bound
 * of the exact value that is tight when the base is confident. */
#include <cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

#define KL_MAGIC "EFKLBASE"
#define KL_VERSION 1u
#define KL_HEADER_BYTES 48u
#define KL_AUTO_FULL_MAX_VOCAB 8192 /* full rows up to this vocabulary size */
#define KL_AUTO_TOP_K 64

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

typedef struct ppl_sums {
    size_t count;                 /* scored tokens */
    double nll, nll2;             /* current model: sum of -log p(correct), and of its square */
    /* against a base run */
    double nll_base, nll_base2;   /* base model's -log p(correct), and its square */
    double nll_cross;             /* sum of nll * nll_base (for their covariance) */
    double kld, kld2, kld_max;    /* KL(base || current) per row */
    double dp2, dp4;              /* (p - p_base)^2 of the correct token, and its square */
    size_t same_top;              /* rows whose arg-max agrees */
} ppl_sums;

typedef struct estimate {
    double value, error;
} estimate;

/* Mean of the values whose sum and sum of squares are given, with the
 * standard error of that mean. */
static estimate mean_with_error(double sum, double sum2, size_t n) {
    estimate e = {0, 0};
    if (n == 0) return e;
    e.value = sum / (double)n;
    double var = sum2 / (double)n - e.value * e.value;
    e.error = (var > 0 && n > 1) ? sqrt(var / (double)(n - 1)) : 0;
    return e;
}

/* Covariance of the two means (same normalisation as mean_with_error). */
static double mean_covariance(double sum_a, double sum_b, double sum_ab, size_t n) {
    if (n < 2) return 0;
    double cov = sum_ab / (double)n - (sum_a / (double)n) * (sum_b / (double)n);
    return cov / (double)(n - 1);
}

typedef struct ppl_report {
    estimate ppl, ppl_base, delta_ppl, kld, rms_dp, same_top;
    double kld_max;
} ppl_report;

static ppl_report summarize(const ppl_sums *s) {
    ppl_report r;
    memset(&r, 0, sizeof r);
    estimate log_ppl = mean_with_error(s->nll, s->nll2, s->count);
    r.ppl.value = exp(log_ppl.value);
    r.ppl.error = r.ppl.value * log_ppl.error; /* d exp(x) = exp(x) dx */
    estimate log_base = mean_with_error(s->nll_base, s->nll_base2, s->count);
    r.ppl_base.value = exp(log_base.value);
    r.ppl_base.error = r.ppl_base.value * log_base.error;
    /* The two runs score the same tokens, so their errors are correlated. */
    double cov = r.ppl.value * r.ppl_base.value * mean_covariance(s->nll, s->nll_base, s->nll_cross, s->count);
    double var = r.ppl.error * r.ppl.error + r.ppl_base.error * r.ppl_base.error - 2 * cov;
    r.delta_ppl.value = r.ppl.value - r.ppl_base.value;
    r.delta_ppl.error = var > 0 ? sqrt(var) : 0;
    r.kld = mean_with_error(s->kld, s->kld2, s->count);
    r.kld_max = s->kld_max;
    estimate ms_dp = mean_with_error(s->dp2, s->dp4, s->count);
    r.rms_dp.value = sqrt(ms_dp.value);
    r.rms_dp.error = r.rms_dp.value > 0 ? 0.5 / r.rms_dp.value * ms_dp.error : 0; /* d sqrt(x) = dx / 2sqrt(x) */
    if (s->count > 0) {
        double p = (double)s->same_top / (double)s->count;
        r.same_top.value = p;
        r.same_top.error = s->count > 1 ? sqrt(p * (1 - p) / (double)(s->count - 1)) : 0;
    }
    return r;
}

/* ------------------------------------------------------------------------ */
/* One row of logits                                                        */
/* ------------------------------------------------------------------------ */

/* log_probs[n_vocab] = log-softmax of logits[n_vocab], in double; returns the
 * arg-max (first on ties). */
static int32_t log_softmax(const float *logits, int32_t n_vocab, double *log_probs) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    double max = logits[best], sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    double log_norm = max + log(sum);
    for (int32_t i = 0; i < n_vocab; i++) log_probs[i] = (double)logits[i] - log_norm;
    return best;
}

/* ------------------------------------------------------------------------ */
/* The base file                                                            */
/* ------------------------------------------------------------------------ */

typedef struct kl_header {
    uint32_t n_vocab, n_ctx, n_chunk, first, add_bos, top_k;
    uint64_t vocab_hash;
} kl_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Fingerprint of the vocabulary: every token's stored text, NUL-separated. */
static uint64_t vocab_fingerprint(const ef_model *m) {
    uint64_t h = FNV_OFFSET;
    int32_t n = ef_model_n_vocab(m);
    for (int32_t i = 0; i < n; i++) {
        const char *t = ef_token_text(m, i);
        if (!t) t = "";
        h = fnv1a(h, t, strlen(t) + 1);
    }
    return h;
}

static uint64_t rows_per_chunk(const kl_header *h) { return (uint64_t)(h->n_ctx - 1 - h->first); }
static uint64_t row_bytes(const kl_header *h) { return h->top_k ? 8 + 8ull * h->top_k : 4ull * h->n_vocab; }

static uint64_t kl_file_size(const kl_header *h) {
    return KL_HEADER_BYTES + 4ull * h->n_chunk * h->n_ctx + (uint64_t)h->n_chunk * rows_per_chunk(h) * row_bytes(h) + 8;
}

/* ---- rows of the base file ---- */

static void put_f32(unsigned char *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_le(p, u, 4);
}
static float get_f32(const unsigned char *p) {
    uint32_t u = (uint32_t)get_le(p, 4);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* Whether token a ranks below token b (lower log-prob; ties: higher id). */
static int ranks_below(const double *lp, int32_t a, int32_t b) { return lp[a] < lp[b] || (lp[a] == lp[b] && a > b); }

static void sift_down(const double *lp, int32_t *heap, int32_t n, int32_t i) {
    for (;;) {
        int32_t low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_below(lp, heap[l], heap[low])) low = l;
        if (r < n && ranks_below(lp, heap[r], heap[low])) low = r;
        if (low == i) return;
        int32_t t = heap[i];
        heap[i] = heap[low];
        heap[low] = t;
        i = low;
    }
}

/* ids[k]: the k most likely tokens, most likely first, via a min-heap of
 * the best k seen so far (O(n_vocab log k)). */
static void top_k_ids(const double *lp, int32_t n_vocab, int32_t k, int32_t *ids) {
    int32_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (n < k) {
            ids[n++] = i;
            if (n == k)
                for (int32_t j = k / 2 - 1; j >= 0; j--) sift_down(lp, ids, k, j);
        } else if (ranks_below(lp, ids[0], i)) {
            ids[0] = i;
            sift_down(lp, ids, k, 0);
        }
    }
    /* heap sort: the weakest goes last, leaving the best first */
    for (int32_t end = n - 1; end > 0; end--) {
        int32_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        sift_down(lp, ids, end, 0);
    }
}

/* Scratch for encoding and comparing rows. */
typedef struct row_scratch {
    int32_t *ids;        /* [top_k] */
    unsigned char *mark; /* [n_vocab] 1 = in the base's top-K (cleared after use) */
} row_scratch;

/* Encodes the base's row (log_probs[n_vocab] in double) into out[row_bytes]. */
static void encode_row(const kl_header *h, const double *lp, int32_t target, row_scratch *x, unsigned char *out) {
    const int32_t n_vocab = (int32_t)h->n_vocab, k = (int32_t)h->top_k;
    if (k == 0) {
        for (int32_t i = 0; i < n_vocab; i++) put_f32(out + 4 * (size_t)i, (float)lp[i]);
        return;
    }
    top_k_ids(lp, n_vocab, k, x->ids);
    for (int32_t j = 0; j < k; j++) x->mark[x->ids[j]] = 1;
    double rest = 0; /* summed directly: 1 - sum(top) would cancel */
    for (int32_t i = 0; i < n_vocab; i++)
        if (!x->mark[i]) rest += exp(lp[i]);
    for (int32_t j = 0; j < k; j++) x->mark[x->ids[j]] = 0;
    put_f32(out, (float)lp[target]);
    put_f32(out + 4, rest > 0 ? (float)log(rest) : -INFINITY);
    for (int32_t j = 0; j < k; j++) {
        put_le(out + 8 + 8 * (size_t)j, (uint32_t)x->ids[j], 4);
        put_f32(out + 12 + 8 * (size_t)j, (float)lp[x->ids[j]]);
    }
}

/* Adds one scored row compared with the base's encoded row: lq[n_vocab] are
 * the current log-probs (double), top their arg-max. Returns 0 when the row
 * names a token outside the vocabulary (a corrupt file). */
static int add_compared_row(ppl_sums *s, const kl_header *h, const double *lq, int32_t top, const unsigned char *row,
                            int32_t target, row_scratch *x) {
    const int32_t n_vocab = (int32_t)h->n_vocab, k = (int32_t)h->top_k;
    double nll = -lq[target], nll_base, kld = 0;
    int32_t top_base = 0;
    if (k == 0) {
        float best = get_f32(row);
        for (int32_t i = 0; i < n_vocab; i++) {
            double lb = get_f32(row + 4 * (size_t)i);
            if (lb > best) {
                best = (float)lb;
                top_base = i;
            }
            kld += exp(lb) * (lb - lq[i]);
        }
        nll_base = -(double)get_f32(row + 4 * (size_t)target);
    } else {
        nll_base = -(double)get_f32(row);
        double log_rest = get_f32(row + 4);
        int ok = 1;
        for (int32_t j = 0; j < k; j++) {
            uint32_t id = (uint32_t)get_le(row + 8 + 8 * (size_t)j, 4);
            if (id >= (uint32_t)n_vocab) {
                ok = 0;
                break;
            }
            double lb = get_f32(row + 12 + 8 * (size_t)j);
            if (j == 0) top_base = (int32_t)id;
            kld += exp(lb) * (lb - lq[id]);
            x->mark[id] = 1;
        }
        /* the tokens outside the base's top-K count as one outcome */
        double q_rest = 0;
        for (int32_t i = 0; i < n_vocab; i++) {
            if (!x->mark[i]) q_rest += exp(lq[i]);
            x->mark[i] = 0;
        }
        if (!ok) return 0;
        if (isfinite(log_rest)) kld += exp(log_rest) * (log_rest - log(q_rest > DBL_MIN ? q_rest : DBL_MIN));
    }
    s->nll_base += nll_base;
    s->nll_base2 += nll_base * nll_base;
    s->nll_cross += nll * nll_base;
    s->kld += kld;
    s->kld2 += kld * kld;
    if (kld > s->kld_max) s->kld_max = kld;
    if (top == top_base) s->same_top++;
    double dp = exp(-nll) - exp(-nll_base);
    s->dp2 += dp * dp;
    s->dp4 += dp * dp * dp * dp;
    return 1;
}

/* Writing: header and tokens first, then one chunk of rows at a time, then
 * the checksum; into FILE.tmp, renamed when complete, so an interrupted run
 * never leaves a base file that a later run would trust. */
typedef struct kl_writer {
    FILE *f;
    char *tmp_path;
    uint64_t hash;
    int failed;
} kl_writer;

static void kl_write(kl_writer *w, const void *data, size_t n) {
    if (w->failed) return;
    w->hash = fnv1a(w->hash, data, n);
    if (fwrite(data, 1, n, w->f) != n) w->failed = 1;
}

static int kl_writer_open(kl_writer *w, const char *path, const kl_header *h, const int32_t *tokens) {
    memset(w, 0, sizeof *w);
    size_t len = strlen(path);
    w->tmp_path = malloc(len + 5);
    if (!w->tmp_path) return 0;
    memcpy(w->tmp_path, path, len);
    memcpy(w->tmp_path + len, ".tmp", 5);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        fprintf(stderr, "edgeformer: error: cannot create %s: %s\n", w->tmp_path, strerror(errno));
        free(w->tmp_path);
        w->tmp_path = NULL;
        return 0;
    }
    w->hash = FNV_OFFSET;
    unsigned char head[KL_HEADER_BYTES];
    memcpy(head, KL_MAGIC, 8);
    put_le(head + 8, KL_VERSION, 4);
    put_le(head + 12, h->n_vocab, 4);
    put_le(head + 16, h->n_ctx, 4);
    put_le(head + 20, h->n_chunk, 4);
    put_le(head + 24, h->first, 4);
    put_le(head + 28, h->add_bos, 4);
    put_le(head + 32, h->top_k, 4);
    put_le(head + 36, 0, 4);
    put_le(head + 40, h->vocab_hash, 8);
    kl_write(w, head, sizeof head);
    for (size_t i = 0; i < (size_t)h->n_chunk * h->n_ctx; i++) {
        unsigned char b[4];
        put_le(b, (uint32_t)tokens[i], 4);
        kl_write(w, b, 4);
    }
    return !w->failed;
}

/* rows: one chunk's encoded rows. */
static void kl_writer_rows(kl_writer *w, const unsigned char *rows, size_t n_bytes) { kl_write(w, rows, n_bytes); }

/* Finishes (commit = 1) or abandons the file; returns 1 on success. */
static int kl_writer_close(kl_writer *w, const char *path, int commit) {
    if (!w->f) return 0;
    if (commit) {
        unsigned char b[8];
        put_le(b, w->hash, 8);
        if (fwrite(b, 1, 8, w->f) != 8) w->failed = 1;
    }
    if (fclose(w->f) != 0) w->failed = 1;
    w->f = NULL;
    int ok = commit && !w->failed && rename(w->tmp_path, path) == 0;
    if (!ok) {
        if (commit) fprintf(stderr, "edgeformer: error: cannot write the base file %s\n", path);
        remove(w->tmp_path);
    }
    free(w->tmp_path);
    w->tmp_path = NULL;
    return ok;
}

/* Reading: checks the header, the exact size and the checksum before
 * anything is computed, and that the base scored the very same tokens with
 * the same vocabulary. Leaves the file positioned at the first row. */
typedef struct kl_reader {
    FILE *f;
    kl_header h;
} kl_reader;

static int kl_refuse(kl_reader *r, const char *path, const char *why) {
    fprintf(stderr, "edgeformer: error: base file %s: %s\n", path, why);
    if (r->f) fclose(r->f);
    r->f = NULL;
    return 0;
}

static int kl_reader_open(kl_reader *r, const char *path, const kl_header *want, const int32_t *tokens) {
    memset(r, 0, sizeof *r);
    r->f = fopen(path, "rb");
    if (!r->f) {
        fprintf(stderr, "edgeformer: error: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    unsigned char head[KL_HEADER_BYTES];
    if (fread(head, 1, sizeof head, r->f) != sizeof head) return kl_refuse(r, path, "truncated header");
    if (memcmp(head, KL_MAGIC, 8) != 0) return kl_refuse(r, path, "not a KL base file (bad magic)");
    uint32_t version = (uint32_t)get_le(head + 8, 4);
    if (version != KL_VERSION) {
        char why[96];
        snprintf(why, sizeof why, "format version %u, this build reads version %u", (unsigned)version, KL_VERSION);
        return kl_refuse(r, path, why);
    }
    kl_header *h = &r->h;
    h->n_vocab = (uint32_t)get_le(head + 12, 4);
    h->n_ctx = (uint32_t)get_le(head + 16, 4);
    h->n_chunk = (uint32_t)get_le(head + 20, 4);
    h->first = (uint32_t)get_le(head + 24, 4);
    h->add_bos = (uint32_t)get_le(head + 28, 4);
    h->top_k = (uint32_t)get_le(head + 32, 4);
    h->vocab_hash = get_le(head + 40, 8);
    char why[256];
    if (h->n_vocab != want->n_vocab || h->vocab_hash != want->vocab_hash) {
        snprintf(why, sizeof why, "made with another vocabulary (%u tokens, fingerprint %016llx; this model: %u, %016llx)",
                 (unsigned)h->n_vocab, (unsigned long long)h->vocab_hash, (unsigned)want->n_vocab,
                 (unsigned long long)want->vocab_hash);
        return kl_refuse(r, path, why);
    }
    if (h->n_ctx != want->n_ctx || h->first != want->first) {
        snprintf(why, sizeof why, "made with --ctx %u, this run uses --ctx %u", (unsigned)h->n_ctx, (unsigned)want->n_ctx);
        return kl_refuse(r, path, why);
    }
    if (h->n_chunk != want->n_chunk) {
        snprintf(why, sizeof why, "holds %u chunk(s), this run evaluates %u (check the text and --chunks)",
                 (unsigned)h->n_chunk, (unsigned)want->n_chunk);
        return kl_refuse(r, path, why);
    }
    if (h->add_bos != want->add_bos) return kl_refuse(r, path, "made by a model that differs in adding BOS");
    if (h->top_k >= h->n_vocab) return kl_refuse(r, path, "corrupt header (top_k)");
    /* Exact size, then a checksum pass over the whole file. */
    if (fseek(r->f, 0, SEEK_END) != 0) return kl_refuse(r, path, "cannot seek");
    long size = ftell(r->f);
    if (size < 0 || (uint64_t)size != kl_file_size(h)) {
        snprintf(why, sizeof why, "is %ld bytes, its header implies %llu (truncated or corrupt)", size,
                 (unsigned long long)kl_file_size(h));
        return kl_refuse(r, path, why);
    }
    rewind(r->f);
    uint64_t hash = FNV_OFFSET, left = (uint64_t)size - 8;
    unsigned char buf[1 << 16];
    while (left > 0) {
        size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
        if (fread(buf, 1, n, r->f) != n) return kl_refuse(r, path, "read error");
        hash = fnv1a(hash, buf, n);
        left -= n;
    }
    unsigned char tail[8];
    if (fread(tail, 1, 8, r->f) != 8 || get_le(tail, 8) != hash) return kl_refuse(r, path, "checksum mismatch (corrupt)");
    /* The tokens. */
    if (fseek(r->f, KL_HEADER_BYTES, SEEK_SET) != 0) return kl_refuse(r, path, "cannot seek");
    for (size_t i = 0; i < (size_t)h->n_chunk * h->n_ctx; i++) {
        unsigned char b[4];
        if (fread(b, 1, 4, r->f) != 4) return kl_refuse(r, path, "read error");
        int32_t t = (int32_t)(uint32_t)get_le(b, 4);
        if (t != tokens[i]) {
            snprintf(why, sizeof why, "made from other tokens (token %zu is %d there, %d here): a different text?",
                     i, (int)t, (int)tokens[i]);
            return kl_refuse(r, path, why);
        }
    }
    return 1;
}

static int kl_reader_rows(kl_reader *r, unsigned char *rows, size_t n_bytes) {
    return fread(rows, 1, n_bytes, r->f) == n_bytes;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */
/* ------------------------------------------------------------------------ */

static char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "edgeformer: error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
        } else {
            buf = bigger;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "edgeformer: error: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* All tokens of the text: BOS where the model adds it, no special parsing. */
static int32_t *tokenize_text(const ef_model *m, const char *text, size_t len, size_t *n) {
    ef_status st = ef_tokenize(m, text, len, EF_TOKENIZE_ADD_SPECIAL, NULL, 0, n);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) {
        cli_fail("tokenize", st);
        return NULL;
    }
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    st = ids ? ef_tokenize(m, text, len, EF_TOKENIZE_ADD_SPECIAL, ids, *n, n) : EF_ERR_NO_MEMORY;
    if (st != EF_OK) {
        cli_fail("tokenize", st);
        free(ids);
        return NULL;
    }
    return ids;
}

/* Whether the model prepends BOS: tokenizing "" with specials added. */
static int model_adds_bos(const ef_model *m) {
    int32_t id;
    size_t n = 0;
    ef_status st = ef_tokenize(m, "", 0, EF_TOKENIZE_ADD_SPECIAL, &id, 1, &n);
    return st == EF_OK && n == 1 && id == ef_token_bos(m);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct ppl_run {
    int32_t n_ctx, n_chunk, first, add_bos;
    size_t n_tokens;
    const char *kl_path;
    int kl_mode; /* 0 none, 1 saved, 2 compared */
    int32_t kl_top_k; /* 0: full rows */
    double *chunk_ppl; /* [n_chunk] running PPL after each chunk */
    double seconds;
} ppl_run;

static void add_estimate(cJSON *o, const char *name, estimate e) {
    char key[64];
    cJSON_AddNumberToObject(o, name, e.value);
    snprintf(key, sizeof key, "%s_error", name);
    cJSON_AddNumberToObject(o, key, e.error);
}

static void print_json(const ppl_run *run, const ppl_sums *s, const ppl_report *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_ctx", run->n_ctx);
    cJSON_AddNumberToObject(o, "n_chunks", run->n_chunk);
    cJSON_AddNumberToObject(o, "n_tokens", (double)run->n_tokens);
    cJSON_AddNumberToObject(o, "n_scored", (double)s->count);
    cJSON_AddBoolToObject(o, "add_bos", run->add_bos);
    add_estimate(o, "ppl", r->ppl);
    cJSON_AddNumberToObject(o, "nll_mean", s->count ? s->nll / (double)s->count : 0);
    cJSON *chunks = cJSON_AddArrayToObject(o, "chunk_ppl");
    for (int32_t i = 0; i < run->n_chunk; i++) cJSON_AddItemToArray(chunks, cJSON_CreateNumber(run->chunk_ppl[i]));
    cJSON_AddNumberToObject(o, "seconds", run->seconds);
    if (run->kl_mode) {
        cJSON *k = cJSON_AddObjectToObject(o, "kl_base");
        cJSON_AddStringToObject(k, "path", run->kl_path);
        cJSON_AddStringToObject(k, "mode", run->kl_mode == 1 ? "saved" : "compared");
        cJSON_AddNumberToObject(k, "top_k", run->kl_top_k);
        if (run->kl_mode == 2) {
            add_estimate(k, "ppl_base", r->ppl_base);
            add_estimate(k, "delta_ppl", r->delta_ppl);
            add_estimate(k, "kld_mean", r->kld);
            cJSON_AddNumberToObject(k, "kld_max", r->kld_max);
            add_estimate(k, "rms_dp", r->rms_dp);
            add_estimate(k, "same_top", r->same_top);
        }
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text) puts(text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static void print_text(const ppl_run *run, const ppl_sums *s, const ppl_report *r) {
    for (int32_t i = 0; i < run->n_chunk; i++) printf("[%d]%.4f,", (int)(i + 1), run->chunk_ppl[i]);
    printf("\n");
    printf("%d chunks of %d tokens, %zu tokens scored\n", (int)run->n_chunk, (int)run->n_ctx, s->count);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl.value, r->ppl.error);
    if (run->kl_mode == 1)
        printf("base log-probabilities saved to %s (%s)\n", run->kl_path, run->kl_top_k ? "top-K rows" : "full rows");
    if (run->kl_mode == 2 && run->kl_top_k)
        printf("(the base kept the top %d tokens per row: the KLD below is a lower bound)\n", (int)run->kl_top_k);
    if (run->kl_mode == 2) {
        printf("Mean PPL(base)          : %10.6f ± %10.6f\n", r->ppl_base.value, r->ppl_base.error);
        printf("Mean PPL(Q) - PPL(base) : %10.6f ± %10.6f\n", r->delta_ppl.value, r->delta_ppl.error);
        printf("Mean KLD(base || Q)     : %10.6f ± %10.6f\n", r->kld.value, r->kld.error);
        printf("Maximum KLD             : %10.6f\n", r->kld_max);
        printf("RMS Δp                  : %6.3f ± %5.3f %%\n", 100 * r->rms_dp.value, 100 * r->rms_dp.error);
        printf("Same top token          : %6.3f ± %5.3f %%\n", 100 * r->same_top.value, 100 * r->same_top.error);
    }
}

/* ------------------------------------------------------------------------ */
/* The command                                                              */
/* ------------------------------------------------------------------------ */

typedef struct ppl_options {
    const char *model_path, *text_path, *kl_path, *quant;
    int64_t n_ctx, n_chunks, threads, batch, kl_top_k;
    int json, no_mmap, verbose, progress;
    double sparsity; /* --sparsity: FFN activation sparsity in decode (evaluates token by token) */
    cli_backend_opts backend; /* --backend, --backend-opt */
    cli_kv_opts kv;           /* --kv-type K[,V], --kv-page, --kv-budget, ... (cli_kv.c) */
} ppl_options;

static int parse_options(int argc, char **argv, ppl_options *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->n_chunks = -1;
    o->batch = 512;
    o->progress = 1;
    o->kl_top_k = -1;
    o->kv.zstd_level = -1;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &o->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &o->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "-f", &o->text_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--file", &o->text_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--kl-base", &o->kl_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--quant", &o->quant)) ||
            (r = cli_opt_i64(argc, argv, &i, "--ctx", &o->n_ctx)) ||
            (r = cli_opt_i64(argc, argv, &i, "-c", &o->n_ctx)) ||
            (r = cli_opt_i64(argc, argv, &i, "--chunks", &o->n_chunks)) ||
            (r = cli_opt_i64(argc, argv, &i, "--threads", &o->threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "-t", &o->threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "--kl-top-k", &o->kl_top_k)) ||
            (r = cli_opt_i64(argc, argv, &i, "--batch", &o->batch)) ||
            (r = cli_opt_f64(argc, argv, &i, "--sparsity", &o->sparsity)) ||
            (r = cli_backend_arg(argc, argv, &i, &o->backend)) ||
            (r = cli_kv_arg(argc, argv, &i, &o->kv))) {
            if (r < 0) return cli_usage_error("perplexity: option %s needs a valid value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--no-mmap")) {
            o->no_mmap = 1;
        } else if (!strcmp(argv[i], "--no-progress")) {
            o->progress = 0;
        } else if (!strcmp(argv[i], "-v")) {
            o->verbose = 1;
        } else {
            return cli_usage_error("perplexity: unknown option '%s'", argv[i]);
        }
    }
    if (!o->model_path || !o->text_path) return cli_usage_error("perplexity: -m MODEL and -f TEXT are required");
    if (o->n_ctx < 4 || o->n_ctx > (1 << 20)) return cli_usage_error("perplexity: --ctx must be in 4..%d", 1 << 20);
    if (o->n_chunks == 0 || o->n_chunks < -1 || o->n_chunks > INT32_MAX)
        return cli_usage_error("perplexity: --chunks must be positive");
    if (o->kl_top_k < -1 || o->kl_top_k > INT32_MAX) return cli_usage_error("perplexity: --kl-top-k must be >= 0");
    if (o->batch < 1 || o->batch > INT32_MAX) return cli_usage_error("perplexity: --batch must be positive");
    if (o->threads < 0 || o->threads > 4096) return cli_usage_error("perplexity: --threads must be in 0..4096");
    return 0;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    cli_setup_logging(opt.verbose ? EF_LOG_INFO : EF_LOG_WARN);

    size_t text_len = 0;
    char *text = read_text_file(opt.text_path, &text_len);
    if (!text) return 1;
    ef_model *model = cli_load_model_quant(opt.model_path, (int32_t)opt.threads, opt.no_mmap, opt.quant);
    if (!model) {
        free(text);
        return 1;
    }

    rc = 1;
    ef_session_params *sp = NULL;
    ef_session *sess = NULL;
    int32_t *tokens = NULL, *chunk = NULL;
    double *log_probs = NULL;
    unsigned char *base_rows = NULL; /* [n_rows][row_bytes] one chunk of encoded base rows */
    row_scratch scratch = {NULL, NULL};
    kl_header kh;
    memset(&kh, 0, sizeof kh);
    kl_writer writer = {0};
    kl_reader reader = {0};
    ppl_run run;
    memset(&run, 0, sizeof run);
    ppl_sums sums;
    memset(&sums, 0, sizeof sums);

    const int32_t n_vocab = ef_model_n_vocab(model);
    run.n_ctx = (int32_t)opt.n_ctx;
    run.first = run.n_ctx / 2;
    run.add_bos = model_adds_bos(model);
    run.kl_path = opt.kl_path;
    const int32_t n_rows = run.n_ctx - 1 - run.first; /* scored rows per chunk */

    tokens = tokenize_text(model, text, text_len, &run.n_tokens);
    if (!tokens) goto done;
    if (run.n_tokens < 2 * (size_t)run.n_ctx) {
        fprintf(stderr, "edgeformer: error: the text has %zu tokens; perplexity with --ctx %d needs at least %d\n",
                run.n_tokens, (int)run.n_ctx, 2 * (int)run.n_ctx);
        goto done;
    }
    size_t max_chunks = run.n_tokens / (size_t)run.n_ctx;
    run.n_chunk = (int32_t)(opt.n_chunks > 0 && (size_t)opt.n_chunks < max_chunks ? (size_t)opt.n_chunks : max_chunks);

    chunk = malloc(sizeof(int32_t) * (size_t)run.n_ctx);                        /* [n_ctx] */
    log_probs = malloc(sizeof(double) * (size_t)n_vocab);                       /* [n_vocab] */
    run.chunk_ppl = malloc(sizeof(double) * (size_t)run.n_chunk);               /* [n_chunk] */
    if (!chunk || !log_probs || !run.chunk_ppl) {
        fprintf(stderr, "edgeformer: error: out of memory\n");
        goto done;
    }

    if (opt.kl_path) {
        int64_t top_k = opt.kl_top_k >= 0 ? opt.kl_top_k : (n_vocab <= KL_AUTO_FULL_MAX_VOCAB ? 0 : KL_AUTO_TOP_K);
        if (top_k >= n_vocab) top_k = 0; /* the top n_vocab are the full row */
        kl_header want = {(uint32_t)n_vocab, (uint32_t)run.n_ctx, (uint32_t)run.n_chunk, (uint32_t)run.first,
                          (uint32_t)run.add_bos, (uint32_t)top_k, vocab_fingerprint(model)};
        if (file_exists(opt.kl_path)) {
            run.kl_mode = 2;
            if (!kl_reader_open(&reader, opt.kl_path, &want, tokens)) goto done;
            kh = reader.h; /* its top_k decides the row layout */
        } else {
            run.kl_mode = 1;
            kh = want;
            if (!kl_writer_open(&writer, opt.kl_path, &kh, tokens)) goto done;
        }
        run.kl_top_k = (int32_t)kh.top_k;
        base_rows = malloc((size_t)n_rows * (size_t)row_bytes(&kh));
        scratch.ids = malloc(sizeof(int32_t) * (kh.top_k ? kh.top_k : 1)); /* [top_k] */
        scratch.mark = calloc((size_t)n_vocab, 1);                         /* [n_vocab] */
        if (!base_rows || !scratch.ids || !scratch.mark) {
            fprintf(stderr, "edgeformer: error: out of memory\n");
            goto done;
        }
    }

    ef_status st;
    if ((st = ef_session_params_create(&sp)) != EF_OK || (st = ef_session_params_set_n_ctx(sp, run.n_ctx)) != EF_OK ||
        (st = ef_session_params_set_threads(sp, (int32_t)opt.threads)) != EF_OK ||
        /* sparse FFNs run only in decode: one token per forward call */
        (st = ef_session_params_set_n_batch(sp, opt.sparsity > 0 ? 1 : (int32_t)opt.batch)) != EF_OK ||
        (st = ef_session_params_set_sparsity(sp, (float)opt.sparsity)) != EF_OK ||
        (st = cli_backend_apply(&opt.backend, sp)) != EF_OK || (st = cli_kv_apply(&opt.kv, sp)) != EF_OK ||
        (st = ef_session_create(model, sp, &sess)) != EF_OK) {
        cli_fail("cannot create session", st);
        goto done;
    }

    cli_progress bar;
    cli_progress_start(&bar, "perplexity", run.n_chunk, opt.progress);
    cli_progress_update(&bar, 0, NULL);
    for (int32_t c = 0; c < run.n_chunk; c++) {
        const int32_t *src = tokens + (size_t)c * (size_t)run.n_ctx; /* [n_ctx] of the text */
        memcpy(chunk, src, sizeof(int32_t) * (size_t)run.n_ctx);
        if (run.add_bos) chunk[0] = ef_token_bos(model);
        if ((st = ef_session_reset(sess)) != EF_OK ||
            (st = ef_session_eval(sess, chunk, (size_t)run.n_ctx, EF_EVAL_ALL_LOGITS)) != EF_OK) {
            fprintf(stderr, "\nedgeformer: error: chunk %d: %s (%s)\n", (int)c + 1, ef_session_errmsg(sess),
                    ef_status_str(st));
            goto done;
        }
        const size_t chunk_bytes = (size_t)n_rows * (size_t)row_bytes(&kh);
        if (run.kl_mode == 2 && !kl_reader_rows(&reader, base_rows, chunk_bytes)) {
            fprintf(stderr, "\nedgeformer: error: cannot read chunk %d of %s\n", (int)c + 1, opt.kl_path);
            goto done;
        }
        for (int32_t j = 0; j < n_rows; j++) {
            int32_t row = run.first + j;
            const float *logits; /* [n_vocab] */
            if ((st = ef_session_logits(sess, row, &logits)) != EF_OK) {
                fprintf(stderr, "\nedgeformer: error: logits: %s\n", ef_session_errmsg(sess));
                goto done;
            }
            int32_t top = log_softmax(logits, n_vocab, log_probs);
            int32_t target = src[row + 1];
            double nll = -log_probs[target];
            sums.count++;
            sums.nll += nll;
            sums.nll2 += nll * nll;
            unsigned char *base_row = base_rows ? base_rows + (size_t)j * (size_t)row_bytes(&kh) : NULL;
            if (run.kl_mode == 1) {
                encode_row(&kh, log_probs, target, &scratch, base_row);
            } else if (run.kl_mode == 2 && !add_compared_row(&sums, &kh, log_probs, top, base_row, target, &scratch)) {
                fprintf(stderr, "\nedgeformer: error: base file %s: chunk %d names a token outside the vocabulary\n",
                        opt.kl_path, (int)c + 1);
                goto done;
            }
        }
        if (run.kl_mode == 1) kl_writer_rows(&writer, base_rows, chunk_bytes);
        run.chunk_ppl[c] = exp(sums.nll / (double)sums.count);
        char extra[64];
        snprintf(extra, sizeof extra, "PPL %.4f", run.chunk_ppl[c]);
        cli_progress_update(&bar, c + 1, extra);
    }
    run.seconds = cli_now() - bar.t_start;
    cli_progress_finish(&bar);
    if (run.kl_mode == 1 && !kl_writer_close(&writer, opt.kl_path, 1)) goto done;

    ppl_report report = summarize(&sums);
    if (opt.json) print_json(&run, &sums, &report);
    else print_text(&run, &sums, &report);
    rc = 0;
done:
    if (writer.f) kl_writer_close(&writer, opt.kl_path, 0);
    if (reader.f) fclose(reader.f);
    free(base_rows);
    free(scratch.ids);
    free(scratch.mark);
    free(run.chunk_ppl);
    free(log_probs);
    free(chunk);
    free(tokens);
    free(text);
    ef_session_free(sess);
    ef_session_params_free(sp);
    ef_model_free(model);
    return rc;
}
