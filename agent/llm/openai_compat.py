"""A proposer backed by an OpenAI-compatible chat-completions server (vLLM, llama.cpp server, ...).

`--model http://host:8000/v1` selects it; the endpoint is asked for `GET /models` at once, so one that
does not answer is refused before any work. The served model's name comes from `VERILOOP_API_MODEL`
(it must be among those served), or else the first entry of `GET /models`.

The response prefix is sent as a final assistant message with vLLM's `continue_final_message`, so the
server continues it rather than starting anew. A server that refuses those fields (HTTP 400/422, e.g.
`transformers serve`) is remembered as such, and the prefix is then asked for in the user's message and
cut from the reply when the model repeats it. A server that returns fewer choices than `n` is asked
again for the rest. Connection failures, HTTP 429 and 5xx are retried with backoff (tenacity); every
request has a time limit, and the retries of one call together stay within the call's `time_limit_s`
(the time the task has left).

A `GenerationSettings.grammar` (`--constrained`) goes out as vLLM's guided-decoding fields (`grammar_fields`)
when the endpoint showed, once, that it enforces them (`grammar_backend`); otherwise samples are unconstrained
and the trace header says so.
"""

from __future__ import annotations

import os
import time

import httpx
from tenacity import Retrying, retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from agent.llm.base import Completion, GenerationSettings, ModelError, ModelInfo, Prompt, cut_at_stop


def _transient(error: BaseException) -> bool:
    """Worth another try: the connection failed, or the server is busy (429) or failing (5xx)."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code == 429 or error.response.status_code >= 500
    return isinstance(error, (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError))


_RETRIED = retry_if_exception(_transient)
_retry = retry(retry=_RETRIED, stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
# Fields only vLLM (and servers copying it) accept: continue the final assistant message.
CONTINUATION_FIELDS = {"continue_final_message": True, "add_generation_prompt": False}
# Tokens allowed for the model repeating the response prefix when the server cannot continue it.
PREFIX_TOKEN_ALLOWANCE = 16
# A grammar whose only sentence no model would write unasked: a server that returns it enforces grammars.
PROBE_TEXT = "veriloop grammar probe 7q"
PROBE_GRAMMAR = f'root ::= "{PROBE_TEXT}"'
GUIDED_BACKEND = "the endpoint's guided decoding (vLLM structured_outputs / guided_grammar)"


def grammar_fields(grammar: str) -> dict:
    """vLLM's guided-decoding fields for a GBNF grammar: `structured_outputs` since vLLM 0.12, `guided_grammar`
    before it. vLLM ignores a field it does not know, so both are sent; the probe tells whether either works."""
    return {"structured_outputs": {"grammar": grammar}, "guided_grammar": grammar}


class OpenAIProposer:
    def __init__(self, base_url: str, model: str = "", timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {}
        if os.environ.get("VERILOOP_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['VERILOOP_API_KEY']}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        try:
            served = self._served_models()
        except (httpx.HTTPError, ValueError) as error:
            raise ModelError(f"endpoint {self.base_url} is not reachable: {error}") from None
        if not served:
            raise ModelError(f"endpoint {self.base_url} serves no models")
        if model and model not in served:
            raise ModelError(f"endpoint {self.base_url} does not serve {model!r} (it serves {', '.join(served)})")
        self.model = model or served[0]
        self.continues_prefix: bool | None = None  # whether the server accepts CONTINUATION_FIELDS; None: not tried
        self.follows_grammars: bool | None = None  # whether the server enforces grammar_fields; None: not probed
        self.info = ModelInfo(name=self.model, backend="openai", extra={"endpoint": self.base_url})

    @_retry
    def _served_models(self) -> list[str]:
        response = self.client.get("/models", timeout=10.0)
        response.raise_for_status()
        return [str(entry["id"]) for entry in response.json().get("data") or [] if "id" in entry]

    def _post(self, payload: dict, timeout_s: float) -> dict:
        """POST the request, retried while time is left; each attempt gets the time that remains."""
        deadline = time.monotonic() + timeout_s
        retrying = Retrying(retry=_RETRIED, stop=stop_after_attempt(3) | stop_after_delay(timeout_s),
                            wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
        return retrying(self._post_once, payload, deadline, timeout_s)

    def _post_once(self, payload: dict, deadline: float, timeout_s: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.ReadTimeout(f"no time left for the request (limit {timeout_s:g} s)")
        response = self.client.post("/chat/completions", json=payload, timeout=remaining)
        response.raise_for_status()
        return response.json()

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        deadline = time.monotonic() + settings.time_limit_s
        completions: list[Completion] = []
        while len(completions) < n:  # a server may answer `n` with fewer choices: ask again for the rest
            remaining = deadline - time.monotonic()
            if remaining <= 0 and completions:
                break
            batch = self._request(prompt, n - len(completions), settings, max(remaining, 0.001))
            if not batch:
                break
            completions.extend(batch[: n - len(completions)])
        return completions

    def grammar_backend(self) -> str | None:
        """GUIDED_BACKEND when the endpoint enforces grammars, else None (samples are then unconstrained);
        asked once, with a grammar whose only sentence is PROBE_TEXT."""
        if self.follows_grammars is None:
            self.follows_grammars = self._probe_grammar()
        return GUIDED_BACKEND if self.follows_grammars else None

    def _probe_grammar(self) -> bool:
        payload = {"model": self.model, "n": 1, "temperature": 0, "max_tokens": 16, **grammar_fields(PROBE_GRAMMAR),
                   "messages": [{"role": "user", "content": "Say hello."}]}
        try:
            body = self._post(payload, 30.0)
        except httpx.HTTPError:  # a server that refuses the fields (HTTP 400/422) has no guided decoding
            return False
        choices = body.get("choices") or [{}]
        return ((choices[0].get("message") or {}).get("content") or "").strip() == PROBE_TEXT

    def _request(self, prompt: Prompt, n: int, settings: GenerationSettings, time_limit_s: float) -> list[Completion]:
        payload: dict = {
            "model": self.model,
            "n": n,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_new_tokens,
            "seed": settings.seed,
            "logprobs": True,
        }
        if settings.stop:
            payload["stop"] = list(settings.stop)
        guided = bool(settings.grammar) and self.grammar_backend() is not None
        if guided:
            payload.update(grammar_fields(settings.grammar or ""))
        prefix = prompt.response_prefix
        started = time.monotonic()
        try:
            if prefix and self.continues_prefix is not False:
                try:
                    body = self._post({**payload, **CONTINUATION_FIELDS, "messages": [
                        *prompt.messages, {"role": "assistant", "content": prefix}]}, time_limit_s)
                    self.continues_prefix = True
                    return self._completions(body, settings, cut_prefix="")
                except httpx.HTTPStatusError as error:
                    if self.continues_prefix or error.response.status_code not in (400, 422):
                        raise
                    self.continues_prefix = False  # this server refuses vLLM's fields: ask for the prefix instead
            messages = list(prompt.messages)
            if prefix and not guided:  # under a grammar the reply cannot repeat the prefix, nor needs it
                messages[-1] = {**messages[-1], "content": messages[-1]["content"]
                                + f"\n\nBegin your reply exactly with:\n{prefix}"}
                # The reply starts with the prefix, which may hold a stop string (```): stop strings are
                # applied here after the prefix is cut, and the prefix's tokens come on top of the limit.
                payload.pop("stop", None)
                payload["max_tokens"] += PREFIX_TOKEN_ALLOWANCE
            left = time_limit_s - (time.monotonic() - started)
            if left <= 0:
                raise httpx.ReadTimeout(f"no time left for the request (limit {time_limit_s:g} s)")
            body = self._post({**payload, "messages": messages}, left)
        except httpx.HTTPError as error:
            raise ModelError(f"endpoint {self.base_url} failed: {error}") from None
        return self._completions(body, settings, cut_prefix="" if guided else prefix)

    @staticmethod
    def _completions(body: dict, settings: GenerationSettings, cut_prefix: str) -> list[Completion]:
        """The choices as completions of the prefix (a repeated prefix cut off); no log-probability where
        the server sends none."""
        completions = []
        for choice in body.get("choices", []):
            text = (choice.get("message") or {}).get("content") or ""
            if cut_prefix and text.lstrip().startswith(cut_prefix.strip()):
                text = text.lstrip()[len(cut_prefix.strip()):].lstrip(" ")
                text = text[1:] if cut_prefix.endswith("\n") and text.startswith("\n") else text
            text, _ = cut_at_stop(text, settings.stop)
            entries = ((choice.get("logprobs") or {}).get("content")) or []
            logprob = sum(entry["logprob"] for entry in entries) if entries else None
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
            completions.append(Completion(text, logprob, len(entries), finish))
        return completions
