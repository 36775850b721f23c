/* ef_tokenizer_train: a byte-level BPE vocabulary learned from the
 * trainer's data sources, written as a vocabulary-only GGUF that
 * `vocab = "gguf:PATH"` (and ef_vocab_load) read. */
#include "base/log.h"
#include "tokenizer/bpe_train.h"
#include "train/trainer.h"

static ef_status add_text(void *user, const char *text, size_t len) {
    return ef_bpe_trainer_add_text(user, text, len);
}

ef_status ef_tokenizer_train(const char *data, int32_t vocab_size, const char *out_path) {
    if (!data || !out_path) return ef_err(EF_ERR_INVALID_ARG, "ef_tokenizer_train: NULL argument");
    if (vocab_size < EF_BPE_TRAIN_MIN_VOCAB)
        return ef_err(EF_ERR_INVALID_ARG,
                      "tokenizer training: vocabulary size %d is below %d (256 bytes + <|endoftext|>)",
                      (int)vocab_size, EF_BPE_TRAIN_MIN_VOCAB);
    ef_bpe_trainer *bt = NULL;
    ef_gguf_writer *w = NULL;
    ef_status st = ef_bpe_trainer_create(&bt);
    if (st == EF_OK) st = ef_train_data_each_text(data, add_text, bt);
    if (st == EF_OK && ef_bpe_trainer_n_bytes(bt) == 0)
        st = ef_err(EF_ERR_INVALID_ARG, "tokenizer training: data '%s' holds no text", data);
    if (st == EF_OK) st = ef_gguf_writer_create(&w);
    if (st == EF_OK) st = ef_gguf_writer_set_str(w, "general.architecture", "edgeformer");
    if (st == EF_OK) st = ef_bpe_trainer_write(bt, vocab_size, w);
    if (st == EF_OK) st = ef_gguf_writer_write(w, out_path);
    if (st == EF_OK)
        EF_LOGI("tokenizer: %d-token byte-level BPE from %llu bytes of '%s' written to '%s'",
                (int)vocab_size, (unsigned long long)ef_bpe_trainer_n_bytes(bt), data, out_path);
    ef_gguf_writer_free(w);
    ef_bpe_trainer_free(bt);
    return st;
}
