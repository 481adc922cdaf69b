"""Two checkouts of the project side by side on one invariant suite, task by task, interleaved.

    python benchmarks/invariant_ab.py tasks/clause2inv_nl --baseline /path/to/older/checkout \
        --sources symbolic,dynamic,polynomial,horn --out benchmarks/results/nl-ab.csv

Each task is solved by `python -m agent solve` in the baseline checkout and in this one, the order
alternating from task to task (ABBA), so both meet the same machine load; a task's seconds are its
run's own (the trace's result, not the process start). The load average is recorded beside each
task. Prints a summary (solved, template-wrong, certified, median and p95 seconds) and a table per
task; with --section, writes them into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.eval import load_suite, percentile  # noqa: E402
from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)
from sections import markers, publish  # noqa: E402

# Beyond the task's own time limit, what a `solve` process may take to start and write its trace.
PROCESS_GRACE_S = 120


def solve(checkout: Path, task: Path, sources: str, timeout: float | None, runs: Path) -> dict:
    command = [sys.executable, "-m", "agent", "solve", str(task), "--sources", sources, "--runs-dir", str(runs)]
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    limit = (timeout or 600) + PROCESS_GRACE_S
    try:
        subprocess.run(command, cwd=checkout, env=environment, capture_output=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "no result", "certified": False, "seconds": limit, "solved_by": "", "conjuncts": 0}
    traces = sorted(runs.glob("*/trace.jsonl"), key=lambda path: path.stat().st_mtime)
    if not traces:
        return {"status": "no result", "certified": False, "seconds": limit, "solved_by": "", "conjuncts": 0}
    events = [json.loads(line) for line in traces[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    result = next((event for event in events if event["type"] == "result"), None)
    if result is None:
        return {"status": "no result", "certified": False, "seconds": limit, "solved_by": "", "conjuncts": 0}
    # The answer's size: the conjuncts of the verdict that accepted it (the last accepted one).
    accepted = [event["verdict"]["details"] for event in events if event["type"] in ("verdict", "program_check")
                and event["verdict"]["status"] == "accepted" and event["verdict"].get("details")]
    conjuncts = len(accepted[-1].get("conjuncts") or []) if result.get("answer") and accepted else 0
    return {"status": result["status"], "certified": bool(result.get("certified")),
            "seconds": float(result["time"]) - float(events[0]["time"]), "solved_by": result.get("solved_by") or "",
            "conjuncts": conjuncts}


def summary(rows: list[dict], arm: str) -> str:
    seconds = [row[f"{arm}_s"] for row in rows]
    count = {status: sum(row[f"{arm}_status"] == status for row in rows)
             for status in ("solved", "template_wrong", "refuted", "unsolved")}
    certified = sum(row[f"{arm}_certified"] for row in rows)
    sizes = [row[f"{arm}_conjuncts"] for row in rows if row[f"{arm}_conjuncts"]]
    return (f"| {arm} | {count['solved']} | {count['template_wrong']} | {count['refuted']} | "
            f"{len(rows) - count['solved'] - count['template_wrong'] - count['refuted']} | {certified} | "
            f"{percentile(seconds, 0.5):.2f} | {percentile(seconds, 0.95):.2f} | {max(seconds):.1f} | "
            f"{percentile(sizes, 0.5) if sizes else 0:.0f} / {max(sizes, default=0)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="a converted suite folder (with suite.yaml)")
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of the project")
    parser.add_argument("--sources", default="symbolic,dynamic,polynomial,horn")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per task (default: the task's budget)")
    parser.add_argument("--out", type=Path, help="CSV of the rows")
    parser.add_argument("--section", help="write the tables into BENCHMARKS.md between this section's markers")
    arguments = parser.parse_args()
    if not (arguments.baseline / "agent" / "__main__.py").is_file():
        parser.error(f"{arguments.baseline} is not a checkout of the project")
    _, entries = load_suite(arguments.suite)
    arms = {"baseline": arguments.baseline.resolve(), "this": REPO}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, entry in enumerate(entries):
            row = {"task": entry.task.id, "load": os.getloadavg()[0]}
            order = ["baseline", "this"] if number % 2 == 0 else ["this", "baseline"]
            for arm in order:
                runs = Path(scratch) / arm / str(number)
                outcome = solve(arms[arm], entry.path.resolve(), arguments.sources, arguments.timeout, runs)
                row.update({f"{arm}_{key}" if key != "seconds" else f"{arm}_s": value for key, value in outcome.items()})
            rows.append(row)
            print(f"  {entry.task.id:<24} load {row['load']:4.1f}  baseline {row['baseline_status']:<14} "
                  f"{row['baseline_s']:6.1f} s   this {row['this_status']:<14} {row['this_s']:6.1f} s", flush=True)
    if arguments.out:
        with arguments.out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    loads = [row["load"] for row in rows]
    start, end = markers(arguments.section or "invariant-ab")
    lines = [start, "", f"`python benchmarks/invariant_ab.py {arguments.suite} --baseline <checkout> --sources "
             f"{arguments.sources}`: {len(rows)} tasks, the two checkouts interleaved task by task; load average "
             f"(1 min) at each task {min(loads):.1f}-{max(loads):.1f} (median {percentile(loads, 0.5):.1f}); {cpu_model()}, "
             f"{os.cpu_count()} cores.", "",
             "| checkout | solved | template wrong | refuted | unsolved | certified | median s | p95 s | max s "
             "| answer's conjuncts, median / max |",
             "|---|---|---|---|---|---|---|---|---|---|", summary(rows, "baseline"), summary(rows, "this"), "",
             "| task | load | baseline | this |", "|---|---|---|---|"]
    for row in rows:
        cells = [f"{row[f'{arm}_status']} {row[f'{arm}_s']:.1f}{' c' if row[f'{arm}_certified'] else ''}"
                 + (f" ({row[f'{arm}_conjuncts']})" if row[f'{arm}_conjuncts'] else "") for arm in ("baseline", "this")]
        lines.append(f"| `{row['task']}` | {row['load']:.1f} | {cells[0]} | {cells[1]} |")
    lines += ["", "(`c`: certified by cvc5; in brackets, the answer's number of conjuncts.)", "", end]
    publish("\n".join(lines), arguments.section or "invariant-ab", write=bool(arguments.section))


if __name__ == "__main__":
    main()
