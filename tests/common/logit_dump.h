/* The program behind the logit-dumping test tools (tests/model/dump_logits.c,
 * tests/mla/mla_dump.c): runs a model on a prompt of token ids and writes
 * what their Python sides compare:
 *   LOGITS.bin  float32 [n_prompt][n_vocab], the prompt evaluated in one
 *               forward call (or in the chunks given by --chunks a,b,...)
 *   IDS.bin     int32 [n_gen], greedy continuation decoded one token per
 *               call, which exercises the KV cache.
 * usage: PROG MODEL.gguf PROMPT.bin LOGITS.bin IDS.bin [--threads N]
 *        [--chunks a,b,..] [--n-gen N] [--mla-mode auto|absorbed|expanded]
 *        [--kv f32|f16] [--full-cache 0|1] [--n-batch N] [--n-ctx N]
 * and prints one line with the KV bytes per token and the state's peak. */
#ifndef EF_TESTS_LOGIT_DUMP_H
#define EF_TESTS_LOGIT_DUMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "common/dump_io.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/types.h"

#define LOGIT_DUMP_MAX_CHUNKS 64

static int logit_dump_fail(const char *prog, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, ef_err_msg());
    return 1;
}

static int logit_dump_main(const char *prog, int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL PROMPT LOGITS IDS [--threads N] [--chunks a,b,..] [--n-gen N] "
                        "[--mla-mode auto|absorbed|expanded] [--kv f32|f16] [--full-cache 0|1] [--n-batch N] "
                        "[--n-ctx N]\n", prog);
        return 2;
    }
    int32_t n_threads = 1, n_gen = 32, n_chunks = 0, chunks[LOGIT_DUMP_MAX_CHUNKS], mla_mode = EF_MLA_AUTO;
    uint32_t kv_type = EF_TYPE_F32;
    int32_t full_cache = 0, n_batch = 0, n_ctx = 0;
    for (int i = 5; i + 1 < argc; i += 2) {
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--threads")) n_threads = atoi(v);
        else if (!strcmp(argv[i], "--n-gen")) n_gen = atoi(v);
        else if (!strcmp(argv[i], "--full-cache")) full_cache = atoi(v);
        else if (!strcmp(argv[i], "--n-batch")) n_batch = atoi(v);
        else if (!strcmp(argv[i], "--n-ctx")) n_ctx = atoi(v);
        else if (!strcmp(argv[i], "--kv")) kv_type = !strcmp(v, "f16") ? EF_TYPE_F16 : EF_TYPE_F32;
        else if (!strcmp(argv[i], "--mla-mode"))
            mla_mode = !strcmp(v, "absorbed") ? EF_MLA_ABSORBED : !strcmp(v, "expanded") ? EF_MLA_EXPANDED : EF_MLA_AUTO;
        else if (!strcmp(argv[i], "--chunks")) {
            for (char *s = argv[i + 1]; *s && n_chunks < LOGIT_DUMP_MAX_CHUNKS; s += *s == ',')
                chunks[n_chunks++] = (int32_t)strtol(s, &s, 10);
        } else {
            fprintf(stderr, "%s: unknown option %s\n", prog, argv[i]);
            return 2;
        }
    }
    int32_t n_prompt = 0;
    int32_t *prompt = dump_read_ids(argv[2], &n_prompt);
    if (!prompt || n_prompt < 1) {
        fprintf(stderr, "%s: cannot read prompt %s\n", prog, argv[2]);
        return 1;
    }
    if (n_chunks == 0) chunks[n_chunks++] = n_prompt;

    ef_gguf *g = NULL;
    ef_model *m = NULL;
    ef_pool *pool = NULL;
    ef_exec *e = NULL;
    ef_mem_account acct = {0};
    if (ef_gguf_open(argv[1], 1, &g) != EF_OK) return logit_dump_fail(prog, "cannot open the model");
    if (ef_model_from_gguf(g, &m) != EF_OK) return logit_dump_fail(prog, "cannot load the model");
    if (ef_pool_create(n_threads, &pool) != EF_OK) return logit_dump_fail(prog, "cannot create the thread pool");
    const int32_t n_vocab = m->hp.n_vocab;
    for (int32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= n_vocab) {
            fprintf(stderr, "%s: prompt token %d out of range\n", prog, (int)prompt[i]);
            return 1;
        }
    const ef_exec_opts opts = {n_ctx ? n_ctx : n_prompt + n_gen, n_batch ? n_batch : n_prompt, kv_type, mla_mode,
                               full_cache, -1, -1};
    if (ef_exec_create_opts(m, &opts, &acct, &e) != EF_OK)
        return logit_dump_fail(prog, "cannot create the session state");

    float *logits = malloc(sizeof(float) * (size_t)n_prompt * (size_t)n_vocab); /* [n_prompt][n_vocab] */
    int32_t *gen = malloc(sizeof(int32_t) * (size_t)(n_gen > 0 ? n_gen : 1));    /* [n_gen] */
    float *row = malloc(sizeof(float) * (size_t)n_vocab);                        /* [n_vocab] */
    if (!logits || !gen || !row) return 1;

    int32_t pos = 0;
    for (int32_t c = 0; c < n_chunks && pos < n_prompt; c++) {
        int32_t n = chunks[c] < n_prompt - pos ? chunks[c] : n_prompt - pos;
        if (ef_exec_forward(e, pool, prompt + pos, n, pos, 1, logits + (size_t)pos * n_vocab, NULL) != EF_OK)
            return logit_dump_fail(prog, "forward failed");
        pos += n;
    }
    if (pos != n_prompt) {
        fprintf(stderr, "%s: the chunks cover %d of %d prompt tokens\n", prog, (int)pos, (int)n_prompt);
        return 2;
    }
    int32_t next = dump_argmax(logits + (size_t)(n_prompt - 1) * n_vocab, n_vocab);
    for (int32_t i = 0; i < n_gen; i++) {
        gen[i] = next;
        if (i + 1 == n_gen) break;
        if (ef_exec_forward(e, pool, &next, 1, n_prompt + i, 0, row, NULL) != EF_OK)
            return logit_dump_fail(prog, "decode failed");
        next = dump_argmax(row, n_vocab);
    }
    if (!dump_write_file(argv[3], logits, sizeof(float) * (size_t)n_prompt * n_vocab) ||
        !dump_write_file(argv[4], gen, sizeof(int32_t) * (size_t)n_gen)) {
        fprintf(stderr, "%s: cannot write the outputs\n", prog);
        return 1;
    }
    printf("%s: %d prompt tokens in %d chunk(s), %d generated, %d thread(s); kv_bytes_per_token %llu peak %llu\n",
           prog, (int)n_prompt, (int)n_chunks, (int)n_gen, (int)n_threads,
           (unsigned long long)ef_exec_kv_bytes_per_token(e), (unsigned long long)acct.peak);
    free(logits);
    free(gen);
    free(row);
    free(prompt);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    ef_model_release(m);
    return 0;
}

#endif
