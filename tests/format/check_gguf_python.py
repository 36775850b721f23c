#!/usr/bin/python3
"""Cross-checks files written by the C GGUF writer (test_gguf_roundtrip
writes them into the test tmp dir) with the independent Python reader in
tests/python/gguf.py. Usage: check_gguf_python.py TMP_DIR"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import gguf  # noqa: E402


def check(path, alignment):
    r = gguf.Reader(path)
    assert r.version == 3, r.version
    kv = r.kv
    assert kv["general.architecture"] == "llama"
    assert int(kv.get("general.alignment", 32)) == alignment
    assert kv["test.u32"] == 42 and kv["test.i32"] == -123456
    assert kv["test.u64"] == 0x123456789ABCDEF
    assert np.float32(kv["test.f32"]) == np.float32(1e-5)
    assert kv["test.true"] is True and kv["test.false"] is False
    assert "test.removed" not in kv
    assert list(kv["arr.i64"]) == [-(2**63), -1, 2**63 - 1]
    assert list(kv["arr.f64"]) == [0.1, -2.5e300]
    assert list(kv["arr.u16"]) == [1, 65535]
    assert len(kv["arr.empty"]) == 0
    assert kv["arr.str"] == ["hello", "", "w\u00f6rld", "a\0b"], kv["arr.str"]
    assert kv["tokenizer.ggml.tokens"] == ["<s>", "</s>", "<unk>"]
    # tensor values as the C test wrote them
    want_f32 = (np.arange(12, dtype=np.float32) * 0.5 - 1.0).reshape(3, 4)
    assert np.array_equal(r.tensors["t.f32"], want_f32)
    assert np.array_equal(r.tensors["t.f16"], np.arange(8, dtype=np.float32) - 3.5)
    assert np.array_equal(r.tensors["t.bf16"], (np.arange(1, 5, dtype=np.float32) * 0.25).reshape(2, 2))
    assert r.tensor_types["t.q8_0"] == 8
    print(f"{os.path.basename(path)}: ok")


def main():
    tmp = sys.argv[1]
    check(os.path.join(tmp, "gguf_rt_a32.gguf"), 32)
    check(os.path.join(tmp, "gguf_rt_a64.gguf"), 64)


if __name__ == "__main__":
    main()
