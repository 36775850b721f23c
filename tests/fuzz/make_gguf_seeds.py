#!/usr/bin/python3
"""Writes the seed corpus for the GGUF fuzz target (tests/fuzz/corpus/gguf).

Run with Debian's python3 (it needs numpy):  /usr/bin/python3 tests/fuzz/make_gguf_seeds.py
Valid files come from the independent test writer in tests/python/gguf.py;
broken ones are those files with one field corrupted. Every seed stays
under 4 KB so the fuzzer mutates small inputs. The output is deterministic.
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import gguf  # noqa: E402  (tests/python/gguf.py)

OUT = os.path.join(HERE, "corpus", "gguf")
T_Q8_0 = 8


def to_bytes(writer):
    """Renders a gguf.Writer to bytes (it only writes to paths)."""
    tmp = os.path.join(OUT, ".tmp.gguf")
    writer.write(tmp)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    return data


def all_types():
    """Metadata of every value type, numeric and string arrays, one tensor."""
    w = gguf.Writer()
    w.add_str("general.architecture", "llama")
    w.add("v.u8", gguf.U8, 200)
    w.add("v.i8", gguf.I8, -5)
    w.add("v.u16", gguf.U16, 65000)
    w.add("v.i16", gguf.I16, -300)
    w.add_u32("v.u32", 4000000000)
    w.add_i32("v.i32", -7)
    w.add_f32("v.f32", 0.1)
    w.add_bool("v.bool", True)
    w.add("v.u64", gguf.U64, 2**64 - 1)
    w.add("v.i64", gguf.I64, -(2**63))
    w.add("v.f64", gguf.F64, 1e300)
    w.add_arr("a.i32", gguf.I32, list(range(12)))
    w.add_arr("a.f32", gguf.F32, [0.5, -1.0, 3.0])
    w.add_arr("a.u8", gguf.U8, [1, 2, 3])
    w.add_arr("a.bool", gguf.BOOL, [True, False])
    w.add_arr("a.f64", gguf.F64, [1.5])
    w.add_arr("tokenizer.ggml.tokens", gguf.STRING, ["<s>", "</s>", "a", "", "\u00e9t\u00e9"])
    w.add_tensor("token_embd.weight", np.arange(8, dtype=np.float32).reshape(2, 4))
    return to_bytes(w)


def tiny_model(alignment=32):
    """A llama-shaped header with three tiny tensors (F32, F16, Q8_0)."""
    rng = np.random.default_rng(1234)
    w = gguf.Writer(alignment=alignment)
    w.add_str("general.architecture", "llama")
    if alignment != 32:
        w.add_u32("general.alignment", alignment)
    w.add_u32("llama.block_count", 1)
    w.add_u32("llama.embedding_length", 32)
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_arr("tokenizer.ggml.scores", gguf.F32, [0.0, -1.0, -2.0])
    w.add_arr("tokenizer.ggml.token_type", gguf.I32, [3, 1, 1])
    w.add_tensor("output_norm.weight", rng.standard_normal(32).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((2, 32)), gguf.T_F16)
    q8 = rng.integers(0, 256, size=34 * 2, dtype=np.uint8).tobytes()  # 2 blocks: ne {64}
    w.tensors.append(("blk.0.ffn_up.weight", [64], T_Q8_0, q8))
    return to_bytes(w)


def nested_arrays(depth):
    """A hand-encoded file with one array nested `depth` levels deep."""
    value = struct.pack("<IQ", gguf.U32, 2) + struct.pack("<II", 1, 2)
    for _ in range(depth - 1):
        value = struct.pack("<IQ", gguf.ARRAY, 1) + value
    key = b"nested.arr"
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    return out + struct.pack("<Q", len(key)) + key + struct.pack("<I", gguf.ARRAY) + value


def duplicates(what):
    """The test writer does not check names, so it can write duplicates."""
    w = gguf.Writer()
    w.add_u32("llama.block_count", 1)
    w.add_u32("llama.block_count" if what == "key" else "other", 2)
    w.add_tensor("w", np.ones(8, dtype=np.float32))
    w.add_tensor("w" if what == "tensor" else "v", np.ones(8, dtype=np.float32))
    return to_bytes(w)


def patched(data, offset, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def tensor_info_offsets(data):
    """Offsets of each tensor info's (type, offset) fields, found with the test reader's parser."""
    r = gguf.Reader.__new__(gguf.Reader)
    r.buf, r.pos = data, 4
    r.version = r._u("<I")
    n_tensors, n_kv = r._u("<Q"), r._u("<Q")
    for _ in range(n_kv):
        r._str()
        r._value(r._u("<I"))
    fields = []
    for _ in range(n_tensors):
        r._str()
        nd = r._u("<I")
        r.pos += 8 * nd
        fields.append(r.pos)  # u32 type, then u64 offset
        r.pos += 12
    return fields


def main():
    os.makedirs(OUT, exist_ok=True)
    good = tiny_model()
    seeds = {
        "valid_all_types.gguf": all_types(),
        "valid_tiny_model.gguf": good,
        "valid_align64.gguf": tiny_model(64),
        "valid_nested_array.gguf": nested_arrays(2),
        "valid_empty.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 0),
    }
    fields = tensor_info_offsets(good)
    seeds.update({
        "bad_magic.gguf": b"GGUX" + good[4:],
        "bad_version1.gguf": patched(good, 4, "<I", 1),
        "bad_big_endian.gguf": patched(good, 4, "<I", 3 << 24),
        "bad_huge_n_kv.gguf": patched(good, 16, "<Q", 2**40),
        "bad_huge_n_tensors.gguf": patched(good, 8, "<Q", 2**63),
        "bad_truncated_kv.gguf": good[:60],
        "bad_truncated_data.gguf": good[:-40],
        "bad_unknown_tensor_type.gguf": patched(good, fields[0], "<I", 31),
        "bad_misaligned_offset.gguf": patched(good, fields[1] + 4, "<Q", 4),
        "bad_overlap.gguf": patched(good, fields[1] + 4, "<Q", 0),
        "bad_offset_past_end.gguf": patched(good, fields[2] + 4, "<Q", 1 << 20),
        "bad_nested_too_deep.gguf": nested_arrays(3),
        "bad_dup_key.gguf": duplicates("key"),
        "bad_dup_tensor.gguf": duplicates("tensor"),
    })
    for name, data in sorted(seeds.items()):
        assert len(data) < 4096, (name, len(data))
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
