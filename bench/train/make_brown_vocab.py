"""Trains the demo model's vocabulary: a SentencePiece BPE (Debian's
python3-sentencepiece) on the Brown corpus, written as a vocabulary-only GGUF
("llama" tokenizer: pieces, scores, types, byte fallback) that
`edgeformer train --vocab gguf:PATH` uses.

A 4096-piece vocabulary keeps the output projection small (the GPT-2
vocabulary's 50257 rows would be most of a 5-20M-parameter model's weights
and of its training compute).

usage: /usr/bin/python3 bench/train/make_brown_vocab.py DATA_DIR OUT.gguf [VOCAB]
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tokenizer"))
import brown_text  # noqa: E402  (the test suite's Brown-corpus reader)
import gguf  # noqa: E402
import sentencepiece as spm  # noqa: E402


def token_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_byte(i):
        return 6
    if sp.is_unused(i):
        return 5
    return 1


def main():
    data_dir, out = sys.argv[1], sys.argv[2]
    vocab = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    files = brown_text.corpus_files(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "brown.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for path in files:
                for s in brown_text.sentences(path):
                    f.write(s + "\n")
        prefix = os.path.join(tmp, "brown")
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=vocab,
            byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
            add_dummy_prefix=True, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2,
            pad_id=-1, num_threads=2, minloglevel=2, input_sentence_size=2000000,
            shuffle_input_sentence=True, seed_sentencepiece_size=1000000)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    n = sp.get_piece_size()
    w = gguf.Writer()
    w.add_str("general.architecture", "llama")
    w.add_str("tokenizer.ggml.model", "llama")
    w.add_arr("tokenizer.ggml.tokens", gguf.STRING, [sp.id_to_piece(i) for i in range(n)])
    w.add_arr("tokenizer.ggml.scores", gguf.F32, [sp.get_score(i) for i in range(n)])
    w.add_arr("tokenizer.ggml.token_type", gguf.I32, [token_type(sp, i) for i in range(n)])
    w.add_u32("tokenizer.ggml.unknown_token_id", sp.unk_id())
    w.add_u32("tokenizer.ggml.bos_token_id", sp.bos_id())
    w.add_u32("tokenizer.ggml.eos_token_id", sp.eos_id())
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_space_prefix", True)
    w.write(out)
    print("vocabulary of %d pieces written to %s" % (n, out))


if __name__ == "__main__":
    main()
