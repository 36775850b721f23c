#!/usr/bin/python3
"""Independent reference for `edgeformer train-tokenizer` (lib/tokenizer/bpe_train.c).

A plain, slow (O(merges x corpus)) byte-level BPE trainer written from the
algorithm's description: split the text with the GPT-2 pre-tokenizer regex,
count the distinct words, start from the 256 byte symbols plus <|endoftext|>
(id 256), and repeatedly merge the adjacent pair with the highest count over
all words, ties going to the smaller (left id, right id); a merge whose text
already is a token reuses that id. The C trainer's GGUF, read with the tests'
own GGUF reader, must hold exactly the same tokens and merges in the same order.

usage: bpe_train_ref.py --cli PATH/edgeformer --tmp DIR
"""
import argparse
import collections
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import gguf  # noqa: E402

import regex  # noqa: E402  (Debian python3-regex, scripts/install-deps.sh: \p{L} and \p{N} as PCRE2 has them)

SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

EOT = b"<|endoftext|>"

TEXT_ASCII = """The Fulton County Grand Jury said Friday an investigation of Atlanta's recent
primary election produced "no evidence" that any irregularities took place.
The jury further said in term-end presentments that the City Executive Committee,
which had over-all charge of the election, deserves the praise and thanks of the
City of Atlanta for the manner in which the election was conducted.

It's 10:45 and they'll say we've seen 3 or 4 of them -- I'm sure they'd agree!!
    Indented lines,\ttabs\tand   runs of   spaces;  trailing spaces   
a a a a aaaa aaaaaaa abab ababab the the the then there these those
Numbers 12345 67890 2024 1999 and $3.50, 50% off... (maybe) [ok] {yes}
"""
TEXT_UNICODE = "Café naïve résumé — Grüße aus Köln. Ελληνικά κείμενα. 東京 日本語 😀 emoji!\n"


def byte_symbol(b):
    """GPT-2's printable stand-in for byte b, from the description in byte_symbols.h."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in keep:
        return chr(b)
    others = [x for x in range(256) if x not in keep]
    return chr(0x100 + others.index(b))


SYMBOL = [byte_symbol(b) for b in range(256)]


def show(token_bytes):
    return "".join(SYMBOL[b] for b in token_bytes) if token_bytes != EOT else EOT.decode()


def train(text, vocab_size):
    words = collections.Counter(m.encode("utf-8") for m in SPLIT.findall(text))
    tokens = [bytes([b]) for b in range(256)] + [EOT]
    ids = {t: i for i, t in enumerate(tokens)}
    seqs = {w: list(w) for w in words}
    merges = []
    while len(tokens) < vocab_size:
        counts = collections.Counter()
        for w, c in words.items():
            s = seqs[w]
            for pair in zip(s, s[1:]):
                counts[pair] += c
        if not counts:
            raise SystemExit("reference: ran out of pairs at %d tokens" % len(tokens))
        a, b = min(counts, key=lambda p: (-counts[p], p[0], p[1]))
        merged = tokens[a] + tokens[b]
        if merged not in ids:
            ids[merged] = len(tokens)
            tokens.append(merged)
        z = ids[merged]
        merges.append((a, b))
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(z)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return [show(t) for t in tokens], [show(tokens[a]) + " " + show(tokens[b]) for a, b in merges]


def run_cli(cli, text_path, vocab, out):
    subprocess.run([cli, "train-tokenizer", "--data", text_path, "--vocab", str(vocab), "-o", out],
                   check=True)
    kv = gguf.Reader(out).kv
    assert kv["tokenizer.ggml.model"] == "gpt2", kv["tokenizer.ggml.model"]
    assert kv["tokenizer.ggml.bos_token_id"] == 256 and kv["tokenizer.ggml.eos_token_id"] == 256
    types = list(kv["tokenizer.ggml.token_type"])
    assert types[256] == 3 and all(t == 1 for i, t in enumerate(types) if i != 256), "token types"
    return kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    text = TEXT_ASCII * 3 + TEXT_UNICODE * 2
    text_path = os.path.join(args.tmp, "bpe_train_ref.txt")
    with open(text_path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    failed = 0
    for vocab in (257, 300, 600):
        tokens, merges = run_cli(args.cli, text_path, vocab, os.path.join(args.tmp, "bpe_%d.gguf" % vocab))
        ref_tokens, ref_merges = train(text, vocab)
        if len(tokens) != vocab:
            print("vocab %d: the GGUF has %d tokens" % (vocab, len(tokens)))
            failed = 1
        for what, got, want in (("merges", merges, ref_merges), ("tokens", tokens, ref_tokens)):
            if got != want:
                k = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
                print("vocab %d: %s differ at %d: C %r, reference %r (C %d, reference %d)" %
                      (vocab, what, k, got[k:k + 3], want[k:k + 3], len(got), len(want)))
                failed = 1
        if not failed:
            print("vocab %d: %d merges identical (first %r, last %r)" %
                  (vocab, len(merges), merges[:1], merges[-1:]))
    print("FAIL" if failed else "PASS")
    return failed


if __name__ == "__main__":
    sys.exit(main())
