/* End to end: tiny random llama models (GQA; F32, F16, Q8_0 weights, and a
 * qwen2 with biases and NEOX RoPE) made with `edgeformer make-model`'s own
 * code, run by a session on the backend under test and by a cpu session:
 * the logits of every prompt token by NMSE, then 16 greedy tokens: the
 * logits each shared step was chosen from by NMSE, and where the tokens part
 * the cpu's margin between the two must be within the measured difference
 * of those logits (a near tie); after that the runs are not comparable. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "cli.h"
#include "conformance.h"

#define N_PROMPT 9
#define N_GREEDY 16

typedef struct e2e_model {
    const char *label, *arch, *type;
    double thr; /* NMSE of the prompt logits */
} e2e_model;

static const e2e_model k_models[] = {
    {"llama-gqa-f32", "llama", "f32", 1e-5},
    {"llama-gqa-f16", "llama", "f16", 1e-4},
    {"llama-gqa-q8_0", "llama", "q8_0", 2e-3}, /* 8-bit activations allowed */
    {"qwen2-f32", "qwen2", "f32", 1e-5},
};

static ef_status make_model(const e2e_model *m, const char *path) {
    char *argv[] = {"make-model", "--arch", (char *)m->arch, "--preset", "tiny", "--seed", "5", "--type",
                    (char *)m->type, "-o", (char *)path};
    return cmd_make_model((int)(sizeof argv / sizeof argv[0]), argv) == 0 ? EF_OK : EF_ERR_IO;
}

static ef_status open_session(ef_model *model, const char *backend, const ef_backend_choice *opts, ef_session **out) {
    ef_session_params *p = NULL;
    ef_status st = ef_session_params_create(&p);
    if (!st) st = ef_session_params_set_n_ctx(p, 64);
    if (!st) st = ef_session_params_set_threads(p, 2);
    if (!st) st = ef_session_params_set_backend(p, backend);
    for (int32_t i = 0; !st && opts && i < opts->n_opts; i++)
        st = ef_session_params_set_backend_option(p, opts->keys[i], opts->values[i]);
    if (!st) st = ef_session_create(model, p, out);
    ef_session_params_free(p);
    return st;
}

/* Prompt logits [N_PROMPT][n_vocab] and greedy tokens with the logits they were chosen from. */
static ef_status run_session(ef_session *s, int32_t n_vocab, const int32_t *prompt, float *logits, int32_t *greedy,
                             float *greedy_logits) {
    ef_status st = ef_session_eval(s, prompt, N_PROMPT, EF_EVAL_ALL_LOGITS);
    for (int32_t t = 0; !st && t < N_PROMPT; t++) {
        const float *row = NULL;
        st = ef_session_logits(s, t, &row);
        if (!st) memcpy(logits + (size_t)t * n_vocab, row, (size_t)n_vocab * sizeof(float));
    }
    const float *last = logits + (size_t)(N_PROMPT - 1) * n_vocab;
    for (int32_t g = 0; !st && g < N_GREEDY; g++) {
        memcpy(greedy_logits + (size_t)g * n_vocab, last, (size_t)n_vocab * sizeof(float));
        int32_t best = 0;
        for (int32_t v = 1; v < n_vocab; v++)
            if (last[v] > last[best]) best = v;
        greedy[g] = best;
        st = ef_session_eval(s, &best, 1, 0);
        if (!st) st = ef_session_logits(s, -1, &last);
    }
    return st;
}

/* 1 if the backend's choice `got` over the cpu's `want` is explained by the
 * measured error of the row: the cpu's margin between them is at most the
 * two logits' differences (each side may have moved by its own error). */
static int flip_explained(const float *ref_row, const float *got_row, int32_t want, int32_t got) {
    double margin = (double)ref_row[want] - ref_row[got];
    double moved = fabs((double)got_row[want] - ref_row[want]) + fabs((double)got_row[got] - ref_row[got]);
    return margin <= moved;
}

static void check_model(conf_run *r, const e2e_model *em, const char *path) {
    char why[768];
    const char *name = r->test.b->name;
    if (make_model(em, path) != EF_OK) {
        conf_report(r, "e2e", em->type, em->label, INFINITY, 0, "cannot make the model");
        return;
    }
    ef_model *model = NULL;
    if (ef_model_load(path, NULL, &model) != EF_OK) {
        snprintf(why, sizeof why, "cannot load the model: %s", ef_last_error());
        conf_report(r, "e2e", em->type, em->label, INFINITY, 0, why);
        return;
    }
    const int32_t n_vocab = ef_model_n_vocab(model);
    const size_t rows = N_PROMPT + N_GREEDY;
    float *ref = ef_malloc(rows * (size_t)n_vocab * sizeof(float)); /* [prompt rows + greedy rows][n_vocab] */
    float *got = ef_malloc(rows * (size_t)n_vocab * sizeof(float)); /* same */
    int32_t ref_tok[N_GREEDY], got_tok[N_GREEDY];
    int32_t prompt[N_PROMPT];
    for (int32_t i = 0; i < N_PROMPT; i++) prompt[i] = (int32_t)((r->seed * 7919u + (uint64_t)i * 104729u) % (uint64_t)n_vocab);
    ef_session *cpu = NULL, *be = NULL;
    ef_status st = ref && got ? open_session(model, "cpu", NULL, &cpu) : EF_ERR_NO_MEMORY;
    if (!st) st = run_session(cpu, n_vocab, prompt, ref, ref_tok, ref + (size_t)N_PROMPT * n_vocab);
    if (st) {
        snprintf(why, sizeof why, "the cpu session failed: %s", ef_last_error());
        conf_report(r, "e2e", em->type, em->label, INFINITY, 0, why);
    } else if ((st = open_session(model, name, &r->choice, &be)) != EF_OK ||
               (st = run_session(be, n_vocab, prompt, got, got_tok, got + (size_t)N_PROMPT * n_vocab)) != EF_OK) {
        snprintf(why, sizeof why, "the %s session failed: %s", name, be ? ef_session_errmsg(be) : ef_last_error());
        conf_report(r, "e2e", em->type, em->label, INFINITY, 0, why);
    } else if (strcmp(ef_session_backend(be), name) != 0) {
        snprintf(why, sizeof why, "the session ran on '%s'", ef_session_backend(be));
        conf_report(r, "e2e", em->type, em->label, INFINITY, 0, why);
    } else {
        char label[96];
        snprintf(label, sizeof label, "%s: %d prompt logits", em->label, N_PROMPT);
        conf_report(r, "e2e", em->type, label, conf_nmse(got, ref, (int64_t)N_PROMPT * n_vocab), em->thr, NULL);
        int32_t same = 0;
        const char *err = NULL;
        while (same < N_GREEDY && got_tok[same] == ref_tok[same]) same++;
        if (same < N_GREEDY && !flip_explained(ref + (size_t)(N_PROMPT + same) * n_vocab,
                                               got + (size_t)(N_PROMPT + same) * n_vocab, ref_tok[same], got_tok[same])) {
            snprintf(why, sizeof why, "greedy token %d is %d, cpu chose %d, and the logits do not explain it",
                     (int)same, (int)got_tok[same], (int)ref_tok[same]);
            err = why;
        }
        snprintf(label, sizeof label, "%s: %d greedy tokens (%d same%s)", em->label, N_GREEDY, (int)same,
                 same < N_GREEDY && !err ? ", then a near tie" : "");
        /* NMSE of the logits the shared greedy prefix was chosen from */
        int32_t cmp = same < N_GREEDY ? same + 1 : N_GREEDY;
        conf_report(r, "e2e", em->type, label,
                    conf_nmse(got + (size_t)N_PROMPT * n_vocab, ref + (size_t)N_PROMPT * n_vocab, (int64_t)cmp * n_vocab),
                    em->thr, err);
    }
    ef_session_free(cpu);
    ef_session_free(be);
    ef_model_free(model);
    ef_free(ref);
    ef_free(got);
}

void conf_check_models(conf_run *r, const char *work_dir) {
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s%sef-conformance-%lld-%s.gguf", work_dir, EF_DIR_SEP,
                 (long long)ef_process_id(), k_models[i].label);
        check_model(r, &k_models[i], path);
        ef_file_remove(path);
    }
}
