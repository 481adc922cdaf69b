"""Expert iteration: sample with the current model, verify, add the newly accepted answers, fine-tune.

Each round runs the suite with the model as the only source (`--sources llm`, as an `eval` run in
`round-N/sample/`), measures it (`run_figures`), builds the round's data (`round-N/data/`: the
answers so far plus the round's newly accepted ones, each verified again) and fine-tunes the base
model on it (`round-N/model/`); the next round samples with that model. The rounds' figures are kept
in `rounds.json` (rewritten whole after each round).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Callable

from agent.files import write_atomically
from agent.train.data import DataError, Report, collect_examples, read_dataset, read_report, share_rule, write_dataset
from agent.trace import ProposalEvent, VerdictEvent, read_trace
from verifiers.details import InvariantDetails


def run_figures(run_dir: Path, task_ids: set[str] | None = None) -> dict[str, Any]:
    """A model-only eval run's figures (over `task_ids` only, when given): tasks solved, the share of the
    model's proposals that parse and that are accepted, proposals per solved task, and the model's
    tokens per second of generation."""
    from agent.eval import read_results

    rows = [row for row in read_results(run_dir / "results.csv") if task_ids is None or row["task_id"] in task_ids]
    proposals = parsed = accepted = tokens = 0
    for trace in (run_dir / "traces" / Path(row["trace"]).name for row in rows if row["trace"]):
        if not trace.is_file():  # a task whose worker was killed before its trace began
            continue
        events = read_trace(trace)
        model_ids = {event.id for event in events if isinstance(event, ProposalEvent) and event.source == "llm"}
        tokens += sum(event.tokens or 0 for event in events if isinstance(event, ProposalEvent) and event.source == "llm")
        proposals += len(model_ids)
        verdicts = {event.proposal_id: event.verdict for event in events
                    if isinstance(event, VerdictEvent) and event.proposal_id in model_ids and event.round is None}
        for verdict in verdicts.values():
            details = verdict.details
            parsed += isinstance(details, InvariantDetails) and details.stage != "parse"
            accepted += verdict.status == "accepted"
    solved = [row for row in rows if row["status"] == "solved"]
    model_s = sum(float(row["model_s"] or 0) for row in rows)
    return {
        "tasks": len(rows), "solved": len(solved),
        "solved_by": {name: sum(1 for row in solved if row["solved_by"] == name)
                      for name in sorted({row["solved_by"] for row in solved})},
        "model_proposals": proposals,
        "parse_share": round(parsed / proposals, 3) if proposals else None,
        "accepted_share": round(accepted / proposals, 4) if proposals else None,
        "proposals_per_solved": round(statistics.fmean(float(row["proposals"]) for row in solved), 1) if solved else None,
        "tokens_per_s": round(tokens / model_s, 1) if model_s else None,
        "wall_median_s": round(statistics.median(float(row["wall_s"] or 0) for row in rows), 2) if rows else None,
    }


def sample_suite(suite: Path, settings: Any, model: str, run_dir: Path, workers: int = 1, limit: int | None = None,
                 dtype: str = "float32") -> dict[str, Any]:
    """Run the suite with `model` into `run_dir` (an ordinary eval run folder) and return its figures."""
    from agent.eval import load_suite, lock_run, run_suite, write_run_record

    suite_name, entries = load_suite(suite)
    entries = entries[:limit] if limit else entries
    run_dir.mkdir(parents=True, exist_ok=True)
    with lock_run(run_dir):
        write_run_record(run_dir, {"run_id": run_dir.name, "suite": str(suite.resolve()), "suite_name": suite_name,
                                   "tasks": len(entries), "task_ids": [entry.task.id for entry in entries],
                                   "settings": settings.model_dump(mode="json"), "model": model, "dtype": dtype,
                                   "workers": workers})
        for _ in run_suite(entries, settings, run_dir, run_dir.name, model, dtype, workers):
            pass
    return run_figures(run_dir)


def expert_iteration(suite: Path, rounds: int, settings: Any, sft_settings: Any, start: str | None = None,
                     data: Path | None = None, out: Path | None = None, runs_dir: Path = Path("runs"),
                     workers: int = 1, limit: int | None = None, dtype: str = "float32",
                     say: Callable[[str], None] = lambda line: None) -> Path:
    from agent.trace import new_run_id
    from agent.train.sft import fine_tune

    run_dir = out or runs_dir / new_run_id(f"iterate-{suite.name}")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise DataError(f"{run_dir} already exists and is not empty; name a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    examples = read_dataset(data) if data is not None else []
    model = start or sft_settings.model or "bundled"
    # New tasks follow the start data's split rule: its named test tasks, else the hashed share.
    split = read_report(data) if data is not None else Report(held_out=share_rule(0.1))
    test_ids = set(split.test_tasks) if split.test_tasks is not None else None
    history: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        round_dir = run_dir / f"round-{number}"
        say(f"round {number}: sampling {suite} with {model} ...")
        figures = sample_suite(suite, settings, model, round_dir / "sample", workers, limit, dtype)
        before = {(example.task_id, example.answer) for example in examples}
        report = Report(held_out=split.held_out, test_tasks=split.test_tasks)
        examples, report = collect_examples([round_dir / "sample"], test_ids=test_ids, known=examples, report=report)
        new = [example for example in examples if (example.task_id, example.answer) not in before]
        write_dataset(examples, report, round_dir / "data")
        say(f"round {number}: solved {figures['solved']}/{figures['tasks']}, parse share {figures['parse_share']}, "
            f"accepted share {figures['accepted_share']}; {len(new)} new answer(s), {len(examples)} in all; fine-tuning ...")
        trained = fine_tune(round_dir / "data", round_dir / "model", sft_settings,
                            figures={f"round {number} sampling with {model}": json.dumps(figures)}, say=say)
        history.append({"round": number, "sampled_with": model, "figures": figures, "new_answers": len(new),
                        "new_tasks": len({example.task_id for example in new}), "examples": len(examples),
                        "training": trained.model_dump()})
        write_atomically(run_dir / "rounds.json", json.dumps(history, indent=2) + "\n")
        model = str(round_dir / "model")
    return run_dir
