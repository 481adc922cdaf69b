"""One task: prompt -> proposals -> verdicts -> feedback, within a budget.

`run_task` opens the trace, picks the search strategy for the task's kind and writes the result.
The `Session` it hands to the strategy is the only way proposals reach a verifier: it numbers
them, writes `proposal` and `verdict` events as they happen, counts verifier calls and keeps the
clock, so every strategy obeys the same budget and leaves the same kind of trace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.llm.base import Completion, GenerationSettings, Prompt, Proposer
from agent.tasks import Budget, task_digest
from agent.trace import ErrorEvent, FeaturesEvent, Header, ProposalEvent, ResultEvent, TraceWriter, VerdictEvent, git_commit, package_versions
from verifiers.base import REGISTRY, Verdict, Verifier, VerifyBudget

SOURCES = ("llm", "symbolic", "dynamic")
# Task kinds whose strategy never asks a model: no model is loaded for runs made only of these.
MODEL_FREE_KINDS = frozenset({"cnf"})


class RunSettings(BaseModel):
    """How to run tasks; values left at None fall back to the task's own budget."""

    model_config = ConfigDict(extra="forbid")

    sources: tuple[str, ...] = SOURCES
    seed: int = 0
    samples: int | None = Field(default=None, ge=1, le=64)
    max_proposals: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    refute: bool = True
    refute_depth: int = Field(default=10, ge=0)
    search_mode: Literal["best_first", "whole_proof"] | None = Field(
        default=None, description="Lean: tactic-by-tactic best-first search or whole proofs with repair.")
    expansions: int | None = Field(default=None, ge=1, description="Lean: proof states expanded per task.")

    def budget_for(self, task_budget: Budget) -> Budget:
        updates: dict[str, Any] = {}
        if self.samples is not None:
            updates["samples_per_step"] = self.samples
        if self.max_proposals is not None:
            updates["max_proposals"] = self.max_proposals
        if self.timeout_s is not None:
            updates["timeout_s"] = self.timeout_s
        return task_budget.model_copy(update=updates)


@dataclass
class Proposal:
    id: int
    step: int
    source: str
    raw: str
    text: str
    logprob: float | None = None
    tokens: int | None = None


class BudgetExhausted(Exception):
    """Raised by the session when no proposal or time is left; the strategy stops there."""


@dataclass
class Session:
    task: Any
    verifier: Verifier
    proposer: Proposer | None
    settings: RunSettings
    budget: Budget
    trace: TraceWriter
    started: float = field(default_factory=time.perf_counter)
    proposals: int = 0
    verifier_calls: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    model_s: float = 0.0
    verifier_s: float = 0.0
    # Verdicts by candidate text: a candidate proposed again is not verified again.
    verdict_cache: dict[str, Verdict] = field(default_factory=dict)

    def time_left(self) -> float:
        return self.budget.timeout_s - (time.perf_counter() - self.started)

    def check_budget(self) -> None:
        if self.proposals >= self.budget.max_proposals:
            raise BudgetExhausted(f"all {self.budget.max_proposals} proposals used")
        if self.time_left() <= 0:
            raise BudgetExhausted(f"the {self.budget.timeout_s:g} s time limit was reached")

    def propose(self, step: int, source: str, raw: str, text: str, logprob: float | None = None,
                tokens: int | None = None, features: dict[str, Any] | None = None) -> Proposal:
        self.check_budget()
        self.proposals += 1
        self.by_source[source] = self.by_source.get(source, 0) + 1
        proposal = Proposal(self.proposals, step, source, raw, text, logprob, tokens)
        self.trace.write(ProposalEvent(id=proposal.id, step=step, source=source, raw=raw, text=text,
                                       logprob=logprob, tokens=tokens))
        if features is not None:  # what an SAE hook recorded while the model wrote it (`--sae`)
            self.trace.write(FeaturesEvent(proposal_id=proposal.id, features=features))
        return proposal

    def verify(self, proposal: Proposal, candidate: str | None = None, round: int | None = None) -> Verdict:
        """Verify `candidate` (default: the proposal's text) under the remaining time."""
        if self.time_left() <= 0:
            raise BudgetExhausted(f"the {self.budget.timeout_s:g} s time limit was reached")
        text = proposal.text if candidate is None else candidate
        if text in self.verdict_cache:
            verdict = self.verdict_cache[text]
            self.trace.write(VerdictEvent(proposal_id=proposal.id, round=round, candidate=text, cached=True,
                                          verdict=verdict.model_dump(mode="json")))
            return verdict
        timeout = max(0.05, min(self.budget.verifier_timeout_s, self.time_left()))
        started = time.perf_counter()
        try:
            verdict = self.verifier.verify(self.task, text, VerifyBudget(timeout_s=timeout))
        except Exception as error:  # a crashing verifier is an error verdict, never a rejection
            verdict = Verdict(status="error", verifier=self.verifier.name, verifier_version=self.verifier.version,
                              feedback=f"the verifier crashed: {type(error).__name__}: {error}")
        self.verifier_s += time.perf_counter() - started
        self.verifier_calls += 1
        if verdict.status in ("accepted", "rejected"):  # unknown and error may change with more time
            self.verdict_cache[text] = verdict
        self.trace.write(VerdictEvent(proposal_id=proposal.id, round=round, candidate=text,
                                      verdict=verdict.model_dump(mode="json")))
        return verdict

    def sample(self, prompt: Prompt, n: int, step: int, stop: tuple[str, ...] | None = None,
               time_limit_s: float = 60.0) -> list[Completion]:
        """`n` completions from the proposer in one batched call, seeded by the run's seed and the step;
        `stop` replaces the default stop strings (a multi-line program must not stop at a newline) and
        `time_limit_s` bounds the call (longer for programs than for one-line formulas)."""
        if self.proposer is None:
            return []
        self.check_budget()
        n = min(n, self.budget.max_proposals - self.proposals)
        settings = GenerationSettings(
            temperature=self.settings.temperature, top_p=self.settings.top_p,
            max_new_tokens=self.budget.max_new_tokens, seed=self.settings.seed * 100_003 + step,
            time_limit_s=max(1.0, min(time_limit_s, self.time_left())),
            **({"stop": stop} if stop is not None else {}),
        )
        started = time.perf_counter()
        completions = self.proposer.propose(prompt, n, settings)
        self.model_s += time.perf_counter() - started
        return completions


@dataclass
class Outcome:
    """What a strategy found."""

    status: str  # "solved", "refuted", "unsolved", "error"
    answer: str | None = None
    certified: bool = False
    message: str = ""
    solved_by: str | None = None


Strategy = Callable[[Session], Outcome]


def strategy_for(kind: str) -> Strategy:
    if kind == "invariant":
        from agent.search.invariant import solve_invariant

        return solve_invariant
    if kind == "cnf":
        from agent.search.cnf import solve_cnf_task

        return solve_cnf_task
    if kind == "lean":
        from agent.search.lean import solve_lean

        return solve_lean
    if kind in ("sat_encoding", "smt_encoding"):
        from agent.search.encoding import solve_encoding

        return solve_encoding
    if kind == "logic":
        from agent.search.logic import solve_logic

        return solve_logic
    raise ValueError(f"no search strategy for task kind {kind!r}")


def generation_record(settings: RunSettings, budget: Budget) -> dict[str, Any]:
    return {"temperature": settings.temperature, "top_p": settings.top_p, "max_new_tokens": budget.max_new_tokens,
            "samples_per_step": budget.samples_per_step, "stop": list(GenerationSettings().stop)}


def run_task(task: Any, settings: RunSettings, proposer: Proposer | None, trace_path: Path, run_id: str,
             task_path: Path | None = None) -> ResultEvent:
    """Run one task to its result, writing the trace to `trace_path` as it goes."""
    budget = settings.budget_for(task.budget)
    verifier = REGISTRY.for_kind(task.kind)
    uses_model = "llm" in settings.sources
    with TraceWriter(trace_path) as trace:
        info = proposer.info if (proposer is not None and uses_model) else None
        trace.write(Header(
            run_id=run_id, task_id=task.id, task_kind=task.kind,
            task_path=str(task_path) if task_path else None,
            task_sha256=task_digest(task_path) if task_path else None,
            model=info.name if info else None, model_revision=info.revision if info else None,
            model_backend=info.backend if info else None,
            seed=settings.seed, generation=generation_record(settings, budget), sources=list(settings.sources),
            budget=budget.model_dump(), versions=package_versions(), git_commit=git_commit(),
        ))
        session = Session(task, verifier, proposer if uses_model else None, settings, budget, trace)
        try:
            outcome = strategy_for(task.kind)(session)
        except BudgetExhausted as exhausted:
            outcome = Outcome("unsolved", message=str(exhausted))
        except Exception as error:  # the run ends with an error event rather than a lost trace
            trace.write(ErrorEvent(message=f"{type(error).__name__}: {error}"))
            outcome = Outcome("error", message=f"{type(error).__name__}: {error}")
        result = ResultEvent(
            status=outcome.status, answer=outcome.answer, certified=outcome.certified, message=outcome.message,
            proposals=session.proposals, verifier_calls=session.verifier_calls,
            proposals_by_source=dict(session.by_source), solved_by=outcome.solved_by,
            wall_s=round(time.perf_counter() - session.started, 4), model_s=round(session.model_s, 4),
            verifier_s=round(session.verifier_s, 4),
        )
        trace.write(result)
    return result
