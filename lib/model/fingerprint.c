/* The model fingerprint that snapshots carry, so a snapshot is never
 * restored into a model that would read its KV rows differently.
 *
 * FNV-1a (64-bit) over, in this order, integers as 8-byte little-endian
 * and floats by their bit patterns:
 *   1. the domain string "edgeformer-fingerprint-1" and the architecture name;
 *   2. every ef_hparams field (listed in hash_hparams);
 *   3. the tensor count, then for each tensor in file order: its name, type,
 *      n_dims, the n_dims extents and its byte size;
 *   4. for each tensor, up to 64 bytes of its data at the start, at the
 *      middle (offset nbytes/2 rounded down) and at the end: the weights as
 *      the compute code sees them (after any load-time requantization).
 * A final avalanche step spreads the bits; 0 is mapped to 1 so that 0 can
 * mean "not computed". The sample makes two random models of one shape
 * differ at the cost of 192 bytes per tensor; it cannot tell apart models
 * that differ only in unsampled bytes (a fine-tune touching few weights). */
#include <stdatomic.h>
#include <string.h>

#include "model/model.h"

#define FP_SAMPLE_BYTES 64

typedef struct fp_hash {
    uint64_t h;
} fp_hash;

static void fp_bytes(fp_hash *f, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        f->h ^= p[i];
        f->h *= 0x100000001B3ull; /* FNV-1a 64 prime */
    }
}

static void fp_u64(fp_hash *f, uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(v >> (8 * i));
    fp_bytes(f, le, 8);
}

static void fp_i64(fp_hash *f, int64_t v) { fp_u64(f, (uint64_t)v); }

static void fp_f32(fp_hash *f, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    fp_u64(f, bits);
}

/* Strings carry their length so that "ab"+"c" differs from "a"+"bc". */
static void fp_str(fp_hash *f, const char *s) {
    size_t n = s ? strlen(s) : 0;
    fp_u64(f, n);
    fp_bytes(f, s, n);
}

static void hash_hparams(fp_hash *f, const ef_hparams *hp) {
    const int64_t ints[] = {
        hp->n_vocab, hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim,
        hp->n_ff, hp->n_rot, hp->rope_mode, hp->attn_kind, hp->q_lora_rank, hp->kv_lora_rank,
        hp->qk_nope_dim, hp->qk_rope_dim, hp->v_head_dim, hp->mla_split, hp->yarn_orig_ctx,
        hp->n_layer_dense_lead, hp->n_expert, hp->n_expert_used, hp->n_expert_shared, hp->n_ff_exp,
        hp->expert_weights_norm, hp->expert_gating, hp->n_swa, hp->swa_pattern, hp->n_sinks,
    };
    const float floats[] = {
        hp->norm_eps, hp->rope_freq_base, hp->rope_freq_scale, hp->kq_scale,
        hp->yarn_factor, hp->yarn_log_mul, hp->expert_weights_scale,
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) fp_i64(f, ints[i]);
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) fp_f32(f, floats[i]);
}

static void hash_tensor_sample(fp_hash *f, const ef_tensor *t) {
    const unsigned char *d = t->data;
    uint64_t n = t->nbytes;
    if (!d || n == 0) return;
    uint64_t take = n < FP_SAMPLE_BYTES ? n : FP_SAMPLE_BYTES;
    uint64_t offsets[3] = {0, n / 2 > n - take ? n - take : n / 2, n - take};
    for (int i = 0; i < 3; i++) fp_bytes(f, d + offsets[i], (size_t)take);
}

static uint64_t compute_fingerprint(const ef_model *m) {
    fp_hash f = {0xCBF29CE484222325ull}; /* FNV-1a 64 offset basis */
    fp_str(&f, "edgeformer-fingerprint-1");
    fp_str(&f, m->arch_name);
    hash_hparams(&f, &m->hp);
    fp_i64(&f, m->n_tensors);
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const ef_tensor *t = &m->tensors[i];
        fp_str(&f, t->name);
        fp_u64(&f, t->type);
        fp_i64(&f, t->n_dims);
        for (int32_t d = 0; d < t->n_dims && d < 4; d++) fp_i64(&f, t->ne[d]);
        fp_u64(&f, t->nbytes);
    }
    for (int64_t i = 0; i < m->n_tensors; i++) hash_tensor_sample(&f, &m->tensors[i]);
    /* avalanche (splitmix64's finaliser): FNV's last bytes mix weakly */
    uint64_t z = f.h;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 1;
}

uint64_t ef_model_fingerprint(const ef_model *m) {
    if (!m) return 0;
    /* The model is immutable after load, so concurrent first callers compute
     * the same value: a benign race, settled by the atomic store. */
    _Atomic uint64_t *cache = (_Atomic uint64_t *)&m->fingerprint;
    uint64_t fp = atomic_load_explicit(cache, memory_order_acquire);
    if (fp != 0) return fp;
    fp = compute_fingerprint(m);
    atomic_store_explicit(cache, fp, memory_order_release);
    return fp;
}
