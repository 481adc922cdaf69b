"""A proposer that replays given texts, for tests of the loop's logic (no model involved)."""

from __future__ import annotations

from collections.abc import Iterable

from agent.llm.base import Completion, GenerationSettings, ModelInfo, Prompt


class ScriptedProposer:
    """Returns the scripted texts in order, `n` at a time; when they run out it returns nothing.
    A script entry is a text (scored `logprob`) or a `(text, logprob)` pair.
    Every prompt it was given is kept in `prompts`, so tests can check what the loop sent."""

    def __init__(self, texts: Iterable[str | tuple[str, float]], logprob: float = -1.0) -> None:
        self.remaining = list(texts)
        self.logprob = logprob
        self.prompts: list[Prompt] = []
        self.info = ModelInfo(name="scripted", backend="scripted")

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        self.prompts.append(prompt)
        batch, self.remaining = self.remaining[:n], self.remaining[n:]
        scored = [entry if isinstance(entry, tuple) else (entry, self.logprob) for entry in batch]
        return [Completion(text=text, logprob=logprob, tokens=len(text.split())) for text, logprob in scored]
