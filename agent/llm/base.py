"""The proposer interface: a prompt in, `n` completions with log-probabilities out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class ModelError(Exception):
    """A model that cannot be used (missing path, unreachable endpoint); one line for the user."""


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_new_tokens: int = Field(default=48, ge=1)
    seed: int = 0
    stop: tuple[str, ...] = ("\n", "```")
    time_limit_s: float = Field(default=60.0, gt=0, description="Limit for one batched generation call, prompt "
                                                               "encoding and prefill included.")
    grammar: str | None = Field(default=None, description="A GBNF grammar every sample must follow (see "
                                "agent.llm.constrained); a proposer that cannot enforce it samples freely.")


@dataclass(frozen=True)
class Prompt:
    """Chat messages plus the start of the assistant's reply (a format the model continues)."""

    messages: list[dict[str, str]]
    response_prefix: str = ""


@dataclass(frozen=True)
class Completion:
    """One sample from a proposer. `extras` is filled by proposer-side hooks and rides along to the
    trace with the proposal (the SAE hook puts its per-sample features under `extras["features"]`)."""

    text: str  # what the model wrote after the response prefix, cut at the first stop string
    logprob: float | None  # sum of the model's log-probabilities of the generated tokens
    tokens: int
    finish_reason: str = "stop"  # "stop", "length" or "time"
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelInfo:
    name: str
    revision: str | None = None
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Proposer(Protocol):
    info: ModelInfo

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]: ...


@runtime_checkable
class LoadsLazily(Protocol):
    """A proposer that loads its model on first use; the session loads it outside the task's clock."""

    @property
    def loaded(self) -> bool: ...

    def load(self) -> Any: ...


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether one was found."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    if not positions:
        return text, False
    return text[: min(positions)], True
