"""An HTTP server on 127.0.0.1 that keeps every request it receives: what a browser fetched
because of injected markup, or what an OTLP exporter sent. Tests assert on what reached it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    """GET or POST."""
    path: str
    """The request path with its query."""
    body: bytes
    """The request body (empty for a GET)."""


class RecordingServer:
    """Answers every GET and POST with 200 and `answer` (of `content_type`), and keeps each
    request in `received`, in order. Use as a context manager."""

    def __init__(self, answer: bytes = b"", content_type: str = "text/plain") -> None:
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                server.received.append(Received(self.command, self.path,
                                                self.rfile.read(length) if length else b""))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET  # noqa: N815 - http.server naming

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._httpd.server_address[1]}"
        """host:port, as markup or a URL would name it."""
        self.url = f"http://{self.host}"
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, at every exit
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def paths(self) -> list[str]:
        """The paths requested, in order."""
        return [r.path for r in self.received]

    @property
    def bodies(self) -> list[bytes]:
        """The bodies sent (POSTs), in order."""
        return [r.body for r in self.received if r.method == "POST"]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
