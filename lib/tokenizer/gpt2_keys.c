#include "tokenizer/gpt2_keys.h"

ef_status ef_vocab_write_gpt2_keys(struct ef_gguf_writer *w, const ef_gpt2_keys *k) {
    EF_TRY(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
    EF_TRY(ef_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2"));
    EF_TRY(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", k->tokens, NULL, k->n_tokens));
    EF_TRY(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, k->types, k->n_tokens));
    EF_TRY(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", k->merges, NULL, k->n_merges));
    EF_TRY(ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)k->eot));
    EF_TRY(ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)k->eot));
    EF_TRY(ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0));
    EF_TRY(ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0));
    return EF_OK;
}
