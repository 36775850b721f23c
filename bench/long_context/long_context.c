/* long_context: prefill time, decode speed at depth, and memory of one model
 * at one prompt length, printed as one JSON line for run.py.
 * usage: long_context MODEL N_TOKENS [--budget BYTES] [--n-batch N]
 *        [--decode K] [--threads T] [--mla-mode auto|absorbed|expanded]
 * Memory: "peak_bytes" is the execution state's own allocation counter
 * (cache + scratch + activations), "kv_bytes" the cache at N tokens,
 * "maxrss" the process's peak resident set (weights are mmapped). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/types.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds (user + system) of the process so far: on a shared machine
 * this moves far less with other load than the wall time does. */
static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int die(const char *what) {
    printf("{\"error\": \"%s: %s\"}\n", what, ef_err_msg());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs("usage: long_context MODEL N_TOKENS [--budget B] [--n-batch N] [--decode K] [--threads T] "
              "[--mla-mode auto|absorbed|expanded]\n", stderr);
        return 2;
    }
    const int32_t n = atoi(argv[2]);
    int32_t n_batch = 512, n_decode = 16, n_threads = 2, mode = EF_MLA_AUTO;
    uint64_t budget = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--budget")) budget = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--n-batch")) n_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode")) n_decode = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mla-mode"))
            mode = !strcmp(argv[i + 1], "absorbed") ? EF_MLA_ABSORBED
                 : !strcmp(argv[i + 1], "expanded") ? EF_MLA_EXPANDED : EF_MLA_AUTO;
    }
    ef_gguf *g = NULL;
    ef_model *m = NULL;
    ef_pool *pool = NULL;
    ef_exec *e = NULL;
    ef_mem_account acct = {.budget = budget};
    if (ef_gguf_open(argv[1], 1, &g) != EF_OK) return die("open");
    if (ef_model_from_gguf(g, &m) != EF_OK) return die("load");
    if (ef_pool_create(n_threads, &pool) != EF_OK) return die("pool");
    const ef_exec_opts o = {n + n_decode, n_batch, EF_TYPE_F16, mode, 0, -1, -1};
    if (ef_exec_create_opts(m, &o, &acct, &e) != EF_OK) return die("create");
    const int32_t n_vocab = m->hp.n_vocab;
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)n);
    float *logits = malloc(sizeof(float) * (size_t)n_vocab);
    if (!prompt || !logits) return 1;
    for (int32_t i = 0; i < n; i++) prompt[i] = (int32_t)((i * 2654435761u) % (uint32_t)n_vocab);

    double t0 = now(), c0 = cpu_now();
    if (ef_exec_forward(e, pool, prompt, n, 0, 0, logits, NULL) != EF_OK) return die("prefill");
    const double prefill = now() - t0, prefill_cpu = cpu_now() - c0;
    int32_t tok = 1;
    t0 = now();
    for (int32_t i = 0; i < n_decode; i++)
        if (ef_exec_forward(e, pool, &tok, 1, n + i, 0, logits, NULL) != EF_OK) return die("decode");
    const double decode = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"n\": %d, \"prefill_s\": %.4f, \"decode_tok_s\": %.2f, \"peak_bytes\": %llu, \"kv_bytes\": %llu, "
           "\"chunk\": %d, \"maxrss\": %llu, \"params\": %llu, \"prefill_cpu_s\": %.4f}\n",
           (int)n, prefill, n_decode / decode, (unsigned long long)acct.peak,
           (unsigned long long)ef_exec_kv_bytes(e, n), (int)ef_exec_n_batch(e),
           (unsigned long long)ru.ru_maxrss * 1024ull, (unsigned long long)m->n_params, prefill_cpu);
    free(prompt);
    free(logits);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    ef_model_release(m);
    return 0;
}
