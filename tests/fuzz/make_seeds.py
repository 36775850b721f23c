#!/usr/bin/python3
"""Writes the seed corpora of the tokenizer, safetensors, hf_json, chat,
sampler and checkpoint fuzz targets (tests/fuzz/corpus/<target>; the GGUF
seeds come from make_gguf_seeds.py). Plain Python, deterministic; every
seed stays under 4 KB (8 KB for whole training checkpoints). Each seed
starts with the selector bytes its target documents.

Run:  python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, seeds, limit=4096):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds.items()):
        if isinstance(data, str):
            data = data.encode("utf-8")
        assert len(data) < limit, (target, name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


def tokenizer_seeds():
    # byte 0: bit0 vocab (0 gpt2, 1 llama), bit1 decode, bits 2-3 flags
    texts = {
        "ascii": "Hello world, this is a test.",
        "spaces": "  leading and   inner\tspaces\n\nnewlines ",
        "utf8": "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 \u00e9t\u00e9",
        "digits": "12345 3.14159 2024-01-01",
        "special": "<s>a<|user|>b<ctl>c</s><|endoftext|>",
        "contractions": "I'm you're it's we'll they'd",
    }
    seeds = {}
    for name, text in texts.items():
        for vocab in (0, 1):
            for flags in (0, 3):
                sel = vocab | (flags << 2)
                seeds[f"enc_{name}_v{vocab}_f{flags}"] = bytes([sel]) + text.encode("utf-8")
    seeds["enc_invalid_utf8_v0"] = bytes([0]) + b"ab\xff\xfe\xc3(\xe2\x82x\xf0\x9f"
    seeds["enc_invalid_utf8_v1"] = bytes([1]) + b"ab\xff\xfe\xc3(\xe2\x82x\xf0\x9f"
    seeds["enc_nul_bytes_v0"] = bytes([0]) + b"a\x00b\x00\x00c"
    seeds["enc_empty_v1_add"] = bytes([1 | 4])
    ids = [0, 1, 2, 3, 100, 259, 260, 511]
    for vocab in (0, 1):
        seeds[f"dec_valid_v{vocab}"] = bytes([2 | vocab]) + struct.pack(f"<{len(ids)}i", *ids)
        seeds[f"dec_render_special_v{vocab}"] = bytes([2 | vocab | 4]) + struct.pack("<3i", 1, 5, 2)
        seeds[f"dec_out_of_range_v{vocab}"] = bytes([2 | vocab]) + struct.pack("<3i", 5, -1, 2**31 - 1)
    # partial UTF-8 through byte tokens <0xE6> <0x97> (llama ids 3+b)
    seeds["dec_partial_utf8_v1"] = bytes([3]) + struct.pack("<2i", 3 + 0xE6, 3 + 0x97)
    return seeds


def st_file(header, payload=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


def safetensors_seeds():
    # byte 0 even: model.safetensors; odd: index.json beside shard a.safetensors (tensor "w")
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    seeds = {
        "single_f32": st_file({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, f32),
        "two_tensors": st_file({
            "__metadata__": {"format": "pt"},
            "a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
            "b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [8, 16]},
        }, bytes(range(16))),
        "qk_shape": st_file({"q": {"dtype": "F32", "shape": [4, 1], "data_offsets": [0, 16]}}, f32[:16]),
        "scalar": st_file({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, f32[:4]),
        "bad_dtype": st_file({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)),
        "bad_offsets": st_file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 100]}}, f32),
        "bad_overlap": st_file({
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }, f32),
        "bad_shape_size": st_file({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 24]}}, f32),
        "bad_huge_header_len": struct.pack("<Q", 2**62) + b"{}",
        "bad_not_json": struct.pack("<Q", 5) + b"{abc}",
        "bad_truncated": st_file({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, f32)[:40],
        "empty_header": st_file({}),
    }
    seeds = {k: b"\x00" + v for k, v in seeds.items()}
    index = {
        "index_valid": {"metadata": {"total_size": 16}, "weight_map": {"w": "a.safetensors"}},
        "index_missing_tensor": {"weight_map": {"w": "a.safetensors", "x": "a.safetensors"}},
        "index_traversal": {"weight_map": {"w": "../a.safetensors"}},
        "index_missing_shard": {"weight_map": {"w": "b.safetensors"}},
        "index_not_object": {"weight_map": ["a.safetensors"]},
    }
    for k, v in index.items():
        seeds[k] = b"\x01" + json.dumps(v).encode()
    return seeds


def hf_json_seeds():
    # byte 0: 0 config.json, 1 tokenizer.json, 2 tokenizer_config.json; byte 1: n_vocab - 1
    llama = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 160, "max_position_embeddings": 256, "vocab_size": 512,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2,
        "tie_word_embeddings": False,
    }
    llama3 = dict(llama, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192})
    qwen = dict(llama, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True)
    configs = {
        "config_llama": llama, "config_llama3_rope": llama3, "config_qwen2": qwen,
        "config_linear_rope": dict(llama, rope_scaling={"type": "linear", "factor": 2.0}),
        "config_head_dim": dict(llama, head_dim=32),
        "config_bad_heads": dict(llama, num_key_value_heads=3),
        "config_bad_arch": dict(llama, architectures=["GPT2LMHeadModel"], model_type="gpt2"),
        "config_bad_negative": dict(llama, hidden_size=-64),
        "config_bad_huge": dict(llama, vocab_size=2**60),
    }
    seeds = {k: b"\x00\x00" + json.dumps(v).encode() for k, v in configs.items()}
    seeds["config_not_json"] = b"\x00\x00{\"hidden_size\": "
    vocab = {"a": 0, "<s>": 1, "</s>": 2, "b": 3, "ab": 4, "\u0120a": 5}
    tok = {
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b", "\u0120 a"]},
        "added_tokens": [{"id": 1, "content": "<s>", "special": True},
                         {"id": 2, "content": "</s>", "special": True}],
        "pre_tokenizer": {"type": "ByteLevel"},
    }
    toks = {
        "tok_bpe": tok,
        "tok_pair_merges": dict(tok, model=dict(tok["model"], merges=[["a", "b"]])),
        "tok_spm_fallback": dict(tok, model=dict(tok["model"], byte_fallback=True)),
        "tok_bad_wordpiece": dict(tok, model={"type": "WordPiece", "vocab": vocab}),
        "tok_bad_dup_ids": dict(tok, model=dict(tok["model"], vocab={"a": 0, "b": 0})),
        "tok_bad_id_range": dict(tok, model=dict(tok["model"], vocab={"a": 0, "b": 9999})),
        "tok_bad_merge": dict(tok, model=dict(tok["model"], merges=["abc"])),
    }
    for k, v in toks.items():
        seeds[k] = b"\x01\x0f" + json.dumps(v).encode()
    tcs = {
        "tc_chat_template": {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True,
                             "chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"},
        "tc_token_objects": {"bos_token": {"content": "<s>"}, "eos_token": {"content": "</s>"}},
        "tc_unknown_token": {"bos_token": "<nope>", "add_eos_token": "yes"},
    }
    for k, v in tcs.items():
        seeds[k] = b"\x02\x0f" + json.dumps(v).encode()
    return seeds


def chat_seeds():
    # byte 0: 0 llama2, 1 llama3, 2 chatml, 3 name first; byte 1 bit 0: generation prompt
    conv = [b"system", b"Be brief.", b"user", b"  Hi there  ", b"assistant", b"Hello!", b"user", b"\xc3\xa9t\xc3\xa9?"]
    seeds = {}
    for fam in range(3):
        for gen in (0, 1):
            seeds[f"conv_{fam}_gen{gen}"] = bytes([fam, gen]) + b"\x00".join(conv)
        seeds[f"bad_role_{fam}"] = bytes([fam, 1]) + b"tool\x00x"
        seeds[f"no_messages_{fam}"] = bytes([fam, 1])
        seeds[f"two_systems_{fam}"] = bytes([fam, 0]) + b"system\x00a\x00system\x00b"
    seeds["named_chatml"] = bytes([3, 1]) + b"chatml\x00user\x00hi"
    seeds["named_unknown"] = bytes([3, 1]) + b"jinja\x00user\x00hi"
    seeds["detect_im_start"] = bytes([2, 0]) + b"{% for m in messages %}<|im_start|>{{m.role}}\n"
    seeds["detect_header"] = bytes([1, 0]) + b"<|start_header_id|>{{ role }}<|end_header_id|>"
    seeds["detect_inst"] = bytes([0, 0]) + b"[INST] {{ content }} [/INST]"
    return seeds


def sampler_seeds():
    def params(temp, top_k, top_p, min_p, pen, last_n, seed, n_vocab, history, logits):
        b = struct.pack("<fifff", temp, top_k, top_p, min_p, pen)
        b += struct.pack("<iII", last_n, seed >> 32, seed & 0xFFFFFFFF)
        b += struct.pack("<II", n_vocab - 1, len(history)) + struct.pack(f"<{len(history)}i", *history)
        return b + struct.pack(f"<{len(logits)}f", *logits)

    lin = [float(i % 7) - 3 for i in range(32)]
    nan = float("nan")
    inf = float("inf")
    return {
        "defaults_like": params(0.8, 40, 0.95, 0.05, 1.0, 64, 0, 32, [], lin),
        "greedy": params(0.0, 0, 1.0, 0.0, 1.0, 0, 1, 32, [1, 2], lin),
        "penalty": params(1.0, 5, 0.5, 0.1, 1.3, 8, 42, 32, [3, 3, 3, 31, -5, 999], lin),
        "one_token": params(1.0, 1, 1.0, 0.0, 1.0, 0, 7, 1, [], [0.0]),
        "nan_logits": params(1.0, 0, 1.0, 0.0, 1.0, 0, 3, 8, [], [nan, 1, inf, -inf, 0, nan, 2, 3]),
        "all_neg_inf": params(0.7, 0, 0.9, 0.0, 1.0, 0, 3, 4, [], [-inf] * 4),
        "huge_logits": params(0.01, 0, 1.0, 0.99, 2.0, 4, 9, 4, [0, 1], [3e38, -3e38, 3e38, 1e-45]),
        "bad_values": params(-1.0, -5, 0.0, 1.0, 0.5, -1, 0, 16, [], lin[:16]),
        "nan_params": params(nan, 2**31 - 1, nan, nan, nan, 2**31 - 1, 5, 16, [], lin[:16]),
    }


def checkpoint_seeds():
    # byte 0 bit 0: the target recomputes every frame's CRC-32; bit 1: the
    # corpus replay fails if the seed is refused (the layout below drifted
    # from lib/train's: update it). The image is
    # lib/train/checkpoint.c's: "EFTRCKPT", u32 version 2, frames {u32 tag,
    # u64 length, payload, u32 CRC-32 of tag+length+payload}: HPAR, STAT,
    # PARM, ADMM, ADMV, END!. The trainer of fuzz_checkpoint.c: synthetic
    # 260-token vocabulary, dim 2, 1 layer, 1 head, 1 KV head, ff 2, seq 4,
    # tied, batch 1, accum 1.
    V, C, L, H, KV, F, T = 260, 2, 1, 1, 1, 2, 4
    hd = C // H
    n_floats = V * C + L * (C + H * hd * C + 2 * KV * hd * C + C * H * hd + C + 3 * F * C) + C
    assert n_floats == 554

    def hpar(dim=C, batch=1, n=n_floats):
        # ef_train_shape {n_vocab, dim, n_layer, n_head, n_kv, ff, seq, tied: i32; norm_eps,
        # rope_base: f32; mla, window, swa_pattern, sinks, q_lora, kv_lora, qk_nope, qk_rope,
        # v_head: i32 (all 0: plain GQA)}, batch i32, accum i32, 4 bytes of padding, u64 n_floats
        shape = struct.pack("<8iff9i", V, dim, L, H, KV, F, T, 1, 1e-5, 10000.0, *[0] * 9)
        return shape + struct.pack("<ii4xQ", batch, 1, n)

    def stat(step=0, rng=(1, 2, 3, 4)):
        return struct.pack("<q4Q", step, *rng)

    def floats(k, n=n_floats):
        return struct.pack(f"<{n}f", *[((i * 37 + k * 11) % 101 - 50) / 500.0 for i in range(n)])

    def frame(tag, payload):
        head = tag + struct.pack("<Q", len(payload))
        return head + payload + struct.pack("<I", zlib.crc32(head + payload))

    def image(frames, version=2):
        return b"EFTRCKPT" + struct.pack("<I", version) + b"".join(frame(t, p) for t, p in frames)

    def frames(**kw):
        return [(b"HPAR", kw.get("hpar", hpar())), (b"STAT", kw.get("stat", stat())),
                (b"PARM", kw.get("parm", floats(1))), (b"ADMM", floats(2)), (b"ADMV", floats(3, n_floats)),
                (b"END!", b"")]

    valid = image(frames(stat=stat(7, (0x9E3779B97F4A7C15, 5, 6, 7))))
    bad_crc = bytearray(valid)
    bad_crc[200] ^= 0x40
    fs = frames()
    seeds = {
        "valid": b"\2" + valid,
        "valid_fixcrc": b"\3" + valid,
        "valid_step0": b"\2" + image(frames()),
        "bad_magic": b"\0" + b"EFTRCKPX" + valid[8:],
        "version3": b"\0" + image(frames(), version=3),
        # a version-1 file: the 56-byte settings frame, before the attention variant
        "version1_old_hpar": b"\0" + image([(b"HPAR", hpar()[:40] + hpar()[76:])] + frames()[1:], version=1),
        "bad_crc": b"\0" + bytes(bad_crc),
        "bad_crc_fixed": b"\1" + bytes(bad_crc),
        "other_dim": b"\1" + image(frames(hpar=hpar(dim=4))),
        "other_batch": b"\1" + image(frames(hpar=hpar(batch=2))),
        "long_parm": b"\1" + image(frames(parm=floats(1, n_floats + 1))),
        "frames_swapped": b"\1" + image([fs[1], fs[0]] + fs[2:]),
        "no_end": b"\1" + image(fs[:-1]),
        "truncated_header": b"\0" + valid[:10],
        "truncated_in_hpar": b"\0" + valid[:40],
        "truncated_in_parm": b"\0" + valid[:1000],
        "truncated_before_crc": b"\0" + valid[:-2],
        "huge_length": b"\0" + valid[:12] + b"HPAR" + struct.pack("<Q", 2**64 - 1) + valid[24:100],
        "empty": b"\0",
        # found by a directed input after 60 s of fuzzing missed it: step
        # INT64_MAX overflowed step + 1 in the trainer (UBSan); now refused
        "step_int64_max": b"\0" + image(frames(stat=stat(2**63 - 1))),
        "step_negative": b"\0" + image(frames(stat=stat(-5))),
        "rng_all_zero": b"\0" + image(frames(stat=stat(3, (0, 0, 0, 0)))),
    }
    return seeds


def main():
    write("tokenizer", tokenizer_seeds())
    write("safetensors", safetensors_seeds())
    write("hf_json", hf_json_seeds())
    write("chat", chat_seeds())
    write("sampler", sampler_seeds())
    write("checkpoint", checkpoint_seeds(), limit=8192)


if __name__ == "__main__":
    main()
