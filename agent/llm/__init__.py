"""Proposers: transformers (default, the bundled model), an OpenAI-compatible endpoint, scripted replay."""

from __future__ import annotations

from agent.llm.base import Completion, GenerationSettings, ModelError, ModelInfo, Prompt, Proposer
from agent.llm.models import ResolvedModel, resolve


class LazyProposer:
    """Resolves the model at once (so a bad `--model` fails before any work) but loads it only when
    the first proposal is asked for: a task the symbolic sources solve never pays for the model."""

    def __init__(self, spec: str | None, dtype: str = "float32", threads: int | None = None) -> None:
        self.resolved: ResolvedModel = resolve(spec)
        self.dtype = dtype
        self.threads = threads
        self.info = ModelInfo(name=self.resolved.name or self.resolved.location, revision=self.resolved.revision,
                              backend=self.resolved.backend, extra={"dtype": dtype})
        self._proposer: Proposer | None = None
        if self.resolved.backend == "openai":
            self.load()  # asks the endpoint at once: one that does not answer is refused before any work

    @property
    def loaded(self) -> bool:
        return self._proposer is not None

    def load(self) -> Proposer:
        if self._proposer is None:
            if self.resolved.backend == "openai":
                from agent.llm.openai_compat import OpenAIProposer

                self._proposer = OpenAIProposer(self.resolved.location, self.resolved.name)
            else:
                from agent.llm.hf import TransformersProposer

                self._proposer = TransformersProposer(self.resolved.location, self.resolved.name,
                                                      self.resolved.revision, dtype=self.dtype, threads=self.threads)
            self.info = self._proposer.info
        return self._proposer

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        return self.load().propose(prompt, n, settings)


def load_proposer(spec: str | None, dtype: str = "float32", threads: int | None = None) -> LazyProposer:
    """The proposer a `--model` value names (see `agent.llm.models`); ModelError when it names nothing."""
    return LazyProposer(spec, dtype=dtype, threads=threads)


__all__ = ["Completion", "GenerationSettings", "LazyProposer", "ModelError", "ModelInfo", "Prompt", "Proposer",
           "load_proposer"]
