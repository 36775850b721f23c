/* The device-resident forward pass (lib/exec/forward_device.c) against cpu
 * sessions on the same tiny models (llama GQA F32/F16/Q8_0 weights, qwen2
 * with q/k/v biases and NEOX RoPE), made with `edgeformer make-model`'s code:
 * the prompt in one call and in chunks, teacher-forced decoding, then
 * rewind, a middle removal (context shift), a fork and a snapshot restore
 * applied to both sessions, each followed by decoding that must give the
 * reference's logits; a device K/V budget smaller than the context (given,
 * or the KV cache's hot-tier budget); on a cache shared with a cpu session,
 * every sequence operation followed by a token whose logits must match the
 * cpu session's (the device copy follows the sequence epochs of lib/kv);
 * the epochs' rules; and plugins or options the path cannot serve (logged,
 * old path, same logits).
 *
 * argv[1] names the backend: "cpudev" (default) is the built-in cpu
 * backend's op table bound as if it were a plugin, so the path runs here
 * without a driver; "opencl" runs through the OpenCL plugin (PoCL in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/session.h"
#include "backend/backend_internal.h"
#include "base/platform.h"
#include "cli.h"
#include "edgeformer/edgeformer.h"
#include "exec/exec_backend.h"
#include "exec/forward_device.h"
#include "kv/kv_cache.h"

#define N_CTX 64
#define N_PROMPT 12

static const char *g_backend = "cpudev";

/* ---- the cpu op table as a plugin ---------------------------------------- */

static struct ef_backend g_cpudev, g_cpudev_norope, g_cpudev_flaky;
static int32_t (*g_cpu_supports)(ef_be_ctx *, uint32_t, uint32_t);
static int32_t (*g_cpu_flash)(ef_be_ctx *, const ef_be_attn *, const ef_be_tensor *, const ef_be_tensor *,
                              const ef_be_tensor *, const ef_be_tensor *);
static int32_t g_flash_calls_left; /* the flaky table's flash_attn fails once this reaches 0 */

static int32_t supports_without_rope(ef_be_ctx *c, uint32_t op, uint32_t type) {
    return op == EF_BE_OP_ROPE ? 0 : g_cpu_supports(c, op, type);
}

static int32_t flaky_flash(ef_be_ctx *c, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                           const ef_be_tensor *v, const ef_be_tensor *out) {
    if (g_flash_calls_left-- <= 0) return EF_ERR_BACKEND;
    return g_cpu_flash(c, a, q, k, v, out);
}

static void make_cpudev(void) {
    if (g_cpudev.available) return;
    snprintf(g_cpudev.name, sizeof g_cpudev.name, "cpudev");
    snprintf(g_cpudev.device, sizeof g_cpudev.device, "the cpu op table as a plugin");
    g_cpudev.available = 1;
    ef_backend_cpu_iface(&g_cpudev.iface);
    g_cpudev_norope = g_cpudev;
    snprintf(g_cpudev_norope.name, sizeof g_cpudev_norope.name, "cpudev-norope");
    g_cpu_supports = g_cpudev.iface.supports;
    g_cpudev_norope.iface.supports = supports_without_rope;
    g_cpudev_flaky = g_cpudev;
    snprintf(g_cpudev_flaky.name, sizeof g_cpudev_flaky.name, "cpudev-flaky");
    g_cpu_flash = g_cpudev.iface.flash_attn;
    g_cpudev_flaky.iface.flash_attn = flaky_flash;
}

/* ---- sessions ------------------------------------------------------------- */

typedef struct sess_opts {
    const char *backend;   /* "cpu", "cpudev", "cpudev-norope", "opencl" */
    const char *kv_type;   /* "f16" / "f32" */
    int32_t n_batch;       /* 0: default */
    const char *budget;    /* kv_device_budget or NULL */
    const char *resident;  /* device_resident or NULL */
    uint64_t hot_budget;   /* the KV cache's hot-tier budget (0: none) */
    ef_kv_cache *shared;   /* a cache to attach instead of the session's own, or NULL */
} sess_opts;

static ef_session *open_session(ef_model *m, const sess_opts *o) {
    ef_session_params *p = NULL;
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, N_CTX), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 2), EF_OK);
    if (o->n_batch) assert_int_equal(ef_session_params_set_n_batch(p, o->n_batch), EF_OK);
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kvp, 2), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kvp, o->kv_type, o->kv_type), EF_OK);
    if (o->hot_budget) assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_HOT, o->hot_budget), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(p, kvp), EF_OK);
    ef_kv_params_free(kvp);
    if (o->shared) assert_int_equal(ef_session_params_set_kv_cache(p, o->shared), EF_OK);
    const int plugin_here = !strncmp(o->backend, "cpudev", 6);
    ef_backend_choice choice;
    memset(&choice, 0, sizeof choice);
    const char *keys[2] = {"kv_device_budget", "device_resident"}, *values[2] = {o->budget, o->resident};
    for (int i = 0; i < 2; i++) {
        if (!values[i]) continue;
        if (!plugin_here) assert_int_equal(ef_session_params_set_backend_option(p, keys[i], values[i]), EF_OK);
        snprintf(choice.keys[choice.n_opts], sizeof choice.keys[0], "%s", keys[i]);
        snprintf(choice.values[choice.n_opts], sizeof choice.values[0], "%s", values[i]);
        choice.n_opts++;
    }
    assert_int_equal(ef_session_params_set_backend(p, plugin_here ? "cpu" : o->backend), EF_OK);
    ef_session *s = NULL;
    ef_status st = ef_session_create(m, p, &s);
    if (st) fail_msg("session on %s: %s", o->backend, ef_last_error());
    ef_session_params_free(p);
    if (plugin_here) { /* bind the cpu table as a plugin, as ef_session_attach_backend does */
        make_cpudev();
        const struct ef_backend *b = !strcmp(o->backend, "cpudev")          ? &g_cpudev
                                     : !strcmp(o->backend, "cpudev-norope") ? &g_cpudev_norope
                                                                            : &g_cpudev_flaky;
        ef_exec_backend *xb = NULL;
        assert_int_equal(ef_exec_backend_open(m, b, &choice, 2, &xb), EF_OK);
        s->xbackend = xb;
        s->backend = b;
        ef_exec_attach_backend(s->exec, xb);
    }
    return s;
}

static ef_fwd_device_stats stats(ef_session *s) {
    ef_fwd_device_stats st;
    ef_fwd_device_stats_of(s->xbackend, &st);
    return st;
}

/* ---- comparisons ---------------------------------------------------------- */

static double nmse(const float *got, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

typedef struct pair {
    ef_session *ref, *dev;
    int32_t n_vocab;
    double thr;
    const char *what;
} pair;

static void same_row(pair *p, int32_t ref_row, int32_t dev_row, const char *when) {
    const float *a = NULL, *b = NULL;
    assert_int_equal(ef_session_logits(p->ref, ref_row, &a), EF_OK);
    assert_int_equal(ef_session_logits(p->dev, dev_row, &b), EF_OK);
    const double e = nmse(b, a, p->n_vocab);
    if (!(e <= p->thr)) fail_msg("%s, %s: logits NMSE %.3g above %.3g", p->what, when, e, p->thr);
}

static int32_t argmax_of(ef_session *s) {
    const float *row = NULL;
    assert_int_equal(ef_session_logits(s, -1, &row), EF_OK);
    int32_t best = 0;
    for (int32_t v = 1; v < ef_model_n_vocab(s->model); v++)
        if (row[v] > row[best]) best = v;
    return best;
}

/* The greedy tokens of the last rows agree, unless the reference's margin
 * between the two is within the two logits' measured differences (a near tie). */
static void same_greedy(pair *p, const char *when) {
    const int32_t want = argmax_of(p->ref), got = argmax_of(p->dev);
    if (want == got) return;
    const float *a = NULL, *b = NULL;
    assert_int_equal(ef_session_logits(p->ref, -1, &a), EF_OK);
    assert_int_equal(ef_session_logits(p->dev, -1, &b), EF_OK);
    const double margin = (double)a[want] - a[got];
    const double moved = fabs((double)b[want] - a[want]) + fabs((double)b[got] - a[got]);
    if (margin > moved) fail_msg("%s, %s: greedy token %d, the cpu chose %d", p->what, when, (int)got, (int)want);
}

static void eval_both(pair *p, const int32_t *toks, int32_t n, uint32_t flags) {
    if (ef_session_eval(p->ref, toks, (size_t)n, flags)) fail_msg("cpu eval: %s", ef_session_errmsg(p->ref));
    if (ef_session_eval(p->dev, toks, (size_t)n, flags)) fail_msg("%s eval: %s", g_backend, ef_session_errmsg(p->dev));
}

/* n steps fed to both: `first` (after a sequence operation, which leaves
 * no logits), then the reference's greedy tokens (teacher forcing); the
 * logits of every step agree. */
static void decode_from(pair *p, int32_t n, const char *when, int32_t first) {
    char label[160];
    for (int32_t i = 0; i < n; i++) {
        int32_t t = i == 0 && first >= 0 ? first : argmax_of(p->ref);
        eval_both(p, &t, 1, 0);
        snprintf(label, sizeof label, "%s, decode step %d", when, (int)i);
        same_row(p, -1, -1, label);
        same_greedy(p, label);
    }
}

static void decode_both(pair *p, int32_t n, const char *when) { decode_from(p, n, when, -1); }

static void prompt_tokens(int32_t *prompt, int32_t n, int32_t n_vocab, uint32_t salt) {
    for (int32_t i = 0; i < n; i++) prompt[i] = (int32_t)((salt * 7919u + (uint32_t)i * 104729u) % (uint32_t)n_vocab);
}

static void kv_both(pair *p, ef_status (*op)(ef_kv_cache *, int32_t, int32_t, int32_t), int32_t seq, int32_t a,
                    int32_t b) {
    if (op(ef_session_kv_cache(p->ref), seq, a, b)) fail_msg("cpu cache: %s", ef_last_error());
    if (op(ef_session_kv_cache(p->dev), seq, a, b)) fail_msg("device cache: %s", ef_last_error());
}

/* ---- models ----------------------------------------------------------------- */

typedef struct model_case {
    const char *label, *arch, *type, *kv_type;
    double thr;
} model_case;

static const model_case k_models[] = {
    {"llama-f32", "llama", "f32", "f32", 1e-6},
    {"llama-f16", "llama", "f16", "f16", 1e-4},
    {"llama-q8_0", "llama", "q8_0", "f16", 2e-3},
    {"qwen2-f32", "qwen2", "f32", "f16", 1e-4},
};

static ef_model *make_model(const model_case *mc) {
    char path[512];
    snprintf(path, sizeof path, "%s/device-forward-%lld-%s.gguf", EF_TEST_TMP, (long long)ef_process_id(), mc->label);
    char *argv[] = {"make-model", "--arch", (char *)mc->arch, "--preset", "tiny", "--seed", "7", "--type",
                    (char *)mc->type, "-o", path};
    assert_int_equal(cmd_make_model((int)(sizeof argv / sizeof argv[0]), argv), 0);
    ef_model *m = NULL;
    if (ef_model_load(path, NULL, &m)) fail_msg("load %s: %s", path, ef_last_error());
    ef_file_remove(path);
    return m;
}

/* Every sequence operation between decoding runs, on one model. */
static void check_model(const model_case *mc) {
    ef_model *m = make_model(mc);
    const int32_t n_vocab = ef_model_n_vocab(m);
    const sess_opts ro = {"cpu", mc->kv_type, 0, NULL, NULL, 0, NULL};
    const sess_opts dopt = {g_backend, mc->kv_type, 0, NULL, NULL, 0, NULL};
    pair p = {open_session(m, &ro), open_session(m, &dopt), n_vocab, mc->thr, mc->label};
    int32_t prompt[N_PROMPT];
    prompt_tokens(prompt, N_PROMPT, n_vocab, 3);

    /* the prompt in one call, every row */
    eval_both(&p, prompt, N_PROMPT, EF_EVAL_ALL_LOGITS);
    for (int32_t r = 0; r < N_PROMPT; r++) same_row(&p, r, r, "prompt");
    assert_int_equal(stats(p.dev).state, 1);
    assert_true(stats(p.dev).chunks >= 1);
    decode_both(&p, 5, "after the prompt");

    /* rewind (a suffix removal): the device rows below stay, nothing is uploaded */
    uint64_t uploads = stats(p.dev).resyncs;
    kv_both(&p, ef_kv_seq_remove, 0, 10, -1);
    decode_from(&p, 4, "after a rewind", prompt[4]);
    assert_int_equal(stats(p.dev).resyncs, uploads);

    /* a middle removal re-rotates later keys: the device rows from position
     * 2 on are uploaded again, those below stay */
    const uint64_t rows_before = stats(p.dev).rows_uploaded;
    kv_both(&p, ef_kv_seq_remove, 0, 2, 5);
    const int32_t len_after = ef_session_n_past(p.dev);
    decode_from(&p, 3, "after a middle removal", prompt[5]);
    assert_true(stats(p.dev).resyncs > uploads);
    assert_int_equal(stats(p.dev).rows_uploaded - rows_before, (uint64_t)(len_after - 2));

    /* a fork to sequence 1, decoding there, then back on 0 */
    assert_int_equal(ef_kv_seq_copy(ef_session_kv_cache(p.ref), 0, 1), EF_OK);
    assert_int_equal(ef_kv_seq_copy(ef_session_kv_cache(p.dev), 0, 1), EF_OK);
    assert_int_equal(ef_session_set_seq(p.ref, 1), EF_OK);
    assert_int_equal(ef_session_set_seq(p.dev, 1), EF_OK);
    decode_from(&p, 3, "on a fork", prompt[6]);
    assert_int_equal(ef_session_set_seq(p.ref, 0), EF_OK);
    assert_int_equal(ef_session_set_seq(p.dev, 0), EF_OK);
    int32_t t = prompt[1];
    eval_both(&p, &t, 1, 0);
    same_row(&p, -1, -1, "back on sequence 0");

    /* a snapshot of the reference restored into the device session: same
     * length as before the restore, other rows */
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(p.ref, 0, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    void *snap = malloc(need);
    assert_non_null(snap);
    assert_int_equal(ef_session_save_buffer(p.ref, 0, snap, need, &need), EF_OK);
    int32_t other[3];
    prompt_tokens(other, 3, n_vocab, 11);
    eval_both(&p, other, 3, 0); /* both move on... */
    assert_int_equal(ef_session_restore_buffer(p.ref, 0, snap, need), EF_OK); /* ...and come back */
    assert_int_equal(ef_session_restore_buffer(p.dev, 0, snap, need), EF_OK);
    free(snap);
    decode_from(&p, 3, "after a snapshot restore", prompt[7]);
    ef_session_free(p.dev);

    /* the prompt in chunks of 5 (n_batch) and in calls of 4 */
    const sess_opts chunked = {g_backend, mc->kv_type, 5, NULL, NULL, 0, NULL};
    p.dev = open_session(m, &chunked);
    ef_session_reset(p.ref);
    eval_both(&p, prompt, N_PROMPT, EF_EVAL_ALL_LOGITS);
    for (int32_t r = 0; r < N_PROMPT; r++) same_row(&p, r, r, "prompt in chunks of 5");
    assert_true(stats(p.dev).chunks >= 3);
    ef_session_reset(p.ref);
    ef_session_reset(p.dev);
    for (int32_t i = 0; i < N_PROMPT; i += 4) eval_both(&p, prompt + i, 4, 0);
    same_row(&p, -1, -1, "prompt in calls of 4");
    decode_both(&p, 3, "after a prompt in calls");
    ef_session_free(p.dev);
    ef_session_free(p.ref);
    ef_model_free(m);
}

static void test_llama_f32(void **state) {
    (void)state;
    check_model(&k_models[0]);
}
static void test_llama_f16(void **state) {
    (void)state;
    check_model(&k_models[1]);
}
static void test_llama_q8_0(void **state) {
    (void)state;
    check_model(&k_models[2]);
}
static void test_qwen2(void **state) {
    (void)state;
    check_model(&k_models[3]);
}

/* Bytes of `rows` device K and V rows of every layer (the device copy's type follows the pages here). */
static uint64_t device_rows_bytes(const ef_model *m, const model_case *mc, int32_t rows) {
    const ef_hparams *hp = &m->hp;
    const uint64_t elt = strcmp(mc->kv_type, "f32") ? 2u : 4u;
    return (uint64_t)rows * 2u * (uint64_t)hp->n_layer * (uint64_t)(hp->n_head_kv * hp->head_dim) * elt;
}

/* A device budget of 8 rows per layer, a context of 64: the prompt and
 * decode attend on the host, a rewind below 8 brings the device back. The
 * budget is kv_device_budget, or (via_hot_tier) the KV cache's hot-tier
 * budget, which is the default when kv_device_budget is not given. */
static void budget_case(const model_case *mc, int via_hot_tier) {
    ef_model *m = make_model(mc);
    char budget[32];
    snprintf(budget, sizeof budget, "%llu", (unsigned long long)device_rows_bytes(m, mc, 8));
    const sess_opts ro = {"cpu", mc->kv_type, 0, NULL, NULL, 0, NULL};
    const sess_opts dopt = {g_backend, mc->kv_type, 0, via_hot_tier ? NULL : budget, NULL,
                            via_hot_tier ? device_rows_bytes(m, mc, 8) : 0, NULL};
    pair p = {open_session(m, &ro), open_session(m, &dopt), ef_model_n_vocab(m), mc->thr, "budget"};
    int32_t prompt[N_PROMPT];
    prompt_tokens(prompt, N_PROMPT, p.n_vocab, 5);
    eval_both(&p, prompt, N_PROMPT, EF_EVAL_ALL_LOGITS);
    for (int32_t r = 0; r < N_PROMPT; r++) same_row(&p, r, r, "prompt past the device budget");
    decode_both(&p, 3, "decoding past the device budget");
    ef_fwd_device_stats st = stats(p.dev);
    assert_int_equal(st.state, 1);
    assert_int_equal(st.rows_cap, 8);
    assert_int_equal(st.host_attn_chunks, st.chunks); /* everything so far reached past the budget */
    kv_both(&p, ef_kv_seq_remove, 0, 3, -1);
    decode_from(&p, 2, "after a rewind under the budget", prompt[8]);
    st = stats(p.dev);
    assert_true(st.chunks > st.host_attn_chunks);
    assert_true(st.rows_uploaded >= 3);
    decode_both(&p, 6, "decoding past the budget again");
    st = stats(p.dev);
    assert_true(st.host_attn_chunks >= 3 + 1);
    ef_session_free(p.dev);
    ef_session_free(p.ref);
    ef_model_free(m);
}

static void test_budget_smaller_than_context(void **state) {
    (void)state;
    budget_case(&k_models[0], 0); /* F32 pages and device copy */
    budget_case(&k_models[1], 0); /* F16 */
    budget_case(&k_models[1], 1); /* the hot-tier budget as the default */
}

/* kv_device_budget, when given, overrides the hot-tier budget (0: n_ctx rows). */
static void test_hot_tier_budget_overridden(void **state) {
    (void)state;
    const model_case *mc = &k_models[1];
    ef_model *m = make_model(mc);
    char rows16[32];
    snprintf(rows16, sizeof rows16, "%llu", (unsigned long long)device_rows_bytes(m, mc, 16));
    const char *given[3] = {NULL, rows16, "0"};
    const int32_t want[3] = {8, 16, N_CTX};
    for (int i = 0; i < 3; i++) {
        const sess_opts o = {g_backend, mc->kv_type, 0, given[i], NULL, device_rows_bytes(m, mc, 8), NULL};
        ef_session *s = open_session(m, &o);
        int32_t t = 1;
        if (ef_session_eval(s, &t, 1, 0)) fail_msg("eval: %s", ef_session_errmsg(s));
        const ef_fwd_device_stats st = stats(s);
        assert_int_equal(st.state, 1);
        if (st.rows_cap != want[i])
            fail_msg("kv_device_budget %s with a hot tier of 8 rows: %d device rows, want %d",
                     given[i] ? given[i] : "(not given)", (int)st.rows_cap, (int)want[i]);
        ef_session_free(s);
    }
    ef_model_free(m);
}

/* ---- sequence operations on a shared cache ---------------------------------
 * The device session and a cpu session share one KV cache and one sequence.
 * The cpu session is the reference and also the "other writer": its forward
 * passes append rows without a new epoch, so after each operation below a
 * device copy that missed the operation's epoch would attend over rows that
 * are no longer the host's, and its logits would differ. */

typedef struct shared {
    ef_kv_cache *kv;
    ef_session *dev, *ref;
    int32_t n_vocab;
    double thr;
    const char *what;
    float *want; /* [n_vocab] the reference's logits */
} shared;

static void eval_on(ef_session *s, int32_t seq, const int32_t *toks, int32_t n, const char *who) {
    assert_int_equal(ef_session_set_seq(s, seq), EF_OK);
    if (ef_session_eval(s, toks, (size_t)n, 0)) fail_msg("%s eval: %s", who, ef_session_errmsg(s));
}

static int32_t seq_len(ef_kv_cache *kv, int32_t seq) {
    int32_t lo = 0, hi = 0;
    assert_int_equal(ef_kv_seq_pos_range(kv, seq, &lo, &hi), EF_OK);
    return hi + 1;
}

/* Token t at the end of seq: the reference's logits (its row then removed
 * again: a rewind, which keeps every row below it), then the device
 * session's at the same position, on the device path. */
static void next_agrees(shared *sh, int32_t seq, int32_t t, const char *when) {
    const int32_t n = seq_len(sh->kv, seq);
    eval_on(sh->ref, seq, &t, 1, "cpu");
    const float *row = NULL;
    assert_int_equal(ef_session_logits(sh->ref, -1, &row), EF_OK);
    memcpy(sh->want, row, sizeof *row * (size_t)sh->n_vocab);
    assert_int_equal(ef_kv_seq_remove(sh->kv, seq, n, -1), EF_OK);
    const uint64_t chunks = stats(sh->dev).chunks;
    eval_on(sh->dev, seq, &t, 1, g_backend);
    assert_int_equal(stats(sh->dev).chunks, chunks + 1); /* it ran on the device path */
    assert_int_equal(seq_len(sh->kv, seq), n + 1);
    assert_int_equal(ef_session_logits(sh->dev, -1, &row), EF_OK);
    const double e = nmse(row, sh->want, sh->n_vocab);
    if (!(e <= sh->thr)) fail_msg("%s, %s: logits NMSE %.3g above %.3g", sh->what, when, e, sh->thr);
}

/* After an operation: the device copy had rows the next chunk would reuse,
 * and found them stale. */
static void op_then_next(shared *sh, uint64_t resyncs_before, int32_t t, const char *when) {
    next_agrees(sh, 0, t, when);
    if (stats(sh->dev).resyncs <= resyncs_before) fail_msg("%s, %s: the device copy was not refreshed", sh->what, when);
}

static void check_shared_ops(const model_case *mc) {
    ef_model *m = make_model(mc);
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_ctx(kvp, N_CTX), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kvp, 3), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kvp, mc->kv_type, mc->kv_type), EF_OK);
    shared sh = {NULL, NULL, NULL, ef_model_n_vocab(m), mc->thr, mc->label, NULL};
    assert_int_equal(ef_kv_cache_create(m, kvp, &sh.kv), EF_OK);
    ef_kv_params_free(kvp);
    const sess_opts ro = {"cpu", mc->kv_type, 0, NULL, NULL, 0, sh.kv};
    const sess_opts dopt = {g_backend, mc->kv_type, 0, NULL, NULL, 0, sh.kv};
    sh.ref = open_session(m, &ro);
    sh.dev = open_session(m, &dopt);
    sh.want = malloc(sizeof *sh.want * (size_t)sh.n_vocab);
    assert_non_null(sh.want);
    int32_t a[N_PROMPT], b[N_PROMPT], c[N_PROMPT];
    prompt_tokens(a, N_PROMPT, sh.n_vocab, 21);
    prompt_tokens(b, N_PROMPT, sh.n_vocab, 22);
    prompt_tokens(c, N_PROMPT, sh.n_vocab, 23);

    /* the device session writes sequence 0: its device copy holds those rows */
    eval_on(sh.dev, 0, a, N_PROMPT, g_backend);
    assert_int_equal(stats(sh.dev).state, 1);
    next_agrees(&sh, 0, a[0], "after the prompt");

    /* a rewind, then the other session appends other tokens where the old ones were */
    uint64_t r = stats(sh.dev).resyncs;
    assert_int_equal(ef_kv_seq_remove(sh.kv, 0, 6, -1), EF_OK);
    eval_on(sh.ref, 0, b, 6, "cpu");
    op_then_next(&sh, r, b[6], "a rewind refilled by another session");

    /* clear, refilled by the other session */
    r = stats(sh.dev).resyncs;
    assert_int_equal(ef_kv_seq_clear(sh.kv, 0), EF_OK);
    eval_on(sh.ref, 0, c, N_PROMPT, "cpu");
    op_then_next(&sh, r, c[0], "a clear");

    /* keep-only of sequence 1 drops sequence 0, which is refilled */
    r = stats(sh.dev).resyncs;
    eval_on(sh.ref, 1, b, 4, "cpu");
    assert_int_equal(ef_kv_seq_keep(sh.kv, 1), EF_OK);
    eval_on(sh.ref, 0, a, N_PROMPT, "cpu");
    op_then_next(&sh, r, a[1], "keep-only");

    /* a copy onto sequence 0 (a fork in the other direction) */
    r = stats(sh.dev).resyncs;
    eval_on(sh.ref, 1, b + 4, 6, "cpu"); /* sequence 1: b[0..10) */
    assert_int_equal(ef_kv_seq_copy(sh.kv, 1, 0), EF_OK);
    op_then_next(&sh, r, b[10], "a copy onto the sequence");

    /* a middle removal, a shift and the session's context shift re-rotate later keys */
    r = stats(sh.dev).resyncs;
    assert_int_equal(ef_kv_seq_remove(sh.kv, 0, 2, 5), EF_OK);
    op_then_next(&sh, r, c[1], "a middle removal");
    r = stats(sh.dev).resyncs;
    assert_int_equal(ef_kv_seq_shift(sh.kv, 0, 1, 3), EF_OK);
    op_then_next(&sh, r, c[2], "ef_kv_seq_shift");
    r = stats(sh.dev).resyncs;
    assert_int_equal(ef_session_context_shift(sh.dev), EF_OK);
    op_then_next(&sh, r, c[3], "the session's context shift");

    /* a snapshot of sequence 0 restored over rows the device wrote since */
    const int32_t snap_len = seq_len(sh.kv, 0);
    assert_true(snap_len < N_PROMPT);
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(sh.ref, 0, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    void *snap = malloc(need);
    assert_non_null(snap);
    assert_int_equal(ef_session_save_buffer(sh.ref, 0, snap, need, &need), EF_OK);
    assert_int_equal(ef_kv_seq_clear(sh.kv, 0), EF_OK);
    eval_on(sh.dev, 0, c, N_PROMPT, g_backend); /* the device copy: c's rows */
    r = stats(sh.dev).resyncs;
    assert_int_equal(ef_session_restore_buffer(sh.dev, 0, snap, need), EF_OK);
    free(snap);
    assert_int_equal(seq_len(sh.kv, 0), snap_len);
    op_then_next(&sh, r, a[2], "a snapshot restore");

    free(sh.want);
    ef_session_free(sh.dev);
    ef_session_free(sh.ref);
    ef_kv_cache_free(sh.kv);
    ef_model_free(m);
}

static void test_shared_cache_ops_f32(void **state) {
    (void)state;
    check_shared_ops(&k_models[0]);
}
static void test_shared_cache_ops_f16(void **state) {
    (void)state;
    check_shared_ops(&k_models[1]);
}

/* The epochs themselves: appends keep them, every other change starts a
 * new one, and rows_kept says what a reader of an older epoch may keep. */
static void test_seq_epochs(void **state) {
    (void)state;
    const model_case *mc = &k_models[0];
    ef_model *m = make_model(mc);
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_ctx(kvp, N_CTX), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kvp, 2), EF_OK);
    ef_kv_cache *kv = NULL, *kv2 = NULL;
    assert_int_equal(ef_kv_cache_create(m, kvp, &kv), EF_OK);
    assert_int_equal(ef_kv_cache_create(m, kvp, &kv2), EF_OK);
    ef_kv_params_free(kvp);
    const sess_opts o = {"cpu", mc->kv_type, 0, NULL, NULL, 0, kv}, o2 = {"cpu", mc->kv_type, 0, NULL, NULL, 0, kv2};
    ef_session *s = open_session(m, &o), *s2 = open_session(m, &o2);
    int32_t toks[N_PROMPT];
    prompt_tokens(toks, N_PROMPT, ef_model_n_vocab(m), 31);
    assert_int_equal(ef_kvi_seq_epoch(kv, 0), 0); /* never used */
    assert_int_equal(ef_kvi_seq_epoch(kv, 7), 0); /* no such sequence */
    eval_on(s, 0, toks, 4, "cpu");
    eval_on(s2, 0, toks, 4, "cpu");
    const uint64_t e1 = ef_kvi_seq_epoch(kv, 0);
    assert_true(e1 != 0);
    assert_true(ef_kvi_seq_epoch(kv2, 0) != e1); /* unique across caches */
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e1), INT32_MAX);
    eval_on(s, 0, toks + 4, 4, "cpu"); /* appends keep the epoch */
    assert_true(ef_kvi_seq_epoch(kv, 0) == e1);
    assert_int_equal(ef_kv_seq_remove(kv, 0, 5, 5), EF_OK); /* nothing removed: no change */
    assert_true(ef_kvi_seq_epoch(kv, 0) == e1);
    assert_int_equal(ef_kv_seq_remove(kv, 0, 6, -1), EF_OK); /* a rewind keeps 6 */
    const uint64_t e2 = ef_kvi_seq_epoch(kv, 0);
    assert_true(e2 != e1);
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e1), 6);
    assert_int_equal(ef_kv_seq_remove(kv, 0, 1, 3), EF_OK); /* a middle removal keeps 1 */
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e2), 1);
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e1), 1); /* the smallest since then */
    const uint64_t e3 = ef_kvi_seq_epoch(kv, 0);
    assert_int_equal(ef_kv_seq_copy(kv, 0, 1), EF_OK); /* a copy changes the target only */
    assert_true(ef_kvi_seq_epoch(kv, 0) == e3);
    const uint64_t e4 = ef_kvi_seq_epoch(kv, 1);
    assert_int_equal(ef_kv_seq_keep(kv, 0), EF_OK);
    assert_true(ef_kvi_seq_epoch(kv, 0) == e3);
    assert_true(ef_kvi_seq_epoch(kv, 1) != e4);
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 1, e4), 0);
    assert_int_equal(ef_kv_seq_clear(kv, 0), EF_OK);
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e3), 0);
    assert_int_equal(ef_kvi_seq_rows_kept(kv2, 0, e3), 0); /* not an epoch of that cache's sequence */
    /* more changes than the log holds: an old reader must start over */
    eval_on(s, 0, toks, N_PROMPT, "cpu");
    const uint64_t e5 = ef_kvi_seq_epoch(kv, 0);
    for (int32_t i = 0; i < 10; i++) {
        assert_int_equal(ef_kv_seq_remove(kv, 0, N_PROMPT - 1 - i, -1), EF_OK);
        assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, e5), i < 8 ? N_PROMPT - 1 - i : 0);
    }
    ef_kvi_seq_touch(kv, 0, 0);
    assert_int_equal(ef_kvi_seq_rows_kept(kv, 0, ef_kvi_seq_epoch(kv, 0)), INT32_MAX);
    ef_session_free(s);
    ef_session_free(s2);
    ef_kv_cache_free(kv);
    ef_kv_cache_free(kv2);
    ef_model_free(m);
}

/* A device op failing mid-way: the chunk reruns on the old path, which the session keeps. */
static void test_device_failure_falls_back(void **state) {
    (void)state;
    const model_case *mc = &k_models[1];
    ef_model *m = make_model(mc);
    const sess_opts ro = {"cpu", mc->kv_type, 0, NULL, NULL, 0, NULL};
    const sess_opts dopt = {"cpudev-flaky", mc->kv_type, 0, NULL, NULL, 0, NULL};
    pair p = {open_session(m, &ro), open_session(m, &dopt), ef_model_n_vocab(m), mc->thr, "flaky flash_attn"};
    int32_t prompt[N_PROMPT];
    prompt_tokens(prompt, N_PROMPT, p.n_vocab, 13);
    g_flash_calls_left = 2 * m->hp.n_layer + 1; /* the prompt, one decode step, then a failure in the layer stack */
    eval_both(&p, prompt, N_PROMPT, EF_EVAL_ALL_LOGITS);
    for (int32_t r = 0; r < N_PROMPT; r++) same_row(&p, r, r, "prompt");
    decode_both(&p, 4, "across the failure");
    ef_fwd_device_stats st = stats(p.dev);
    assert_int_equal(st.state, -1);
    assert_int_equal(st.chunks, 2);
    if (!strstr(st.why, "flash_attn")) fail_msg("reason '%s' does not name flash_attn", st.why);
    ef_session_free(p.dev);
    ef_session_free(p.ref);
    ef_model_free(m);
}

static char g_log[4096];
static void capture(void *user, int32_t level, const char *msg) {
    (void)user;
    (void)level;
    if (strstr(msg, "weight matmuls only")) snprintf(g_log, sizeof g_log, "%s", msg);
}

/* A plugin that lacks an op, and device_resident=0: the old path, a log line, the same logits. */
static void test_fallbacks(void **state) {
    (void)state;
    const model_case *mc = &k_models[0];
    ef_model *m = make_model(mc);
    const int cpudev = !strcmp(g_backend, "cpudev");
    const char *names[2] = {cpudev ? "cpudev-norope" : g_backend, g_backend};
    const char *resident[2] = {NULL, "0"};
    const char *why[2] = {"rope", "device_resident=0"};
    for (int i = cpudev ? 0 : 1; i < 2; i++) {
        g_log[0] = '\0';
        ef_set_log_callback(capture, NULL, 3);
        const sess_opts ro = {"cpu", mc->kv_type, 0, NULL, NULL, 0, NULL};
        const sess_opts dopt = {names[i], mc->kv_type, 0, NULL, resident[i], 0, NULL};
        pair p = {open_session(m, &ro), open_session(m, &dopt), ef_model_n_vocab(m), mc->thr, why[i]};
        int32_t prompt[N_PROMPT];
        prompt_tokens(prompt, N_PROMPT, p.n_vocab, 9);
        eval_both(&p, prompt, N_PROMPT, 0);
        same_row(&p, -1, -1, "prompt on the old path");
        decode_both(&p, 2, "old path");
        ef_set_log_callback(NULL, NULL, 0);
        ef_fwd_device_stats st = stats(p.dev);
        assert_int_equal(st.state, -1);
        if (!strstr(st.why, why[i])) fail_msg("reason '%s' does not name '%s'", st.why, why[i]);
        if (!strstr(g_log, why[i])) fail_msg("no log line naming '%s' (got '%s')", why[i], g_log);
        uint64_t on_backend = 0, fallback = 0;
        ef_exec_backend_counts(p.dev->xbackend, &on_backend, &fallback);
        assert_true(on_backend > 0); /* the weight matmuls still ran on the backend */
        ef_session_free(p.dev);
        ef_session_free(p.ref);
    }
    ef_model_free(m);
}

/* A malformed budget is refused when the session binds. */
static void test_bad_option(void **state) {
    (void)state;
    ef_backend_choice c;
    memset(&c, 0, sizeof c);
    c.n_opts = 1;
    snprintf(c.keys[0], sizeof c.keys[0], "kv_device_budget");
    snprintf(c.values[0], sizeof c.values[0], "lots");
    make_cpudev();
    ef_model *m = make_model(&k_models[0]);
    ef_exec_backend *xb = NULL;
    assert_int_equal(ef_exec_backend_open(m, &g_cpudev, &c, 1, &xb), EF_ERR_INVALID_ARG);
    assert_null(xb);
    snprintf(c.values[0], sizeof c.values[0], "64M");
    assert_int_equal(ef_exec_backend_open(m, &g_cpudev, &c, 1, &xb), EF_OK);
    assert_int_equal(ef_exec_backend_device_opts(xb)->kv_budget, 64ull << 20);
    ef_exec_backend_close(xb);
    ef_model_free(m);
}

int main(int argc, char **argv) {
    if (argc > 1) g_backend = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_f32),   cmocka_unit_test(test_llama_f16),
        cmocka_unit_test(test_llama_q8_0),  cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_budget_smaller_than_context), cmocka_unit_test(test_hot_tier_budget_overridden),
        cmocka_unit_test(test_shared_cache_ops_f32), cmocka_unit_test(test_shared_cache_ops_f16),
        cmocka_unit_test(test_fallbacks), cmocka_unit_test(test_bad_option), cmocka_unit_test(test_seq_epochs),
        cmocka_unit_test(test_device_failure_falls_back), /* last: the cpu table only */
    };
    const size_t n = sizeof tests / sizeof tests[0] - (strcmp(g_backend, "cpudev") ? 1 : 0);
    return _cmocka_run_group_tests("test_device_forward", tests, n, NULL, NULL);
}
