"""A small OpenAI-compatible Chat Completions server on 127.0.0.1, for tests and benchmarks.

It answers with a deterministic policy instead of a model: an agent offered tools first calls
every delegate tool in one turn, then each action tool (send_email, escalate) once, then gives
a final answer; an agent without tools writes a short text. Latency is configurable, so the
harness can be measured against a known per-call cost.

It can also inject faults at chosen rates (FAULTS): 429 with Retry-After, 500, 503, a
connection reset, no answer at all, malformed tool-call JSON, a call to a tool that does not
exist, and an empty choice list.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTION_TOOLS = ("send_email", "escalate")
FAULTS = ("rate_limit", "server_500", "server_503", "reset", "hang", "malformed_tool_json",
          "unknown_tool", "empty_choices")


@dataclass
class ServerStats:
    """What the server saw: for assertions and benchmarks."""

    requests: int = 0
    """Chat completion requests answered."""
    auth_headers: list[str] = field(default_factory=list)
    """Authorization headers of completion requests (tests check keys are forwarded, not
    leaked)."""
    probe_auth_headers: list[str] = field(default_factory=list)
    """Authorization headers of GET requests (a backend's start-up probe of /models)."""
    usage: list[tuple[int, int]] = field(default_factory=list)
    """(prompt_tokens, completion_tokens) of each answer, in order."""
    faults: dict[str, int] = field(default_factory=dict)
    """Injected faults by kind."""
    late_ms: list[float] = field(default_factory=list)
    """Per answered completion: how much longer than `latency_s` the server itself took, from
    its request read to its answer written (its own share of a client's recorded time)."""


def policy_reply(request: dict[str, Any]) -> dict[str, Any]:
    """The assistant message for a chat request (see module docstring)."""
    messages = request.get("messages", [])
    tools = [t["function"]["name"] for t in request.get("tools", []) if t.get("type") == "function"]
    called = [c["function"]["name"] for m in messages if m.get("role") == "assistant"
              for c in m.get("tool_calls") or []]
    if tools:
        delegates = [t for t in tools if t not in ACTION_TOOLS and t not in called]
        actions = [t for t in tools if t in ACTION_TOOLS and t not in called]
        if delegates and not called:
            return _tool_calls([(t, {"input": _last_user(messages)}) for t in delegates])
        if actions:
            return _tool_calls([(actions[0], _action_args(actions[0], messages))])
        return {"role": "assistant", "content": f"Done: called {', '.join(called) or 'nothing'}."}
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    if "exactly one word" in str(system):
        return {"role": "assistant", "content": "concise"}
    return {"role": "assistant", "content": "Subject: A quick idea\n\nHello, Ledgerly saves "
            "your finance team days every month. Worth a short call next week?"}


def _last_user(messages: list[dict[str, Any]]) -> str:
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def _action_args(tool: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
    body = results[0] if results else "Hello."
    if tool == "send_email":
        user = _last_user(messages)
        to = user.split("email: ")[-1].rstrip(").") if "email: " in user else "x@example.com"
        return {"to": to, "subject": "A quick idea", "body": body}
    return {"ticket": "unknown", "reason": "needs a human"}


def _tool_calls(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(args)}} for name, args in calls]}


Policy = Callable[[dict[str, Any]], dict[str, Any]]
"""A chat request -> the assistant message to answer with (`policy_reply` by default)."""


def completion(request: dict[str, Any], policy: Policy = policy_reply) -> dict[str, Any]:
    """A full chat.completion object; token counts are a fixed function of the text sizes."""
    message = policy(request)
    prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
    completion_tokens = max(1, len(json.dumps(message)) // 4)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
        "created": int(time.time()), "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _corrupt(answer: dict[str, Any], fault: str) -> dict[str, Any]:
    """Faults that keep HTTP 200 but break the completion's content."""
    if fault == "empty_choices":
        answer["choices"] = []
        return answer
    call = {"id": "call_fault", "type": "function",
            "function": {"name": "send_email", "arguments": '{"to": "x@y", "subject": '}}
    if fault == "unknown_tool":
        call["function"] = {"name": "teleport", "arguments": "{}"}
    answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    answer["choices"][0]["finish_reason"] = "tool_calls"
    return answer


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog of 5 drops connects under load
    daemon_threads = True


class FakeOpenAIServer:
    """Serve the policy on 127.0.0.1:<free port> in a background thread."""

    def __init__(
        self, models: tuple[str, ...] = ("fake-model",), latency_s: float = 0.0,
        faults: dict[str, float] | None = None, seed: int = 0, hang_s: float = 5.0,
        retry_after_s: float = 0.05, api_key: str | None = None, keep_alive: bool = False,
        port: int = 0, policy: Policy = policy_reply,
    ) -> None:
        """`keep_alive=True` answers HTTP/1.1 keep-alive, as Ollama, vLLM or LM Studio do: the
        client then pools its connections, and a pooled connection belongs to the event loop
        that opened it (HTTP/1.0 closes every connection, which hides exactly that).
        `port` (0: a free one) lets a test bring a server back where a stopped one was.
        `policy` replaces what the model says (a test makes it write hostile text)."""
        unknown = set(faults or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULTS}")
        self.models = models
        self.latency_s = latency_s
        self.fault_rates = dict(faults or {})
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self.api_key = api_key
        self.keep_alive = keep_alive
        self.policy = policy
        self._rng = random.Random(seed)
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, at every exit
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """The /v1 base URL clients should use."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.keep_alive:  # idle kept-alive connections reset as clients go: not news
            self._httpd.handle_error = lambda *_args: None  # type: ignore[method-assign]
        self._httpd.shutdown()
        self._httpd.server_close()

    def draw_fault(self) -> str | None:
        """Pick this request's fault (or none) at the configured rates."""
        with self._lock:
            roll = self._rng.random()
            for kind, rate in self.fault_rates.items():
                if roll < rate:
                    self.stats.faults[kind] = self.stats.faults.get(kind, 0) + 1
                    return kind
                roll -= rate
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if server.keep_alive else "HTTP/1.0"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits
            # for the client's delayed ACK of the headers (~40 ms on Linux), a delay no real
            # model server adds, and one every recorded generation span would carry.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _authorized(self) -> bool:
                expected = f"Bearer {server.api_key}"
                if server.api_key is None or self.headers.get("Authorization") == expected:
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided",
                                           "type": "invalid_request_error"}})
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                with server._lock:  # a start-up probe carries the key too
                    server.stats.probe_auth_headers.append(self.headers.get("Authorization", ""))
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model"} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                began = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.stats.requests += 1
                    server.stats.auth_headers.append(self.headers.get("Authorization", ""))
                if not self._authorized():
                    return
                if server.latency_s:
                    time.sleep(server.latency_s)
                fault = server.draw_fault()
                if fault and self._inject(fault):
                    return
                answer = completion(request, server.policy)
                if fault:
                    answer = _corrupt(answer, fault)
                with server._lock:
                    usage = answer["usage"]
                    server.stats.usage.append((usage["prompt_tokens"],
                                               usage["completion_tokens"]))
                self._send(200, answer)
                late = (time.monotonic() - began - server.latency_s) * 1000
                with server._lock:
                    server.stats.late_ms.append(late)

            def _inject(self, fault: str) -> bool:
                """Faults that replace the answer; True when the request is done."""
                if fault == "rate_limit":
                    self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                               {"Retry-After": str(server.retry_after_s)})
                elif fault in ("server_500", "server_503"):
                    self._send(int(fault[-3:]), {"error": {"message": "injected " + fault}})
                elif fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif fault == "hang":
                    time.sleep(server.hang_s)
                    self.close_connection = True
                else:
                    return False
                return True

            def _send(self, status: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class FakeServerProcess:
    """A FakeOpenAIServer in a process of its own, until `close()` (or its stdin closes): a
    benchmark's own threads (a browser driver, a plan's event loop) then never delay its
    answers, so its latency stays the one it was given."""

    def __init__(self, latency_s: float = 0.0, keep_alive: bool = False) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchlab.testing.devserver", str(latency_s),
             "keep-alive" if keep_alive else "close"],
            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        """The /v1 base URL clients should use."""
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"fake server did not start: {self.base_url!r}")

    def late_ms(self) -> list[float]:
        """`ServerStats.late_ms` so far, asked of the server's process."""
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("late\n")
        self.proc.stdin.flush()
        return list(json.loads(self.proc.stdout.readline()))

    def cpu_s(self) -> float:
        """User + system CPU of the server process so far (Linux /proc; 0 elsewhere)."""
        import os
        from pathlib import Path

        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Stop the server (killed if it does not go within 10 s)."""
        import subprocess

        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> FakeServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve_until_stdin_closes(latency_s: str, connections: str) -> None:
    """Serve; each line `late` on stdin is answered with `late_ms` as a JSON line."""
    import sys

    with FakeOpenAIServer(latency_s=float(latency_s),
                          keep_alive=connections == "keep-alive") as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "late":
                with server._lock:
                    print(json.dumps(server.stats.late_ms), flush=True)


if __name__ == "__main__":  # FakeServerProcess's child: LATENCY_S keep-alive|close
    import sys

    _serve_until_stdin_closes(*sys.argv[1:3])

