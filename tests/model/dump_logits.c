/* dump_logits: runs a model on a prompt of token ids and writes what the
 * PyTorch reference compares:
 *   LOGITS.bin  float32 [n_prompt][n_vocab], the prompt evaluated in one
 *               forward call (or in the chunks given by --chunks a,b,...)
 *   IDS.bin     int32 [n_gen], greedy continuation decoded one token per
 *               call, which exercises the KV cache.
 * usage: dump_logits MODEL.gguf PROMPT.bin LOGITS.bin IDS.bin
 *                    [--threads N] [--chunks a,b,...] [--n-gen N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "model/model.h"
#include "common/dump_io.h"

#define MAX_CHUNKS 64

static int die(const char *what) {
    fprintf(stderr, "dump_logits: %s: %s\n", what, ef_err_msg());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fputs("usage: dump_logits MODEL PROMPT LOGITS IDS [--threads N] [--chunks a,b,..] [--n-gen N]\n", stderr);
        return 2;
    }
    int32_t n_threads = 1, n_gen = 32, n_chunks = 0, chunks[MAX_CHUNKS];
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n-gen")) n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunks")) {
            for (char *s = argv[i + 1]; *s && n_chunks < MAX_CHUNKS; s += *s == ',') chunks[n_chunks++] = (int32_t)strtol(s, &s, 10);
        } else {
            fprintf(stderr, "dump_logits: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int32_t n_prompt = 0;
    int32_t *prompt = dump_read_ids(argv[2], &n_prompt);
    if (!prompt || n_prompt < 1) {
        fprintf(stderr, "dump_logits: cannot read prompt %s\n", argv[2]);
        return 1;
    }
    if (n_chunks == 0) chunks[n_chunks++] = n_prompt;

    ef_gguf *g = NULL;
    ef_model *m = NULL;
    ef_pool *pool = NULL;
    ef_exec *e = NULL;
    ef_mem_account acct = {0};
    if (ef_gguf_open(argv[1], 1, &g) != EF_OK) return die("cannot open the model");
    if (ef_model_from_gguf(g, &m) != EF_OK) return die("cannot load the model");
    if (ef_pool_create(n_threads, &pool) != EF_OK) return die("cannot create the thread pool");
    const int32_t n_vocab = m->hp.n_vocab;
    for (int32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= n_vocab) {
            fprintf(stderr, "dump_logits: prompt token %d out of range\n", (int)prompt[i]);
            return 1;
        }
    if (ef_exec_create(m, n_prompt + n_gen, n_prompt, &acct, &e) != EF_OK) return die("cannot create the session state");

    float *logits = malloc(sizeof(float) * (size_t)n_prompt * (size_t)n_vocab); /* [n_prompt][n_vocab] */
    int32_t *gen = malloc(sizeof(int32_t) * (size_t)(n_gen > 0 ? n_gen : 1));    /* [n_gen] */
    float *row = malloc(sizeof(float) * (size_t)n_vocab);                        /* [n_vocab] */
    if (!logits || !gen || !row) return 1;

    int32_t pos = 0;
    for (int32_t c = 0; c < n_chunks && pos < n_prompt; c++) {
        int32_t n = chunks[c] < n_prompt - pos ? chunks[c] : n_prompt - pos;
        if (ef_exec_forward(e, pool, prompt + pos, n, pos, 1, logits + (size_t)pos * n_vocab, NULL) != EF_OK)
            return die("forward failed");
        pos += n;
    }
    if (pos != n_prompt) {
        fprintf(stderr, "dump_logits: the chunks cover %d of %d prompt tokens\n", (int)pos, (int)n_prompt);
        return 2;
    }
    int32_t next = dump_argmax(logits + (size_t)(n_prompt - 1) * n_vocab, n_vocab);
    for (int32_t i = 0; i < n_gen; i++) {
        gen[i] = next;
        if (i + 1 == n_gen) break;
        if (ef_exec_forward(e, pool, &next, 1, n_prompt + i, 0, row, NULL) != EF_OK) return die("decode failed");
        next = dump_argmax(row, n_vocab);
    }
    if (!dump_write_file(argv[3], logits, sizeof(float) * (size_t)n_prompt * n_vocab) ||
        !dump_write_file(argv[4], gen, sizeof(int32_t) * (size_t)n_gen)) {
        fprintf(stderr, "dump_logits: cannot write the outputs\n");
        return 1;
    }
    printf("dump_logits: %d prompt tokens in %d chunk(s), %d generated, %d thread(s), peak %llu bytes\n",
           (int)n_prompt, (int)n_chunks, (int)n_gen, (int)n_threads, (unsigned long long)acct.peak);
    free(logits);
    free(gen);
    free(row);
    free(prompt);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    ef_model_release(m);
    return 0;
}
