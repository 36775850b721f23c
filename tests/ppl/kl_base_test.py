"""`edgeformer perplexity --kl-base`: saving a base run, comparing with it,
and refusing base files that do not belong to the run.

usage: kl_base_test.py --cli EDGEFORMER --model A.gguf --other B.gguf
                       --other-vocab C.gguf --data DATA_DIR --tmp DIR
  A and B: same architecture and vocabulary, different weights;
  C: another vocabulary size.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ppl_common import check, make_text, run  # noqa: E402

CTX = "64"
CHUNKS = "4"


def main():
    ap = argparse.ArgumentParser()
    for a in ("--cli", "--model", "--other", "--other-vocab", "--data", "--tmp"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    text = make_text(args.data, os.path.join(args.tmp, "kl_text.txt"), "ca01")
    other_text = make_text(args.data, os.path.join(args.tmp, "kl_other.txt"), "ca02")
    base = os.path.join(args.tmp, "kl.base")
    for p in (base, base + ".tmp"):
        if os.path.exists(p):
            os.remove(p)

    def ppl(model, base_path, txt=text, ctx=CTX, ok=True, extra=()):
        cmd = [args.cli, "perplexity", "-m", model, "-f", txt, "--ctx", ctx, "--chunks", CHUNKS,
               "--kl-base", base_path, "--json", "--no-progress"] + list(extra)
        rc, out, err = run(cmd, expect_ok=ok)
        if not ok:
            return rc, err
        return json.loads(out.strip().splitlines()[-1])

    saved = ppl(args.model, base)
    check(saved["kl_base"]["mode"] == "saved" and os.path.exists(base), "first run saves the base file")
    check(not os.path.exists(base + ".tmp"), "no temporary file is left")
    n_vocab_rows = saved["n_scored"]
    size = os.path.getsize(base)
    check(size > 40 + n_vocab_rows * 4 * 500, f"base file holds full log-probability rows ({size} bytes)")

    same = ppl(args.model, base)
    k = same["kl_base"]
    print("same model:", json.dumps(k))
    check(k["mode"] == "compared", "second run compares")
    check(abs(k["kld_mean"]) < 1e-6, f"KLD with the same model ~ 0 ({k['kld_mean']:.3e})")
    check(k["same_top"] == 1.0, "same top token 100%")
    check(abs(k["delta_ppl"]) < 1e-6 * same["ppl"], f"delta PPL ~ 0 ({k['delta_ppl']:.3e})")
    check(abs(k["ppl_base"] - saved["ppl"]) < 1e-6 * saved["ppl"], "base PPL is the saved run's PPL")
    check(k["rms_dp"] < 1e-6, "RMS delta-p ~ 0")

    diff = ppl(args.other, base)
    k = diff["kl_base"]
    print("other model:", json.dumps(k))
    check(k["kld_mean"] > 1e-3 and k["kld_mean_error"] > 0, f"KLD with another model > 0 ({k['kld_mean']:.4f})")
    check(abs(k["delta_ppl"] - (diff["ppl"] - saved["ppl"])) < 1e-6 * diff["ppl"], "delta PPL = PPL - PPL(base)")
    check(k["rms_dp"] > 0 and 0 <= k["same_top"] < 1, "RMS delta-p > 0 and same-top below 100%")

    # Top-K rows (what large vocabularies get): same model ~ 0, another
    # model > 0 but never above the exact KLD (grouping outcomes can only
    # lower a divergence), and a much smaller file.
    base_k = os.path.join(args.tmp, "kl_top16.base")
    if os.path.exists(base_k):
        os.remove(base_k)
    saved_k = ppl(args.model, base_k, extra=["--kl-top-k", "16"])
    check(saved_k["kl_base"]["top_k"] == 16 and saved["kl_base"]["top_k"] == 0, "top_k recorded (0 = full rows)")
    check(os.path.getsize(base_k) < size / 4, "top-K rows make a smaller file")
    k = ppl(args.model, base_k)["kl_base"]
    check(k["top_k"] == 16 and abs(k["kld_mean"]) < 1e-6 and k["same_top"] == 1.0
          and abs(k["delta_ppl"]) < 1e-6 * saved["ppl"], "top-K base, same model: KLD ~ 0, same top 100%")
    kk = ppl(args.other, base_k)["kl_base"]
    full = diff["kl_base"]
    check(0 < kk["kld_mean"] <= full["kld_mean"] + 1e-9,
          f"top-K KLD is a positive lower bound of the exact one ({kk['kld_mean']:.4f} <= {full['kld_mean']:.4f})")
    check(abs(kk["delta_ppl"] - full["delta_ppl"]) < 1e-6 * diff["ppl"] and kk["same_top"] == full["same_top"]
          and abs(kk["rms_dp"] - full["rms_dp"]) < 1e-6, "top-K keeps delta PPL, same-top and RMS delta-p exact")

    rc, err = ppl(args.model, base, txt=other_text, ok=False)
    check(rc != 0 and "other tokens" in err, "a base file from other tokens is refused: " + err.strip())

    rc, err = ppl(args.model, base, ctx="32", ok=False)
    check(rc != 0 and "--ctx" in err, "a base file made with another --ctx is refused: " + err.strip())

    rc, err = ppl(args.other_vocab, base, ok=False)
    check(rc != 0 and "vocabulary" in err, "a base file from another vocabulary is refused: " + err.strip())

    cut = os.path.join(args.tmp, "kl_truncated.base")
    with open(base, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:len(data) - 1000])
    rc, err = ppl(args.model, cut, ok=False)
    check(rc != 0 and "truncated" in err, "a truncated base file is refused: " + err.strip())
    with open(cut, "wb") as f:
        f.write(data[:20])
    rc, err = ppl(args.model, cut, ok=False)
    check(rc != 0 and "truncated" in err, "a base file cut inside its header is refused: " + err.strip())

    bad = os.path.join(args.tmp, "kl_corrupt.base")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    with open(bad, "wb") as f:
        f.write(bytes(flipped))
    rc, err = ppl(args.model, bad, ok=False)
    check(rc != 0 and "checksum" in err, "a corrupted base file is refused: " + err.strip())

    notbase = os.path.join(args.tmp, "kl_notbase.base")
    shutil.copy(text, notbase)
    rc, err = ppl(args.model, notbase, ok=False)
    check(rc != 0 and "magic" in err, "a file that is not a base file is refused: " + err.strip())

    short = os.path.join(args.tmp, "kl_short.txt")
    with open(short, "w") as f:
        f.write("too short")
    fresh = os.path.join(args.tmp, "kl_fresh.base")
    if os.path.exists(fresh):
        os.remove(fresh)
    rc, err = ppl(args.model, fresh, txt=short, ok=False)
    check(rc != 0 and "needs at least" in err and not os.path.exists(fresh),
          "too short a text fails and leaves no base file: " + err.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
