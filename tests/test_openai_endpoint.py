"""The OpenAI-compatible proposer against a local HTTP server that answers like vLLM.

The server is a test double for the model only (the proposer's HTTP client is what is tested);
nothing here stands in for a verifier.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from agent.llm import GenerationSettings, Prompt, load_proposer


@pytest.fixture()
def server():
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _reply(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply({"data": [{"id": "served-model"}]})

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(payload)
            choices = [
                {"message": {"content": f"x >= {index}\nmore text"}, "finish_reason": "stop",
                 "logprobs": {"content": [{"logprob": -0.5}, {"logprob": -0.25}]}}
                for index in range(payload["n"])
            ]
            self._reply({"choices": choices})

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1", requests
    httpd.shutdown()


def test_endpoint_samples_with_log_probabilities(server) -> None:
    url, requests = server
    proposer = load_proposer(url)
    prompt = Prompt(messages=[{"role": "user", "content": "invariant?"}], response_prefix="```c\n")
    completions = proposer.propose(prompt, 3, GenerationSettings(max_new_tokens=16, seed=3))
    assert [c.text for c in completions] == ["x >= 0", "x >= 1", "x >= 2"]
    assert all(c.logprob == pytest.approx(-0.75) for c in completions)
    sent = requests[0]
    assert sent["model"] == "served-model" and sent["n"] == 3 and sent["seed"] == 3
    assert sent["messages"][-1] == {"role": "assistant", "content": "```c\n"} and sent["continue_final_message"]


def test_unreachable_endpoint_is_a_model_error() -> None:
    from agent.llm.base import ModelError

    proposer = load_proposer("http://127.0.0.1:9/v1")
    with pytest.raises(ModelError, match="not reachable"):
        proposer.load()


def test_a_slow_endpoint_is_given_up_within_the_call_time_limit() -> None:
    import time
    from http.server import ThreadingHTTPServer

    from agent.llm.base import ModelError

    posts: list[float] = []

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            data = json.dumps({"data": [{"id": "slow-model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            posts.append(time.monotonic())
            time.sleep(3)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        proposer = load_proposer(f"http://127.0.0.1:{httpd.server_port}/v1")
        prompt = Prompt(messages=[{"role": "user", "content": "invariant?"}])
        started = time.monotonic()
        with pytest.raises(ModelError):
            proposer.propose(prompt, 2, GenerationSettings(time_limit_s=0.8))
        # Retries share the call's limit: without that, three attempts would take 3 x 0.8 s plus waits.
        assert time.monotonic() - started < 2.0
        assert posts and all(post - started < 0.8 for post in posts)
    finally:
        httpd.shutdown()
