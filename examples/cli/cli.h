/* Shared helpers of the `edgeformer` command-line tool. */
#ifndef EF_CLI_H
#define EF_CLI_H

#include <stdint.h>

#include "edgeformer/edgeformer.h"

/* Subcommands: argv[0] is the subcommand name. They return the exit code. */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_tokenizer(int argc, char **argv);
int cmd_serve(int argc, char **argv); /* examples/server/ */
int cmd_calibrate_sparsity(int argc, char **argv);

/* Prints "edgeformer: error: <what>: <message>" on one line; returns 1. */
int cli_fail(const char *what, ef_status st);
/* Prints "edgeformer: <message>" for a usage problem; returns 2. */
int cli_usage_error(const char *fmt, ...);

/* Option parsing: at argv[*i], if the option matches `name`, take its value
 * (the next argument) into *value, advance *i and return 1. Returns -1 when
 * the value is missing, 0 when the option is another one. */
int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **value);
/* Same, parsing a number; -1 on a missing or malformed value. */
int cli_opt_i64(int argc, char **argv, int *i, const char *name, int64_t *value);
int cli_opt_f64(int argc, char **argv, int *i, const char *name, double *value);
/* Same, for a byte count with an optional K/M/G suffix (powers of 1024): "512M". */
int cli_opt_bytes(int argc, char **argv, int *i, const char *name, int64_t *value);

/* --backend NAME and --backend-opt KEY=VALUE (repeatable): the compute
 * backend of run, bench and perplexity (default: EF_BACKEND, else auto). */
#define CLI_BACKEND_OPTS_MAX 16
typedef struct cli_backend_opts {
    const char *name;                      /* NULL: not given */
    int n_opts;
    const char *opts[CLI_BACKEND_OPTS_MAX]; /* "KEY=VALUE" as given */
} cli_backend_opts;
/* Takes argv[*i] when it is one of them: 1 (consumed, *i advanced), -1 on a
 * missing or malformed value, 0 for other options. */
int cli_backend_arg(int argc, char **argv, int *i, cli_backend_opts *b);
/* Puts them into session params. */
ef_status cli_backend_apply(const cli_backend_opts *b, ef_session_params *sp);

/* KV-cache options of run (cli_kv.c): --kv-type K[,V], --kv-page N,
 * --kv-budget TIER=SIZE (hot, ram, zstd; K/M/G), --kv-spill DIR,
 * --kv-zstd LEVEL, --context-shift, --kv-stats. */
typedef struct cli_kv_opts {
    char k_type[8], v_type[8]; /* "" : f16 */
    int32_t page;              /* 0: the default */
    int64_t budget[3];         /* per tier hot, ram, zstd; 0 = unlimited */
    int32_t zstd_level;        /* -1: the default */
    const char *spill;
    int context_shift, stats, paged;
} cli_kv_opts;
/* Takes argv[*i] when it is one of them: 1 (consumed), -1 malformed, 0 other. */
int cli_kv_arg(int argc, char **argv, int *i, cli_kv_opts *o);
/* Puts them into session params. */
ef_status cli_kv_apply(const cli_kv_opts *o, ef_session_params *sp);
/* The per-tier table of the session's KV cache, to stderr. */
void cli_kv_print_stats(ef_session *s);

/* Installs a log callback writing to stderr, up to `level`. */
void cli_setup_logging(int32_t level);

/* Loads a model (mmap on unless no_mmap), reporting errors; NULL on failure. */
ef_model *cli_load_model(const char *path, int32_t n_threads, int no_mmap);
/* The same, quantized in memory with the named profile when quant is not NULL. */
ef_model *cli_load_model_quant(const char *path, int32_t n_threads, int no_mmap, const char *quant);

#endif
