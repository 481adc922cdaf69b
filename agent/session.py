"""The session a strategy works in: the budget, proposal numbering, the verdict cache, trace events.

The `Session` is the only way proposals reach a verifier. Every proposal enters through
`Session.propose`, which takes what its source produced (a model's `Completion`, a typed payload, or
the text a symbolic source built), numbers it, writes its `proposal` event (and a `features` event
when the proposer's hooks left features in the completion's extras) and returns the `Proposal` the
verifier then receives. Completions the model was paid for but the budget left no time to verify
are written too, as proposals marked not verified with the reason: a slow model shortens a run but
never empties its trace.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agent.llm.base import Completion, GenerationSettings, LoadsLazily, ModelError, Prompt, Proposer
from agent.tasks import Budget
from agent.trace import FeaturesEvent, ProposalEvent, TraceWriter, VerdictEvent
from verifiers.base import Verdict, Verifier, VerifyBudget

SOURCES = ("llm", "symbolic", "dynamic", "polynomial", "horn")
SettingsT = TypeVar("SettingsT", bound=BaseModel)


class RunSettings(BaseModel):
    """How to run tasks; values left at None fall back to the task's own budget. Options of one
    strategy live in that strategy's settings model, given here by strategy name (`strategies`)."""

    model_config = ConfigDict(extra="forbid")

    sources: tuple[str, ...] = SOURCES
    seed: int = 0
    samples: int | None = Field(default=None, ge=1, le=64)
    max_proposals: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    generation_limit_s: float | None = Field(
        default=None, gt=0, description="Seconds one batched model call may take (default: the search's own limit).")
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings by strategy name, validated by the strategy's own model.")

    def budget_for(self, task_budget: Budget) -> Budget:
        updates: dict[str, Any] = {}
        if self.samples is not None:
            updates["samples_per_step"] = self.samples
        if self.max_proposals is not None:
            updates["max_proposals"] = self.max_proposals
        if self.timeout_s is not None:
            updates["timeout_s"] = self.timeout_s
        return task_budget.model_copy(update=updates)


@dataclass(frozen=True)
class Proposal:
    """One numbered proposal: what its source produced (`raw`), the candidate the verifier sees
    (`text`), and for a proposal that is not text, its typed `payload`."""

    id: int
    step: int
    source: str
    raw: str
    text: str
    logprob: float | None = None
    tokens: int | None = None
    payload: BaseModel | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class BudgetExhausted(Exception):
    """Raised by the session when no proposal or time is left; the strategy stops there."""


@dataclass
class Outcome:
    """What a strategy found."""

    status: Literal["solved", "refuted", "template_wrong", "unsolved", "error"]
    answer: str | None = None
    certified: bool = False
    message: str = ""
    solved_by: str | None = None


@dataclass
class Session:
    task: Any
    verifier: Verifier
    proposer: Proposer | None
    settings: RunSettings
    budget: Budget
    trace: TraceWriter
    strategy_settings: BaseModel | None = None  # the running strategy's own settings, typed
    started: float = field(default_factory=time.perf_counter)
    # The model's one-time load happens outside the task's clock (like the benchmarks' per-task times).
    model_load_s: float = 0.0
    proposals: int = 0  # every numbered proposal, Houdini's recombinations included
    # Proposals counted against `max_proposals`: all but those that only recombine conjuncts already
    # proposed (`propose(counted=False)`).
    budgeted: int = 0
    unverified: int = 0
    verifier_calls: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    model_s: float = 0.0
    verifier_s: float = 0.0
    # Verdicts by candidate: a candidate proposed again is not verified again.
    verdict_cache: dict[str, Verdict] = field(default_factory=dict)
    # Which template `task` carries, as the trace's verdicts say: "program" while a search runs on the
    # C program's own template after the task's was found to misread it.
    verdicts_on: Literal["task", "program"] = "task"
    # The latest batch's completions the strategy has not reached yet, with their step: written as
    # unverified proposals if the budget ends before it gets to them.
    _pending: list[tuple[Completion, int]] = field(default_factory=list)

    def options(self, model: type[SettingsT]) -> SettingsT:
        """The running strategy's settings as its `model` (the model's defaults when none were given)."""
        return self.strategy_settings if isinstance(self.strategy_settings, model) else model()

    @property
    def uses_model(self) -> bool:
        return "llm" in self.settings.sources and self.proposer is not None

    def elapsed(self) -> float:
        """Seconds the task has used of its budget (the model's one-time load not counted)."""
        return time.perf_counter() - self.started - self.model_load_s

    def time_left(self) -> float:
        return self.budget.timeout_s - self.elapsed()

    def _time_up(self) -> str:
        return f"the {self.budget.timeout_s:g} s time limit was reached"

    def check_budget(self) -> None:
        if self.budgeted >= self.budget.max_proposals:
            raise BudgetExhausted(f"all {self.budget.max_proposals} proposals used")
        self.check_time()

    def check_time(self) -> None:
        if self.time_left() <= 0:
            raise BudgetExhausted(self._time_up())

    def propose(self, proposed: Completion | BaseModel | str, *, source: str, step: int,
                text: str | None = None, logprob: float | None = None, counted: bool = True) -> Proposal:
        """Number a proposal, write its event and return it.

        `proposed` is a model's `Completion` (its text is the raw output; `text` is the candidate
        extracted from it, default the whole text; its log-probability and extras come with it), a
        typed payload (a pydantic model, for a proposal that is not text; `text` is how it reads), or
        the text a symbolic source built (`text` again the candidate, default the same text). A
        source that scores its own proposals gives `logprob`.

        A proposal that only recombines conjuncts already proposed (Houdini's) passes `counted=False`:
        it is numbered and traced like any other, under its own source, but does not use up
        `max_proposals`, only time. It brings no new conjunct, and it runs only when proposals that
        were counted made the pool grow, so it is bounded by them; counting it would let a batch of
        samples that fills the budget starve the recombination of its own conjuncts."""
        if counted:
            self.check_budget()
        else:
            self.check_time()
        proposal = self._new_proposal(proposed, source, step, text, counted)
        if logprob is not None and not isinstance(proposed, Completion):
            proposal = dataclasses.replace(proposal, logprob=logprob)
        self.trace.write(self._event(proposal))
        self._write_features(proposal)
        return proposal

    def _new_proposal(self, proposed: Completion | BaseModel | str, source: str, step: int,
                      text: str | None, counted: bool = True) -> Proposal:
        self.proposals += 1
        self.budgeted += counted
        self.by_source[source] = self.by_source.get(source, 0) + 1
        if isinstance(proposed, Completion):
            # Strategies take a batch in order: completions before this one were passed over on purpose
            # (an empty or repeated candidate); only those after it are still waiting.
            reached = next((index for index, (pending, _) in enumerate(self._pending) if pending is proposed), None)
            if reached is not None:
                del self._pending[: reached + 1]
            return Proposal(self.proposals, step, source, raw=proposed.text,
                            text=proposed.text if text is None else text, logprob=proposed.logprob,
                            tokens=proposed.tokens, extras=dict(proposed.extras))
        if isinstance(proposed, BaseModel):
            return Proposal(self.proposals, step, source, raw=proposed.model_dump_json(), text=text or "",
                            payload=proposed)
        return Proposal(self.proposals, step, source, raw=proposed, text=proposed if text is None else text)

    @staticmethod
    def _event(proposal: Proposal, unverified: str | None = None) -> ProposalEvent:
        payload = proposal.payload
        return ProposalEvent(
            id=proposal.id, step=proposal.step, source=proposal.source, raw=proposal.raw, text=proposal.text,
            logprob=proposal.logprob, tokens=proposal.tokens,
            payload=payload.model_dump(mode="json") if payload is not None else None,
            payload_type=type(payload).__name__ if payload is not None else None,
            unverified=unverified)

    def _write_features(self, proposal: Proposal) -> None:
        features = proposal.extras.get("features")
        if features is not None:
            self.trace.write(FeaturesEvent(proposal_id=proposal.id, features=features))

    def write_unverified(self, reason: str) -> None:
        """Write the completions of the latest batch that were never proposed, marked not verified
        with `reason` (called when the budget ends)."""
        pending, self._pending = self._pending, []
        for completion, step in pending:
            proposal = self._new_proposal(completion, "llm", step, None)
            self.unverified += 1
            self.trace.write(self._event(proposal, unverified=reason))
            self._write_features(proposal)

    def _cache_key(self, proposal: Proposal, text: str) -> str:
        if proposal.payload is None:
            return text
        return f"{type(proposal.payload).__name__}:{proposal.payload.model_dump_json()}\n{text}"

    def verify(self, proposal: Proposal, candidate: str | None = None, round: int | None = None,
               certify: bool = True, timeout_s: float | None = None, certify_s: float | None = None) -> Verdict:
        """Verify the proposal (with `candidate` as its text, when given: a Houdini refinement, a
        whole proof) under the remaining time (and `timeout_s`, when given); `certify=False` skips
        the second solver's re-check of an acceptance (for an intermediate candidate whose final
        form is verified again) and `certify_s` bounds that re-check's time."""
        if self.time_left() <= 0:
            raise BudgetExhausted(self._time_up())
        if candidate is not None:
            proposal = dataclasses.replace(proposal, text=candidate)
        key = self._cache_key(proposal, proposal.text) + ("" if certify else "\n(not certified)")
        if key in self.verdict_cache:
            verdict = self.verdict_cache[key]
            self.trace.write(VerdictEvent(proposal_id=proposal.id, round=round, candidate=proposal.text, cached=True,
                                          template=self.verdicts_on, verdict=verdict))
            return verdict
        timeout = max(0.05, min(self.budget.verifier_timeout_s, self.time_left(), timeout_s or float("inf")))
        started = time.perf_counter()
        try:
            verdict = self.verifier.verify(self.task, proposal,
                                           VerifyBudget(timeout_s=timeout, certify=certify, certify_s=certify_s))
        except Exception as error:  # a crashing verifier is an error verdict, never a rejection
            verdict = Verdict(status="error", verifier=self.verifier.name, verifier_version=self.verifier.version,
                              feedback=f"the verifier crashed: {type(error).__name__}: {error}")
        self.verifier_s += time.perf_counter() - started
        self.verifier_calls += 1
        if verdict.status in ("accepted", "rejected"):  # unknown and error may change with more time
            self.verdict_cache[key] = verdict
        self.trace.write(VerdictEvent(proposal_id=proposal.id, round=round, candidate=proposal.text,
                                      template=self.verdicts_on, verdict=verdict))
        return verdict

    def sample(self, prompt: Prompt, n: int, step: int, stop: tuple[str, ...] | None = None,
               time_limit_s: float = 60.0, grammar: str | None = None) -> list[Completion]:
        """`n` completions from the proposer in one batched call, seeded by the run's seed and the step;
        `stop` replaces the default stop strings (a multi-line program must not stop at a newline) and
        `time_limit_s` bounds the call (longer for programs than for one-line formulas); `grammar` (GBNF)
        constrains the samples where the proposer can (`--constrained`). The call never
        outlives the task's budget; completions that come back with no time left to verify them are
        written as unverified proposals and BudgetExhausted is raised."""
        if self.proposer is None:
            return []
        self.check_budget()
        if isinstance(self.proposer, LoadsLazily) and not self.proposer.loaded:
            loading = time.perf_counter()
            self.proposer.load()
            self.model_load_s += time.perf_counter() - loading
        self._pending = []
        n = min(n, self.budget.max_proposals - self.budgeted)
        settings = GenerationSettings(
            temperature=self.settings.temperature, top_p=self.settings.top_p,
            max_new_tokens=self.budget.max_new_tokens, seed=self.settings.seed * 100_003 + step,
            time_limit_s=max(0.01, min(self.settings.generation_limit_s or time_limit_s, self.time_left())),
            grammar=grammar,
            **({"stop": stop} if stop is not None else {}),
        )
        started = time.perf_counter()
        try:
            completions = self.proposer.propose(prompt, n, settings)
        except ModelError:
            if self.time_left() > 0:
                raise
            raise BudgetExhausted(f"{self._time_up()} while the model was generating") from None
        finally:
            self.model_s += time.perf_counter() - started
        self._pending = [(completion, step) for completion in completions]
        if self.time_left() <= 0:
            reason = self._time_up()
            self.write_unverified(f"{reason} while the model was generating")
            raise BudgetExhausted(reason)
        return completions
