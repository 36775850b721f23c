"""Helpers of the server tests: start `edgeformer serve` on a free loopback
port, speak HTTP with http.client, and parse server-sent events."""
import http.client
import json
import subprocess
import threading
import time


class Server:
    """An `edgeformer serve` process; use as a context manager."""

    def __init__(self, cli, model, *options):
        self.cmd = [cli, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", *map(str, options)]
        self.proc = None
        self.port = None
        self.log = []

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        # --port 0: the server picks a free port and prints it.
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1])
                break
        if self.port is None:
            self.proc.kill()
            raise AssertionError("server did not start: %s\n%s" % (" ".join(self.cmd), "".join(self.log)))
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [self.log.append(l) for l in self.proc.stderr], daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not stop on SIGTERM")
        if exc[0] is None and rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, "".join(self.log)))

    def connect(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, raw=None, headers=None, timeout=60):
        """Returns (status, headers dict, body bytes)."""
        conn = self.connect(timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def post_json(self, path, body, **kw):
        status, headers, data = self.request("POST", path, body, **kw)
        return status, json.loads(data.decode("utf-8"))

    def get_json(self, path):
        status, headers, data = self.request("GET", path)
        return status, json.loads(data.decode("utf-8"))

    def stream(self, path, body, timeout=60):
        """POSTs with stream=true; returns (status, content type, [event data strings])."""
        conn = self.connect(timeout)
        try:
            conn.request("POST", path, body=json.dumps(dict(body, stream=True)).encode(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            ctype = resp.getheader("Content-Type", "")
            if resp.status != 200:
                return resp.status, ctype, [resp.read().decode()]
            return resp.status, ctype, list(iter_events(resp))
        finally:
            conn.close()


def iter_events(resp):
    """Yields the data of each server-sent event, reading line by line as
    the bytes arrive (a streaming parse, not a read of the whole body)."""
    data = []
    while True:
        line = resp.readline()
        if not line:
            if data:
                yield "\n".join(data)
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def stream_text(events):
    """Concatenates the text of completion or chat chunks; returns
    (text, number of chunks with text, finish_reason, saw_done)."""
    text, n_text, finish, done = "", 0, None, False
    for i, ev in enumerate(events):
        if ev == "[DONE]":
            assert i == len(events) - 1, "[DONE] must be the last event"
            done = True
            continue
        chunk = json.loads(ev)
        assert "error" not in chunk, chunk
        choice = chunk["choices"][0]
        piece = choice.get("text") if "text" in choice else choice.get("delta", {}).get("content")
        if piece:
            text += piece
            n_text += 1
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]
    return text, n_text, finish, done


def run_cli_text(cli, model, prompt, n, threads=1):
    """The text `edgeformer run --temp 0 --json` generates (invalid UTF-8
    replaced as the server replaces it: one U+FFFD per maximal subpart)."""
    out = subprocess.run([cli, "run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "--json",
                          "--threads", str(threads)], check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out.decode("utf-8", errors="replace"))["text"]
