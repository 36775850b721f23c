"""Concurrent requests against `edgeformer serve`, meant for the
ThreadSanitizer build (scripts/ci-reliability.sh tsan runs it: label tsan)
and run as a plain concurrency test in the other builds.

Several client threads at once: completions, chat, streamed completions and
chat (server-sent events), streams the client drops after the first chunk,
/metrics and /health polled throughout; then a second server with a short
time limit, so the watchdog thread cancels generations while clients wait;
then a third stopped by SIGTERM while streams are generating (the shutdown
cancels them from the main thread and waits for the connections). Every
reply is checked (greedy texts equal the sequential ones), every slot must
be free at the end, and each server must exit 0 on SIGTERM with no
ThreadSanitizer report (halt_on_error makes a race exit with status 66).

usage: server_tsan_test.py --cli EDGEFORMER --model TINY.gguf
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

from server_common import Server, iter_events, stream_text
from server_test import parse_metrics

TSAN_EXIT = 66
PROMPTS = ["Hello world", "The quick brown fox", "Once upon a time", "Call me Ishmael"]
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi"}]


class LoggedServer(Server):
    """A Server whose stderr goes to a file, so the whole log (a TSan report
    included) can be read once the process has exited."""

    def __init__(self, log_path, *args):
        super().__init__(*args)
        self.log_path = log_path

    def __enter__(self):
        env = dict(os.environ)
        env["TSAN_OPTIONS"] = ("halt_on_error=1 exitcode=%d second_deadlock_stack=1 %s"
                               % (TSAN_EXIT, env.get("TSAN_OPTIONS", ""))).strip()
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.log_file, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in self.read_log().splitlines():
                if "listening on http://" in line:
                    self.port = int(line.rsplit(":", 1)[1])
                    return self
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError("server did not start: %s\n%s" % (" ".join(self.cmd), self.read_log()))

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; returns (exit status, log)."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung (killed)"
        self.log_file.close()
        return rc, self.read_log()

    def __exit__(self, *exc):
        if not self.log_file.closed:  # not stopped by check_clean_exit
            self.stop()
        if exc[0] is not None:  # a failed check: the server's side (a TSan report, say) explains it
            print("server exit status %s; its log:\n%s" % (self.proc.returncode, self.read_log()[-20000:]))


def check_clean_exit(srv):
    rc, log = srv.stop()
    assert "ThreadSanitizer" not in log, "TSan report:\n" + log
    assert rc == 0, "server exited with %s:\n%s" % (rc, log)


def completion_text(srv, req, stream, chat=False):
    path = "/v1/chat/completions" if chat else "/v1/completions"
    if stream:
        status, ctype, events = srv.stream(path, req, timeout=300)
        assert status == 200 and ctype.startswith("text/event-stream"), (status, events)
        text, _, finish, done = stream_text(events)
        assert done and finish in ("stop", "length"), (finish, events[-3:])
        return text
    status, body = srv.post_json(path, req, timeout=300)
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["finish_reason"] in ("stop", "length"), choice
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage
    return choice["message"]["content"] if chat else choice["text"]


def dropped_stream(srv, n_tokens):
    """Starts a long stream, reads its first event, and hangs up."""
    conn = srv.connect(timeout=300)
    conn.request("POST", "/v1/completions", body=json.dumps({"prompt": "Hello", "max_tokens": n_tokens,
                                                             "temperature": 0, "stream": True}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    first = next(iter_events(resp))
    assert json.loads(first)["object"] == "text_completion", first
    conn.sock.close()
    conn.close()


def wait_slots_free(srv, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        status, body = srv.get_json("/health")
        assert status == 200 and body["status"] == "ok", body
        if body["slots_busy"] == 0 and body["queue"] == 0:
            return
        assert time.monotonic() < deadline, "slots stayed busy: %r" % body
        time.sleep(0.05)


def run_clients(jobs):
    """Runs each job on its own thread, all released at once; raises with
    every failure."""
    errors = []
    start = threading.Barrier(len(jobs))

    def wrap(i, job):
        try:
            start.wait()
            job()
        except Exception as e:  # collected and reported below
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=wrap, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not errors, "\n".join(errors)


def test_concurrent_mix(args, log_path):
    n = 12
    with LoggedServer(log_path, args.cli, args.model, "--slots", 3, "--queue", 64, "--threads", 2,
                      "--max-tokens", 400, "--ctx", 512) as srv:
        # References, one request at a time.
        want = {p: completion_text(srv, {"prompt": p, "max_tokens": n, "temperature": 0}, False) for p in PROMPTS}
        chat_req = {"messages": MESSAGES, "max_tokens": n, "temperature": 0}
        want_chat = completion_text(srv, chat_req, False, chat=True)
        counts = {"completions": 0, "chat": 0, "dropped": 0, "polls": 0}
        lock = threading.Lock()
        done = threading.Event()

        def count(key):
            with lock:
                counts[key] += 1

        def completions(i):
            def job():
                for r in range(3):
                    p = PROMPTS[(i + r) % len(PROMPTS)]
                    got = completion_text(srv, {"prompt": p, "max_tokens": n, "temperature": 0}, (i + r) % 2 == 1)
                    assert got == want[p], (p, got, want[p])
                    count("completions")
            return job

        def chats(i):
            def job():
                for r in range(2):
                    got = completion_text(srv, chat_req, (i + r) % 2 == 0, chat=True)
                    assert got == want_chat, (got, want_chat)
                    count("chat")
            return job

        def dropper():
            for _ in range(3):
                dropped_stream(srv, 400)
                count("dropped")

        def poller():
            while not done.is_set():
                status, body = srv.get_json("/health")
                assert status == 200 and 0 <= body["slots_busy"] <= 3, body
                status, _, data = srv.request("GET", "/metrics")
                assert status == 200, status
                parse_metrics(data.decode())
                status, _, _ = srv.request("GET", "/v1/models")
                assert status == 200
                count("polls")
                time.sleep(0.01)

        workers = [completions(i) for i in range(4)] + [chats(i) for i in range(2)] + [dropper]

        def work_then_stop(job):
            def run():
                try:
                    job()
                finally:
                    with lock:
                        counts.setdefault("finished", 0)
                        counts["finished"] += 1
                        if counts["finished"] == len(workers):
                            done.set()
            return run

        run_clients([work_then_stop(w) for w in workers] + [poller, poller])
        assert counts["completions"] == 12 and counts["chat"] == 4 and counts["dropped"] == 3, counts
        assert counts["polls"] >= 2, counts
        wait_slots_free(srv)
        metrics, _ = parse_metrics(srv.request("GET", "/metrics")[2].decode())
        ok = metrics[("edgeformer_requests_total", frozenset({("endpoint", "/v1/completions"), ("status", "200")}))]
        assert ok >= len(PROMPTS) + 12 + 3, ok
        # The server still answers after the dropped streams.
        assert completion_text(srv, {"prompt": PROMPTS[0], "max_tokens": n, "temperature": 0}, False) == want[PROMPTS[0]]
        check_clean_exit(srv)
        print("  %d completions, %d chats, %d dropped streams, %d polls of /health+/metrics+/v1/models; "
              "3 slots, 9 client threads" % (counts["completions"], counts["chat"], counts["dropped"], counts["polls"]))


def test_watchdog_cancels(args, log_path):
    """A 0.2 s limit: the watchdog cancels generations from its own thread
    while other requests queue behind them."""
    long_req = {"prompt": "Hello", "max_tokens": 1500, "temperature": 0}
    outcomes = []
    lock = threading.Lock()
    with LoggedServer(log_path, args.cli, args.model, "--slots", 2, "--queue", 8, "--threads", 1,
                      "--max-tokens", 1500, "--ctx", 1600, "--timeout", 0.2) as srv:
        def client(stream):
            def job():
                if stream:
                    status, _, events = srv.stream("/v1/completions", long_req, timeout=300)
                    assert status in (200, 503), (status, events)
                    if status == 200:
                        assert events[-1] == "[DONE]", events[-2:]
                        last = json.loads(events[-2])
                        kind = last["error"]["type"] if "error" in last else last["choices"][0]["finish_reason"]
                    else:
                        kind = json.loads(events[0])["error"]["code"]
                else:
                    status, body = srv.post_json("/v1/completions", long_req, timeout=300)
                    kind = body["error"]["type"] if "error" in body else body["choices"][0]["finish_reason"]
                    assert (status, kind) in ((200, "length"), (200, "stop"), (504, "timeout_error"),
                                              (503, "server_busy")), body
                assert kind in ("length", "stop", "timeout_error", "server_busy", "queue_timeout"), kind
                with lock:
                    outcomes.append(kind)
            return job

        run_clients([client(i % 2 == 1) for i in range(6)])
        wait_slots_free(srv)
        check_clean_exit(srv)
    print("  watchdog phase: %s" % sorted(outcomes))


def test_sigterm_while_streaming(args, log_path):
    """SIGTERM with both slots streaming and a request queued: the server
    refuses the queued one (503, code "stopping"), cancels the streams, ends
    them and exits 0."""
    long_req = {"prompt": "Hello", "max_tokens": 1500, "temperature": 0, "stream": True}
    with LoggedServer(log_path, args.cli, args.model, "--slots", 2, "--queue", 1, "--threads", 1,
                      "--max-tokens", 1500, "--ctx", 1600) as srv:
        under_way = threading.Barrier(4, timeout=120)  # a failed streamer breaks it for all
        ended = []
        refused = []

        def streamer():
            conn = srv.connect(timeout=300)
            conn.request("POST", "/v1/completions", body=json.dumps(long_req),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            events = iter_events(resp)
            n = 0
            for ev in events:  # wait for text: the generation has started
                n += 1
                if ev != "[DONE]" and json.loads(ev)["choices"][0]["text"]:
                    break
            under_way.wait()
            try:
                for ev in events:  # then read until the server ends the stream
                    n += 1
            except (ConnectionError, OSError, http.client.HTTPException):
                pass  # a stream cut by the shutdown
            ended.append(n)
            conn.close()

        def queued():
            under_way.wait()
            status, body = srv.post_json("/v1/completions", {"prompt": "Hello", "max_tokens": 4}, timeout=300)
            refused.append((status, body.get("error", {}).get("code")))

        def stopper():
            under_way.wait()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # SIGTERM only once the request waits in the queue
                _, _, text = srv.request("GET", "/metrics")
                if parse_metrics(text.decode())[0][("edgeformer_queue_length", frozenset())] == 1:
                    break
                time.sleep(0.02)
            rc, log = srv.stop()
            assert "ThreadSanitizer" not in log, "TSan report:\n" + log
            assert rc == 0, "server exited with %s on SIGTERM:\n%s" % (rc, log)

        run_clients([streamer, streamer, queued, stopper])
        assert len(ended) == 2, ended
        assert refused == [(503, "stopping")], refused
    print("  SIGTERM with 2 streams generating and 1 queued: %s events each before the end, queued one %s"
          % (ended, refused))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--log-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.log_dir, exist_ok=True)
    failures = 0
    for name, fn in (("test_concurrent_mix", test_concurrent_mix), ("test_watchdog_cancels", test_watchdog_cancels),
                     ("test_sigterm_while_streaming", test_sigterm_while_streaming)):
        t0 = time.monotonic()
        try:
            fn(args, os.path.join(args.log_dir, name + ".log"))
            print("ok   %s (%.1f s)" % (name, time.monotonic() - t0))
        except Exception:
            import traceback
            print("FAIL %s" % name)
            traceback.print_exc()
            failures += 1
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
