/* libFuzzer target for session snapshots: the bytes go to the container
 * reader (ef_snap_validate) and to ef_session_restore_buffer on a session
 * of a tiny model built in-process (same weights every run, so committed
 * seeds carry its fingerprint).
 *
 * Input: byte 0 picks the mode, the rest is the snapshot.
 *   bit 0: recompute every frame's CRC-32 first, so mutations reach the
 *          zstd decoder and the session parser instead of stopping at the
 *          checksum;
 *   bit 1: restore into sequence 0 instead of EF_SEQ_ALL.
 * Checked: statuses are the documented ones; a failed restore leaves the
 * session byte-for-byte as it was (its own snapshot before == after); a
 * successful one leaves a session that evaluates and saves again.
 *
 * With EF_FUZZ_SNAPSHOT_SEEDS=DIR set, the first call writes the seed
 * corpus into DIR (valid snapshots of the tiny model, some truncated or
 * damaged) and exits: tests/fuzz/corpus/snapshot was made that way. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, in fuzz_tmpdir.h */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "format/gguf.h"
#include "fuzz_tmpdir.h"
#include "kv/snapshot_format.h"
#include "quant/types.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h" /* ef_crc32 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_EMBD 16
#define N_HEAD 2
#define N_HEAD_KV 1
#define N_FF 32
#define N_LAYER 2
#define N_VOCAB 260
#define N_CTX 24

/* ---- the tiny model ---- */

static float g_weights[1 << 16];
static size_t g_used;

/* Deterministic small weights (a fixed LCG), carved from one array. */
static const float *weights(size_t n) {
    static uint32_t x = 12345u;
    if (g_used + n > sizeof g_weights / sizeof g_weights[0]) abort();
    float *w = g_weights + g_used;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        w[i] = ((float)(x >> 9) / (float)(1u << 23) - 0.5f) * 0.5f;
    }
    g_used += n;
    return w;
}

static void add(ef_gguf_writer *w, const char *name, int64_t ne0, int64_t ne1, int norm) {
    int64_t ne[2] = {ne0, ne1};
    size_t n = (size_t)(ne0 * (ne1 ? ne1 : 1));
    const float *d = weights(n);
    if (norm)
        for (size_t i = 0; i < n; i++) ((float *)d)[i] = 1.0f + d[i] * 0.1f;
    if (ef_gguf_writer_add_tensor(w, name, EF_TYPE_F32, ne1 ? 2 : 1, ne, d, n * sizeof(float)) != EF_OK) abort();
}

static void write_model(const char *path) {
    ef_gguf_writer *w = NULL;
    if (ef_gguf_writer_create(&w) != EF_OK) abort();
    ef_status st = ef_gguf_writer_set_str(w, "general.architecture", "llama");
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.context_length", N_CTX);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.embedding_length", N_EMBD);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.block_count", N_LAYER);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.feed_forward_length", N_FF);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.attention.head_count", N_HEAD);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.attention.head_count_kv", N_HEAD_KV);
    if (!st) st = ef_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!st) st = ef_gguf_writer_set_u32(w, "llama.rope.dimension_count", N_EMBD / N_HEAD);
    if (!st) st = ef_vocab_write_synthetic(w, N_VOCAB);
    if (st) abort();
    const int64_t hd = N_EMBD / N_HEAD;
    add(w, "token_embd.weight", N_EMBD, N_VOCAB, 0);
    char name[64];
    for (int il = 0; il < N_LAYER; il++) {
#define T(suffix, a, b, norm)                                     \
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);         \
    add(w, name, a, b, norm)
        T("attn_norm.weight", N_EMBD, 0, 1);
        T("attn_q.weight", N_EMBD, N_HEAD * hd, 0);
        T("attn_k.weight", N_EMBD, N_HEAD_KV * hd, 0);
        T("attn_v.weight", N_EMBD, N_HEAD_KV * hd, 0);
        T("attn_output.weight", N_HEAD * hd, N_EMBD, 0);
        T("ffn_norm.weight", N_EMBD, 0, 1);
        T("ffn_gate.weight", N_EMBD, N_FF, 0);
        T("ffn_up.weight", N_EMBD, N_FF, 0);
        T("ffn_down.weight", N_FF, N_EMBD, 0);
#undef T
    }
    add(w, "output_norm.weight", N_EMBD, 0, 1);
    add(w, "output.weight", N_EMBD, N_VOCAB, 0);
    if (ef_gguf_writer_write(w, path) != EF_OK) abort();
    ef_gguf_writer_free(w);
}

/* ---- the session under test ---- */

static ef_model *g_model;
static ef_session *g_session;
static uint8_t *g_baseline; /* the session's own whole snapshot */
static size_t g_baseline_size;

static uint8_t *save_all(ef_session *s, int32_t seq, size_t *size) {
    size_t need = 0;
    if (ef_session_save_buffer(s, seq, NULL, 0, &need) != EF_ERR_BUFFER_TOO_SMALL) abort();
    uint8_t *b = malloc(need);
    if (!b || ef_session_save_buffer(s, seq, b, need, size) != EF_OK || *size != need) abort();
    return b;
}

static void take_baseline(void) {
    free(g_baseline);
    g_baseline = save_all(g_session, EF_SEQ_ALL, &g_baseline_size);
}

static void setup(void) {
    if (g_session) return;
    char path[256];
    snprintf(path, sizeof path, "%s/tiny.gguf", fuzz_tmpdir());
    write_model(path);
    ef_session_params *p = NULL;
    ef_sampler_params *sp = NULL;
    if (ef_model_load(path, NULL, &g_model) != EF_OK || ef_session_params_create(&p) != EF_OK ||
        ef_session_params_set_n_ctx(p, N_CTX) != EF_OK || ef_session_params_set_threads(p, 1) != EF_OK ||
        ef_session_params_set_seed(p, 99) != EF_OK || ef_session_create(g_model, p, &g_session) != EF_OK)
        abort();
    ef_session_params_free(p);
    /* a repetition history, so the sampler frame has one */
    if (ef_sampler_params_create(&sp) != EF_OK || ef_sampler_params_set_repeat_penalty(sp, 1.2f, 8) != EF_OK ||
        ef_sampler_params_set_seed(sp, 7) != EF_OK || ef_session_set_sampler(g_session, sp) != EF_OK)
        abort();
    ef_sampler_params_free(sp);
    const int32_t prompt[5] = {1, 40, 41, 42, 43};
    if (ef_session_eval(g_session, prompt, 5, 0) != EF_OK) abort();
    int32_t t;
    if (ef_session_sample(g_session, &t) != EF_OK) abort();
    take_baseline();
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, uint8_t mode, const uint8_t *snap, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&mode, 1, 1, f) != 1 || (n && fwrite(snap, 1, n, f) != n) || fclose(f) != 0) abort();
}

static void write_seeds(const char *dir) {
    size_t n_all = 0, n_one = 0;
    uint8_t *all = save_all(g_session, EF_SEQ_ALL, &n_all);
    uint8_t *one = save_all(g_session, 0, &n_one);
    write_seed(dir, "valid_all", 0, all, n_all);
    write_seed(dir, "valid_all_fixcrc", 1, all, n_all);
    write_seed(dir, "valid_seq0", 2, one, n_one);
    write_seed(dir, "valid_seq0_fixcrc", 3, one, n_one);
    write_seed(dir, "truncated_half", 0, all, n_all / 2);
    write_seed(dir, "truncated_header", 0, all, 10);
    uint8_t *bad = malloc(n_all);
    memcpy(bad, all, n_all);
    bad[n_all / 3] ^= 0x10;
    write_seed(dir, "bitflip", 0, bad, n_all);
    memcpy(bad, all, n_all);
    bad[8] = 2; /* version 2 */
    write_seed(dir, "version2", 0, bad, n_all);
    write_seed(dir, "all_into_seq0", 2, all, n_all);
    write_seed(dir, "empty", 0, NULL, 0);
    free(bad);
    free(all);
    free(one);
}

/* ---- one input ---- */

/* Rewrites every frame's CRC that lies within the buffer. */
static void fix_crcs(uint8_t *b, size_t n) {
    size_t pos = EF_SNAP_HEADER_BYTES;
    while (n >= EF_SNAP_FRAME_HEADER_BYTES && pos <= n - EF_SNAP_FRAME_HEADER_BYTES) {
        uint64_t stored = 0;
        for (int i = 0; i < 8; i++) stored |= (uint64_t)b[pos + 12 + i] << (8 * i);
        if (stored > n - pos - EF_SNAP_FRAME_HEADER_BYTES) return;
        uint32_t crc = ef_crc32(0, b + pos, EF_SNAP_FRAME_CRC_OFFSET);
        crc = ef_crc32(crc, b + pos + EF_SNAP_FRAME_HEADER_BYTES, (size_t)stored);
        for (int i = 0; i < 4; i++) b[pos + EF_SNAP_FRAME_CRC_OFFSET + i] = (uint8_t)(crc >> (8 * i));
        pos += EF_SNAP_FRAME_HEADER_BYTES + (size_t)stored;
    }
}

static int documented(ef_status st) {
    return st == EF_ERR_FORMAT || st == EF_ERR_CORRUPT || st == EF_ERR_MISMATCH || st == EF_ERR_INVALID_ARG ||
           st == EF_ERR_UNSUPPORTED || st == EF_ERR_NO_MEMORY || st == EF_ERR_BUDGET;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    const char *seed_dir = getenv("EF_FUZZ_SNAPSHOT_SEEDS");
    if (seed_dir) {
        write_seeds(seed_dir);
        exit(0);
    }
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    size_t n = size - 1;
    uint8_t *snap = malloc(n ? n : 1); /* exact size: sanitizers see over-reads */
    if (!snap) return 0;
    memcpy(snap, data + 1, n);
    if (mode & 1) fix_crcs(snap, n);

    ef_status cst = ef_snap_validate(snap, n, (uint64_t)1 << 24);
    if (cst != EF_OK && !documented(cst)) abort();

    ef_status st = ef_session_restore_buffer(g_session, (mode & 2) ? 0 : EF_SEQ_ALL, snap, n);
    if (st == EF_OK) {
        if (cst != EF_OK) abort(); /* the session accepted what the container refused */
        /* usable afterwards: eval one token when there is room, save again */
        if (ef_session_n_past(g_session) < ef_session_n_ctx(g_session)) {
            const int32_t tok = 50;
            if (ef_session_eval(g_session, &tok, 1, 0) != EF_OK) abort();
        }
        take_baseline();
    } else {
        if (!documented(st)) abort();
        size_t now_size = 0;
        uint8_t *now = save_all(g_session, EF_SEQ_ALL, &now_size);
        if (now_size != g_baseline_size || memcmp(now, g_baseline, now_size) != 0) abort(); /* changed */
        free(now);
    }
    free(snap);
    return 0;
}
