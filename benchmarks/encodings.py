"""Solved counts of the encoding and logic suites with a model (default: the bundled one).

Runs `python -m agent eval` on each suite (tasks/sat, tasks/smt, tasks/logic) and reports, per
suite: tasks, solved (for logic: the entailed option is the data set's answer; for encodings: an
accepted encoding whose answer agrees with the known one), certified, unsolved, errors, and where
the model's proposals were stopped (the stage of each rejection, read from the traces), so that a
suite with no solves still shows how far the proposals got. Wall time per suite and in all.

    python benchmarks/encodings.py                          # every task, 4 proposals each
    python benchmarks/encodings.py --limit 3 --suites logic # a small form while developing
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from cpu import cpu_model  # benchmarks/, the script's own folder

ROOT = Path(__file__).resolve().parent.parent


def stages(run_dir: Path) -> Counter[str]:
    """How each verified proposal ended: accepted, or the stage that rejected it."""
    counts: Counter[str] = Counter()
    for trace in (run_dir / "traces").glob("*.jsonl"):
        for line in trace.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("type") == "verdict" and not event.get("cached"):
                verdict = event["verdict"]
                counts[verdict["status"] if verdict["status"] != "rejected" else (verdict["details"] or {}).get("stage", "?")] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default="sat,smt,logic")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks of each suite")
    parser.add_argument("--max-proposals", type=int, default=4)
    parser.add_argument("--model", default=None)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench-encodings")
    arguments = parser.parse_args()

    rows = []
    started = time.perf_counter()
    for suite in arguments.suites.split(","):
        command = [sys.executable, "-m", "agent", "eval", str(ROOT / "tasks" / suite), "--quiet",
                   "--max-proposals", str(arguments.max_proposals), "--runs-dir", str(arguments.runs_dir)]
        if arguments.limit:
            command += ["--limit", str(arguments.limit)]
        if arguments.model:
            command += ["--model", arguments.model]
        suite_started = time.perf_counter()
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - suite_started
        results = Path(next(line.split("results:", 1)[1].strip() for line in output.splitlines() if "results:" in line))
        summary = json.loads((results.parent / "summary.json").read_text())
        with results.open(newline="") as handle:
            unsolved_answers = sum(1 for row in csv.DictReader(handle) if row["status"] == "unsolved" and row["answer"])
        rows.append((suite, summary, stages(results.parent), unsolved_answers, wall, results.parent.name))
    total = time.perf_counter() - started

    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores; model: {arguments.model or 'bundled'}; "
          f"{arguments.max_proposals} proposals per task; {total / 60:.1f} min in all\n")
    print("| suite | tasks | solved | certified | answered wrongly | unsolved | errors | proposals | wall min | run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for suite, summary, _, wrong, wall, run in rows:
        proposals = round(summary["proposals_mean"] * summary["tasks"])
        print(f"| {suite} | {summary['tasks']} | {summary['solved']} | {summary['certified']} | {wrong} | "
              f"{summary['unsolved']} | {summary['errors']} | {proposals} | {wall / 60:.1f} | {run} |")
    print("\nHow the proposals ended (accepted, or the stage that rejected them):\n")
    for suite, _, counts, _, _, _ in rows:
        print(f"- {suite}: " + ", ".join(f"{stage} {count}" for stage, count in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
