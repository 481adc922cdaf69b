"""What each invariant source adds on a converted suite: solved/refuted per setting, task by task.

    python benchmarks/invariant_sources.py tasks/lam4inv --settings symbolic,dynamic,polynomial,horn,all

Each source alone (`horn` alone is Spacer on the same templates with the whole budget: the baseline
a user would otherwise run), the program sources together and all the symbolic sources together
(the default without the model). Prints one line per task, a summary per setting, and the tasks each
setting solves that no other setting given does (it does not edit BENCHMARKS.md).
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
    "symbolic": ("symbolic",),
    "dynamic": ("dynamic",),
    "polynomial": ("polynomial",),
    "horn": ("horn",),
    "program": ("symbolic", "dynamic"),
    "program+polynomial": ("symbolic", "dynamic", "polynomial"),
    "all": ("symbolic", "dynamic", "polynomial", "horn"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="a converted suite folder (with suite.yaml)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of: " + ", ".join(SETTINGS))
    parser.add_argument("--timeout", type=float, default=None, help="seconds per task (default: the task's budget)")
    arguments = parser.parse_args()
    _, entries = load_suite(arguments.suite)
    names = [part.strip() for part in arguments.settings.split(",") if part.strip()]
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    solved_by_setting: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as runs:
        for name in names:
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
            solved_by_setting[name] = {entry.task.id for entry, row in zip(entries, rows) if row.status == "solved"}
            print(f"{name}: solved {sum(r.status == 'solved' for r in rows)}, refuted {sum(r.status == 'refuted' for r in rows)}, "
                  f"of {len(rows)}; median {statistics.median(walls):.2f} s, p95 {percentile(walls, 0.95):.2f} s; by {by}",
                  flush=True)

    for name, solved in solved_by_setting.items():
        others = set().union(*(other for key, other in solved_by_setting.items() if key != name))
        print(f"only {name}: {len(solved - others)} {sorted(solved - others)}", flush=True)


if __name__ == "__main__":
    main()
