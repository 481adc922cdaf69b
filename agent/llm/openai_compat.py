"""A proposer backed by an OpenAI-compatible chat-completions server (vLLM, llama.cpp server, ...).

`--model http://host:8000/v1` selects it; the served model's name comes from `VERILOOP_API_MODEL`,
or else the first entry of `GET /models`. The response prefix is sent as a final assistant message
with vLLM's `continue_final_message`, so the server continues it rather than starting anew.
Connection failures are retried a few times (tenacity); every request has a time limit, and the
retries of one call together stay within the call's `time_limit_s` (the time the task has left).
"""

from __future__ import annotations

import os
import time

import httpx
from tenacity import Retrying, retry, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential

from agent.llm.base import Completion, GenerationSettings, ModelError, ModelInfo, Prompt, cut_at_stop

_RETRIED = retry_if_exception_type((httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError))
_retry = retry(retry=_RETRIED, stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)


class OpenAIProposer:
    def __init__(self, base_url: str, model: str = "", timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {}
        if os.environ.get("VERILOOP_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['VERILOOP_API_KEY']}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        try:
            self.model = model or self._first_model()
        except httpx.HTTPError as error:
            raise ModelError(f"endpoint {self.base_url} is not reachable: {error}") from None
        self.info = ModelInfo(name=self.model, backend="openai", extra={"endpoint": self.base_url})

    @_retry
    def _first_model(self) -> str:
        response = self.client.get("/models")
        response.raise_for_status()
        models = response.json().get("data") or []
        if not models:
            raise ModelError(f"endpoint {self.base_url} serves no models")
        return models[0]["id"]

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
        messages = list(prompt.messages)
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
        if prompt.response_prefix:
            messages.append({"role": "assistant", "content": prompt.response_prefix})
            payload["continue_final_message"] = True
            payload["add_generation_prompt"] = False
        payload["messages"] = messages
        try:
            body = self._post(payload, settings.time_limit_s)
        except httpx.HTTPError as error:
            raise ModelError(f"endpoint {self.base_url} failed: {error}") from None
        completions = []
        for choice in body.get("choices", []):
            text = (choice.get("message") or {}).get("content") or ""
            text, _ = cut_at_stop(text, settings.stop)
            entries = ((choice.get("logprobs") or {}).get("content")) or []
            logprob = sum(entry["logprob"] for entry in entries) if entries else None
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
            completions.append(Completion(text, logprob, len(entries), finish))
        return completions
