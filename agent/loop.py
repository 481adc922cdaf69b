"""One task: prompt -> proposals -> verdicts -> feedback, within a budget.

`run_task` opens the trace, picks the registered strategy for the task's kind (see
`agent.search.registry`), writes a header with everything needed to run the task again, hands the
strategy a `Session` (see `agent.session`) and writes the result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.llm.base import GenerationSettings, Proposer
from agent.llm.constrained import ConstrainsDecoding, grammar_support
from agent.search.registry import get_strategy, strategy_for
from agent.session import SOURCES, BudgetExhausted, Outcome, RunSettings, Session
from agent.tasks import Budget, task_digest
from agent.trace import ErrorEvent, Header, ResultEvent, TraceWriter, git_commit, package_versions
from verifiers.base import REGISTRY, ReportsToolVersions

__all__ = ["SOURCES", "RunSettings", "run_task", "settings_from_header"]


def generation_record(settings: RunSettings, budget: Budget) -> dict[str, Any]:
    return {"temperature": settings.temperature, "top_p": settings.top_p, "max_new_tokens": budget.max_new_tokens,
            "samples_per_step": budget.samples_per_step, "stop": list(GenerationSettings().stop),
            "generation_limit_s": settings.generation_limit_s}


def settings_from_header(header: Header) -> RunSettings:
    """The run settings a trace header records: running the task again with them (and the same
    proposer) samples and checks the same things."""
    budget = Budget.model_validate(header.budget)
    return RunSettings(sources=tuple(header.sources), seed=header.seed, samples=budget.samples_per_step,
                       max_proposals=budget.max_proposals, timeout_s=budget.timeout_s,
                       temperature=header.generation["temperature"], top_p=header.generation["top_p"],
                       generation_limit_s=header.generation.get("generation_limit_s"),
                       strategies={header.strategy: header.strategy_settings})


def run_task(task: Any, settings: RunSettings, proposer: Proposer | None, trace_path: Path, run_id: str,
             task_path: Path | None = None) -> ResultEvent:
    """Run one task to its result, writing the trace to `trace_path` as it goes. Settings for a strategy
    that does not exist raise StrategyError, settings that do not fit the strategy's model pydantic's
    ValidationError, before anything is written."""
    budget = settings.budget_for(task.budget)
    verifier = REGISTRY.for_kind(task.kind)
    for name in settings.strategies:
        get_strategy(name)
    chosen = strategy_for(task.kind)
    strategy_settings = chosen.settings_from(settings.strategies.get(chosen.name))
    uses_model = "llm" in settings.sources and chosen.needs_model
    with TraceWriter(trace_path) as trace:
        info = proposer.info if (proposer is not None and uses_model) else None
        model_settings = dict(info.extra) if info else {}
        if info and isinstance(strategy_settings, ConstrainsDecoding) and strategy_settings.constrained:
            model_settings["constrained_decoding"] = grammar_support(proposer)
        trace.write(Header(
            run_id=run_id, task_id=task.id, task_kind=task.kind,
            task_path=str(task_path) if task_path else None,
            task_sha256=task_digest(task_path) if task_path else None,
            model=info.name if info else None, model_revision=info.revision if info else None,
            model_backend=info.backend if info else None, model_settings=model_settings,
            seed=settings.seed, generation=generation_record(settings, budget), sources=list(settings.sources),
            budget=budget.model_dump(), strategy=chosen.name,
            strategy_settings=strategy_settings.model_dump(mode="json"),
            verifier=verifier.name, verifier_version=verifier.version,
            versions={**package_versions(),
                      **(verifier.tool_versions(task) if isinstance(verifier, ReportsToolVersions) else {})},
            git_commit=git_commit(),
        ))
        session = Session(task, verifier, proposer if uses_model else None, settings, budget, trace,
                          strategy_settings=strategy_settings)
        try:
            outcome = chosen.run(session)
        except BudgetExhausted as exhausted:
            session.write_unverified(f"{exhausted} before it was verified")
            outcome = Outcome("unsolved", message=f"budget: {exhausted}")
        except Exception as error:  # the run ends with an error event rather than a lost trace
            session.write_unverified(f"the run failed before it was verified: {type(error).__name__}")
            trace.write(ErrorEvent(message=f"{type(error).__name__}: {error}"))
            outcome = Outcome("error", message=f"{type(error).__name__}: {error}")
        result = ResultEvent(
            status=outcome.status, answer=outcome.answer, certified=outcome.certified, message=outcome.message,
            proposals=session.proposals, unverified=session.unverified, verifier_calls=session.verifier_calls,
            proposals_by_source=dict(session.by_source), solved_by=outcome.solved_by,
            wall_s=round(time.perf_counter() - session.started, 4), model_s=round(session.model_s, 4),
            verifier_s=round(session.verifier_s, 4), model_load_s=round(session.model_load_s, 4),
        )
        trace.write(result)
    return result
