"""Proposers: transformers (default, the bundled model), an OpenAI-compatible endpoint, scripted replay."""

from __future__ import annotations

from typing import Any

from agent.llm.base import Completion, GenerationSettings, ModelError, ModelInfo, Prompt, Proposer
from agent.llm.models import ResolvedModel, resolve


class LazyProposer:
    """Resolves the model at once (so a bad `--model` fails before any work) but loads it only when
    the first proposal is asked for: a task the symbolic sources solve never pays for the model."""

    def __init__(self, spec: str | None, dtype: str = "float32", threads: int | None = None,
                 sae: str | None = None, steer: str | None = None) -> None:
        self.resolved: ResolvedModel = resolve(spec)
        self.dtype = dtype
        self.threads = threads
        # `--sae`/`--steer`: the hook is built with the model, in the process that generates (an eval worker):
        # torch work in the parent before the workers fork can deadlock them.
        self.sae, self.steer = sae, steer
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

                sae_hook = None
                if self.sae is not None:
                    from agent.sae.hook import load_hook

                    try:
                        sae_hook = load_hook(self.sae, self.steer)
                    except ValueError as error:
                        raise ModelError(str(error)) from None

                self._proposer = TransformersProposer(self.resolved.location, self.resolved.name,
                                                      self.resolved.revision, dtype=self.dtype, threads=self.threads,
                                                      sae_hook=sae_hook)
            self.info = self._proposer.info
        return self._proposer

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        return self.load().propose(prompt, n, settings)

    def grammar_backend(self) -> str | None:
        """What enforces `GenerationSettings.grammar` (see agent.llm.constrained); a local model needs no
        loading to tell, an endpoint is asked once."""
        from agent.llm.constrained import FollowsGrammars, local_grammar_backend

        if self.resolved.backend == "openai":
            proposer = self.load()
            return proposer.grammar_backend() if isinstance(proposer, FollowsGrammars) else None
        return local_grammar_backend()


def load_proposer(spec: str | None, dtype: str = "float32", threads: int | None = None,
                  sae: str | None = None, steer: str | None = None) -> LazyProposer:
    """The proposer a `--model` value names (see `agent.llm.models`); ModelError when it names nothing.
    `sae`: an SAELens SAE folder whose features are recorded per proposal (`--sae`), `steer`: `--steer`."""
    if sae is not None:
        from agent.sae.hook import check_sae_arguments

        try:
            check_sae_arguments(sae, steer)  # reads cfg.json only: a bad --sae/--steer fails before any work
        except ValueError as error:
            raise ModelError(str(error)) from None
    proposer = LazyProposer(spec, dtype=dtype, threads=threads, sae=sae, steer=steer)
    if sae is not None and proposer.resolved.backend != "transformers":
        raise ModelError("--sae needs a local transformers model (an endpoint's activations cannot be hooked)")
    return proposer


__all__ = ["Completion", "GenerationSettings", "LazyProposer", "ModelError", "ModelInfo", "Prompt", "Proposer",
           "load_proposer"]
