/* libFuzzer target for the safetensors reader (lib/convert/safetensors.c).
 * The first byte picks what the rest of the input is:
 *   even: a single model.safetensors file;
 *   odd:  a model.safetensors.index.json naming shards, beside one fixed
 *         valid shard "a.safetensors" holding tensor "w".
 * Either the checkpoint is rejected with a status, or every tensor it lists
 * lies inside its file, has the byte size its dtype and shape say, can be
 * found by name and converts to F32/F16 (with and without the llama Q/K
 * permutation) without leaving its buffer. */
#include "fuzz_tmpdir.h"

#include "base/alloc.h"
#include "convert/convert.h"
#include "quant/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t g_sink;

static void touch(const void *p, uint64_t n) {
    if (!n) return;
    const uint8_t *b = p;
    g_sink ^= b[0];
    g_sink ^= b[n - 1];
}

/* A valid shard: 8-byte header length, JSON header, 4 F32 values. */
static void write_fixed_shard(void) {
    static const char header[] =
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    uint8_t buf[8 + sizeof header - 1 + 16];
    uint64_t n = sizeof header - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, 0, 16);
    fuzz_write_file("a.safetensors", buf, sizeof buf);
}

static uint64_t dtype_size(uint32_t type) {
    switch (type) {
    case EF_TYPE_F32: return 4;
    case EF_TYPE_F16: case EF_TYPE_BF16: return 2;
    default: abort(); /* the reader promises only these three */
    }
}

static void check_tensor(const ef_st_set *set, const ef_st_tensor *t) {
    uint64_t elems = 1;
    if (t->n_dims < 0 || t->n_dims > EF_ST_MAX_DIMS) abort();
    for (int d = 0; d < t->n_dims; d++) {
        if (t->shape[d] < 0) abort();
        elems *= (uint64_t)t->shape[d];
    }
    if (elems * dtype_size(t->type) != t->nbytes) abort();
    if (!ef_st_find(set, t->name)) abort();
    touch(t->data, t->nbytes);
    /* Conversion reads the whole tensor; keep the work per input small. */
    if (t->nbytes > (1u << 16)) return;
    static const uint32_t out_types[] = {EF_TYPE_F32, EF_TYPE_F16};
    for (int k = 0; k < 2; k++) {
        /* 0: plain copy; 2 and 3: the Q/K permutation, which must refuse
         * shapes whose rows do not split into heads of even size */
        for (int64_t heads = 0; heads <= 3; heads += heads ? 1 : 2) {
            const void *out = NULL;
            uint64_t nbytes = 0;
            void *owned = NULL;
            if (ef_convert_tensor(t, out_types[k], heads, &out, &nbytes, &owned) == EF_OK)
                touch(out, nbytes);
            ef_free(owned);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *dir = fuzz_tmpdir();
    if (data[0] & 1) {
        write_fixed_shard();
        fuzz_remove_file("model.safetensors");
        fuzz_write_file("model.safetensors.index.json", data + 1, size - 1);
    } else {
        fuzz_remove_file("model.safetensors.index.json");
        fuzz_write_file("model.safetensors", data + 1, size - 1);
    }
    ef_st_set *set = NULL;
    if (ef_st_open_dir(dir, &set) != EF_OK) {
        if (set) abort(); /* no half-built set on failure */
        return 0;
    }
    if (set->n_tensors == 0) abort(); /* an empty checkpoint is rejected */
    for (size_t i = 0; i < set->n_tensors; i++) check_tensor(set, &set->tensors[i]);
    ef_st_set_free(set);
    return 0;
}
