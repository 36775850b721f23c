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
import spm_gguf  # noqa: E402
import sentencepiece as spm  # noqa: E402


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
    n = spm_gguf.write_vocab(sp, out)
    print("vocabulary of %d pieces written to %s" % (n, out))


if __name__ == "__main__":
    main()
