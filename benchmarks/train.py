"""The model on tasks never trained on: the bundled model (free and constrained decoding) against fine-tuned
ones, side by side in one run, A/B interleaved task by task (the arms' order rotates from task to task).

    python benchmarks/train.py --arms bundled:free bundled:constrained models/c2i-symbolic:constrained \\
        --suite tasks/lam4inv --count 16
    python benchmarks/train.py --section train-sources --sources symbolic,dynamic,polynomial,horn,llm \\
        --tasks lam4inv/295 lam4inv/305 --arms bundled:constrained models/c2i-symbolic:constrained
    python benchmarks/train.py --report-only            # rewrite the BENCHMARKS.md section from the JSON

An arm is `MODEL:free` or `MODEL:constrained` (`MODEL` as `--model` takes it). Each model is loaded once.
Per arm: tasks solved, share of the model's proposals that parse (the verifier's parse stage passed) and
that are accepted, proposals per solved task, the model's tokens/s, median seconds per task. The load
average is read around every task (the machine may be shared). Figures go to
benchmarks/results/<section>.json (rewritten after every task) and the section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.eval import load_suite, read_results  # noqa: E402
from agent.loop import RunSettings, run_task  # noqa: E402
from constrained import pick, trace_figures  # noqa: E402  (benchmarks/, the script's own folder)
from cpu import cpu_model  # noqa: E402
from sections import markers, publish  # noqa: E402


def parse_arm(text: str) -> tuple[str, bool]:
    model, _, mode = text.rpartition(":")
    if mode not in ("free", "constrained") or not model:
        raise SystemExit(f"benchmarks/train.py: arm {text!r} is not MODEL:free or MODEL:constrained")
    return model, mode == "constrained"


def arm_label(text: str) -> str:
    model, constrained = parse_arm(text)
    # `models/NAME` reads as NAME; any other folder (an iterate round's `runs/.../round-1/model`) as given.
    name = Path(model).name if Path(model).parent.name == "models" else model
    return f"{name} ({'constrained' if constrained else 'free'})"


def refuted_tasks(run_dir: Path | None) -> set[str]:
    """The tasks an eval run refuted (programs whose assertion fails: no invariant exists)."""
    if run_dir is None:
        return set()
    rows = read_results(run_dir / "results.csv")
    if not rows:
        raise SystemExit(f"benchmarks/train.py: {run_dir} holds no eval results")
    return {row["task_id"] for row in rows if row["status"] == "refuted"}


def choose_tasks(arguments: argparse.Namespace, refuted: set[str]) -> list:
    _, entries = load_suite(arguments.suite)
    entries = [entry for entry in entries if entry.task.id not in refuted]
    if arguments.tasks:
        by_id = {entry.task.id: entry for entry in entries}
        missing = [task for task in arguments.tasks if task not in by_id]
        if missing:
            raise SystemExit(f"benchmarks/train.py: no such task in {arguments.suite}: {', '.join(missing)}")
        return [by_id[task] for task in arguments.tasks]
    return pick(entries, arguments.count)


def run(arguments: argparse.Namespace, results: Path) -> dict:
    from agent.llm import load_proposer

    refuted = refuted_tasks(arguments.exclude_refuted)
    tasks = choose_tasks(arguments, refuted)
    proposers = {}
    for arm in arguments.arms:
        model, _ = parse_arm(arm)
        if model not in proposers:
            proposers[model] = load_proposer(model, dtype=arguments.dtype, threads=arguments.threads)
            proposers[model].load()
    runs_dir = Path(tempfile.mkdtemp(prefix="train-bench-"))
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "arguments": " ".join(sys.argv[1:]),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                          "torch_threads": arguments.threads, "dtype": arguments.dtype},
              "budget": {"sources": arguments.sources, "max_proposals": arguments.max_proposals,
                         "samples": arguments.samples, "timeout_s": arguments.timeout,
                         "call_limit_s": arguments.call_limit, "seed": arguments.seed},
              "arms": arguments.arms, "tasks": [entry.task.id for entry in tasks], "rows": [],
              "left_out_refuted": sorted(refuted)}
    started = time.perf_counter()
    for index, entry in enumerate(tasks):
        shift = index % len(arguments.arms)
        for arm in arguments.arms[shift:] + arguments.arms[:shift]:
            model, constrained = parse_arm(arm)
            settings = RunSettings(sources=tuple(arguments.sources.split(",")), seed=arguments.seed,
                                   max_proposals=arguments.max_proposals, samples=arguments.samples,
                                   timeout_s=arguments.timeout, generation_limit_s=arguments.call_limit,
                                   strategies={"invariant": {"constrained": constrained}})
            trace = runs_dir / re.sub(r"\W", "_", arm) / (entry.task.id.replace("/", "__") + ".jsonl")
            load_before = os.getloadavg()[0]
            result = run_task(entry.task, settings, proposers[model], trace, "train-bench", entry.path)
            row = {"task": entry.task.id, "arm": arm, "status": result.status, "solved_by": result.solved_by,
                   "answer": result.answer if result.status == "solved" else None,
                   "wall_s": result.wall_s, "model_s": result.model_s,
                   "load": [round(load_before, 2), round(os.getloadavg()[0], 2)], **trace_figures(trace)}
            report["rows"].append(row)
            print(f"  {entry.task.id:<14} {arm_label(arm):<32} {result.status:<9} {row['parsed']}/{row['verified']} "
                  f"parsed {row['accepted']} accepted {result.wall_s:7.1f} s load {row['load']}", flush=True)
        report["elapsed_min"] = round((time.perf_counter() - started) / 60, 1)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(report, indent=2))
    return report


def summary(rows: list[dict]) -> dict:
    solved = [row for row in rows if row["status"] == "solved"]
    proposals = sum(row["proposals"] for row in rows)
    model_s = sum(row["model_s"] for row in rows)
    return {"tasks": len(rows), "solved": len(solved), "proposals": proposals,
            "verified": sum(row["verified"] for row in rows), "parsed": sum(row["parsed"] for row in rows),
            "accepted": sum(row["accepted"] for row in rows),
            "per_solved": proposals / len(solved) if solved else None,
            "tokens_per_s": sum(row["tokens"] for row in rows) / model_s if model_s else 0.0,
            "median_s": statistics.median(row["wall_s"] for row in rows) if rows else None,
            "solved_by": sorted(row["solved_by"] or "-" for row in solved)}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def finished(report: dict) -> list[str]:
    """The tasks every arm finished (a run stopped early leaves the last task's arms uneven)."""
    return [task for task in report["tasks"]
            if all(any(row["task"] == task and row["arm"] == arm for row in report["rows"]) for arm in report["arms"])]


def markdown(report: dict, section: str) -> str:
    m, budget, rows = report["machine"], report["budget"], report["rows"]
    loads = [value for row in rows for value in row["load"]]
    done = finished(report)
    start, end = markers(section)
    lines = [start,
             f"Run {report['date']} with `python benchmarks/train.py {report['arguments']}` "
             f"({report.get('elapsed_min', 0):.0f} min). Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
             f"torch with {m['torch_threads']} threads, dtype {m['dtype']}, no GPU. **Shared machine**: load average "
             f"(1 min) around each task {min(loads):.1f}-{max(loads):.1f} (median {sorted(loads)[len(loads) // 2]:.1f}); "
             "times compare only between the arms of this run.",
             "",
             f"Sources `{budget['sources']}`, seed {budget.get('seed', 0)}, {budget['max_proposals']} proposals ({budget['samples']} samples "
             f"per step) and {budget['timeout_s']:g} s per task, {budget['call_limit_s']:g} s per batched model call. "
             f"{len(done)} tasks every arm finished ({', '.join(done)})"
             + (f", of {len(report['tasks'])} picked (the run was stopped there)" if len(done) < len(report["tasks"]) else "")
             + "; arms interleaved task by task."
             + (f" Left out before picking: the {len(report['left_out_refuted'])} tasks refuted by an eval run "
                f"(no invariant exists): {', '.join(report['left_out_refuted'])}." if report.get("left_out_refuted") else ""),
             "",
             "| arm | solved | proposals | parse (of verified) | accepted (of verified) | proposals per solved task "
             "| tokens/s | median s/task | solved by |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arm in report["arms"]:
        s = summary([row for row in rows if row["arm"] == arm and row["task"] in done])
        per = f"{s['per_solved']:.1f}" if s["per_solved"] else "-"
        lines.append(f"| {arm_label(arm)} | **{s['solved']}**/{s['tasks']} | {s['proposals']} | "
                     f"{_share(s['parsed'], s['verified'])} | {_share(s['accepted'], s['verified'])} | {per} | "
                     f"{s['tokens_per_s']:.1f} | {s['median_s']:.1f} | {', '.join(s['solved_by']) or '-'} |")
    lines += ["", "Per task (status, parsed/verified, accepted, seconds):", "",
              "| task | " + " | ".join(arm_label(arm) for arm in report["arms"]) + " |",
              "|---|" + "---|" * len(report["arms"])]
    for task in done:
        cells = []
        for arm in report["arms"]:
            row = next(r for r in rows if r["task"] == task and r["arm"] == arm)
            cells.append(f"{row['status']} {row['parsed']}/{row['verified']}, {row['accepted']}, {row['wall_s']:.0f} s")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    answers = [f"{row['task']} `{row['answer']}` ({arm_label(row['arm'])})" for row in rows
               if row["answer"] and row["task"] in done and "llm" in (row["solved_by"] or "")]
    if answers:
        lines += ["", "The model's accepted invariants: " + "; ".join(answers) + "."]
    lines.append(end)
    return "\n".join(lines)


def record_on_model_cards(report: dict, section: str) -> None:
    """Each fine-tuned arm's figures go on its model's card (`train sft` wrote the card and training.json)."""
    from agent.train.sft import RECORD, add_figures

    tasks = finished(report)
    if not tasks:
        return
    for arm in report["arms"]:
        model, _ = parse_arm(arm)
        if not (Path(model) / RECORD).is_file():
            continue
        s = summary([row for row in report["rows"] if row["arm"] == arm and row["task"] in tasks])
        per = f"{s['per_solved']:.1f}" if s["per_solved"] else "-"
        add_figures(Path(model), {
            f"{arm_label(arm)}, {report['date']} (benchmarks/train.py, section {section})":
                f"solved {s['solved']}/{s['tasks']} held-out tasks ({tasks[0]} ... {tasks[-1]}), sources "
                f"`{report['budget']['sources']}`, {report['budget']['max_proposals']} proposals per task; "
                f"parse {_share(s['parsed'], s['verified'])}, accepted {_share(s['accepted'], s['verified'])}, "
                f"proposals per solved task {per}, {s['tokens_per_s']:.1f} tokens/s"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["bundled:free", "bundled:constrained"],
                        help="MODEL:free or MODEL:constrained, each a column")
    parser.add_argument("--suite", type=Path, default=REPO / "tasks" / "lam4inv")
    parser.add_argument("--count", type=int, default=16, help="tasks evenly spaced over the suite")
    parser.add_argument("--tasks", nargs="+", default=None, help="these task ids instead")
    parser.add_argument("--exclude-refuted", type=Path, default=None, metavar="RUN",
                        help="leave out the tasks this eval run refuted (before --count picks)")
    parser.add_argument("--sources", default="llm", help="the proposal sources of every arm")
    parser.add_argument("--max-proposals", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="model samples per step")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per task")
    parser.add_argument("--call-limit", type=float, default=120.0, help="seconds one batched model call may take")
    parser.add_argument("--dtype", default="int8", help="the models' --dtype (int8: fastest on a CPU)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--section", default="train", help="the BENCHMARKS.md section and results file name")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    parser.add_argument("--report-only", action="store_true", help="the section from the saved JSON, no new run")
    arguments = parser.parse_args()
    results = REPO / "benchmarks" / "results" / f"{arguments.section}.json"
    report = json.loads(results.read_text()) if arguments.report_only else run(arguments, results)
    if not arguments.no_write:  # the same figures again on --report-only: the card's entry is named by the run's date
        record_on_model_cards(report, arguments.section)
    publish(markdown(report, arguments.section), arguments.section, write=not arguments.no_write)


if __name__ == "__main__":
    main()
