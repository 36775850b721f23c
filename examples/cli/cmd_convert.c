/* edgeformer convert: a Hugging Face checkpoint folder → one GGUF file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char convert_usage[] =
    "usage: edgeformer convert HF_DIR OUT.gguf [--type f16|f32|bf16|q8_0|...] [-v]\n"
    "  HF_DIR holds config.json, model.safetensors (or model.safetensors.index.json\n"
    "  and its shards) and tokenizer.json (+ tokenizer_config.json).\n"
    "  --type  element type of the weight matrices (default f16); norms stay f32\n"
    "  -v      print each tensor as it is converted\n";

static int32_t print_progress(void *user, const char *name, uint64_t done, uint64_t total) {
    (void)user;
    fprintf(stderr, "[%llu/%llu] %s\n", (unsigned long long)done, (unsigned long long)total, name);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *type = "f16";
    int n_paths = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--type", &type))) {
            if (r < 0) return cli_usage_error("convert: option --type needs a value");
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(convert_usage, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("convert: unknown option '%s'", argv[i]);
        } else if (n_paths < 2) {
            paths[n_paths++] = argv[i];
        } else {
            return cli_usage_error("convert: unexpected argument '%s'", argv[i]);
        }
    }
    if (n_paths != 2) return cli_usage_error("convert: HF_DIR and OUT.gguf are required");
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);
    ef_status st = ef_convert_hf(paths[0], paths[1], type, verbose ? print_progress : NULL, NULL);
    if (st != EF_OK) return cli_fail("convert", st);
    printf("wrote %s\n", paths[1]);
    return 0;
}
