/* Unit tests of lib/convert: the safetensors reader on good and malformed
 * files, the llama Q/K row permutation, dtype conversion, name mapping,
 * Llama 3.1 rope factors, and a whole conversion of a tiny checkpoint with
 * every allocation failing in turn. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "convert/convert.h"
#include "model/model.h"
#include "quant/types.h"
#include "tokenizer/byte_symbols.h"

#define TMP EF_TEST_TMP "/convert_unit"

/* ---- writing test files ---- */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A safetensors file: header text as given, then `data_size` bytes 0..255. */
static void write_st(const char *path, const char *header, size_t data_size) {
    size_t hl = strlen(header);
    uint8_t *buf = malloc(8 + hl + data_size + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_size; i++) buf[8 + hl + i] = (uint8_t)i;
    write_file(path, buf, 8 + hl + data_size);
    free(buf);
}

static ef_status open_st(const char *header, size_t data_size, ef_st_set **set) {
    const char *path = TMP "/t.safetensors";
    write_st(path, header, data_size);
    assert_int_equal(ef_st_set_create(set), EF_OK);
    return ef_st_add_file(*set, path);
}

static void expect_st_error(const char *header, size_t data_size, ef_status want, const char *word) {
    ef_st_set *set;
    ef_status st = open_st(header, data_size, &set);
    if (st != want || !strstr(ef_err_msg(), word))
        fprintf(stderr, "header %s: status %d, message '%s' (want %d with '%s')\n", header, st,
                ef_err_msg(), want, word);
    assert_int_equal(st, want);
    assert_non_null(strstr(ef_err_msg(), word));
    ef_st_set_free(set);
}

static int setup(void **state) {
    (void)state;
    mkdir(EF_TEST_TMP, 0755);
    mkdir(TMP, 0755);
    return 0;
}

/* ---- safetensors ---- */

static void test_st_good(void **state) {
    (void)state;
    ef_st_set *set;
    assert_int_equal(open_st("{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                             "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                             "\"c\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[32,34]}}",
                             34, &set),
                     EF_OK);
    assert_int_equal(set->n_tensors, 3);
    const ef_st_tensor *a = ef_st_find(set, "a"), *b = ef_st_find(set, "b"), *c = ef_st_find(set, "c");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_null(ef_st_find(set, "__metadata__"));
    assert_int_equal(a->type, EF_TYPE_F32);
    assert_int_equal(a->n_dims, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 3);
    assert_int_equal(a->nbytes, 24);
    assert_int_equal(b->type, EF_TYPE_BF16);
    assert_int_equal(b->data - a->data, 24);
    assert_int_equal(b->data[0], 24); /* data bytes count up from the data start */
    assert_int_equal(c->n_dims, 0);
    assert_int_equal(c->nbytes, 2);
    ef_st_set_free(set);
}

static void test_st_malformed(void **state) {
    (void)state;
    /* Header length past the end of the file. */
    write_file(TMP "/short.safetensors", "\xff\xff\xff\xff\x00\x00\x00\x00{}", 10);
    ef_st_set *set;
    assert_int_equal(ef_st_set_create(&set), EF_OK);
    assert_int_equal(ef_st_add_file(set, TMP "/short.safetensors"), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "header length"));
    ef_st_set_free(set);
    /* Shorter than the length field. */
    write_file(TMP "/tiny.safetensors", "\x02\x00\x00", 3);
    assert_int_equal(ef_st_set_create(&set), EF_OK);
    assert_int_equal(ef_st_add_file(set, TMP "/tiny.safetensors"), EF_ERR_FORMAT);
    ef_st_set_free(set);

    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]", 8, EF_ERR_FORMAT, "JSON");
    expect_st_error("[1,2]", 0, EF_ERR_FORMAT, "object");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
                    EF_ERR_FORMAT, "past the end");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16,
                    EF_ERR_FORMAT, "need 12");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                    12, EF_ERR_FORMAT, "overlap");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                    EF_ERR_FORMAT, "begin <= end");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                    EF_ERR_FORMAT, "shape[0]");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8,
                    EF_ERR_FORMAT, "shape[0]");
    /* 2^31 * 2^31 * 2^31 * 4 bytes overflows 64 bits. */
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,2147483648],"
                    "\"data_offsets\":[0,8]}}", 8, EF_ERR_FORMAT, "overflow");
    expect_st_error("{\"weird\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                    EF_ERR_UNSUPPORTED, "weird");
    expect_st_error("{\"weird\":{\"dtype\":\"X7\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                    EF_ERR_UNSUPPORTED, "X7");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, EF_ERR_FORMAT, "more than once");
    expect_st_error("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, EF_ERR_FORMAT, "dtype");
}

static void test_st_missing_shard(void **state) {
    (void)state;
    const char *dir = TMP "/sharded";
    mkdir(dir, 0755);
    write_st(TMP "/sharded/s1.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    unlink(TMP "/sharded/s2.safetensors");
    const char *index = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}";
    write_file(TMP "/sharded/model.safetensors.index.json", index, strlen(index));
    ef_st_set *set = NULL;
    assert_int_equal(ef_st_open_dir(dir, &set), EF_ERR_IO);
    assert_null(set);
    assert_non_null(strstr(ef_err_msg(), "s2.safetensors"));
    /* A tensor the index promises but the shard lacks. */
    const char *index2 = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"zz\":\"s1.safetensors\"}}";
    write_file(TMP "/sharded/model.safetensors.index.json", index2, strlen(index2));
    assert_int_equal(ef_st_open_dir(dir, &set), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "zz"));
    /* Shard names may not leave the folder. */
    const char *index3 = "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}";
    write_file(TMP "/sharded/model.safetensors.index.json", index3, strlen(index3));
    assert_int_equal(ef_st_open_dir(dir, &set), EF_ERR_FORMAT);
}

/* ---- tensor data ---- */

static void test_permutation(void **state) {
    (void)state;
    enum { ROWS = 12, COLS = 3, HEADS = 2, HD = ROWS / HEADS };
    float in[ROWS][COLS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) in[r][c] = (float)(100 * r + c);
    ef_st_tensor t = {.name = "q", .type = EF_TYPE_F32, .n_dims = 2, .shape = {ROWS, COLS},
                      .data = (const uint8_t *)in, .nbytes = sizeof in};
    const void *data;
    uint64_t nbytes;
    void *owned;
    assert_int_equal(ef_convert_tensor(&t, EF_TYPE_F32, HEADS, &data, &nbytes, &owned), EF_OK);
    assert_non_null(owned);
    assert_int_equal(nbytes, sizeof in);
    const float *out = data;
    /* In each head, HF's pair (i, i + HD/2) lands at (2i, 2i + 1). */
    for (int h = 0; h < HEADS; h++)
        for (int i = 0; i < HD / 2; i++)
            for (int c = 0; c < COLS; c++) {
                assert_true(out[(h * HD + 2 * i) * COLS + c] == in[h * HD + i][c]);
                assert_true(out[(h * HD + 2 * i + 1) * COLS + c] == in[h * HD + i + HD / 2][c]);
            }
    ef_free(owned);

    /* A bias permutes the same way, element by element. */
    float bias[ROWS];
    for (int r = 0; r < ROWS; r++) bias[r] = (float)r;
    ef_st_tensor b = {.name = "qb", .type = EF_TYPE_F32, .n_dims = 1, .shape = {ROWS},
                      .data = (const uint8_t *)bias, .nbytes = sizeof bias};
    assert_int_equal(ef_convert_tensor(&b, EF_TYPE_F32, HEADS, &data, &nbytes, &owned), EF_OK);
    out = data;
    for (int h = 0; h < HEADS; h++)
        for (int i = 0; i < HD / 2; i++) {
            assert_true(out[h * HD + 2 * i] == bias[h * HD + i]);
            assert_true(out[h * HD + 2 * i + 1] == bias[h * HD + i + HD / 2]);
        }
    ef_free(owned);

    /* Unchanged tensors are used in place. */
    assert_int_equal(ef_convert_tensor(&t, EF_TYPE_F32, 0, &data, &nbytes, &owned), EF_OK);
    assert_null(owned);
    assert_ptr_equal(data, in);
    /* Rows that do not split into heads of even size. */
    assert_int_equal(ef_convert_tensor(&t, EF_TYPE_F32, 4, &data, &nbytes, &owned), EF_ERR_FORMAT);
}

static void test_dtypes(void **state) {
    (void)state;
    const float vals[4] = {1.0f, -2.5f, 0.333333f, 65504.0f};
    uint16_t bf[4];
    for (int i = 0; i < 4; i++) bf[i] = ef_f32_to_bf16(vals[i]);
    ef_st_tensor t = {.name = "w", .type = EF_TYPE_BF16, .n_dims = 2, .shape = {2, 2},
                      .data = (const uint8_t *)bf, .nbytes = sizeof bf};
    const void *data;
    uint64_t nbytes;
    void *owned;
    assert_int_equal(ef_convert_tensor(&t, EF_TYPE_F32, 0, &data, &nbytes, &owned), EF_OK);
    assert_int_equal(nbytes, 16);
    for (int i = 0; i < 4; i++) assert_true(((const float *)data)[i] == ef_bf16_to_f32(bf[i]));
    ef_free(owned);
    assert_int_equal(ef_convert_tensor(&t, EF_TYPE_F16, 0, &data, &nbytes, &owned), EF_OK);
    assert_int_equal(nbytes, 8);
    for (int i = 0; i < 4; i++)
        assert_int_equal(((const uint16_t *)data)[i], ef_f32_to_f16(ef_bf16_to_f32(bf[i])));
    ef_free(owned);
    /* Output types: norms F32, matrices as asked, unfit rows fall back to F16. */
    assert_int_equal(ef_convert_pick_type(&t, EF_TYPE_BF16), EF_TYPE_BF16);
    ef_st_tensor v = {.name = "n", .type = EF_TYPE_BF16, .n_dims = 1, .shape = {4}};
    assert_int_equal(ef_convert_pick_type(&v, EF_TYPE_F16), EF_TYPE_F32);
    const ef_type_info *q8 = ef_type_get(EF_TYPE_Q8_0);
    if (q8 && q8->from_float) assert_int_equal(ef_convert_pick_type(&t, EF_TYPE_Q8_0), EF_TYPE_F16);
}

static void test_names(void **state) {
    (void)state;
    ef_hf_config llama = {.arch_name = "llama", .arch = EF_ARCH_LLAMA, .n_layer = 12};
    ef_hf_config qwen = {.arch_name = "qwen2", .arch = EF_ARCH_QWEN2, .n_layer = 12};
    char name[128];
    ef_hf_permute p;
    assert_int_equal(ef_hf_map_name("model.embed_tokens.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "token_embd.weight");
    assert_int_equal(ef_hf_map_name("lm_head.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "output.weight");
    assert_int_equal(ef_hf_map_name("model.norm.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "output_norm.weight");
    assert_int_equal(ef_hf_map_name("model.layers.11.self_attn.q_proj.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.11.attn_q.weight");
    assert_int_equal(p, EF_PERMUTE_Q);
    assert_int_equal(ef_hf_map_name("model.layers.3.self_attn.k_proj.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.3.attn_k.weight");
    assert_int_equal(p, EF_PERMUTE_K);
    assert_int_equal(ef_hf_map_name("model.layers.3.self_attn.k_proj.weight", &qwen, name, sizeof name, &p), 1);
    assert_int_equal(p, EF_PERMUTE_NONE);
    assert_int_equal(ef_hf_map_name("model.layers.0.self_attn.o_proj.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.0.attn_output.weight");
    assert_int_equal(ef_hf_map_name("model.layers.0.self_attn.v_proj.bias", &qwen, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.0.attn_v.bias");
    assert_int_equal(ef_hf_map_name("model.layers.2.mlp.down_proj.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.2.ffn_down.weight");
    assert_int_equal(ef_hf_map_name("model.layers.2.post_attention_layernorm.weight", &llama, name, sizeof name, &p), 1);
    assert_string_equal(name, "blk.2.ffn_norm.weight");
    assert_int_equal(ef_hf_map_name("model.layers.2.self_attn.rotary_emb.inv_freq", &llama, name, sizeof name, &p), 0);
    assert_int_equal(ef_hf_map_name("model.layers.12.mlp.up_proj.weight", &llama, name, sizeof name, &p), -1);
    assert_int_equal(ef_hf_map_name("model.layers.01.mlp.up_proj.weight", &llama, name, sizeof name, &p), -1);
    assert_int_equal(ef_hf_map_name("model.layers.1.mlp.fc1.weight", &llama, name, sizeof name, &p), -1);
    assert_int_equal(ef_hf_map_name("transformer.wte.weight", &llama, name, sizeof name, &p), -1);
}

static void test_llama3_factors(void **state) {
    (void)state;
    ef_hf_config cfg = {.head_dim = 128, .rope_theta = 500000.0, .rope_factor = 8.0,
                        .low_freq_factor = 1.0, .high_freq_factor = 4.0, .rope_orig_ctx = 8192};
    float f[64];
    ef_rope_llama3_factors(&cfg, f);
    const double pi = 3.14159265358979323846;
    int n_mid = 0;
    for (int i = 0; i < 64; i++) {
        double wavelen = 2 * pi * pow(500000.0, 2.0 * i / 128.0);
        if (wavelen < 8192.0 / 4.0) assert_true(f[i] == 1.0f);
        else if (wavelen > 8192.0) assert_true(f[i] == 8.0f);
        else {
            n_mid++;
            assert_true(f[i] >= 1.0f && f[i] <= 8.0f);
        }
        if (i) assert_true(f[i] >= f[i - 1]); /* longer wavelengths scale more */
    }
    assert_true(n_mid > 0);
}

/* ---- a whole conversion under allocation failures ---- */

static void put_f32(FILE *f, float v) { fwrite(&v, 4, 1, f); }

/* A 1-layer llama with 2 heads of 4, 1 KV head, 264-row embedding, and a
 * byte-level tokenizer of 256 byte symbols + 3 merges + 1 special token. */
static void write_tiny_checkpoint(const char *dir) {
    mkdir(dir, 0755);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,"
                      "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
                      "\"intermediate_size\":8,\"vocab_size\":264,\"rms_norm_eps\":1e-5}";
    write_file(path, cfg, strlen(cfg));

    /* tokenizer.json */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"added_tokens\":[{\"id\":259,\"content\":\"<s>\",\"special\":true}],"
          "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true},"
          "\"model\":{\"type\":\"BPE\",\"vocab\":{", f);
    for (int b = 0; b < 256; b++) {
        char s[3] = {0};
        ef_byte_symbol_utf8((uint8_t)b, s);
        fputc('"', f);
        if (s[0] == '"' || s[0] == '\\') fputc('\\', f);
        fputs(s, f);
        fprintf(f, "\":%d,", b);
    }
    fputs("\"th\":256,\"the\":257,\"\xc4\xa0the\":258},\"merges\":[\"t h\",[\"th\",\"e\"],\"\xc4\xa0 the\"]}}", f);
    assert_int_equal(fclose(f), 0);

    /* model.safetensors, all F32 */
    static const struct { const char *name; int rows, cols; } k_t[] = {
        {"model.embed_tokens.weight", 264, 8}, {"model.norm.weight", 8, 0},
        {"model.layers.0.input_layernorm.weight", 8, 0},
        {"model.layers.0.post_attention_layernorm.weight", 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 8, 8}, {"model.layers.0.self_attn.k_proj.weight", 4, 8},
        {"model.layers.0.self_attn.v_proj.weight", 4, 8}, {"model.layers.0.self_attn.o_proj.weight", 8, 8},
        {"model.layers.0.mlp.gate_proj.weight", 8, 8}, {"model.layers.0.mlp.up_proj.weight", 8, 8},
        {"model.layers.0.mlp.down_proj.weight", 8, 8}, {"lm_head.weight", 264, 8},
    };
    char header[4096];
    size_t len = 0, off = 0;
    len += (size_t)snprintf(header + len, sizeof header - len, "{");
    for (size_t i = 0; i < sizeof k_t / sizeof *k_t; i++) {
        size_t n = (size_t)k_t[i].rows * (size_t)(k_t[i].cols ? k_t[i].cols : 1) * 4;
        if (k_t[i].cols)
            len += (size_t)snprintf(header + len, sizeof header - len,
                                    "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                                    i ? "," : "", k_t[i].name, k_t[i].rows, k_t[i].cols, off, off + n);
        else
            len += (size_t)snprintf(header + len, sizeof header - len,
                                    "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                                    i ? "," : "", k_t[i].name, k_t[i].rows, off, off + n);
        off += n;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f);
    fwrite(header, 1, len, f);
    for (size_t i = 0; i < off / 4; i++) put_f32(f, (float)((i * 7919) % 101) / 101.0f - 0.5f);
    assert_int_equal(fclose(f), 0);
}

#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, failing_realloc, plain_free */

static void test_convert_alloc_failures(void **state) {
    (void)state;
    const char *dir = TMP "/tiny_hf", *out = TMP "/tiny.gguf";
    write_tiny_checkpoint(dir);
    unlink(out);
    /* Once plainly, and the result loads with the right shapes. */
    assert_int_equal(ef_convert_hf(dir, out, "f32", NULL, NULL), EF_OK);
    ef_gguf *g;
    assert_int_equal(ef_gguf_open(out, 1, &g), EF_OK);
    const ef_gguf_tensor *q = ef_gguf_find_tensor(g, "blk.0.attn_k.weight");
    assert_non_null(q);
    assert_int_equal(q->ne[0], 8);
    assert_int_equal(q->ne[1], 4);
    uint64_t n_tok = 0;
    uint32_t et;
    assert_int_equal(ef_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok), EF_OK);
    assert_int_equal(n_tok, 264);
    const char *s;
    uint64_t sl;
    assert_int_equal(ef_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 263, &s, &sl), EF_OK);
    assert_true(sl == 8 && !memcmp(s, "[PAD263]", 8));
    assert_int_equal(ef_gguf_get_arr_str(g, "tokenizer.ggml.merges", 1, &s, &sl), EF_OK);
    assert_true(sl == 4 && !memcmp(s, "th e", 4));
    ef_gguf_close(g);
    unlink(out);

    long points = 0;
    for (long n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
        ef_status st = ef_convert_hf(dir, out, "f16", NULL, NULL);
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        if (st != EF_ERR_NO_MEMORY)
            fprintf(stderr, "allocation %ld: %s: %s\n", n, ef_status_str(st), ef_last_error());
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_int_equal(access(out, F_OK), -1); /* nothing left behind */
        assert_true(n < 100000);
    }
    fprintf(stderr, "injected %ld allocation failures\n", points);
    assert_true(points > 20);
    unlink(out);
}

static void test_bad_type(void **state) {
    (void)state;
    const char *dir = TMP "/tiny_hf", *out = TMP "/bad_type.gguf";
    write_tiny_checkpoint(dir);
    assert_int_equal(ef_convert_hf(dir, out, "nonsense", NULL, NULL), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_convert_hf(dir, out, "iq2_xxs", NULL, NULL), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_last_error(), "not available yet"));
    assert_int_equal(access(out, F_OK), -1);
}

static int32_t cancel_at_3(void *user, const char *name, uint64_t done, uint64_t total) {
    (void)name;
    (void)total;
    ++*(int *)user;
    return done == 3;
}

static void test_cancel(void **state) {
    (void)state;
    const char *dir = TMP "/tiny_hf", *out = TMP "/cancel.gguf";
    write_tiny_checkpoint(dir);
    unlink(out);
    int calls = 0;
    assert_int_equal(ef_convert_hf(dir, out, "f32", cancel_at_3, &calls), EF_ERR_CANCELLED);
    assert_int_equal(calls, 3);
    assert_int_equal(access(out, F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_good),
        cmocka_unit_test(test_st_malformed),
        cmocka_unit_test(test_st_missing_shard),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_llama3_factors),
        cmocka_unit_test(test_convert_alloc_failures),
        cmocka_unit_test(test_bad_type),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
