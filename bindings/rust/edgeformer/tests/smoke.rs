//! Smoke tests against the C library's own greedy result. EF_BIND_FIXTURES
//! names the folder written by tests/bindings/make_fixtures.sh.
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use edgeformer::{ErrorKind, Model, SamplerParams, SessionOptions, StopReason};

fn fixtures() -> PathBuf {
    PathBuf::from(std::env::var("EF_BIND_FIXTURES").expect("EF_BIND_FIXTURES must name the fixture folder"))
}

struct Expected {
    prompt: String,
    ids: Vec<i32>,
    text: Vec<u8>,
}

fn expected() -> Expected {
    let dir = fixtures();
    let ids: Vec<i32> = std::fs::read_to_string(dir.join("bind_greedy16.ids"))
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 16);
    Expected {
        prompt: std::fs::read_to_string(dir.join("bind_prompt.txt")).unwrap(),
        ids,
        text: std::fs::read(dir.join("bind_greedy16.txt")).unwrap(),
    }
}

fn model() -> Model {
    Model::load(fixtures().join("bind_tiny.gguf")).expect("load the fixture model")
}

#[test]
fn version() {
    let n = edgeformer::version_number();
    assert_eq!(edgeformer::version(), format!("{}.{}.{}", n / 1_000_000, n / 1000 % 1000, n % 1000));
    assert_eq!(n / 1_000_000, edgeformer::sys::EF_VERSION_MAJOR);
}

#[test]
fn missing_file_is_an_io_error_with_message() {
    let err = match Model::load(fixtures().join("missing.gguf")) {
        Err(e) => e,
        Ok(_) => panic!("loading a missing file succeeded"),
    };
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.status_name(), "EF_ERR_IO");
    assert!(err.message().contains("missing.gguf"), "{err}");
    assert!(err.to_string().starts_with("EF_ERR_IO: "));
}

#[test]
fn model_properties() {
    let m = model();
    assert_eq!(m.arch(), "llama");
    assert!(m.n_vocab() > 0 && m.n_embd() > 0 && m.n_layer() > 0 && m.n_params() > 0 && m.size_bytes() > 0);
    assert_eq!(m.meta_get("general.architecture").unwrap(), "llama");
    assert_eq!(m.meta_get("no.such.key").unwrap_err().kind(), ErrorKind::NotFound);
    assert!(m.metadata().unwrap().iter().any(|(k, _)| k == "general.architecture"));
    let t = m.tensors().unwrap();
    let emb = t.iter().find(|t| t.name == "token_embd.weight").expect("token_embd.weight");
    assert_eq!(emb.shape, vec![m.n_embd() as i64, m.n_vocab() as i64]);
    let msgs = [edgeformer::ChatMessage::new("system", "Be brief."), edgeformer::ChatMessage::new("user", "Hi")];
    assert_eq!(
        edgeformer::apply_chat_template("chatml", &msgs, true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        m.apply_chat_template(&msgs, true).unwrap(),
        edgeformer::apply_chat_template(&m.chat_template_family(), &msgs, true).unwrap()
    );
    assert_eq!(edgeformer::apply_chat_template("nope", &msgs, true).unwrap_err().kind(), ErrorKind::InvalidArg);
    let ids = m.tokenize("Hello world", false, false).unwrap();
    assert!(String::from_utf8_lossy(&m.detokenize_bytes(&ids, false).unwrap()).contains("Hello world"));
    assert!(m.token_text(m.n_vocab() + 1).is_none());
    assert_eq!(m.detokenize(&[m.n_vocab()], false).unwrap_err().kind(), ErrorKind::InvalidArg);
}

#[test]
fn greedy_generate_matches_c() {
    let exp = expected();
    let m = model();
    let mut s = m.session(&SessionOptions::default()).unwrap();
    s.set_sampler(&SamplerParams::greedy()).unwrap();
    let mut ids = Vec::new();
    let bytes = s
        .generate_bytes(&exp.prompt, 16, |tok, _| {
            if tok >= 0 {
                ids.push(tok);
            }
            true
        })
        .unwrap();
    assert_eq!(ids, exp.ids);
    assert_eq!(bytes, exp.text);
    let st = s.stats().unwrap();
    assert_eq!((st.gen_tokens, st.stop_reason), (16, StopReason::MaxTokens));
    assert!(st.memory_peak > 0);

    s.reset().unwrap();
    let text = s.generate(&exp.prompt, 16, |_, _| true).unwrap();
    assert_eq!(text, String::from_utf8_lossy(&exp.text));

    // step by step
    s.reset().unwrap();
    s.eval(&m.tokenize(&exp.prompt, true, true).unwrap(), false).unwrap();
    let mut steps = Vec::new();
    for _ in 0..16 {
        let tok = s.sample().unwrap();
        steps.push(tok);
        s.eval(&[tok], false).unwrap();
    }
    assert_eq!(steps, exp.ids);
    assert_eq!(s.logits(-1).unwrap().len(), m.n_vocab() as usize);
}

#[test]
fn stop_cancel_and_errors() {
    let exp = expected();
    let m = model();
    let mut s = m.session(&SessionOptions::default()).unwrap();
    s.generate(&exp.prompt, 16, |_, _| false).unwrap();
    assert_eq!(s.stats().unwrap().stop_reason, StopReason::Callback);

    s.reset().unwrap();
    let cancel = s.cancel_handle();
    let err = s
        .generate(&exp.prompt, 16, |_, _| {
            cancel.cancel();
            true
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);

    let mut small = m.session(&SessionOptions { n_ctx: 4, ..Default::default() }).unwrap();
    assert_eq!(small.sample().unwrap_err().kind(), ErrorKind::State);
    assert_eq!(small.eval(&[1; 5], false).unwrap_err().kind(), ErrorKind::ContextFull);
    assert!(!small.errmsg().is_empty());
    let bad = m.session(&SessionOptions { kv_type: Some("q3".into()), ..Default::default() });
    assert_eq!(bad.err().map(|e| e.kind()), Some(ErrorKind::InvalidArg));
    let mut s32 = m.session(&SessionOptions { kv_type: Some("f32".into()), ..Default::default() }).unwrap();
    s32.generate(&exp.prompt, 2, |_, _| true).unwrap();
    assert_eq!(s32.stats().unwrap().gen_tokens, 2);
    let int_dot = SessionOptions {
        matmul_mode: Some("integer-dot".into()),
        window: Some(0),
        sinks: Some(0),
        ..Default::default()
    };
    let sid = m.session(&int_dot).unwrap();
    assert_eq!(sid.matmul_mode(), "integer-dot");
    assert!(sid.stats().unwrap().kv_bytes_per_token > 0);
    let bad_mode = m.session(&SessionOptions { matmul_mode: Some("int3".into()), ..Default::default() });
    assert_eq!(bad_mode.err().map(|e| e.kind()), Some(ErrorKind::InvalidArg));

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.reset().unwrap();
        let _ = s.generate("Hi", 4, |_, _| panic!("boom"));
    }));
    assert!(panicked.is_err());
}

#[test]
fn model_is_shared_and_outlived_by_sessions() {
    let exp = Arc::new(expected());
    let m = Arc::new(model());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (m, exp) = (Arc::clone(&m), Arc::clone(&exp));
            thread::spawn(move || {
                let mut s = m.session(&SessionOptions::default()).unwrap();
                s.set_sampler(&SamplerParams::greedy()).unwrap();
                let mut ids = Vec::new();
                s.generate_bytes(&exp.prompt, 16, |t, _| {
                    if t >= 0 {
                        ids.push(t);
                    }
                    true
                })
                .unwrap();
                ids
            })
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap(), exp.ids);
    }
    let mut s = m.session(&SessionOptions::default()).unwrap();
    drop(m); // the session keeps the native model
    s.set_sampler(&SamplerParams::greedy()).unwrap();
    // a session moves to another thread (Send)
    let text = thread::spawn(move || s.generate(&exp.prompt, 16, |_, _| true).unwrap()).join().unwrap();
    assert!(!text.is_empty());
}

#[test]
fn quantize_roundtrip() {
    let dir = std::env::temp_dir().join(format!("edgeformer-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("q8.gguf");
    let prof = edgeformer::QuantProfile::new("balanced").unwrap();
    let mut calls = 0;
    let (a, b) = edgeformer::quantize_file(
        fixtures().join("bind_tiny.gguf"),
        &out,
        &prof,
        Some(|_: &str, _, _| {
            calls += 1;
            true
        }),
    )
    .unwrap();
    assert!(b < a && calls > 0);
    let q = Model::load(&out).unwrap();
    assert!(q.tensors().unwrap().iter().any(|t| t.type_name == "Q8_0"));
    assert_eq!(edgeformer::QuantProfile::new("nope").unwrap_err().kind(), ErrorKind::InvalidArg);
    let err = edgeformer::convert_hf(
        dir.join("no-such-checkpoint"),
        dir.join("c.gguf"),
        None,
        None::<fn(&str, u64, u64) -> bool>,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(!dir.join("c.gguf").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn train_params(text: &str) -> edgeformer::TrainParams {
    let mut p = edgeformer::TrainParams::new().unwrap();
    p.set_str("text", text).unwrap().set_str("vocab", "synthetic:300").unwrap();
    for (k, v) in [("dim", 32), ("layers", 1), ("heads", 2), ("kv_heads", 1), ("ff", 64), ("seq", 16)] {
        p.set_int(k, v).unwrap();
    }
    p.set_int("batch", 2).unwrap().set_int("steps", 3).unwrap().set_int("warmup", 1).unwrap();
    p.set_int("threads", 1).unwrap().set_float("lr", 1e-3).unwrap();
    p
}

#[test]
fn train_export_and_load() {
    let dir = fixtures().join(format!("train-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(40);
    let mut t = edgeformer::Trainer::new(&train_params(&text)).unwrap();
    assert!(t.n_params() > 0);
    assert_eq!(t.tokens_per_step(), 2 * 16);
    assert_eq!(t.step_count(), 0);
    assert!(t.lr() > 0.0);
    for _ in 0..3 {
        let loss = t.step().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
    }
    assert_eq!(t.step_count(), 3);
    assert!(t.evaluate().unwrap().is_finite());
    let ckpt = dir.join("t.ckpt");
    t.save(&ckpt).unwrap();
    t.load(&ckpt).unwrap();
    assert_eq!(t.step_count(), 3);
    let out = dir.join("trained.gguf");
    t.export(&out).unwrap();
    drop(t);
    let m = Model::load(&out).unwrap();
    assert_eq!((m.arch().as_str(), m.n_embd(), m.n_layer(), m.n_vocab()), ("edgeformer", 32, 1, 300));
    assert!(!m.tokenize("the quick", false, false).unwrap().is_empty());

    // errors carry their status and message
    let mut p = edgeformer::TrainParams::new().unwrap();
    let err = p.set_int("no_such_setting", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArg);
    assert!(err.message().contains("no_such_setting"), "{err}");
    let mut t = edgeformer::Trainer::new(&train_params(&text)).unwrap();
    assert_eq!(t.load(dir.join("missing.ckpt")).unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(t.step_count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_tokenizer_then_train() {
    let dir = fixtures().join(format!("bpe-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(40) + "naïve café 12345 ";
    let txt = dir.join("text.txt");
    std::fs::write(&txt, &text).unwrap();
    let vocab = dir.join("bpe.gguf");
    edgeformer::train_tokenizer(txt.to_str().unwrap(), 300, &vocab).unwrap();
    let mut p = train_params(&text);
    p.set_str("vocab", &format!("gguf:{}", vocab.display())).unwrap();
    let t = edgeformer::Trainer::new(&p).unwrap();
    let out = dir.join("m.gguf");
    t.export(&out).unwrap();
    drop(t);
    let m = Model::load(&out).unwrap();
    assert_eq!(m.n_vocab(), 300);
    let err = edgeformer::train_tokenizer(txt.to_str().unwrap(), 100, dir.join("small.gguf")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArg);
    std::fs::remove_dir_all(&dir).unwrap();
}

// Compile-time: Model is Send + Sync, Session is Send.
#[allow(dead_code)]
fn assert_traits() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Model>();
    sync::<Model>();
    send::<edgeformer::Session>();
    send::<edgeformer::CancelHandle>();
    send::<edgeformer::Trainer>();
    sync::<edgeformer::CancelHandle>();
}

#[test]
fn kv_fork_rewind_and_snapshot() {
    let m = model();
    let opts = SessionOptions {
        kv: Some(edgeformer::KvOptions { n_seq_max: 2, page_size: 16, k_type: "f32".into(), v_type: "f32".into(), ..Default::default() }),
        ..Default::default()
    };
    let mut s = m.session(&opts).unwrap();
    let prompt = m.tokenize("Hello world", true, false).unwrap();
    s.eval(&prompt, false).unwrap();
    let want = s.logits(-1).unwrap().to_vec();
    assert_eq!(s.kv().pos_range(0).unwrap(), (0, prompt.len() as i32 - 1));

    // snapshot, change the context, restore: the logits come back
    let snap = s.save_to_vec(edgeformer::sys::EF_SEQ_ALL).unwrap();
    s.eval(&prompt[..1], false).unwrap();
    s.restore_from_slice(edgeformer::sys::EF_SEQ_ALL, &snap).unwrap();
    assert_eq!(s.n_past(), prompt.len() as i32);
    assert_eq!(s.logits(-1).unwrap(), &want[..]);
    // a truncated snapshot is refused and leaves the session as it was
    let err = s.restore_from_slice(edgeformer::sys::EF_SEQ_ALL, &snap[..snap.len() / 2]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Format | ErrorKind::Corrupt), "{err}");
    assert_eq!(s.n_past(), prompt.len() as i32);

    // fork into sequence 1, rewind the last token there and evaluate it again
    s.kv().copy(0, 1).unwrap();
    s.set_seq(1).unwrap();
    s.kv().remove(1, prompt.len() as i32 - 1, -1).unwrap();
    s.eval(&prompt[prompt.len() - 1..], false).unwrap();
    assert_eq!(s.logits(-1).unwrap(), &want[..]);
    assert_eq!(s.backend(), "cpu");
}

#[test]
fn backends_list_starts_with_cpu() {
    let list = edgeformer::backends().unwrap();
    assert_eq!(list[0].name, "cpu");
    assert!(list[0].available && list[0].reason.is_empty());
    assert!(list.iter().all(|b| b.available || !b.reason.is_empty()));
}
