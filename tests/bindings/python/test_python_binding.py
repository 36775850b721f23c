"""Smoke tests of the Python binding against the C library's own results.

Environment (set by tests/bindings/CMakeLists.txt): EDGEFORMER_LIBRARY,
EF_BIND_FIXTURES (folder made by make_fixtures.sh).
"""
import os
import threading

import pytest

import edgeformer
from edgeformer import _lib

FIX = os.environ["EF_BIND_FIXTURES"]
MODEL = os.path.join(FIX, "bind_tiny.gguf")
HEADER = os.environ["EF_PUBLIC_HEADER"]


def expected():
    with open(os.path.join(FIX, "bind_greedy16.ids")) as f:
        ids = [int(x) for x in f.read().split()]
    with open(os.path.join(FIX, "bind_greedy16.txt"), "rb") as f:
        text = f.read()
    with open(os.path.join(FIX, "bind_prompt.txt"), "rb") as f:
        prompt = f.read().decode()
    assert len(ids) == 16
    return prompt, ids, text


@pytest.fixture
def model():
    with edgeformer.Model(MODEL) as m:
        yield m


def test_version():
    assert edgeformer.version() == "%d.%d.%d" % (
        edgeformer.version_number() // 1000000, edgeformer.version_number() // 1000 % 1000,
        edgeformer.version_number() % 1000)
    assert edgeformer.version_number() >= 1000  # 0.1.0 or later


def test_prototypes_cover_header():
    import re
    text = open(HEADER).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    declared = set(re.findall(r"\bEF_API\b[^;{}()]*?\b([A-Za-z_]\w*)\s*\(", text))
    assert declared, "no EF_API function parsed"
    assert declared == set(_lib.prototype_names())


def test_model_properties(model):
    assert model.arch == "llama"
    assert model.n_vocab > 0 and model.n_embd > 0 and model.n_layer > 0
    assert model.n_params > 0 and model.size_bytes > 0 and model.n_ctx_train > 0
    meta = model.metadata
    assert meta["general.architecture"] == "llama"
    assert model.meta_get("general.architecture") == "llama"
    with pytest.raises(edgeformer.NotFoundError) as e:
        model.meta_get("no.such.key")
    assert "no.such.key" in str(e.value) or e.value.message
    tensors = {t.name: t for t in model.tensors()}
    emb = tensors["token_embd.weight"]
    assert emb.shape[0] == model.n_embd and emb.shape[1] == model.n_vocab
    assert emb.type_name == edgeformer.tensor_type_name(emb.type_id) != "unknown"


def test_tokens_roundtrip(model):
    ids = model.tokenize("Hello world")
    assert ids and all(0 <= i < model.n_vocab for i in ids)
    plain = model.tokenize("Hello world", add_special=False)
    assert plain == (ids[1:] if ids[0] == model.bos else ids)
    assert model.detokenize(model.tokenize("Hello world", add_special=False)).lstrip() == "Hello world"
    assert model.token_text(ids[-1]) is not None
    assert model.token_text(model.n_vocab + 5) is None
    with pytest.raises(edgeformer.InvalidArgumentError):
        model.detokenize([model.n_vocab + 5])
    if model.eos >= 0:
        assert model.is_eog(model.eos)


def test_greedy_generate_matches_c(model):
    prompt, ids, text = expected()
    with model.session(sampler=edgeformer.SamplerParams.greedy()) as s:
        got = list(s.generate_tokens(prompt, max_tokens=16))
        assert [t for t, _ in got if t >= 0] == ids
        assert b"".join(b for _, b in got) == text
        st = s.stats()
        assert st.gen_tokens == 16 and st.stop_reason == "max_tokens"
        assert st.prompt_tokens == len(model.tokenize(prompt, parse_special=True))
        assert st.memory_used > 0 and st.memory_peak >= st.memory_used

        # the str iterator and the callback form give the same text
        s.reset()
        assert "".join(s.generate(prompt, max_tokens=16)) == text.decode("utf-8", "replace")
        s.reset()
        seen = []
        full = s.generate_stream(prompt, lambda tok, piece: seen.append(tok), max_tokens=16)
        assert [t for t in seen if t >= 0] == ids
        assert full == text.decode("utf-8", "replace")


def test_step_by_step_matches_c(model):
    prompt, ids, _ = expected()
    with model.session() as s:
        s.set_sampler(temperature=0)
        s.eval(model.tokenize(prompt, parse_special=True))
        out = []
        for _ in range(16):
            tok = s.sample()
            out.append(tok)
            s.eval([tok])
        assert out == ids
        logits = s.logits()
        assert len(logits) == model.n_vocab
        assert s.n_past == len(model.tokenize(prompt, parse_special=True)) + 16


def test_early_break_and_callback_stop(model):
    prompt, ids, _ = expected()
    with model.session(sampler=edgeformer.SamplerParams.greedy()) as s:
        for i, (tok, _) in enumerate(s.generate_tokens(prompt, max_tokens=16)):
            if i == 2:
                break
        # the worker was stopped; the session is free again
        s.reset()
        s.generate_stream(prompt, lambda tok, piece: True, max_tokens=16)
        assert s.stats().stop_reason == "callback" and s.stats().gen_tokens == 1


def test_callback_exception_propagates(model):
    with model.session() as s:
        with pytest.raises(ZeroDivisionError):
            s.generate_stream("Hi", lambda tok, piece: 1 / 0, max_tokens=4)


def test_cancel_from_callback(model):
    with model.session(sampler=edgeformer.SamplerParams.greedy()) as s:
        def on_token(tok, piece):
            s.cancel()
        with pytest.raises(edgeformer.CancelledError) as e:
            s.generate_stream("Hello", on_token, max_tokens=16)
        assert e.value.status == 8 and e.value.message
        assert s.stats().stop_reason == "cancelled"


def test_errors_carry_message(tmp_path):
    missing = str(tmp_path / "missing.gguf")
    with pytest.raises(edgeformer.EdgeFormerIOError) as e:
        edgeformer.Model(missing)
    assert e.value.status == 3 and e.value.status_name == "EF_ERR_IO"
    assert "missing.gguf" in e.value.message and isinstance(e.value, edgeformer.EdgeFormerError)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOTAGGUF" * 8)
    with pytest.raises(edgeformer.FormatError):
        edgeformer.Model(str(bad))
    with pytest.raises(edgeformer.InvalidArgumentError):
        edgeformer.SamplerParams(temperature=-1)._native()


def test_session_errors(model):
    with pytest.raises(edgeformer.InvalidArgumentError) as e:
        model.session(kv_type="q3")
    assert "f16" in e.value.message
    with model.session(kv_type="f32", sampler=edgeformer.SamplerParams.greedy()) as s32:
        s32.complete("Hello", max_tokens=4)
        assert s32.stats().gen_tokens >= 1
    with model.session(matmul_mode="integer-dot", window=0, sinks=0) as sid:
        assert sid.matmul_mode == "integer-dot"
        assert sid.stats().kv_bytes_per_token > 0
    with pytest.raises(edgeformer.InvalidArgumentError):
        model.session(matmul_mode="int3")
    with model.session(n_ctx=8) as s:
        with pytest.raises(edgeformer.StateError):
            s.sample()  # nothing evaluated
        with pytest.raises(edgeformer.ContextFullError):
            s.eval([1] * 9)
        assert s.errmsg
        with pytest.raises(edgeformer.InvalidArgumentError):
            s.eval([model.n_vocab])


def test_close_and_lifetime():
    m = edgeformer.Model(MODEL)
    s = m.session()
    m.close()  # the session keeps the native model alive
    assert m.closed
    assert s.complete("Hi", max_tokens=2) is not None
    s.close()
    s.close()  # idempotent
    with pytest.raises(edgeformer.StateError):
        s.reset()
    with pytest.raises(edgeformer.StateError):
        _ = m.arch


def test_log_callback_and_threads(model):
    lines = []
    edgeformer.set_log_callback(lambda level, msg: lines.append((level, msg)), edgeformer.LOG_DEBUG)
    try:
        with edgeformer.Model(MODEL) as m2:
            assert m2.n_vocab == model.n_vocab
    finally:
        edgeformer.set_log_callback(None)
    # the model is shareable: two threads generate on their own sessions
    prompt, ids, text = expected()
    results = {}

    def run(k):
        with model.session(sampler=edgeformer.SamplerParams.greedy()) as s:
            results[k] = [t for t, _ in s.generate_tokens(prompt, 16) if t >= 0]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: ids, 1: ids}


def test_allocator_counts():
    import ctypes
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.realloc.restype = ctypes.c_void_p
    libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    calls = {"malloc": 0}

    def counting_malloc(size):
        calls["malloc"] += 1
        return libc.malloc(size)

    with pytest.raises(edgeformer.InvalidArgumentError):
        edgeformer.set_allocator(counting_malloc, None, None)
    edgeformer.set_allocator(counting_malloc, libc.realloc, libc.free)
    try:
        with edgeformer.Model(MODEL) as m:
            assert m.n_vocab > 0
    finally:
        edgeformer.set_allocator()
    assert calls["malloc"] > 0


def test_quantize(tmp_path, model):
    out = tmp_path / "q8.gguf"
    items = []
    with edgeformer.QuantProfile("balanced") as prof:
        assert prof.name == "balanced"
        n_in, n_out = edgeformer.quantize_file(MODEL, out, prof, lambda item, done, total: items.append(done))
    assert 0 < n_out < n_in and items
    with edgeformer.Model(out) as q:
        types = {t.name: t.type_name for t in q.tensors()}
        assert types["token_embd.weight"] == "Q8_0"
    with pytest.raises(edgeformer.CancelledError):
        edgeformer.quantize_file(MODEL, tmp_path / "c.gguf", "balanced", lambda *a: True)
    assert not (tmp_path / "c.gguf").exists()
    with pytest.raises(edgeformer.InvalidArgumentError) as e:
        edgeformer.QuantProfile("no-such-profile")
    assert "balanced" in e.value.message
    with edgeformer.QuantProfile("f16") as prof, edgeformer.Model(MODEL, quant_profile=prof) as m16:
        assert m16.n_vocab == model.n_vocab


def test_chat_templates(model):
    msgs = [("system", "Be brief."), {"role": "user", "content": "Hi"}]
    text = edgeformer.apply_chat_template("chatml", msgs)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert edgeformer.apply_chat_template("chatml", msgs, add_generation_prompt=False) + \
        "<|im_start|>assistant\n" == text
    family = model.chat_template_family
    assert family in ("llama2", "llama3", "chatml")
    assert model.apply_chat_template(msgs) == edgeformer.apply_chat_template(family, msgs)
    assert edgeformer.apply_chat_template("chatml", []) == "<|im_start|>assistant\n"
    with pytest.raises(edgeformer.InvalidArgumentError):
        edgeformer.apply_chat_template("no-such-format", msgs)


def test_convert_hf_errors(tmp_path):
    with pytest.raises(edgeformer.EdgeFormerIOError) as e:
        edgeformer.convert_hf(tmp_path / "no-such-checkpoint", tmp_path / "out.gguf")
    assert "no-such-checkpoint" in e.value.message or "config.json" in e.value.message
    assert not (tmp_path / "out.gguf").exists()


TRAIN_TEXT = "the quick brown fox jumps over the lazy dog. " * 40
TRAIN_SHAPE = dict(vocab="synthetic:300", dim=32, layers=1, heads=2, kv_heads=1, ff=64, seq=16, batch=2)


def test_trainer_train_export_load(tmp_path):
    import math
    with edgeformer.Trainer(text=TRAIN_TEXT, steps=3, warmup=1, lr=1e-3, threads=1, **TRAIN_SHAPE) as t:
        assert t.n_params > 0 and t.tokens_per_step == 2 * 16
        assert t.step_count == 0 and t.lr > 0
        losses = [t.step() for _ in range(3)]
        assert all(math.isfinite(x) and x > 0 for x in losses), losses
        assert t.step_count == 3
        assert math.isfinite(t.evaluate())
        ckpt, out = tmp_path / "t.ckpt", tmp_path / "trained.gguf"
        t.save(ckpt)
        t.load(ckpt)
        assert t.step_count == 3
        t.export(out)
    assert t.closed
    with pytest.raises(edgeformer.StateError):
        t.step()
    with edgeformer.Model(out) as m:
        assert m.arch == "edgeformer" and m.n_embd == 32 and m.n_layer == 1 and m.n_vocab == 300
        assert m.tokenize("the quick", add_special=False)


def test_train_tokenizer(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TRAIN_TEXT + "naïve café résumé 12345 ")
    out = tmp_path / "bpe.gguf"
    edgeformer.train_tokenizer(text, 300, out)
    with edgeformer.Trainer(text=TRAIN_TEXT, threads=1, **dict(TRAIN_SHAPE, vocab="gguf:" + str(out))) as t:
        assert t.n_params > 0
        t.export(tmp_path / "m.gguf")
    with edgeformer.Model(tmp_path / "m.gguf") as m:
        assert m.n_vocab == 300
        s = "the lazy café fox"
        assert m.detokenize(m.tokenize(s, add_special=False)) == s
    with pytest.raises(edgeformer.InvalidArgumentError):
        edgeformer.train_tokenizer(text, 100, tmp_path / "small.gguf")
    with pytest.raises(edgeformer.EdgeFormerError):
        edgeformer.train_tokenizer(tmp_path / "missing.txt", 300, tmp_path / "x.gguf")


def test_trainer_errors(tmp_path):
    with pytest.raises(edgeformer.InvalidArgumentError) as e:
        edgeformer.Trainer(text=TRAIN_TEXT, no_such_setting=1)
    assert "no_such_setting" in e.value.message
    with pytest.raises(TypeError):
        edgeformer.Trainer(text=TRAIN_TEXT, dim=[32])
    with pytest.raises(edgeformer.InvalidArgumentError) as e:
        edgeformer.Trainer(text=TRAIN_TEXT, precision="fp8")
    assert "precision" in e.value.message
    with edgeformer.Trainer(text=TRAIN_TEXT, threads=1, precision="bf16", **TRAIN_SHAPE) as t:
        assert t.step() > 0  # mixed precision through the string setting
    with edgeformer.Trainer(text=TRAIN_TEXT, threads=1, **TRAIN_SHAPE) as t:
        bad = tmp_path / "bad.ckpt"
        bad.write_bytes(b"not a checkpoint" * 4)
        with pytest.raises(edgeformer.EdgeFormerError):
            t.load(bad)
        with pytest.raises(edgeformer.EdgeFormerIOError):
            t.load(tmp_path / "missing.ckpt")
        assert t.step_count == 0


# ---- KV caches, snapshots, backends, sparsity (ef_kv_*, ef_session_save*, ef_backend_*) ----

def test_kv_fork_equals_fresh_prompt(model):
    prompt = model.tokenize("Hello world")
    with model.session(kv_params=edgeformer.KVParams(n_seq_max=2, page_size=16, k_type="f32", v_type="f32")) as s:
        s.eval(prompt)
        kv = s.kv_cache
        assert kv.pos_range(0) == (0, len(prompt) - 1)
        assert kv.pos_range(1) == (-1, -1)
        kv.copy(0, 1)
        assert kv.pos_range(1) == (0, len(prompt) - 1)
        assert kv.stat(_lib.KV_STAT_SHARED_PAGES) > 0
        s.set_seq(1)
        assert s.seq == 1 and s.n_past == len(prompt)
        with pytest.raises(edgeformer.StateError):
            s.logits()  # set_seq drops the last eval's logits
        s.eval([prompt[-1]])
        forked = s.logits()
    with model.session(kv_params=edgeformer.KVParams(k_type="f32", v_type="f32")) as fresh:
        fresh.eval(prompt + [prompt[-1]])
        assert fresh.logits() == forked


def test_kv_rewind_then_reeval_is_identical(model):
    prompt = model.tokenize("Hello world, once more")
    with model.session(kv_type="f32") as s:
        s.eval(prompt)
        want = s.logits()
        s.kv_cache.remove(0, len(prompt) - 1)
        assert s.n_past == len(prompt) - 1
        s.eval(prompt[-1:])
        assert s.logits() == want


def test_kv_stats_and_types(model):
    # the tiny model's heads (16) are not whole q8_0 blocks (32)
    with pytest.raises(edgeformer.UnsupportedError):
        model.session(kv_params=edgeformer.KVParams(k_type="q8_0", v_type="q8_0"))
    with model.session(kv_params=edgeformer.KVParams(k_type="f32", v_type="f16", page_size=16)) as s:
        s.eval(model.tokenize("Hello"))
        kv = s.kv_cache
        assert kv.types == ("f32", "f16")
        assert kv.stat(_lib.KV_STAT_PAGE_SIZE) == 16
        hot = kv.tier_stats("hot")
        assert hot.pages > 0 and hot.bytes > 0
        assert kv.stat(_lib.KV_STAT_TOKENS) == s.n_past


def test_snapshot_roundtrip_bytes_and_file(model, tmp_path):
    prompt = model.tokenize("Hello world")
    with model.session(seed=3) as s:
        s.set_sampler(temperature=0.9, seed=11)
        s.eval(prompt)
        snap = s.save_bytes()
        path = str(tmp_path / "s.efsnap")
        s.save(path)
        assert open(path, "rb").read() == snap
        after = [s.sample() for _ in range(1)]
        s.eval(after)
        cont = s.logits()
        s.restore_bytes(snap)
        assert s.n_past == len(prompt)
        assert [s.sample() for _ in range(1)] == after
        s.eval(after)
        assert s.logits() == cont
        with pytest.raises((edgeformer.FormatError, edgeformer.CorruptError)):
            s.restore_bytes(snap[: len(snap) // 2])
        assert s.n_past == len(prompt) + 1  # a failed restore leaves the session as it was
        s.restore(path)
        assert s.n_past == len(prompt)


def test_backends_list_has_cpu():
    infos = edgeformer.backends()
    assert infos and infos[0].name == "cpu" and infos[0].available and infos[0].reason == ""
    for b in infos:
        assert b.available or b.reason, b


def test_session_backend_and_unknown_backend(model):
    with model.session(backend="cpu") as s:
        assert s.backend == "cpu"
    with pytest.raises(edgeformer.UnavailableError):
        model.session(backend="no-such-backend")


def test_sparsity_needs_thresholds(model):
    info = model.sparsity()
    assert info["thresholds"] is False and info["relu"] is False
    with pytest.raises(edgeformer.UnsupportedError):
        model.session(sparsity=0.5)


def test_perplexity_matches_cli(model, tmp_path):
    """The Python helper scores text exactly as `edgeformer perplexity` does."""
    import json
    import subprocess
    text = ("the quick brown fox jumps over the lazy dog. " * 40)
    path = tmp_path / "text.txt"
    path.write_text(text)
    res = edgeformer.perplexity(model, text, n_ctx=32, chunks=3, threads=1)
    cli = os.environ.get("EF_CLI")
    assert cli, "EF_CLI must name the edgeformer CLI"
    out = subprocess.run([cli, "perplexity", "-m", MODEL, "-f", str(path), "--ctx", "32", "--chunks", "3",
                          "--threads", "1", "--no-progress", "--json"], check=True, capture_output=True, text=True).stdout
    ref = json.loads(out)
    assert res.n_chunks == ref["n_chunks"] == 3 and res.n_scored == ref["n_scored"]
    assert abs(res.ppl - ref["ppl"]) <= 1e-6 * ref["ppl"]
    assert abs(res.ppl_error - ref["ppl_error"]) <= 1e-6 * max(ref["ppl_error"], 1e-9)
