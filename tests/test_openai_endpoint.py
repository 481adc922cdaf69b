"""The OpenAI-compatible proposer against a local HTTP server that answers like vLLM.

The server is a test double for the model only (the proposer's HTTP client is what is tested);
nothing here stands in for a verifier.
"""

from __future__ import annotations

import pytest

from agent.llm import GenerationSettings, Prompt, load_proposer
from tests.standin_endpoint import JsonHandler, serving


@pytest.fixture()
def server():
    requests: list[dict] = []

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            payload = self.payload()
            requests.append(payload)
            choices = [
                {"message": {"content": f"x >= {index}\nmore text"}, "finish_reason": "stop",
                 "logprobs": {"content": [{"logprob": -0.5}, {"logprob": -0.25}]}}
                for index in range(payload["n"])
            ]
            self.reply({"choices": choices})

    with serving(Handler) as url:
        yield url, requests


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

    with pytest.raises(ModelError, match="not reachable"):
        load_proposer("http://127.0.0.1:9/v1")  # refused at once, before any task runs


def test_cli_refuses_an_endpoint_that_does_not_answer(tmp_path, capsys) -> None:
    from agent.__main__ import main

    assert main(["solve", "tasks/code2inv/1.yaml", "--model", "http://127.0.0.1:9/v1", "--sources", "llm",
                 "--runs-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not reachable" in error
    assert not any(tmp_path.iterdir())


class PlainServer(JsonHandler):
    """Answers like `transformers serve`: HTTP 422 for vLLM's fields, one choice whatever `n`, no
    log-probabilities; and HTTP 429 (busy) to the first request."""

    posts: list[dict] = []
    served = "plain-model"

    def do_POST(self) -> None:
        payload = self.payload()
        type(self).posts.append(payload)
        if len(type(self).posts) == 1:
            self.reply({"error": "busy"}, status=429)
        elif "continue_final_message" in payload or "add_generation_prompt" in payload:
            self.reply({"error": "unknown field continue_final_message"}, status=422)
        else:
            answer = f"```c\nx >= {len(type(self).posts)}\n```"
            self.reply({"choices": [{"message": {"content": answer}, "finish_reason": "stop"}]})


def test_a_server_without_vllm_fields_still_serves_every_sample() -> None:
    PlainServer.posts = []
    with serving(PlainServer) as url:
        proposer = load_proposer(url)
        assert proposer.info.name == "plain-model"  # the trace header names the served model, not the URL
        prompt = Prompt(messages=[{"role": "user", "content": "invariant?"}], response_prefix="```c\n")
        completions = proposer.propose(prompt, 2, GenerationSettings(max_new_tokens=16, stop=("```",)))
        assert [c.text.strip() for c in completions] == ["x >= 3", "x >= 4"]
        assert all(c.logprob is None for c in completions)
        posts = PlainServer.posts
        assert len(posts) == 4  # busy (retried), refused fields, then two single-choice answers
        assert "continue_final_message" not in posts[2] and "Begin your reply exactly with" in posts[2]["messages"][-1]["content"]
        assert posts[3]["n"] == 1
        proposer.propose(prompt, 1, GenerationSettings(max_new_tokens=16))
        assert "continue_final_message" not in PlainServer.posts[4]  # the refusal is remembered


def test_a_model_the_endpoint_does_not_serve_is_refused(server) -> None:
    import os

    from agent.llm.base import ModelError

    url, _ = server
    os.environ["VERILOOP_API_MODEL"] = "other-model"
    try:
        with pytest.raises(ModelError, match="does not serve 'other-model'"):
            load_proposer(url)
    finally:
        del os.environ["VERILOOP_API_MODEL"]


def test_a_slow_endpoint_is_given_up_within_the_call_time_limit() -> None:
    import time

    from agent.llm.base import ModelError

    posts: list[float] = []

    class Slow(JsonHandler):
        served = "slow-model"

        def do_POST(self) -> None:
            posts.append(time.monotonic())
            time.sleep(3)

    with serving(Slow) as url:
        proposer = load_proposer(url)
        prompt = Prompt(messages=[{"role": "user", "content": "invariant?"}])
        started = time.monotonic()
        with pytest.raises(ModelError):
            proposer.propose(prompt, 2, GenerationSettings(time_limit_s=0.8))
        # Retries share the call's limit: without that, three attempts would take 3 x 0.8 s plus waits.
        assert time.monotonic() - started < 2.0
        assert posts and all(post - started < 0.8 for post in posts)
