"""A local HTTP server answering like an OpenAI-compatible model server, for the tests of the proposer's
HTTP client. It stands in for the model only; nothing here stands in for a verifier."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler whose requests and replies are JSON; it lists `served` as its one model, and
    subclasses answer the completions in do_POST."""

    served = "served-model"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.reply({"data": [{"id": self.served}]})

    def payload(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(handler_class: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """The handler served on a free local port while the block runs: the endpoint's base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
