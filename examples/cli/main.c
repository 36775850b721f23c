/* edgeformer: the command-line front end of libedgeformer. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: edgeformer COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run         generate text from a prompt\n"
    "              -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
    "              [--repeat-penalty R] [--repeat-last-n N] [--seed S] [--threads N]\n"
    "              [--ctx N] [--batch N] [--memory-budget BYTES] [--no-mmap] [--json] [-v]\n"
    "              [--quant PROFILE]  (quantize the weights in memory while loading)\n"
    "              [--kv-type K[,V]] (f32|f16|q8_0|q4_0, default f16) [--kv-page N] [--kv-budget hot|ram|zstd=SIZE]\n"
    "              [--kv-zstd LEVEL] [--kv-spill DIR] [--context-shift] [--kv-stats]\n"
    "              [--matmul weight-only|integer-dot] [--window N] [--sinks N]\n"
    "              [--backend cpu|auto|NAME] [--backend-opt KEY=VALUE ...]  (also bench, perplexity)\n"
    "              (--memory-budget takes K/M/G suffixes: 512M)\n"
    "  info        print a model's metadata and tensor table: -m MODEL [--quant PROFILE] [--json]\n"
    "              --backends [--json]: the compute backends found, and why any is unavailable\n"
    "  tokenize    print the token ids of a text: -m MODEL -p TEXT [--no-bos]\n"
    "              [--no-special] [--json]\n"
    "  quantize    IN.gguf OUT.gguf --profile balanced|fast|experimental|ternary|f16|f32\n"
    "              | --type TYPE [--rule PATTERN=TYPE ...] [--keep-embeddings TYPE]\n"
    "  perplexity  perplexity of a text, as llama.cpp computes it; KL divergence to a base run:\n"
    "              -m MODEL -f TEXT [--ctx N] [--chunks N] [--kl-base FILE] [--kl-top-k K]\n"
    "              [--threads N] [--batch N] [--quant PROFILE] [--no-progress] [--json] [-v]\n"
    "              [--kv-type K[,V]] and the other KV options of run\n"
    "  chat        chat on stdin with the model's chat template, one user message per line:\n"
    "              -m MODEL [--system TEXT] [--template llama2|llama3|chatml] [-n N] [--temp T]\n"
    "              [sampling options of run] [--ctx N] [--json] (/reset clears, EOF quits)\n"
    "  convert     Hugging Face checkpoint to GGUF: HF_DIR OUT.gguf [--type f16|f32|bf16|q8_0|...] [-v]\n"
    "  make-model  write a random-weight model (test fixture):\n"
    "              --arch llama|qwen2 --preset tiny|small|125m|853m [--seed N] -o OUT.gguf\n"
    "              (see `edgeformer make-model --help`)\n"
    "  bench       prompt (pp) and generation (tg) tokens/s, peak RSS, bandwidth ceiling:\n"
    "              -m MODEL [-m MODEL2 ...] [-p 512] [-n 128] [-r 5] [-t 1,2] [-o md|json|csv]\n"
    "  train       train an edgeformer model on the CPU (see `edgeformer train --help`):\n"
    "              --data brown|FILE [--vocab gpt2|synthetic:N] [--dim 256 --layers 4 ...]\n"
    "              [--steps N] [--checkpoint FILE] [--resume FILE] [--log CSV] -o OUT.gguf\n"
    "  train-tokenizer  learn a byte-level BPE vocabulary (GGUF) for train --vocab gguf:OUT.gguf:\n"
    "              --data brown|FILE|DIR --vocab N -o OUT.gguf (see `edgeformer train-tokenizer --help`)\n"
    "  serve       OpenAI-compatible HTTP server with a chat page (see `edgeformer serve --help`):\n"
    "              -m MODEL [--host 127.0.0.1] [--port 8080] [--slots 4] [--queue 16] [--timeout S]\n"
    "  calibrate-sparsity  per-layer FFN activation-sparsity thresholds from a text:\n"
    "              -m MODEL -f TEXT [--target 0.5] -o OUT.gguf (then --sparsity F in run/bench/perplexity)\n"
    "  version     print the library version\n"
    "  help        print this text\n";

/* The oneDNN plugin's OpenMP threads spin by default between calls and then
 * fight the library's own thread pool for the cores (a one-token matmul goes
 * from ~0.2 ms to ~11 ms). libgomp reads this only when it is loaded, so it
 * is set before any plugin can be; a value the user set is kept. */
static void prefer_passive_openmp(void) {
#ifdef _WIN32
    if (!getenv("OMP_WAIT_POLICY")) _putenv_s("OMP_WAIT_POLICY", "passive");
#else
    setenv("OMP_WAIT_POLICY", "passive", 0);
#endif
}

int main(int argc, char **argv) {
    prefer_passive_openmp();
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "make-model")) return cmd_make_model(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "train-tokenizer")) return cmd_train_tokenizer(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate-sparsity")) return cmd_calibrate_sparsity(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("edgeformer %s\n", ef_version_string());
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    return cli_usage_error("unknown command '%s'", cmd);
}
