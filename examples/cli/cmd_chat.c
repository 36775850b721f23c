/* edgeformer chat: a conversation on stdin, one user message per line.
 *
 * Each turn renders the whole conversation with the model's chat template
 * (plus the assistant's generation prompt) and evaluates only the part the
 * session has not seen: the text already in the context is remembered
 * exactly (rendered prompt + streamed reply), so when the new rendering
 * starts with it, only the rest is tokenized and evaluated. When it does not
 * (a template that reformats earlier replies, or a full context), the
 * session is reset and the whole rendering evaluated, which is slower but
 * always correct. "/reset" starts over (keeping --system); EOF ends. Works
 * from a pipe; --json prints one object per turn for scripts. */
#define _POSIX_C_SOURCE 200809L /* getline, fileno */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"


/* A growable byte string. */
typedef struct text_buf {
    char *data;
    size_t len, cap;
} text_buf;

static int text_append(text_buf *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *bigger = realloc(t->data, cap);
        if (!bigger) return 0;
        t->data = bigger;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
    return 1;
}

/* The conversation: owned copies of every message. */
typedef struct conversation {
    char **roles, **contents; /* [n] */
    size_t n, cap;
} conversation;

static int conv_add(conversation *c, const char *role, const char *content, size_t content_len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        char **r = realloc(c->roles, cap * sizeof *r);
        if (!r) return 0;
        c->roles = r;
        char **t = realloc(c->contents, cap * sizeof *t);
        if (!t) return 0;
        c->contents = t;
        c->cap = cap;
    }
    char *rc = malloc(strlen(role) + 1), *cc = malloc(content_len + 1);
    if (!rc || !cc) {
        free(rc);
        free(cc);
        return 0;
    }
    strcpy(rc, role);
    memcpy(cc, content, content_len);
    cc[content_len] = '\0';
    c->roles[c->n] = rc;
    c->contents[c->n] = cc;
    c->n++;
    return 1;
}

/* Drops messages from index `keep` on. */
static void conv_truncate(conversation *c, size_t keep) {
    while (c->n > keep) {
        c->n--;
        free(c->roles[c->n]);
        free(c->contents[c->n]);
    }
}

static void conv_free(conversation *c) {
    conv_truncate(c, 0);
    free(c->roles);
    free(c->contents);
}

/* The whole conversation rendered with the generation prompt (malloc'ed). */
static char *render(const char *family, const conversation *c, size_t *len) {
    size_t needed = 0;
    const char *const *roles = (const char *const *)c->roles, *const *contents = (const char *const *)c->contents;
    ef_status st = ef_chat_apply_template_named(family, roles, contents, c->n, 1, NULL, 0, &needed);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) {
        cli_fail("chat template", st);
        return NULL;
    }
    char *text = malloc(needed);
    if (!text) return NULL;
    if ((st = ef_chat_apply_template_named(family, roles, contents, c->n, 1, text, needed, &needed)) != EF_OK) {
        cli_fail("chat template", st);
        free(text);
        return NULL;
    }
    *len = needed - 1;
    return text;
}

typedef struct reply_sink {
    text_buf text; /* the reply as streamed */
    int print;     /* stream it to stdout */
    int oom;
} reply_sink;

static int32_t on_token(void *user, int32_t token, const char *text, size_t len) {
    (void)token;
    reply_sink *r = user;
    if (!text_append(&r->text, text, len)) return r->oom = 1;
    if (r->print) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return 0;
}

static const char *stop_name(double reason) {
    switch ((int)reason) {
    case EF_STOP_EOG: return "eog";
    case EF_STOP_MAX_TOKENS: return "max_tokens";
    case EF_STOP_CALLBACK: return "callback";
    case EF_STOP_CANCELLED: return "cancelled";
    case EF_STOP_CONTEXT_FULL: return "context_full";
    default: return "none";
    }
}

typedef struct chat_options {
    const char *model_path, *system, *family, *quant;
    int64_t n_predict, top_k, repeat_last_n, seed, threads, ctx, batch;
    double temp, top_p, min_p, repeat_penalty;
    int json, no_mmap, verbose;
} chat_options;

static int parse_options(int argc, char **argv, chat_options *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 256;
    o->top_k = 40;
    o->repeat_last_n = 64;
    o->batch = 512;
    o->temp = 0.8;
    o->top_p = 0.95;
    o->min_p = 0.05;
    o->repeat_penalty = 1.0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &o->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &o->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--system", &o->system)) ||
            (r = cli_opt_str(argc, argv, &i, "--template", &o->family)) ||
            (r = cli_opt_str(argc, argv, &i, "--quant", &o->quant)) ||
            (r = cli_opt_i64(argc, argv, &i, "-n", &o->n_predict)) ||
            (r = cli_opt_f64(argc, argv, &i, "--temp", &o->temp)) ||
            (r = cli_opt_i64(argc, argv, &i, "--top-k", &o->top_k)) ||
            (r = cli_opt_f64(argc, argv, &i, "--top-p", &o->top_p)) ||
            (r = cli_opt_f64(argc, argv, &i, "--min-p", &o->min_p)) ||
            (r = cli_opt_f64(argc, argv, &i, "--repeat-penalty", &o->repeat_penalty)) ||
            (r = cli_opt_i64(argc, argv, &i, "--repeat-last-n", &o->repeat_last_n)) ||
            (r = cli_opt_i64(argc, argv, &i, "--seed", &o->seed)) ||
            (r = cli_opt_i64(argc, argv, &i, "--threads", &o->threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "-t", &o->threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "--ctx", &o->ctx)) ||
            (r = cli_opt_i64(argc, argv, &i, "--batch", &o->batch))) {
            if (r < 0) return cli_usage_error("chat: option %s needs a valid value", argv[i]);
        } else if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--no-mmap")) {
            o->no_mmap = 1;
        } else if (!strcmp(argv[i], "-v")) {
            o->verbose = 1;
        } else {
            return cli_usage_error("chat: unknown option '%s'", argv[i]);
        }
    }
    if (!o->model_path) return cli_usage_error("chat: -m MODEL is required");
    if (o->n_predict < 0 || o->n_predict > INT32_MAX) return cli_usage_error("chat: -n must be in 0..%d", INT32_MAX);
    if (o->family && strcmp(o->family, "llama2") && strcmp(o->family, "llama3") && strcmp(o->family, "chatml"))
        return cli_usage_error("chat: --template must be llama2, llama3 or chatml");
    return 0;
}

/* Sets up the session and its sampler; prints the error and returns NULL on failure. */
static ef_session *open_session(ef_model *model, const chat_options *o, ef_sampler_params **smp_out) {
    ef_session_params *sp = NULL;
    ef_sampler_params *smp = NULL;
    ef_session *sess = NULL;
    ef_status st;
    if ((st = ef_session_params_create(&sp)) != EF_OK || (st = ef_session_params_set_n_ctx(sp, (int32_t)o->ctx)) != EF_OK ||
        (st = ef_session_params_set_threads(sp, (int32_t)o->threads)) != EF_OK ||
        (st = ef_session_params_set_n_batch(sp, (int32_t)o->batch)) != EF_OK ||
        (st = ef_session_params_set_seed(sp, (uint64_t)o->seed)) != EF_OK ||
        (st = ef_sampler_params_create(&smp)) != EF_OK ||
        (st = ef_sampler_params_set_temperature(smp, (float)o->temp)) != EF_OK ||
        (st = ef_sampler_params_set_top_k(smp, (int32_t)o->top_k)) != EF_OK ||
        (st = ef_sampler_params_set_top_p(smp, (float)o->top_p)) != EF_OK ||
        (st = ef_sampler_params_set_min_p(smp, (float)o->min_p)) != EF_OK ||
        (st = ef_sampler_params_set_repeat_penalty(smp, (float)o->repeat_penalty, (int32_t)o->repeat_last_n)) != EF_OK ||
        (st = ef_sampler_params_set_seed(smp, (uint64_t)o->seed)) != EF_OK ||
        (st = ef_session_create(model, sp, &sess)) != EF_OK || (st = ef_session_set_sampler(sess, smp)) != EF_OK) {
        cli_fail("cannot set up the session", st);
        ef_session_free(sess);
        ef_sampler_params_free(smp);
        sess = NULL;
        smp = NULL;
    }
    ef_session_params_free(sp);
    *smp_out = smp;
    return sess;
}

/* Whether the model prepends BOS by itself (tokenizing "" with specials). */
static int model_adds_bos(const ef_model *m) {
    int32_t id;
    size_t n = 0;
    return ef_tokenize(m, "", 0, EF_TOKENIZE_ADD_SPECIAL, &id, 1, &n) == EF_OK && n == 1 && id == ef_token_bos(m);
}

typedef struct chat {
    ef_model *model;
    ef_session *sess;
    ef_sampler_params *smp;
    const char *family;
    conversation conv;
    size_t n_fixed;   /* messages kept by /reset (the system message) */
    text_buf context; /* exactly the text now in the session's context */
    int adds_bos;
    int turn;
} chat;

static void chat_reset_context(chat *c) {
    ef_session_reset(c->sess);
    ef_session_set_sampler(c->sess, c->smp); /* fresh RNG and repetition history too */
    c->context.len = 0;
}

/* One user message: render, evaluate the new part, stream the reply.
 * Returns 0 on success, 1 on a fatal error. */
static int chat_turn(chat *c, const chat_options *o, const char *line, size_t line_len) {
    if (!conv_add(&c->conv, "user", line, line_len)) return 1;
    size_t full_len = 0;
    char *full = render(c->family, &c->conv, &full_len);
    if (!full) {
        conv_truncate(&c->conv, c->conv.n - 1);
        return 0; /* the message is refused (e.g. a role the format forbids); keep chatting */
    }
    int reused = c->context.len > 0 && c->context.len <= full_len && memcmp(full, c->context.data, c->context.len) == 0;
    if (!reused) chat_reset_context(c);
    const char *suffix = full + c->context.len;
    size_t suffix_len = full_len - c->context.len;
    /* The session adds BOS itself to an empty context; do not add a second. */
    const char *bos_text = c->adds_bos ? ef_token_text(c->model, ef_token_bos(c->model)) : NULL;
    if (ef_session_n_past(c->sess) == 0 && bos_text && *bos_text && suffix_len >= strlen(bos_text) &&
        !memcmp(suffix, bos_text, strlen(bos_text))) {
        suffix += strlen(bos_text);
        suffix_len -= strlen(bos_text);
    }
    int32_t n_past_before = ef_session_n_past(c->sess);

    reply_sink reply = {{NULL, 0, 0}, !o->json, 0};
    ef_status st = ef_session_generate(c->sess, suffix, suffix_len, (int32_t)o->n_predict, on_token, &reply);
    if (!o->json) {
        fputc('\n', stdout);
        fflush(stdout);
    }
    int rc = 0;
    double stop = 0, prompt_tokens = 0, gen_tokens = 0;
    ef_session_stat(c->sess, EF_STAT_STOP_REASON, &stop);
    ef_session_stat(c->sess, EF_STAT_PROMPT_TOKENS, &prompt_tokens);
    ef_session_stat(c->sess, EF_STAT_GEN_TOKENS, &gen_tokens);
    if (reply.oom) {
        fprintf(stderr, "edgeformer: error: out of memory collecting the reply\n");
        rc = 1;
    } else if (st != EF_OK) {
        /* e.g. a full context: report, forget the conversation, keep going */
        fprintf(stderr, "edgeformer: error: turn %d: %s (%s); the conversation is reset\n", c->turn + 1,
                ef_session_errmsg(c->sess), ef_status_str(st));
        conv_truncate(&c->conv, c->n_fixed);
        chat_reset_context(c);
    } else {
        const char *reply_text = reply.text.data ? reply.text.data : "";
        /* Every streamed token is in the context unless the context filled up. */
        int in_sync = (int)stop != EF_STOP_CONTEXT_FULL;
        if (!conv_add(&c->conv, "assistant", reply_text, reply.text.len)) {
            rc = 1;
        } else if (in_sync) {
            c->context.len = 0;
            if (!text_append(&c->context, full, full_len) || !text_append(&c->context, reply_text, reply.text.len))
                rc = 1;
        } else {
            c->context.len = 0; /* unknown: the next turn starts over */
        }
        c->turn++;
        if (o->json && !rc) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "turn", c->turn);
            cJSON_AddStringToObject(j, "reply", reply_text);
            cJSON_AddNumberToObject(j, "gen_tokens", gen_tokens);
            cJSON_AddNumberToObject(j, "prompt_tokens", prompt_tokens);
            cJSON_AddNumberToObject(j, "n_past_before", n_past_before);
            cJSON_AddNumberToObject(j, "n_past", ef_session_n_past(c->sess));
            cJSON_AddBoolToObject(j, "reused_context", reused);
            cJSON_AddStringToObject(j, "stop_reason", stop_name(stop));
            char *s = cJSON_PrintUnformatted(j);
            if (s) puts(s);
            fflush(stdout);
            cJSON_free(s);
            cJSON_Delete(j);
        }
        if (o->verbose)
            fprintf(stderr, "turn %d: %.0f prompt tokens (%s), %.0f generated, stop: %s\n", c->turn, prompt_tokens,
                    reused ? "context reused" : "from scratch", gen_tokens, stop_name(stop));
    }
    free(reply.text.data);
    free(full);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    cli_setup_logging(opt.verbose ? EF_LOG_INFO : EF_LOG_WARN);

    chat c;
    memset(&c, 0, sizeof c);
    c.model = cli_load_model_quant(opt.model_path, (int32_t)opt.threads, opt.no_mmap, opt.quant);
    if (!c.model) return 1;
    rc = 1;
    c.sess = open_session(c.model, &opt, &c.smp);
    if (!c.sess) goto done;
    c.adds_bos = model_adds_bos(c.model);
    if (opt.family) {
        c.family = opt.family;
    } else {
        /* Asked once through the model, so a fallback is logged once. */
        size_t needed = 0;
        ef_chat_apply_template(c.model, NULL, NULL, 0, 1, NULL, 0, &needed);
        c.family = ef_chat_template_family(c.model);
    }
    if (opt.verbose) fprintf(stderr, "chat template: %s\n", c.family);
    if (opt.system && !conv_add(&c.conv, "system", opt.system, strlen(opt.system))) goto done;
    c.n_fixed = c.conv.n;

    int interactive = isatty(fileno(stdin));
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (!strcmp(line, "/reset")) {
            conv_truncate(&c.conv, c.n_fixed);
            chat_reset_context(&c);
            if (opt.json) puts("{\"reset\":true}");
            else fputs("(conversation cleared)\n", stderr);
            fflush(stdout);
            continue;
        }
        if (chat_turn(&c, &opt, line, (size_t)n)) {
            free(line);
            goto done;
        }
    }
    free(line);
    rc = 0;
done:
    free(c.context.data);
    conv_free(&c.conv);
    ef_session_free(c.sess);
    ef_sampler_params_free(c.smp);
    ef_model_free(c.model);
    return rc;
}
