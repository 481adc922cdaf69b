"""An eval run as an Inspect AI log (`python -m agent export inspect RUN_DIR`, the optional extra
`veriloop[inspect]`), built with Inspect's own log types and written by its own writer, so `inspect view`
and `inspect_ai.log.read_eval_log` open it.

One sample per task with a result. Its messages follow the trace: the task as given (its task file; the
rendered prompts are not kept in traces), then each proposal as an assistant message (from its source:
the model, program atoms, runs, Houdini, ...) and each verdict as the user message carrying the
verifier's feedback, which is what the next prompt shows the model. Its scores: `solved` (1 or 0, with
the answer) and `status` (solved, refuted, template_wrong, unsolved or error, with the run's message);
the verdicts' counts and the run's figures are in the sample's metadata.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from agent.trace import ErrorEvent, Header, ProposalEvent, ResultEvent, TraceError, VerdictEvent, read_trace
from agent.view.run import row_trace_path, is_eval_run, load_run


class InspectUnavailable(Exception):
    """inspect_ai is not installed (a one-line error for the user)."""


SCORER = "veriloop"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def _number(value: Any) -> float | None:
    """A results column's number; None where the row has none (a failed worker's row)."""
    return None if pd.isna(value) else float(value)


def _task_text(header: Header | None, task_id: str) -> str:
    """The task as given: its file's text where it is still there."""
    if header is not None and header.task_path:
        try:
            return Path(header.task_path).read_text(encoding="utf-8")
        except OSError:
            pass
    return task_id


def _sample(run_dir: Path, row: dict[str, Any], model: str) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput
    from inspect_ai.scorer import Score

    path = row_trace_path(run_dir, str(row["trace"]))
    try:
        events = read_trace(path) if path is not None else []
    except TraceError:
        events = []
    header = next((event for event in events if isinstance(event, Header)), None)
    result = next((event for event in events if isinstance(event, ResultEvent)), None)
    messages: list[Any] = [ChatMessageUser(content=_task_text(header, row["task_id"]), source="input")]
    verdicts: dict[str, int] = {}
    for event in events:
        if isinstance(event, ProposalEvent):
            content = event.text or event.raw or json.dumps(event.payload)
            messages.append(ChatMessageAssistant(
                content=content, source="generate" if event.source == "llm" else None, model=model if event.source == "llm" else None,
                metadata={"proposal": event.id, "step": event.step, "source": event.source, "logprob": event.logprob,
                          **({"unverified": event.unverified} if event.unverified else {})}))
        elif isinstance(event, VerdictEvent):
            verdict = event.verdict
            verdicts[verdict.status] = verdicts.get(verdict.status, 0) + 1
            round_note = f" (Houdini round {event.round}: {event.candidate})" if event.round is not None else ""
            messages.append(ChatMessageUser(
                content=f"[{verdict.status}]{round_note} {verdict.feedback}".strip(),
                metadata={"proposal": event.proposal_id, "status": verdict.status, "verifier": verdict.verifier,
                          "certified": verdict.certified, "cached": event.cached, "elapsed_s": verdict.elapsed_s}))
        elif isinstance(event, ErrorEvent):
            messages.append(ChatMessageUser(content=f"[error] {event.message}", metadata={"error": True}))
    status, answer = row["status"], str(row["answer"] or "")
    certified = bool(row["certified"]) and status == "solved"
    return EvalSample(
        id=row["task_id"], epoch=1, input=messages[0].text, target="", messages=messages,
        output=ModelOutput.from_content(model, answer),
        scores={
            "solved": Score(value=1 if status == "solved" else 0, answer=answer or None,
                            explanation="certified" if certified else None),
            "status": Score(value=status, answer=answer or None, explanation=str(row["message"] or "") or None),
        },
        metadata={"certified": certified, "solved_by": row["solved_by"] or None, "verdicts": verdicts,
                  "proposals": _number(row["proposals"]), "verifier_calls": _number(row["verifier_calls"]),
                  "wall_s": _number(row["wall_s"]), "trace": str(path) if path else None},
        started_at=_iso(header.time) if header else None,
        completed_at=_iso(result.time) if result else None,
        total_time=_number(row["wall_s"]),
    )


def run_log(run_dir: Path) -> Any:
    """The run as an inspect_ai EvalLog."""
    try:
        from inspect_ai.log import (EvalConfig, EvalDataset, EvalLog, EvalMetric, EvalResults, EvalScore, EvalSpec,
                                    EvalStats)
        from inspect_ai.model import GenerateConfig
    except ImportError:
        raise InspectUnavailable("export inspect needs Inspect AI: pip install 'veriloop[inspect]'") from None
    record, results = load_run(run_dir)
    run_id = str(record.get("run_id") or run_dir.name)
    model = f"veriloop/{record['model']}" if record.get("model") else "none/none"
    samples = [_sample(run_dir, row, model) for row in results.to_dict("records")]
    tasks = int(record.get("tasks") or len(samples))
    solved = sum(1 for sample in samples if sample.scores["solved"].value == 1)
    certified = sum(1 for sample in samples if sample.metadata["certified"])
    settings = record.get("settings") or {}
    created = (run_dir / "run.json").stat().st_mtime
    starts = [sample.started_at for sample in samples if sample.started_at]
    ends = [sample.completed_at for sample in samples if sample.completed_at]
    return EvalLog(
        version=2,
        status="success" if len(samples) == tasks else "started",
        eval=EvalSpec(
            eval_id=run_id, run_id=run_id, created=_iso(created), task=str(record.get("suite_name") or run_dir.name),
            task_id=run_id, task_file=record.get("suite"), solver=SCORER, solver_args=settings,
            dataset=EvalDataset(name=record.get("suite_name"), location=record.get("suite"), samples=tasks,
                                sample_ids=list(record.get("task_ids") or [])),
            model=model, model_args={key: record.get(key) for key in ("model_revision", "dtype", "sae", "steer")},
            model_generate_config=GenerateConfig(temperature=settings.get("temperature"), top_p=settings.get("top_p"),
                                                 seed=settings.get("seed")),
            config=EvalConfig(), metadata={"veriloop_run": record},
        ),
        results=EvalResults(
            total_samples=tasks, completed_samples=len(samples),
            scores=[EvalScore(name="solved", scorer=SCORER, scored_samples=len(samples), metrics={
                "accuracy": EvalMetric(name="accuracy", value=solved / len(samples) if samples else 0.0),
                "solved": EvalMetric(name="solved", value=solved),
                "certified": EvalMetric(name="certified", value=certified),
            })],
        ),
        stats=EvalStats(started_at=min(starts) if starts else "", completed_at=max(ends) if ends else ""),
        samples=samples,
    )


def export_inspect(run_dir: Path, destination: Path | None = None) -> Path:
    """Write the run's Inspect log (by default `RUN_DIR/inspect/<run id>.eval`, a folder `inspect view
    --log-dir` can open); `.json` writes Inspect's JSON format instead. Written beside and moved into
    place, so a failed export leaves nothing half-written."""
    if not is_eval_run(run_dir):
        raise TraceError(f"{run_dir}: not an eval run (no run.json and results.csv)")
    destination = destination or run_dir / "inspect" / f"{run_dir.name}.eval"
    if destination.suffix not in (".eval", ".json"):
        raise TraceError(f"{destination}: an Inspect log is named *.eval or *.json")
    log = run_log(run_dir)
    from inspect_ai.log import write_eval_log

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.stem}.partial{destination.suffix}")
    try:
        write_eval_log(log, str(partial))
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination
