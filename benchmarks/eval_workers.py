"""Suite throughput by worker count: the same Code2Inv tasks run by `python -m agent eval` with 1 and 2
local workers (more with --workers), one after the other in one run, with the machine's load.

    python benchmarks/eval_workers.py [--tasks N] [--workers 1,2] [--sources symbolic,dynamic]

Prints a Markdown table for BENCHMARKS.md: wall time of the whole eval, speed-up over one worker, and
whether every configuration reached the same status on every task."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run(suite: Path, workers: int, sources: str, runs: Path) -> tuple[float, dict[str, str]]:
    before = set(runs.iterdir()) if runs.exists() else set()
    subprocess.run([sys.executable, "-m", "agent", "eval", str(suite), "--workers", str(workers), "--sources", sources,
                    "--runs-dir", str(runs), "--quiet"], cwd=REPO, check=True, capture_output=True, timeout=7200,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    run_dir = next(iter(set(runs.iterdir()) - before))
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "results.csv").open(newline="") as handle:
        statuses = {row["task_id"]: row["status"] for row in csv.DictReader(handle)}
    return summary["elapsed_s"], statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=0, help="the first N Code2Inv tasks (default: all)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--sources", default="symbolic,dynamic", help="proposal sources (default: no model)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        suite = Path(work) / "suite"
        suite.mkdir()
        tasks = sorted((p for p in (REPO / "tasks" / "code2inv").glob("*.yaml") if p.stem.isdigit()),
                       key=lambda p: int(p.stem))
        for task in tasks[: arguments.tasks or None]:
            (suite / task.name).write_bytes(task.read_bytes())
        load = os.getloadavg()[0]
        rows, baseline, reference = [], None, None
        for workers in (int(part) for part in arguments.workers.split(",")):
            elapsed, statuses = run(suite, workers, arguments.sources, Path(work) / "runs")
            baseline = baseline or elapsed
            reference = reference or statuses
            rows.append((workers, elapsed, baseline / elapsed, statuses == reference))
    print(f"{len(list(tasks[: arguments.tasks or None]))} Code2Inv tasks, sources {arguments.sources}; "
          f"{cpu_model()}, {os.cpu_count()} CPUs, load average {load:.1f} at the start")
    print("\n| workers | wall s | speed-up | same statuses |\n|---|---|---|---|")
    for workers, elapsed, speedup, same in rows:
        print(f"| {workers} | {elapsed:.1f} | {speedup:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
