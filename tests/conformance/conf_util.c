/* Random data, error measures, the result table and tensors in a backend's
 * buffers for ef-conformance. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "conformance.h"
#include "quant/types.h"

static uint64_t next(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

float conf_uniform(uint64_t *state) { return (float)((double)(next(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

float conf_normal(uint64_t *state) {
    /* sum of four uniforms: close enough to normal for test data, variance 4/3 */
    return (conf_uniform(state) + conf_uniform(state) + conf_uniform(state) + conf_uniform(state)) * 0.866f;
}

double conf_nmse(const float *got, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && isfinite(ref[i])) return INFINITY;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (den == 0) return num;
    return num / den;
}

/* The summary table: one row per (op, type) with its worst case. */
#define SUMMARY_MAX 256
static struct {
    char op[16], type[16];
    int cases, failed;
    double worst, threshold;
} g_rows[SUMMARY_MAX];
static int g_n_rows;

static void summarize(const char *op, const char *type, double nmse, double threshold, int ok) {
    int i = 0;
    while (i < g_n_rows && (strcmp(g_rows[i].op, op) || strcmp(g_rows[i].type, type))) i++;
    if (i == g_n_rows) {
        if (g_n_rows == SUMMARY_MAX) return;
        g_n_rows++;
        memset(&g_rows[i], 0, sizeof g_rows[i]);
        snprintf(g_rows[i].op, sizeof g_rows[i].op, "%s", op);
        snprintf(g_rows[i].type, sizeof g_rows[i].type, "%s", type);
    }
    g_rows[i].cases++;
    g_rows[i].failed += !ok;
    if (nmse > g_rows[i].worst || g_rows[i].cases == 1) g_rows[i].worst = nmse;
    g_rows[i].threshold = threshold;
}

void conf_report_header(void) {
    printf("%-11s %-6s %-44s %-10s %-10s %s\n", "op", "type", "case", "NMSE", "threshold", "result");
}

void conf_report(conf_run *r, const char *op, const char *type, const char *shape, double nmse, double threshold,
                 const char *error) {
    const int ok = !error && nmse <= threshold;
    if (ok)
        r->n_pass++;
    else
        r->n_fail++;
    summarize(op, type, nmse, threshold, ok);
    if (ok && !r->verbose) return; /* failures always, passes with -v */
    printf("%-11s %-6s %-44s %-10.3g %-10.3g %s%s%s\n", op, type, shape, nmse, threshold, ok ? "ok" : "FAIL",
           error ? ": " : "", error ? error : "");
}

void conf_print_summary(void) {
    printf("\n%-11s %-6s %6s  %-12s %-10s %s\n", "op", "type", "cases", "worst NMSE", "threshold", "result");
    for (int i = 0; i < g_n_rows; i++)
        printf("%-11s %-6s %6d  %-12.3g %-10.3g %s\n", g_rows[i].op, g_rows[i].type, g_rows[i].cases, g_rows[i].worst,
               g_rows[i].threshold, g_rows[i].failed ? "FAIL" : "ok");
}

uint64_t conf_bytes(uint32_t type, int64_t n) { return ef_type_row_size(type, n); }

int32_t conf_tensor(conf_backend *c, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                    const void *data, ef_be_tensor *out) {
    return conf_tensor_at(c, type, ne0, ne1, ne2, ne3, data, 0, out);
}

int32_t conf_tensor_at(conf_backend *c, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                       const void *data, uint64_t offset, ef_be_tensor *out) {
    memset(out, 0, sizeof *out);
    out->type = type;
    out->offset = offset;
    out->n_dims = ne3 > 1 ? 4 : ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    out->ne[0] = ne0, out->ne[1] = ne1, out->ne[2] = ne2, out->ne[3] = ne3;
    uint64_t bytes = ef_type_row_size(type, ne0) * (uint64_t)(ne1 * ne2 * ne3);
    const ef_be_iface *f = &c->b->iface;
    int32_t st = f->buffer_alloc(c->ctx, offset + bytes + offset, 0, &out->buf); /* padded on both sides */
    if (st == 0 && data) st = f->buffer_upload(c->ctx, out->buf, offset, data, bytes);
    if (st != 0 && out->buf) {
        f->buffer_free(c->ctx, out->buf);
        out->buf = NULL;
    }
    return st;
}

int32_t conf_fetch(conf_backend *c, const ef_be_tensor *t, void *dst) {
    uint64_t bytes = ef_type_row_size(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    const ef_be_iface *f = &c->b->iface;
    int32_t st = f->synchronize ? f->synchronize(c->ctx) : 0;
    if (st == 0) st = f->buffer_download(c->ctx, t->buf, t->offset, dst, bytes);
    return st;
}

void conf_release(conf_backend *c, ef_be_tensor *t) {
    if (t->buf) c->b->iface.buffer_free(c->ctx, t->buf);
    t->buf = NULL;
}

void *conf_random_weights(uint32_t type, int64_t cols, int64_t rows, uint64_t *rng) {
    uint64_t row_bytes = ef_type_row_size(type, cols);
    if (!row_bytes) return NULL;
    unsigned char *out = ef_malloc((size_t)(row_bytes * (uint64_t)rows)); /* [rows][row_bytes] */
    float *row = ef_malloc((size_t)cols * sizeof(float));                /* [cols] */
    if (!out || !row) {
        ef_free(out);
        ef_free(row);
        return NULL;
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < cols; k++) row[k] = conf_normal(rng) * 0.5f;
        if (ef_quantize_row(type, row, out + r * row_bytes, cols) != EF_OK) {
            ef_free(out);
            ef_free(row);
            return NULL;
        }
    }
    ef_free(row);
    return out;
}
