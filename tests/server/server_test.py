"""`edgeformer serve` over real HTTP on loopback: OpenAI shapes, greedy
results equal to `edgeformer run`, streaming, concurrency, errors, limits.

usage: server_test.py --cli EDGEFORMER --model TINY.gguf --slow-model SLOW.gguf
"""
import argparse
import json
import re
import sys
import threading
import time

from server_common import Server, run_cli_text, stream_text

PROMPTS = ["Hello world", "The quick brown fox", "Once upon a time", "In the beginning",
           "It was a dark and stormy night", "Call me Ishmael", "To be or not to be", "All happy families"]


def check_error(status, body, want_status, want_type=None):
    assert status == want_status, (status, body)
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"], body
    assert isinstance(err["type"], str), body
    assert "code" in err, body
    if want_type:
        assert err["type"] == want_type, body


def chatml(messages):
    """The chat template the tiny model gets (no template in its metadata → chatml)."""
    text = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in messages)
    return text + "<|im_start|>assistant\n"


def test_basic_routes(srv, args):
    status, body = srv.get_json("/health")
    assert status == 200 and body["status"] == "ok" and body["slots"] == 4, body
    status, body = srv.get_json("/v1/models")
    assert status == 200 and body["object"] == "list", body
    ids = [m["id"] for m in body["data"]]
    assert ids == [args.model.rsplit("/", 1)[-1]], ids
    status, headers, page = srv.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), headers
    assert b"/v1/chat/completions" in page and b"getReader" in page, "chat page should stream with fetch"
    assert b"http://" not in page and b"https://" not in page, "the page must not load external resources"
    status, headers, _ = srv.request("GET", "/nope")
    assert status == 404
    status, body = srv.get_json("/v1/completions")
    check_error(status, body, 405)


def test_greedy_equals_run(srv, args):
    n = 24
    want = run_cli_text(args.cli, args.model, PROMPTS[0], n)
    model_id = args.model.rsplit("/", 1)[-1]
    status, body = srv.post_json("/v1/completions", {"model": model_id, "prompt": PROMPTS[0], "max_tokens": n,
                                                     "temperature": 0})
    assert status == 200, body
    assert body["object"] == "text_completion" and body["model"] == model_id, body
    choice = body["choices"][0]
    assert choice["text"] == want, (choice["text"], want)
    assert choice["finish_reason"] in ("length", "stop"), choice
    usage = body["usage"]
    assert usage["completion_tokens"] <= n and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == n, usage

    # The same request streamed: the chunks add up to the same text.
    status, ctype, events = srv.stream("/v1/completions", {"prompt": PROMPTS[0], "max_tokens": n, "temperature": 0})
    assert status == 200 and ctype.startswith("text/event-stream"), (status, ctype, events)
    text, n_text, finish, done = stream_text(events)
    assert done, "the stream must end with data: [DONE]"
    assert text == want, (text, want)
    assert n_text >= 2, "tokens should arrive in several chunks, got %d" % n_text
    assert finish == choice["finish_reason"], (finish, choice)

    # Unknown fields are ignored, as OpenAI does.
    status, body = srv.post_json("/v1/completions", {"prompt": PROMPTS[0], "max_tokens": n, "temperature": 0,
                                                     "frobnicate": {"x": [1, 2]}, "logit_bias": {}, "user": "me"})
    assert status == 200 and body["choices"][0]["text"] == want, body


def test_chat(srv, args):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi"}]
    n = 12
    status, plain = srv.post_json("/v1/completions", {"prompt": chatml(messages), "max_tokens": n, "temperature": 0})
    assert status == 200, plain
    status, body = srv.post_json("/v1/chat/completions", {"messages": messages, "max_tokens": n, "temperature": 0})
    assert status == 200, body
    assert body["object"] == "chat.completion", body
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant", msg
    assert msg["content"] == plain["choices"][0]["text"], "chat must render the model's template"
    status, ctype, events = srv.stream("/v1/chat/completions", {"messages": messages, "max_tokens": n, "temperature": 0})
    assert status == 200, events
    first = json.loads(events[0])
    assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"].get("role") == "assistant", first
    text, _, finish, done = stream_text(events)
    assert done and text == msg["content"], (text, msg)
    # Content given as text parts is the same message.
    parts = [{"role": "system", "content": [{"type": "text", "text": "You are terse."}]},
             {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi"}]}]
    status, body2 = srv.post_json("/v1/chat/completions", {"messages": parts, "max_tokens": n, "temperature": 0})
    assert status == 200 and body2["choices"][0]["message"]["content"] == msg["content"], body2


def test_stop_strings(srv, args):
    n = 24
    status, body = srv.post_json("/v1/completions", {"prompt": PROMPTS[1], "max_tokens": n, "temperature": 0})
    full = body["choices"][0]["text"]
    assert len(full) >= 8, full
    stop = full[len(full) // 2: len(full) // 2 + 3]
    want = full[:full.index(stop)]
    status, body = srv.post_json("/v1/completions", {"prompt": PROMPTS[1], "max_tokens": n, "temperature": 0,
                                                     "stop": [stop, "@@never@@"]})
    assert status == 200 and body["choices"][0]["text"] == want, (body, want, stop)
    assert body["choices"][0]["finish_reason"] == "stop", body
    status, _, events = srv.stream("/v1/completions", {"prompt": PROMPTS[1], "max_tokens": n, "temperature": 0,
                                                       "stop": stop})
    text, _, finish, done = stream_text(events)
    assert done and text == want and finish == "stop", (text, want, finish)


def test_sampling_seed(srv, args):
    req = {"prompt": PROMPTS[2], "max_tokens": 12, "temperature": 1.0, "top_k": 50, "top_p": 0.9, "min_p": 0.01,
           "seed": 1234}
    a = srv.post_json("/v1/completions", req)[1]["choices"][0]["text"]
    b = srv.post_json("/v1/completions", req)[1]["choices"][0]["text"]
    assert a == b, "equal seeds must give equal samples (and no state may leak between requests)"


def test_concurrent(srv, args):
    n = 16
    sequential = []
    for p in PROMPTS:
        status, body = srv.post_json("/v1/completions", {"prompt": p, "max_tokens": n, "temperature": 0})
        assert status == 200, body
        sequential.append(body["choices"][0]["text"])
    assert len(set(sequential)) > 1, "different prompts should give different completions"
    assert sequential[3] == run_cli_text(args.cli, args.model, PROMPTS[3], n)
    results = [None] * len(PROMPTS)
    errors = []
    start = threading.Barrier(len(PROMPTS))

    def client(i):
        try:
            start.wait()
            req = {"prompt": PROMPTS[i], "max_tokens": n, "temperature": 0}
            if i % 2:  # half of them stream
                status, _, events = srv.stream("/v1/completions", req)
                assert status == 200, events
                results[i] = stream_text(events)[0]
            else:
                status, body = srv.post_json("/v1/completions", req)
                assert status == 200, body
                results[i] = body["choices"][0]["text"]
        except Exception as e:  # reported below
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i, (got, want) in enumerate(zip(results, sequential)):
        assert got == want, "client %d got %r, sequential %r" % (i, got, want)


def test_bad_requests(srv, args):
    bad_bodies = [
        (b"{bad json", 400), (b"[1, 2]", 400), (b"", 400),
        (json.dumps({"prompt": 5}).encode(), 400),
        (json.dumps({}).encode(), 400),
        (json.dumps({"prompt": "x", "temperature": "hot"}).encode(), 400),
        (json.dumps({"prompt": "x", "temperature": -1}).encode(), 400),
        (json.dumps({"prompt": "x", "max_tokens": 0}).encode(), 400),
        (json.dumps({"prompt": "x", "max_tokens": 1.5}).encode(), 400),
        (json.dumps({"prompt": "x", "max_tokens": 100000}).encode(), 400),
        (json.dumps({"prompt": "x", "top_p": 1.5}).encode(), 400),
        (json.dumps({"prompt": "x", "stop": [1]}).encode(), 400),
        (json.dumps({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}).encode(), 400),
        (json.dumps({"prompt": "x", "stream": "yes"}).encode(), 400),
        (json.dumps({"prompt": "x", "model": "no-such-model"}).encode(), 404),
    ]
    for raw, want in bad_bodies:
        status, _, data = srv.request("POST", "/v1/completions", raw=raw)
        check_error(status, json.loads(data), want, "invalid_request_error")
    for body in ({"messages": []}, {"messages": "hi"}, {"messages": [{"role": "user"}]},
                 {"messages": [{"role": 1, "content": "x"}]},
                 {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}):
        status, data = srv.post_json("/v1/chat/completions", body)
        check_error(status, data, 400, "invalid_request_error")
    status, data = srv.post_json("/v1/chat/completions", {"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})
    check_error(status, data, 404)
    assert data["error"]["code"] == "model_not_found", data

    # Bodies over --max-body (4096 here): declared, and sent chunked.
    big = json.dumps({"prompt": "x" * 10000}).encode()
    status, _, data = srv.request("POST", "/v1/completions", raw=big)
    check_error(status, json.loads(data), 413)
    conn = srv.connect()
    conn.putrequest("POST", "/v1/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(big), 1000):
        piece = big[i:i + 1000]
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    check_error(resp.status, json.loads(resp.read()), 413)
    conn.close()
    # The server still works afterwards.
    status, body = srv.post_json("/v1/completions", {"prompt": "ok", "max_tokens": 2})
    assert status == 200, body


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*)?\})? '
                         r'(-?[0-9.eE+-]+|\+Inf|NaN)$')


def parse_metrics(text):
    """Prometheus text format → {(name, frozenset(labels)): value}; fails on any malformed line."""
    out = {}
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = METRIC_LINE.match(line)
        assert m, "malformed metrics line: %r" % line
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(5))
    return out, types


def test_metrics(srv, args):
    status, headers, data = srv.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), headers
    metrics, types = parse_metrics(data.decode())
    ok = metrics[("edgeformer_requests_total",
                  frozenset({("endpoint", "/v1/completions"), ("status", "200")}))]
    assert ok >= 10, ok
    assert metrics[("edgeformer_requests_total", frozenset({("endpoint", "/v1/completions"), ("status", "400")}))] >= 10
    assert metrics[("edgeformer_requests_total", frozenset({("endpoint", "/v1/completions"), ("status", "413")}))] == 2
    assert metrics[("edgeformer_tokens_generated_total", frozenset())] > 100
    assert metrics[("edgeformer_queue_length", frozenset())] == 0
    assert metrics[("edgeformer_slots_busy", frozenset())] == 0
    assert types["edgeformer_request_duration_seconds"] == "histogram"
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in metrics.items()
                      if k[0] == "edgeformer_request_duration_seconds_bucket"))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "histogram buckets must be cumulative"
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == metrics[("edgeformer_request_duration_seconds_count",
                                                                         frozenset())]
    assert buckets[-1][1] >= ok


def wait_slots_free(srv, seconds=5):
    deadline = time.monotonic() + seconds
    while srv.get_json("/health")[1]["slots_busy"] != 0:
        assert time.monotonic() < deadline, "a slot stayed busy after its generation ended"
        time.sleep(0.02)


def test_limits(args):
    """Time limit, full queue, and a client that disconnects mid-stream, on a
    model slow enough that 1000 tokens take many seconds."""
    long_req = {"prompt": "Hello", "max_tokens": 1000, "temperature": 0}
    with Server(args.cli, args.slow_model, "--slots", 1, "--queue", 0, "--threads", 1, "--ctx", 1100,
                "--max-tokens", 1000, "--timeout", 0.5) as srv:
        t0 = time.monotonic()
        status, body = srv.post_json("/v1/completions", long_req)
        elapsed = time.monotonic() - t0
        check_error(status, body, 504, "timeout_error")
        assert elapsed < 4, "the generation should be cancelled at the 0.5 s limit, took %.1f s" % elapsed
        status, _, events = srv.stream("/v1/completions", long_req)
        assert status == 200 and events[-1] == "[DONE]", events
        assert json.loads(events[-2])["error"]["type"] == "timeout_error", events[-2]
        wait_slots_free(srv)

    with Server(args.cli, args.slow_model, "--slots", 1, "--queue", 0, "--threads", 1, "--ctx", 1100,
                "--max-tokens", 1000) as srv:
        conn = srv.connect()
        conn.request("POST", "/v1/completions", body=json.dumps(dict(long_req, stream=True)),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        # Wait for the first text chunk, so the generation is under way.
        while True:
            line = resp.readline()
            assert line, "stream ended early"
            if line.startswith(b"data: ") and b'"text":""' not in line:
                break
        status, body = srv.get_json("/health")
        assert body["slots_busy"] == 1, body
        # One slot, no queue: another request is refused.
        status, body = srv.post_json("/v1/completions", {"prompt": "x", "max_tokens": 1})
        check_error(status, body, 503)
        # The client goes away: the generation is cancelled and the slot freed.
        conn.sock.close()
        conn.close()
        wait_slots_free(srv)
        metrics, _ = parse_metrics(srv.request("GET", "/metrics")[2].decode())
        generated = metrics[("edgeformer_tokens_generated_total", frozenset())]
        assert generated < 1000, "the generation ran to the end (%d tokens) despite the disconnect" % generated
        status, body = srv.post_json("/v1/completions", {"prompt": "x", "max_tokens": 2})
        assert status == 200, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--slow-model", required=True)
    args = ap.parse_args()
    failures = 0
    with Server(args.cli, args.model, "--slots", 4, "--queue", 16, "--threads", 1, "--max-body", 4096,
                "--max-tokens", 64) as srv:
        for test in (test_basic_routes, test_greedy_equals_run, test_chat, test_stop_strings, test_sampling_seed,
                     test_concurrent, test_bad_requests, test_metrics):
            failures += run_test(test.__name__, lambda: test(srv, args))
    failures += run_test("test_limits", lambda: test_limits(args))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


def run_test(name, fn):
    t0 = time.monotonic()
    try:
        fn()
    except Exception:
        import traceback
        print("FAIL %s" % name)
        traceback.print_exc()
        return 1
    print("ok   %s (%.2f s)" % (name, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
