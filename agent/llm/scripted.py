"""A proposer that replays given texts, for tests of the loop's logic (no model involved)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from agent.llm.base import Completion, GenerationSettings, ModelInfo, Prompt


class ScriptedProposer:
    """Returns the scripted texts in order, `n` at a time; when they run out it returns nothing.
    A script entry is a text (scored `logprob`), a `(text, logprob)` pair, or a whole `Completion`
    (to carry extras, as a proposer-side hook would). Each call takes `delay_s` seconds, like a slow
    model that ignores its time limit. Every prompt it was given is kept in `prompts`, so tests can
    check what the loop sent."""

    def __init__(self, texts: Iterable[str | tuple[str, float] | Completion], logprob: float = -1.0,
                 delay_s: float = 0.0) -> None:
        self.remaining = list(texts)
        self.logprob = logprob
        self.delay_s = delay_s
        self.prompts: list[Prompt] = []
        self.info = ModelInfo(name="scripted", backend="scripted")

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        self.prompts.append(prompt)
        if self.delay_s:
            time.sleep(self.delay_s)
        batch, self.remaining = self.remaining[:n], self.remaining[n:]
        return [self._completion(entry) for entry in batch]

    def _completion(self, entry: str | tuple[str, float] | Completion) -> Completion:
        if isinstance(entry, Completion):
            return entry
        text, logprob = entry if isinstance(entry, tuple) else (entry, self.logprob)
        return Completion(text=text, logprob=logprob, tokens=len(text.split()))
