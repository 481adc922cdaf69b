"""DRAT check time against the solver's own solve time on the shared UNSAT instances.

For each UNSAT SATLIB instance (uuf50-218 and pigeonhole, from `expected_status.csv`) and each
solver, in the same run: the solver's own time (construct PySAT's solver with proof logging, load
the clauses, solve; in process) is the baseline, then `verifiers.drat.check_drat` checks the proof
(parsing included). Each is the median of `--repeats` runs. Reported per solver: the median ratio
check/solve (the target: at most 5), the median per family, the largest proof checked (lemmas) with
its check time, and that every proof was certified. The one-time kernel load (numba's cache) is
timed apart and excluded from the checks, as `check_drat` excludes it.

    python benchmarks/drat.py                      # default solver and cadical153, all 53 instances
    python benchmarks/drat.py --solvers all        # every PySAT solver whose proofs check
    python benchmarks/drat.py --limit 5 --repeats 1  # a small form while developing
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pysat.solvers import Solver  # noqa: E402

from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)
from verifiers import drat  # noqa: E402
from verifiers.sat import DEFAULT_SOLVER, PROOF_SOLVERS, read_dimacs  # noqa: E402

TARGET_RATIO = 5.0


def machine() -> str:
    return (f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, python-sat {version('python-sat')}, "
            f"numba {version('numba')}")


def unsat_instances(data: Path, limit: int | None) -> list[tuple[str, str, list[list[int]]]]:
    with (data / "expected_status.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["expected"] == "UNSAT"]
    by_family: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_family.setdefault(row["family"], []).append(row)
    chosen = [row for family in by_family.values() for row in family[:limit]]
    return [(row["family"], Path(row["path"]).stem, read_dimacs((data / row["path"]).read_text())[1]) for row in chosen]


def solve_once(clauses: list[list[int]], solver: str) -> tuple[float, list[str]]:
    started = time.perf_counter()
    with Solver(name=solver, bootstrap_with=clauses, with_proof=True) as engine:
        if engine.solve() is not False:
            raise SystemExit(f"{solver} did not answer UNSAT")
        elapsed = time.perf_counter() - started
        return elapsed, engine.get_proof()


def measure(clauses: list[list[int]], solver: str, repeats: int, time_limit_s: float) -> dict:
    solves, checks, proof, result = [], [], [], None
    for _ in range(repeats):
        solve_s, proof = solve_once(clauses, solver)
        solves.append(solve_s)
        result = drat.check_drat(clauses, proof, time_limit_s)
        checks.append(result.elapsed_s)
    solve_s, check_s = statistics.median(solves), statistics.median(checks)
    return {"solve_s": solve_s, "check_s": check_s, "ratio": check_s / solve_s, "lemmas": result.lemmas,
            "deletions": result.deletions, "checked_lemmas": result.checked_lemmas, "proof_lines": len(proof),
            "certified": result.certified, "message": result.message}


def summarise(rows: list[dict]) -> dict:
    largest = max(rows, key=lambda row: row["lemmas"])
    families = sorted({row["family"] for row in rows})
    return {
        "instances": len(rows),
        "certified": sum(row["certified"] for row in rows),
        "median_ratio": statistics.median(row["ratio"] for row in rows),
        "median_ratio_by_family": {family: statistics.median(row["ratio"] for row in rows if row["family"] == family)
                                   for family in families},
        "max_ratio": max(row["ratio"] for row in rows),
        "median_solve_s": statistics.median(row["solve_s"] for row in rows),
        "median_check_s": statistics.median(row["check_s"] for row in rows),
        "largest": {key: largest[key] for key in ("instance", "lemmas", "deletions", "checked_lemmas", "solve_s",
                                                   "check_s")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "satlib")
    parser.add_argument("--solvers", default=f"{DEFAULT_SOLVER},cadical153",
                        help="comma-separated PySAT solver names, or `all` (every solver whose proofs check)")
    parser.add_argument("--limit", type=int, default=None, help="at most N instances per family")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per DRAT check")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-drat.json")
    arguments = parser.parse_args()
    solvers = list(PROOF_SOLVERS) if arguments.solvers == "all" else arguments.solvers.split(",")

    started = time.perf_counter()
    warm_started = time.perf_counter()
    drat.warm_up()
    warm_up_s = time.perf_counter() - warm_started
    instances = unsat_instances(arguments.data, arguments.limit)
    report = {"machine": machine(), "warm_up_s": warm_up_s, "solvers": {}}
    print(f"machine: {report['machine']}\nkernel load (numba cache): {warm_up_s:.2f} s; {len(instances)} instances")
    for solver in solvers:
        rows = []
        for family, name, clauses in instances:
            row = {"family": family, "instance": name, **measure(clauses, solver, arguments.repeats, arguments.time_limit)}
            rows.append(row)
        summary = summarise(rows)
        report["solvers"][solver] = {"summary": summary, "rows": rows}
        largest = summary["largest"]
        by_family = ", ".join(f"{family} {ratio:.2f}" for family, ratio in summary["median_ratio_by_family"].items())
        verdict = "meets" if summary["median_ratio"] <= TARGET_RATIO else "MISSES"
        print(f"{solver:12s} certified {summary['certified']}/{summary['instances']} · median check/solve "
              f"{summary['median_ratio']:.2f} ({verdict} the {TARGET_RATIO:g}x target; {by_family}; max "
              f"{summary['max_ratio']:.2f}) · median solve {summary['median_solve_s'] * 1e3:.2f} ms, check "
              f"{summary['median_check_s'] * 1e3:.2f} ms · largest proof {largest['instance']}: {largest['lemmas']} "
              f"lemmas, {largest['deletions']} deletions, checked in {largest['check_s']:.3f} s "
              f"(solve {largest['solve_s']:.3f} s)")
    report["elapsed_s"] = time.perf_counter() - started
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2))
    print(f"total {report['elapsed_s']:.0f} s; details in {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
