/* libFuzzer target for the Hugging Face JSON files the converter reads
 * (lib/convert/hf_config.c, hf_tokenizer.c). The first byte picks the file
 * the rest of the input becomes:
 *   0: config.json → ef_hf_config_read, then the GGUF keys it writes and
 *      the tensor-name mapping under that configuration;
 *   1: tokenizer.json, read with a fixed config and no tokenizer_config.json;
 *   2: tokenizer_config.json beside a fixed valid tokenizer.json.
 * The second byte sets the padded vocabulary size for 1 and 2. Every input
 * must end in a status; a config that reads must be in range. */
#include "fuzz_tmpdir.h"

#include "base/alloc.h"
#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_config[] =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":8,"
    "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
    "\"intermediate_size\":16,\"max_position_embeddings\":32,\"vocab_size\":16,"
    "\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"bos_token_id\":1,\"eos_token_id\":2}";

static const char k_tokenizer[] =
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"<s>\":1,\"</s>\":2,\"b\":3,\"ab\":4},"
    "\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":1,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":2,\"content\":\"</s>\",\"special\":true}]}";

static const char *const k_hf_names[] = {
    "model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
    "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias",
    "model.layers.0.mlp.down_proj.weight", "model.layers.99999999999.mlp.up_proj.weight",
    "model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.-1.input_layernorm.weight"};

static void fixed_config(ef_hf_config *cfg) {
    fuzz_write_file("config.json", k_config, sizeof k_config - 1);
    if (ef_hf_config_read(fuzz_tmpdir(), cfg) != EF_OK) abort(); /* the fixture itself is valid */
}

static void check_config(const ef_hf_config *cfg) {
    if (cfg->n_embd <= 0 || cfg->n_layer <= 0 || cfg->n_head <= 0 || cfg->n_head_kv <= 0 ||
        cfg->n_ff <= 0 || cfg->n_vocab <= 0 || cfg->head_dim <= 0)
        abort(); /* a config that reads must be usable */
    if (cfg->n_head % cfg->n_head_kv) abort();
    ef_gguf_writer *w = NULL;
    if (ef_gguf_writer_create(&w) != EF_OK) return;
    (void)ef_hf_config_write(cfg, w);
    ef_gguf_writer_free(w);
    if (cfg->rope_scaling == EF_HF_ROPE_LLAMA3 && cfg->head_dim <= 4096) {
        float *factors = ef_malloc((size_t)cfg->head_dim / 2 * sizeof *factors + 1);
        if (factors) ef_rope_llama3_factors(cfg, factors);
        ef_free(factors);
    }
    char name[128];
    ef_hf_permute permute;
    for (size_t i = 0; i < sizeof k_hf_names / sizeof *k_hf_names; i++)
        (void)ef_hf_map_name(k_hf_names[i], cfg, name, sizeof name, &permute);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *dir = fuzz_tmpdir();
    int mode = data[0] % 3;
    int64_t n_vocab = 1 + data[1];
    data += 2;
    size -= 2;
    ef_hf_config cfg;
    if (mode == 0) {
        fuzz_write_file("config.json", data, size);
        if (ef_hf_config_read(dir, &cfg) == EF_OK) check_config(&cfg);
        return 0;
    }
    fixed_config(&cfg);
    if (mode == 1) {
        fuzz_remove_file("tokenizer_config.json");
        fuzz_write_file("tokenizer.json", data, size);
    } else {
        fuzz_write_file("tokenizer.json", k_tokenizer, sizeof k_tokenizer - 1);
        fuzz_write_file("tokenizer_config.json", data, size);
    }
    ef_gguf_writer *w = NULL;
    if (ef_gguf_writer_create(&w) != EF_OK) return 0;
    (void)ef_hf_tokenizer_write(dir, &cfg, n_vocab, w);
    ef_gguf_writer_free(w);
    return 0;
}
