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
int cmd_serve(int argc, char **argv); /* examples/server/ */

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

/* Installs a log callback writing to stderr, up to `level`. */
void cli_setup_logging(int32_t level);

/* Loads a model (mmap on unless no_mmap), reporting errors; NULL on failure. */
ef_model *cli_load_model(const char *path, int32_t n_threads, int no_mmap);
/* The same, quantized in memory with the named profile when quant is not NULL. */
ef_model *cli_load_model_quant(const char *path, int32_t n_threads, int no_mmap, const char *quant);

#endif
