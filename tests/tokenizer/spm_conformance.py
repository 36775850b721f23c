"""SentencePiece conformance: our "llama" BPE against sentencepiece itself.

Trains a small BPE model with Debian's python3-sentencepiece (byte
fallback, identity normalization so the text is not rewritten, whitespace
kept as is) on ~1 MB of Brown corpus text, exports its pieces, scores and
types as a GGUF vocabulary (tests/python/gguf.py), then requires
tok_dump's ids to equal sentencepiece's encode() on held-out Brown text and
the edge cases, and both decoders to give the text back.
Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import brown_text  # noqa: E402
import spm_gguf  # noqa: E402
from edge_cases import EDGE_CASES  # noqa: E402

try:
    import sentencepiece as spm
except ImportError:
    print("FAIL: sentencepiece is missing: apt-get install python3-sentencepiece and run "
          "this with /usr/bin/python3", file=sys.stderr)
    sys.exit(1)

TRAIN_BYTES = 1024 * 1024
TEST_BYTES = 120 * 1024
VOCAB_SIZE = 3000
SPACE_MARK = "\u2581"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--tok-dump", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)

    files = brown_text.corpus_files(a.data)
    # Train on every file but each 5th; test on those held out.
    train_files = [f for i, f in enumerate(files) if i % 5]
    test_files = files[::5]
    train_text, train_bytes = brown_text.take_bytes(
        (s for f in train_files for s in brown_text.sentences(f)), TRAIN_BYTES)
    if train_bytes < TRAIN_BYTES * 0.9:
        fail("only %d bytes of training text" % train_bytes)
    corpus_path = os.path.join(a.tmp, "train.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\n".join(train_text) + "\n")

    prefix = os.path.join(a.tmp, "brown-bpe")
    t0 = time.time()
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=prefix, model_type="bpe", vocab_size=VOCAB_SIZE,
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=2, minloglevel=2)
    train_s = time.time() - t0
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    n = sp.get_piece_size()

    vocab = os.path.join(a.tmp, "brown-bpe.gguf")
    spm_gguf.write_vocab(sp, vocab)

    held_out, test_bytes = brown_text.take_bytes(brown_text.paragraphs(test_files), TEST_BYTES)
    # "▁" itself reads back as a space in both implementations: leave it out.
    texts = held_out + [t for t in EDGE_CASES if SPACE_MARK not in t]
    texts_path = os.path.join(a.tmp, "texts.json")
    with open(texts_path, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)

    p = subprocess.run([a.tok_dump, "--roundtrip", vocab, "--json", texts_path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail("tok_dump exited %d (round trip or error):\n%s" % (p.returncode, p.stderr[-4000:]))
    ours = [[int(x) for x in line.split()] for line in p.stdout.split("\n")[:len(texts)]]

    bad, bad_decode = [], []
    for i, t in enumerate(texts):
        ref = sp.encode(t)
        if ours[i] != ref:
            bad.append((i, ref))
        if sp.decode(ref) != t:
            bad_decode.append(i)
    print("sentencepiece %s: BPE vocab %d trained on %.0f KB in %.1f s" %
          (spm.__version__, n, train_bytes / 1024, train_s))
    print("texts: %d (%d held-out Brown, %.0f KB; %d edge cases)" %
          (len(texts), len(held_out), test_bytes / 1024, len(texts) - len(held_out)))
    for i, ref in bad[:10]:
        k = next((j for j in range(min(len(ours[i]), len(ref))) if ours[i][j] != ref[j]),
                 min(len(ours[i]), len(ref)))
        print("MISMATCH text %d %r\n  ours: %s\n  ref:  %s" %
              (i, texts[i][:80], [sp.id_to_piece(x) for x in ours[i][max(0, k - 3):k + 5]],
               [sp.id_to_piece(x) for x in ref[max(0, k - 3):k + 5]]), file=sys.stderr)
    for i in bad_decode[:10]:
        print("sentencepiece's own decode does not give back text %d %r" % (i, texts[i][:80]),
              file=sys.stderr)
    if bad or bad_decode:
        fail("%d texts tokenize differently, %d do not round-trip through sentencepiece" %
             (len(bad), len(bad_decode)))
    print("identical to sentencepiece: %d, round trips: %d" % (len(texts), len(texts)))
    print("PASS")


if __name__ == "__main__":
    main()
