/* edgeformer run: stream a continuation of a prompt. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    int json;          /* collect instead of printing */
    int32_t *ids;      /* generated token ids */
    size_t n_ids, cap_ids;
    char *text;        /* generated text */
    size_t text_len, text_cap;
    int oom;
} run_output;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return 0;
    *p = q;
    *cap = n;
    return 1;
}

static int32_t on_token(void *user, int32_t token, const char *text, size_t len) {
    run_output *o = user;
    if (!o->json) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return 0;
    }
    if (token >= 0) {
        if (!grow((void **)&o->ids, &o->cap_ids, o->n_ids + 1, sizeof(int32_t))) return o->oom = 1;
        o->ids[o->n_ids++] = token;
    }
    if (!grow((void **)&o->text, &o->text_cap, o->text_len + len + 1, 1)) return o->oom = 1;
    memcpy(o->text + o->text_len, text, len);
    o->text_len += len;
    o->text[o->text_len] = '\0';
    return 0;
}

static const char *stop_name(int reason) {
    switch (reason) {
    case EF_STOP_EOG: return "eog";
    case EF_STOP_MAX_TOKENS: return "max_tokens";
    case EF_STOP_CALLBACK: return "callback";
    case EF_STOP_CANCELLED: return "cancelled";
    case EF_STOP_CONTEXT_FULL: return "context_full";
    default: return "none";
    }
}

static double session_stat(const ef_session *s, int32_t key) {
    double v = 0;
    ef_session_stat(s, key, &v);
    return v;
}

int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *quant = NULL, *matmul = NULL;
    cli_kv_opts kv = {.zstd_level = -1}; /* --kv-type, --kv-page, --kv-budget, ... (cli_kv.c) */
    int64_t window = -1, sinks = -1;
    int64_t n_predict = 64, top_k = 40, repeat_last_n = 64, seed = 0, threads = 0, ctx = 0, batch = 512;
    int64_t budget = 0;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0;
    double sparsity = 0.0; /* --sparsity: FFN activation sparsity in decode */
    int json = 0, no_mmap = 0, verbose = 0;
    cli_backend_opts backend = {0}; /* --backend, --backend-opt */
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "-p", &prompt)) ||
            (r = cli_opt_str(argc, argv, &i, "--quant", &quant)) ||
            (r = cli_kv_arg(argc, argv, &i, &kv)) ||
            (r = cli_opt_str(argc, argv, &i, "--prompt", &prompt)) ||
            (r = cli_opt_i64(argc, argv, &i, "-n", &n_predict)) ||
            (r = cli_opt_f64(argc, argv, &i, "--temp", &temp)) ||
            (r = cli_opt_i64(argc, argv, &i, "--top-k", &top_k)) ||
            (r = cli_opt_f64(argc, argv, &i, "--top-p", &top_p)) ||
            (r = cli_opt_f64(argc, argv, &i, "--min-p", &min_p)) ||
            (r = cli_opt_f64(argc, argv, &i, "--repeat-penalty", &repeat_penalty)) ||
            (r = cli_opt_i64(argc, argv, &i, "--repeat-last-n", &repeat_last_n)) ||
            (r = cli_opt_i64(argc, argv, &i, "--seed", &seed)) ||
            (r = cli_opt_i64(argc, argv, &i, "--threads", &threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "-t", &threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "--ctx", &ctx)) ||
            (r = cli_opt_i64(argc, argv, &i, "--batch", &batch)) ||
            (r = cli_opt_str(argc, argv, &i, "--matmul", &matmul)) ||
            (r = cli_opt_i64(argc, argv, &i, "--window", &window)) ||
            (r = cli_opt_i64(argc, argv, &i, "--sinks", &sinks)) ||
            (r = cli_opt_f64(argc, argv, &i, "--sparsity", &sparsity)) ||
            (r = cli_backend_arg(argc, argv, &i, &backend)) ||
            (r = cli_opt_bytes(argc, argv, &i, "--memory-budget", &budget))) {
            if (r < 0) return cli_usage_error("run: option %s needs a valid value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--no-mmap")) {
            no_mmap = 1;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else {
            return cli_usage_error("run: unknown option '%s'", argv[i]);
        }
    }
    if (!model_path) return cli_usage_error("run: -m MODEL is required");
    if (!prompt) prompt = "";
    if (n_predict < 0 || n_predict > INT32_MAX) return cli_usage_error("run: -n must be in 0..%d", INT32_MAX);
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);

    ef_model *model = cli_load_model_quant(model_path, (int32_t)threads, no_mmap, quant);
    if (!model) return 1;

    int rc = 1;
    ef_session_params *sp = NULL;
    ef_sampler_params *smp = NULL;
    ef_session *sess = NULL;
    int32_t *prompt_ids = NULL;
    run_output out = {0};
    out.json = json;
    ef_status st;
    const char *what = "invalid option";
    if ((st = ef_session_params_create(&sp)) != EF_OK ||
        (st = ef_session_params_set_n_ctx(sp, (int32_t)ctx)) != EF_OK ||
        (st = ef_session_params_set_threads(sp, (int32_t)threads)) != EF_OK ||
        (st = ef_session_params_set_n_batch(sp, (int32_t)batch)) != EF_OK ||
        (st = ef_session_params_set_seed(sp, (uint64_t)seed)) != EF_OK ||
        (st = ef_session_params_set_memory_budget(sp, (uint64_t)budget)) != EF_OK ||
        (st = cli_kv_apply(&kv, sp)) != EF_OK ||
        (st = ef_session_params_set_matmul_mode(sp, matmul)) != EF_OK ||
        (st = ef_session_params_set_window(sp, (int32_t)window)) != EF_OK ||
        (st = ef_session_params_set_sinks(sp, (int32_t)sinks)) != EF_OK ||
        (st = ef_session_params_set_sparsity(sp, (float)sparsity)) != EF_OK ||
        (st = cli_backend_apply(&backend, sp)) != EF_OK ||
        (st = ef_sampler_params_create(&smp)) != EF_OK ||
        (st = ef_sampler_params_set_temperature(smp, (float)temp)) != EF_OK ||
        (st = ef_sampler_params_set_top_k(smp, (int32_t)top_k)) != EF_OK ||
        (st = ef_sampler_params_set_top_p(smp, (float)top_p)) != EF_OK ||
        (st = ef_sampler_params_set_min_p(smp, (float)min_p)) != EF_OK ||
        (st = ef_sampler_params_set_repeat_penalty(smp, (float)repeat_penalty, (int32_t)repeat_last_n)) != EF_OK ||
        (st = ef_sampler_params_set_seed(smp, (uint64_t)seed)) != EF_OK) {
        cli_fail(what, st);
        goto done;
    }
    if ((st = ef_session_create(model, sp, &sess)) != EF_OK) {
        cli_fail("cannot create session", st);
        goto done;
    }
    if ((st = ef_session_set_sampler(sess, smp)) != EF_OK) {
        cli_fail("sampler", st);
        goto done;
    }

    /* The prompt's ids, as generate will see them, for --json. */
    size_t n_prompt = 0;
    uint32_t tflags = EF_TOKENIZE_ADD_SPECIAL | EF_TOKENIZE_PARSE_SPECIAL;
    if (json) {
        st = ef_tokenize(model, prompt, strlen(prompt), tflags, NULL, 0, &n_prompt);
        if (st == EF_ERR_BUFFER_TOO_SMALL || st == EF_OK) {
            prompt_ids = malloc((n_prompt ? n_prompt : 1) * sizeof *prompt_ids);
            st = prompt_ids ? ef_tokenize(model, prompt, strlen(prompt), tflags, prompt_ids, n_prompt, &n_prompt)
                            : EF_ERR_NO_MEMORY;
        }
        if (st != EF_OK) {
            cli_fail("tokenize", st);
            goto done;
        }
    } else {
        fputs(prompt, stdout);
        fflush(stdout);
    }

    st = ef_session_generate(sess, prompt, strlen(prompt), (int32_t)n_predict, on_token, &out);
    if (st != EF_OK && st != EF_ERR_CANCELLED) {
        if (!json) fputc('\n', stdout);
        fprintf(stderr, "edgeformer: error: generation: %s (%s)\n", ef_session_errmsg(sess), ef_status_str(st));
        goto done;
    }
    if (out.oom) {
        fprintf(stderr, "edgeformer: error: out of memory collecting the output\n");
        goto done;
    }
    double pt = session_stat(sess, EF_STAT_PROMPT_TOKENS), ps = session_stat(sess, EF_STAT_PROMPT_SECONDS);
    double gt = session_stat(sess, EF_STAT_GEN_TOKENS), gs = session_stat(sess, EF_STAT_GEN_SECONDS);
    double pps = ps > 0 ? pt / ps : 0, gps = gs > 0 ? gt / gs : 0;
    const char *stop = stop_name((int)session_stat(sess, EF_STAT_STOP_REASON));
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *pids = cJSON_AddArrayToObject(o, "prompt_tokens");
        for (size_t i = 0; i < n_prompt; i++) cJSON_AddItemToArray(pids, cJSON_CreateNumber(prompt_ids[i]));
        cJSON *gids = cJSON_AddArrayToObject(o, "generated_tokens");
        for (size_t i = 0; i < out.n_ids; i++) cJSON_AddItemToArray(gids, cJSON_CreateNumber(out.ids[i]));
        cJSON_AddStringToObject(o, "text", out.text ? out.text : "");
        cJSON_AddStringToObject(o, "stop_reason", stop);
        cJSON *t = cJSON_AddObjectToObject(o, "timings");
        cJSON_AddNumberToObject(t, "prompt_tokens", pt);
        cJSON_AddNumberToObject(t, "prompt_seconds", ps);
        cJSON_AddNumberToObject(t, "prompt_tokens_per_second", pps);
        cJSON_AddNumberToObject(t, "gen_tokens", gt);
        cJSON_AddNumberToObject(t, "gen_seconds", gs);
        cJSON_AddNumberToObject(t, "gen_tokens_per_second", gps);
        cJSON_AddNumberToObject(o, "memory_peak_bytes", session_stat(sess, EF_STAT_MEMORY_PEAK));
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        fputc('\n', stdout);
        fflush(stdout); /* the text before the timing line, also when both go to one pipe */
        fprintf(stderr, "prompt: %.0f tokens, %.2f tokens/s | generation: %.0f tokens, %.2f tokens/s | stop: %s"
                " | peak session memory: %.1f MiB\n", pt, pps, gt, gps, stop,
                session_stat(sess, EF_STAT_MEMORY_PEAK) / (1024.0 * 1024.0));
    }
    if (kv.stats) cli_kv_print_stats(sess);
    rc = 0;
done:
    free(prompt_ids);
    free(out.ids);
    free(out.text);
    ef_session_free(sess);
    ef_sampler_params_free(smp);
    ef_session_params_free(sp);
    ef_model_free(model);
    return rc;
}
