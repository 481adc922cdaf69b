"""What each invariant source adds on a converted suite: solved/refuted per setting, task by task.

    python -m agent convert code2inv ../shared/data/clause2inv_nl /tmp/nl --name nl
    python benchmarks/invariant_sources.py /tmp/nl --settings program,program+polynomial --timeout 20

Prints one line per task and a summary per setting (it does not edit BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.eval import load_suite, percentile  # noqa: E402
from agent.loop import RunSettings, run_task  # noqa: E402

SETTINGS = {
    "program": ("symbolic", "dynamic"),
    "program+polynomial": ("symbolic", "dynamic", "polynomial"),
    "program+polynomial+horn": ("symbolic", "dynamic", "polynomial", "horn"),
    "horn": ("horn",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="a converted suite folder (with suite.yaml)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of: " + ", ".join(SETTINGS))
    parser.add_argument("--timeout", type=float, default=None, help="seconds per task (default: the task's budget)")
    arguments = parser.parse_args()
    _, entries = load_suite(arguments.suite)
    with tempfile.TemporaryDirectory() as runs:
        for name in (part.strip() for part in arguments.settings.split(",") if part.strip()):
            settings = RunSettings(sources=SETTINGS[name], seed=0, timeout_s=arguments.timeout)
            rows = []
            for entry in entries:
                result = run_task(entry.task, settings, None, Path(runs) / name / f"{entry.task.id.replace('/', '__')}.jsonl",
                                  f"sources-{name}", entry.path)
                rows.append(result)
                print(f"  [{name}] {entry.task.id:<12} {result.status:<9} {result.wall_s:7.2f} s  {result.solved_by or ''}",
                      flush=True)
            walls = [row.wall_s for row in rows]
            by: dict[str, int] = {}
            for row in rows:
                if row.status == "solved":
                    by[row.solved_by or "?"] = by.get(row.solved_by or "?", 0) + 1
            print(f"{name}: solved {sum(r.status == 'solved' for r in rows)}, refuted {sum(r.status == 'refuted' for r in rows)}, "
                  f"of {len(rows)}; median {statistics.median(walls):.2f} s, p95 {percentile(walls, 0.95):.2f} s; by {by}",
                  flush=True)


if __name__ == "__main__":
    main()
