/* Hugging Face llama/qwen2 tensor names → the names GGUF files use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "model/model.h"

typedef struct {
    const char *hf, *gguf;
    ef_hf_permute permute; /* llama only */
} name_pair;

static const name_pair k_top[] = {
    {"model.embed_tokens.weight", "token_embd.weight", EF_PERMUTE_NONE},
    {"model.norm.weight", "output_norm.weight", EF_PERMUTE_NONE},
    {"lm_head.weight", "output.weight", EF_PERMUTE_NONE},
};

/* Suffixes after "model.layers.N.". */
static const name_pair k_layer[] = {
    {"self_attn.q_proj.weight", "attn_q.weight", EF_PERMUTE_Q},
    {"self_attn.k_proj.weight", "attn_k.weight", EF_PERMUTE_K},
    {"self_attn.v_proj.weight", "attn_v.weight", EF_PERMUTE_NONE},
    {"self_attn.o_proj.weight", "attn_output.weight", EF_PERMUTE_NONE},
    {"self_attn.q_proj.bias", "attn_q.bias", EF_PERMUTE_Q},
    {"self_attn.k_proj.bias", "attn_k.bias", EF_PERMUTE_K},
    {"self_attn.v_proj.bias", "attn_v.bias", EF_PERMUTE_NONE},
    {"mlp.gate_proj.weight", "ffn_gate.weight", EF_PERMUTE_NONE},
    {"mlp.up_proj.weight", "ffn_up.weight", EF_PERMUTE_NONE},
    {"mlp.down_proj.weight", "ffn_down.weight", EF_PERMUTE_NONE},
    {"input_layernorm.weight", "attn_norm.weight", EF_PERMUTE_NONE},
    {"post_attention_layernorm.weight", "ffn_norm.weight", EF_PERMUTE_NONE},
};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int ef_hf_map_name(const char *hf_name, const ef_hf_config *cfg, char *gguf_name, size_t cap,
                   ef_hf_permute *permute) {
    *permute = EF_PERMUTE_NONE;
    /* Rotary caches some checkpoints save; recomputed at run time. */
    if (ends_with(hf_name, ".rotary_emb.inv_freq")) return 0;
    for (size_t i = 0; i < sizeof k_top / sizeof *k_top; i++)
        if (!strcmp(hf_name, k_top[i].hf)) {
            snprintf(gguf_name, cap, "%s", k_top[i].gguf);
            return 1;
        }
    static const char prefix[] = "model.layers.";
    if (strncmp(hf_name, prefix, sizeof prefix - 1) != 0) return -1;
    const char *num = hf_name + sizeof prefix - 1;
    char *end;
    long il = strtol(num, &end, 10);
    if (end == num || *end != '.' || il < 0 || il >= cfg->n_layer || (num[0] == '0' && end != num + 1))
        return -1;
    for (size_t i = 0; i < sizeof k_layer / sizeof *k_layer; i++)
        if (!strcmp(end + 1, k_layer[i].hf)) {
            snprintf(gguf_name, cap, "blk.%ld.%s", il, k_layer[i].gguf);
            /* GGUF llama rotates adjacent pairs; qwen2 keeps HF's halves (NEOX). */
            if (cfg->arch == EF_ARCH_LLAMA) *permute = k_layer[i].permute;
            return 1;
        }
    return -1;
}
