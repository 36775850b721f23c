/* The trainer end to end on tiny models: it learns, resume is exact, bad
 * checkpoints are refused, and the exported GGUF runs in the engine with the
 * trainer's logits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "base/alloc.h"
#include "exec/forward.h"
#include "train_test_util.h"

#define TMP(name) EF_TEST_TMP "/train_" name

static void run_steps(ef_trainer *t, int n, float *losses) {
    for (int i = 0; i < n; i++) assert_int_equal(ef_trainer_step(t, &losses[i]), EF_OK);
}

/* A short run on a tiny repeated text drives the loss far below chance
 * (GQA; MLA with a window, whose 6-token window still sees enough context). */
static void check_learns(const char *extra) {
    ef_trainer *t;
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 4, 1, 200, 2, 8, extra, &t), EF_OK);
    float first = 0, loss = 0, val0, val1;
    assert_int_equal(ef_trainer_evaluate(t, &val0), EF_OK);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
        if (i == 0) first = loss;
    }
    assert_int_equal(ef_trainer_evaluate(t, &val1), EF_OK);
    print_message("%s: loss %.3f -> %.3f (chance %.3f), validation %.3f -> %.3f\n",
                  extra ? extra : "gqa", first, loss, log(300.0), val0, val1);
    assert_true(first > 5.0f);  /* starts near chance, ln 300 = 5.7 */
    assert_true(loss < 0.5f);   /* the fixed bound */
    assert_true(val1 < 0.5f);
    ef_trainer_free(t);
}
static void test_learns(void **state) {
    (void)state;
    check_learns(NULL);
    check_learns("attention=mla_window,window=6,sinks=1,kv_lora=16");
    check_learns("precision=bf16"); /* the projections in bfloat16 */
}

/* Mixed precision follows F32 training closely but not bit for bit (the
 * rounding is real), and an unknown precision is refused. */
static void test_bf16_close_to_f32(void **state) {
    (void)state;
    enum { N = 20 };
    float f32[N], bf16[N];
    ef_trainer *a, *b;
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 4, 1, N, 2, 8, NULL, &a), EF_OK);
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 4, 1, N, 2, 8, "precision=bf16", &b), EF_OK);
    run_steps(a, N, f32);
    run_steps(b, N, bf16);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const double d = fabs((double)bf16[i] - f32[i]) / f32[i];
        if (d > worst) worst = d;
    }
    print_message("bf16 against f32 over %d steps: largest relative loss difference %.2e\n", N, worst);
    assert_true(worst > 0.0);  /* bfloat16 operands change the sums */
    assert_true(worst < 0.02); /* and only by bfloat16's precision */
    ef_trainer_free(a);
    ef_trainer_free(b);

    ef_train_params *p;
    assert_int_equal(ef_train_params_create(&p), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "precision", "fp8"), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_train_params_set_str(p, "precision", "bf16"), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "precision", "f32"), EF_OK);
    ef_train_params_free(p);
}

/* 6 steps straight == 3 steps, save, a fresh trainer loads, 3 more steps. */
static void check_resume_exact(const char *extra) {
    enum { N = 6 };
    float straight[N], resumed[N];
    ef_trainer *a, *b, *c;
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 2, 0, N, 2, 4, extra, &a), EF_OK);
    run_steps(a, N, straight);

    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 2, 0, N, 2, 4, extra, &b), EF_OK);
    run_steps(b, N / 2, resumed);
    assert_int_equal(ef_trainer_save(b, TMP("resume.ckpt")), EF_OK);
    ef_trainer_free(b);
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 64, 16, 2, 0, N, 2, 4, extra, &c), EF_OK);
    assert_int_equal(ef_trainer_load(c, TMP("resume.ckpt")), EF_OK);
    assert_int_equal(ef_trainer_step_count(c), N / 2);
    run_steps(c, N - N / 2, resumed + N / 2);
    assert_memory_equal(straight, resumed, sizeof straight);
    assert_memory_equal(a->model.params, c->model.params, sizeof(float) * a->model.lay.n_floats);
    ef_trainer_free(a);
    ef_trainer_free(c);
}
static void test_resume_exact(void **state) {
    (void)state;
    check_resume_exact(NULL);
    check_resume_exact("precision=bf16");
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_prefix(const char *from, const char *to, long n, long flip_at) {
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    assert_non_null(f);
    assert_non_null(g);
    for (long i = 0; i < n; i++) {
        int ch = fgetc(f);
        if (i == flip_at) ch ^= 0x40;
        fputc(ch, g);
    }
    fclose(f);
    fclose(g);
}

/* Truncated anywhere, a flipped bit, another shape: refused, trainer unchanged. */
static void test_bad_checkpoints(void **state) {
    (void)state;
    ef_trainer *t, *other;
    assert_int_equal(make_test_trainer(16, 1, 2, 1, 32, 8, 2, 1, 4, 1, 4, &t), EF_OK);
    float loss;
    assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
    assert_int_equal(ef_trainer_save(t, TMP("good.ckpt")), EF_OK);
    const long n = file_size(TMP("good.ckpt"));
    float *keep = malloc(sizeof(float) * t->model.lay.n_floats);
    memcpy(keep, t->model.params, sizeof(float) * t->model.lay.n_floats);
    assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
    const float *after = t->model.params;
    float *after_copy = malloc(sizeof(float) * t->model.lay.n_floats);
    memcpy(after_copy, after, sizeof(float) * t->model.lay.n_floats);

    const long cuts[] = {0, 4, 11, 12, 30, n / 2, n - 5, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_prefix(TMP("good.ckpt"), TMP("cut.ckpt"), cuts[i], -1);
        ef_status st = ef_trainer_load(t, TMP("cut.ckpt"));
        if (cuts[i] == 0) assert_true(st == EF_ERR_IO || st == EF_ERR_FORMAT);
        else assert_int_equal(st, EF_ERR_FORMAT);
        print_message("cut at %ld: %s\n", cuts[i], ef_last_error());
    }
    const long flips[] = {40, n / 2, n - 30};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        copy_prefix(TMP("good.ckpt"), TMP("flip.ckpt"), n, flips[i]);
        assert_int_equal(ef_trainer_load(t, TMP("flip.ckpt")), EF_ERR_CORRUPT);
        print_message("flip at %ld: %s\n", flips[i], ef_last_error());
    }
    copy_prefix(TMP("good.ckpt"), TMP("magic.ckpt"), n, 0);
    assert_int_equal(ef_trainer_load(t, TMP("magic.ckpt")), EF_ERR_FORMAT);
    /* another format version (the u32 after the magic): named in the error */
    const uint32_t versions[] = {1, 3};
    for (size_t i = 0; i < 2; i++) {
        copy_prefix(TMP("good.ckpt"), TMP("version.ckpt"), n, -1);
        FILE *f = fopen(TMP("version.ckpt"), "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, 8, SEEK_SET), 0);
        assert_int_equal(fwrite(&versions[i], 4, 1, f), 1);
        fclose(f);
        assert_int_equal(ef_trainer_load(t, TMP("version.ckpt")), EF_ERR_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "version %u, this build reads 2", (unsigned)versions[i]);
        print_message("version %u: %s\n", (unsigned)versions[i], ef_last_error());
        assert_non_null(strstr(ef_last_error(), want));
    }
    /* refused loads left the trainer as it was */
    assert_memory_equal(t->model.params, after_copy, sizeof(float) * t->model.lay.n_floats);
    assert_int_equal(ef_trainer_step_count(t), 2);

    assert_int_equal(make_test_trainer(16, 1, 2, 2, 32, 8, 2, 1, 4, 1, 4, &other), EF_OK);
    assert_int_equal(ef_trainer_load(other, TMP("good.ckpt")), EF_ERR_MISMATCH);
    ef_trainer_free(other);

    assert_int_equal(ef_trainer_load(t, TMP("good.ckpt")), EF_OK);
    assert_memory_equal(t->model.params, keep, sizeof(float) * t->model.lay.n_floats);
    assert_int_equal(ef_trainer_step_count(t), 1);
    free(keep);
    free(after_copy);
    ef_trainer_free(t);
}

/* The engine's logits of tokens[T] — in one call, or token by token with a
 * one-token batch (a window then lives in a ring cache) — against ref[T, V]. */
static double engine_error(const ef_model *m, const int32_t *tokens, int T, const float *ref,
                           int32_t V, int one_by_one) {
    ef_exec *e;
    ef_mem_account acct = {0};
    assert_int_equal(ef_exec_create(m, T, one_by_one ? 1 : T, &acct, &e), EF_OK);
    float *logits = malloc(sizeof(float) * T * V);
    if (one_by_one)
        for (int t = 0; t < T; t++)
            assert_int_equal(ef_exec_forward(e, NULL, tokens + t, 1, t, 0, logits + (size_t)t * V, NULL),
                             EF_OK);
    else
        assert_int_equal(ef_exec_forward(e, NULL, tokens, T, 0, 1, logits, NULL), EF_OK);
    double max_err = 0, max_ref = 0;
    for (int i = 0; i < T * V; i++) {
        max_err = fmax(max_err, fabs((double)logits[i] - ref[i]));
        max_ref = fmax(max_ref, fabs((double)ref[i]));
    }
    assert_true(max_ref > 0.1);
    free(logits);
    ef_exec_free(e, &acct);
    return max_err;
}

/* Exported GGUF → engine logits == trainer logits, for MHA/GQA, tied/untied,
 * windows and MLA (extra: trainer settings, see train_test_util.h). */
static void check_export_ex(int heads, int kv, int tied, const char *extra, const char *attn_type) {
    enum { T = 12 };
    ef_trainer *t;
    assert_int_equal(make_test_trainer_ex(32, 2, heads, kv, 48, T, 1, tied, 3, 2, 4, extra, &t), EF_OK);
    float loss;
    for (int i = 0; i < 3; i++) assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
    assert_int_equal(ef_trainer_export(t, TMP("export.gguf")), EF_OK);

    ef_train_data_val(t, 0);
    const float *ref;
    ef_train_model_forward(&t->model, t->pool, t->inputs, NULL, &ref); /* [T, V] */
    const int32_t V = t->p.shape.n_vocab;

    ef_gguf *g;
    ef_model *m;
    assert_int_equal(ef_gguf_open(TMP("export.gguf"), 1, &g), EF_OK);
    assert_int_equal(ef_model_from_gguf(g, &m), EF_OK);
    assert_string_equal(m->arch_name, "edgeformer");
    const char *type;
    uint64_t len;
    assert_int_equal(ef_gguf_get_str(m->gguf, "edgeformer.attention.type", &type, &len), EF_OK);
    assert_int_equal(len, strlen(attn_type));
    assert_memory_equal(type, attn_type, len);
    assert_int_equal(m->hp.attn_kind == EF_ATTN_MLA, t->p.shape.mla);
    assert_int_equal(m->hp.n_swa, t->p.shape.window);
    if (t->model.shape.window > 0) { /* the mask must matter here, or this checks nothing */
        float *windowed = malloc(sizeof(float) * T * V);
        memcpy(windowed, ref, sizeof(float) * T * V);
        t->model.shape.window = 0;
        ef_train_model_forward(&t->model, t->pool, t->inputs, NULL, &ref);
        double diff = 0;
        for (int i = 0; i < T * V; i++) diff = fmax(diff, fabs((double)ref[i] - windowed[i]));
        print_message("  without the window the logits move by %.3e\n", diff);
        assert_true(diff > 1e-3);
        t->model.shape.window = t->p.shape.window;
        ef_train_model_forward(&t->model, t->pool, t->inputs, NULL, &ref);
        assert_memory_equal(ref, windowed, sizeof(float) * T * V);
        free(windowed);
    }
    const double batch_err = engine_error(m, t->inputs, T, ref, V, 0);
    const double decode_err = engine_error(m, t->inputs, T, ref, V, 1);
    print_message("export %s H=%d KV=%d tied=%d %s: max error %.2e (one call), %.2e (token by token)\n",
                  attn_type, heads, kv, tied, extra ? extra : "", batch_err, decode_err);
    assert_true(batch_err <= 1e-4);
    assert_true(decode_err <= 1e-4);
    ef_model_release(m);
    ef_trainer_free(t);
}
static void test_export_gqa_tied(void **state) { (void)state; check_export_ex(4, 2, 1, NULL, "gqa"); }
static void test_export_mha_untied(void **state) { (void)state; check_export_ex(4, 4, 0, NULL, "mha"); }
/* windows of 3 (+1 sink) over 12 tokens; pattern 2: layer 0 windowed, layer 1 full */
static void test_export_gqa_window(void **state) {
    (void)state;
    check_export_ex(4, 2, 1, "attention=gqa_window,window=3,sinks=1", "gqa_window");
    check_export_ex(4, 4, 0, "attention=gqa_window,window=4,swa_pattern=2", "gqa_window");
}
#define MLA_DIMS "kv_lora=12,qk_nope=8,qk_rope=4,v_head=6"
static void test_export_mla(void **state) {
    (void)state;
    check_export_ex(4, 4, 1, "attention=mla," MLA_DIMS, "mla");
    check_export_ex(4, 4, 0, "attention=mla,q_lora=10," MLA_DIMS, "mla");
    check_export_ex(4, 4, 1, "attention=mla", "mla"); /* default sizes from dim and heads */
}
static void test_export_mla_window(void **state) {
    (void)state;
    check_export_ex(4, 4, 1, "attention=mla_window,window=3,sinks=2," MLA_DIMS, "mla_window");
}

/* An "edgeformer" file declaring MLA without its latent sizes is refused
 * clearly (the trainer's own MLA exports carry them: test_export_mla). */
static void test_unsupported_attention(void **state) {
    (void)state;
    ef_gguf *g;
    ef_gguf_writer *w;
    assert_int_equal(ef_gguf_open(TMP("export.gguf"), 0, &g), EF_OK);
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *gt = ef_gguf_tensor_at(g, i);
        assert_int_equal(ef_gguf_writer_add_tensor(w, gt->name, gt->type, gt->n_dims, gt->ne,
                                                   gt->data, gt->nbytes), EF_OK);
    }
    assert_int_equal(ef_gguf_writer_set_str(w, "edgeformer.attention.type", "mla"), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, TMP("mla.gguf")), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
    ef_model *m;
    assert_int_equal(ef_gguf_open(TMP("mla.gguf"), 0, &g), EF_OK);
    assert_int_equal(ef_model_from_gguf(g, &m), EF_ERR_UNSUPPORTED);
    print_message("%s\n", ef_last_error());
}

/* Fine-tuning starts exactly from an exported model: same weights, same
 * shape (attention variant included). */
static void check_finetune_from_export(const char *extra) {
    ef_trainer *a, *b;
    float loss;
    assert_int_equal(make_test_trainer_ex(32, 2, 4, 2, 48, 12, 1, 0, 3, 2, 4, extra, &a), EF_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(ef_trainer_step(a, &loss), EF_OK);
    assert_int_equal(ef_trainer_export(a, TMP("base.gguf")), EF_OK);

    ef_train_params *p;
    assert_int_equal(ef_train_params_create(&p), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "init", TMP("base.gguf")), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "text", k_test_text), EF_OK);
    assert_int_equal(ef_train_params_set_int(p, "seq", 12), EF_OK);
    assert_int_equal(ef_train_params_set_int(p, "batch", 1), EF_OK);
    assert_int_equal(ef_train_params_set_float(p, "val_fraction", 0.0), EF_OK);
    assert_int_equal(ef_trainer_create(p, &b), EF_OK);
    ef_train_params_free(p);
    assert_int_equal(b->p.shape.dim, 32);
    if (!a->p.shape.mla) assert_int_equal(b->p.shape.n_kv, 2);
    assert_int_equal(b->p.shape.tied, 0);
    assert_int_equal(b->p.shape.mla, a->p.shape.mla);
    assert_int_equal(b->p.shape.window, a->p.shape.window);
    assert_int_equal(b->p.shape.sinks, a->p.shape.sinks);
    assert_int_equal(b->p.shape.swa_pattern, a->p.shape.swa_pattern);
    assert_int_equal(b->p.shape.q_lora, a->p.shape.q_lora);
    assert_int_equal(b->p.shape.kv_lora, a->p.shape.kv_lora);
    assert_int_equal(b->p.shape.qk_nope, a->p.shape.qk_nope);
    assert_int_equal(b->p.shape.qk_rope, a->p.shape.qk_rope);
    assert_int_equal(b->p.shape.v_head, a->p.shape.v_head);
    assert_int_equal(b->model.lay.n_floats, a->model.lay.n_floats);
    assert_memory_equal(a->model.params, b->model.params, sizeof(float) * a->model.lay.n_floats);
    assert_int_equal(ef_trainer_step(b, &loss), EF_OK);
    assert_true(loss > 0.0f && loss < 10.0f);
    ef_trainer_free(a);
    ef_trainer_free(b);
}
static void test_finetune_from_export(void **state) {
    (void)state;
    check_finetune_from_export(NULL);
    check_finetune_from_export("attention=gqa_window,window=5,sinks=1,swa_pattern=2");
    check_finetune_from_export("attention=mla_window,window=4,q_lora=10," MLA_DIMS);
}

/* Same bits with 1 and 2 threads (GQA, MLA with a window, GQA in bf16). */
static void check_threads_deterministic(const char *extra) {
    float l1[3], l2[3];
    ef_trainer *a, *b;
    assert_int_equal(make_test_trainer_ex(32, 1, 4, 2, 64, 16, 3, 1, 3, 1, 4, extra, &a), EF_OK);
    assert_int_equal(make_test_trainer_ex(32, 1, 4, 2, 64, 16, 3, 1, 3, 2, 4, extra, &b), EF_OK);
    run_steps(a, 3, l1);
    run_steps(b, 3, l2);
    assert_memory_equal(l1, l2, sizeof l1);
    assert_memory_equal(a->model.params, b->model.params, sizeof(float) * a->model.lay.n_floats);
    ef_trainer_free(a);
    ef_trainer_free(b);
}
static void test_threads_deterministic(void **state) {
    (void)state;
    check_threads_deterministic(NULL);
    check_threads_deterministic("attention=mla_window,window=5,sinks=1,q_lora=10," MLA_DIMS);
    check_threads_deterministic("precision=bf16");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_bf16_close_to_f32),
        cmocka_unit_test(test_bad_checkpoints),
        cmocka_unit_test(test_export_gqa_tied),
        cmocka_unit_test(test_export_mha_untied),
        cmocka_unit_test(test_unsupported_attention), /* reads the MHA export */
        cmocka_unit_test(test_export_gqa_window),
        cmocka_unit_test(test_export_mla),
        cmocka_unit_test(test_export_mla_window),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_finetune_from_export),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
