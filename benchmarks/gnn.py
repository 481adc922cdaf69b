"""Phase guidance for the SAT solver: default phases against GNN, random and Jeroslow-Wang phases.

For every instance and every phase policy, in the same run and the same process: PySAT's
`maplechrono` (the verifier's default solver) with proof logging, as the verifier runs it, under a
CPU-time limit (`--cpu-limit`), phases handed over with `set_phases` before solving. Policies:

- default: no phases (the solver's own initial phases and phase saving);
- gnn: every variable's phase from the packaged phase predictor (agent/gnn);
- gnn-confident: only the phases predicted with confidence >= `--threshold`;
- random: a uniformly random phase per variable (seeded);
- jw: Jeroslow-Wang polarity (the literal with the larger sum of 2^-|C|).

Beside the table, a paired comparison with the default per family and policy (wins, losses, sign test).

Reported per family and policy: median conflicts and decisions (accum_stats), median solve time,
median inference time (graph building and the forward pass, gnn only; the one-time model load is
reported apart), median time with inference, and how many instances were solved within the limit;
times in CPU seconds of this process (on a shared machine wall time mostly measures the wait for a
core), with wall time with inference beside them and the load average per family. An unsolved
instance counts with the figures it reached at the limit. SAT answers are
checked against every clause. Instances: the SATLIB files (uf50-218, flat30-60, flat50-115, from
../shared/data/satlib) and generated families with seeds `bench-...` that training never uses;
the script also checks every formula's fingerprint against the model card's list of training formulas.

    python benchmarks/gnn.py                          # all families
    python benchmarks/gnn.py --families uf50-218 --limit 5   # a small form while developing
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pysat.solvers import Solver  # noqa: E402

from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)

from agent.gnn.generate import generate  # noqa: E402
from agent.gnn.graph import jeroslow_wang  # noqa: E402
from agent.gnn.predict import load_predictor  # noqa: E402
from agent.gnn.train import formula_digest  # noqa: E402
from verifiers.sat import DEFAULT_SOLVER, read_dimacs, violated_clause  # noqa: E402

POLICIES = ("default", "gnn", "gnn-confident", "random", "jw")
SATLIB = ("uf50-218", "flat30-60", "flat50-115")
# family -> (generator family, size, instances): sizes where the default solver needs about a second or more
GENERATED = {
    "random3sat-200": ("random3sat", 200, 8),
    "random3sat-250": ("random3sat", 250, 24),
    "flat-250": ("flat", 250, 8),
    "scheduling-27": ("scheduling", 27, 8),
    "scheduling-30": ("scheduling", 30, 8),
    "colouring-150": ("colouring", 150, 8),
    # held out of training as families (agent/gnn/generate.py HELD_OUT): Latin-square completion at 42 %
    # holes; planted 5-SAT above the threshold
    "qwh-25": ("qwh", 25, 6),
    "qwh-27": ("qwh", 27, 6),
    "planted5sat-100": ("planted5sat", 100, 6),
    # independent set of a quarter of the vertices, planted, average degree 8, "at least k" by a sequential counter
    "indset-150": ("indset", 150, 24),
}


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu_model()}, {os.cpu_count()} cores (load average {load:.1f} at the start); Python "
            f"{platform.python_version()}, python-sat {version('python-sat')}, torch {version('torch')}, "
            f"torch-geometric {version('torch-geometric')}")


def instances(family: str, data: Path, limit: int | None, offset: int = 0) -> list[tuple[str, int, list[list[int]]]]:
    if family in SATLIB:
        files = sorted((data / family).glob("*.cnf"))[offset:limit]
        if not files:
            raise SystemExit(f"no {family} files in {data} (--data: the SATLIB folder of the shared data)")
        return [(path.stem, *read_dimacs(path.read_text())) for path in files]
    kind, size, count = GENERATED[family]
    made = {index: generate(kind, random.Random(f"bench-{family}-{index}"), size) for index in range(offset, limit or count)}
    return [(f"{made_one.name}#{index}", made_one.variables, made_one.clauses) for index, made_one in made.items()]


def jw_phases(variables: int, clauses: list[list[int]]) -> list[int]:
    positive, negative = jeroslow_wang(variables, clauses)
    return [v if prefer_true else -v for v, prefer_true in enumerate((positive >= negative).tolist(), start=1)]


def solve(clauses: list[list[int]], phases: list[int], cpu_limit_s: float) -> dict:
    """One solve, interrupted once it has used `cpu_limit_s` seconds of CPU: a CPU-time limit, not a
    wall-clock one, so that a shared machine's load does not decide which instances count as solved."""
    with Solver(name=DEFAULT_SOLVER, bootstrap_with=clauses, with_proof=True) as engine:
        if phases:
            engine.set_phases(phases)
        finished = threading.Event()
        started, started_cpu = time.perf_counter(), time.process_time()

        def watch() -> None:  # the solver releases the GIL while it runs, so this thread gets its turns
            while not finished.wait(0.05):
                if time.process_time() - started_cpu > cpu_limit_s:
                    engine.interrupt()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            answer = engine.solve_limited(expect_interrupt=True)
        finally:
            finished.set()
        solve_s, solve_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
        stats = engine.accum_stats()
        if answer and violated_clause(clauses, engine.get_model()) is not None:
            raise SystemExit("the solver's model violates a clause")
    return {"answer": {True: "SAT", False: "UNSAT", None: "unknown"}[answer], "solve_s": solve_s,
            "solve_cpu_s": solve_cpu_s, "conflicts": stats["conflicts"], "decisions": stats["decisions"],
            "propagations": stats["propagations"]}


def run_family(family: str, data: Path, limit: int | None, cpu_limit_s: float, threshold: float, predictor,
               trained: set[str], rows: list[dict], policies: tuple[str, ...] = POLICIES, offset: int = 0) -> None:
    for name, variables, clauses in instances(family, data, limit, offset):
        if formula_digest(clauses) in trained:
            raise SystemExit(f"{family}/{name} was used in training")
        load = os.getloadavg()[0]
        started_cpu = time.process_time()
        hint = predictor.predict(variables, clauses, threshold)
        inference_cpu_s = time.process_time() - started_cpu
        rng = random.Random(f"random-phases-{family}-{name}")
        phase_sets = {
            "default": ([], 0.0, 0.0),
            "gnn": (list(hint.phases), hint.inference_s, inference_cpu_s),
            "gnn-confident": (hint.selected(), hint.inference_s, inference_cpu_s),
            "random": ([v if rng.random() < 0.5 else -v for v in range(1, variables + 1)], 0.0, 0.0),
            "jw": (jw_phases(variables, clauses), 0.0, 0.0),
        }
        for policy in policies:
            phases, inference_s, inference_cpu_s = phase_sets[policy]
            result = solve(clauses, phases, cpu_limit_s)
            rows.append({"family": family, "instance": name, "load": load, "variables": variables,
                         "clauses": len(clauses), "policy": policy, "phases_given": len(phases),
                         "inference_s": inference_s, "inference_cpu_s": inference_cpu_s,
                         "total_s": result["solve_s"] + inference_s,
                         "total_cpu_s": result["solve_cpu_s"] + inference_cpu_s, **result})
        print(f"{family}/{name}: " + ", ".join(f"{row['policy']} {row['conflicts']}" for row in rows[-len(policies):]),
              flush=True)


def summary(rows: list[dict]) -> list[str]:
    """Per family and policy; times are CPU seconds (the process's own, load-independent) except the
    last column, wall-clock seconds with inference."""
    lines = ["| family | load | policy | solved | median conflicts | vs default | median decisions "
             "| median solve CPU s | median inference CPU s | median total CPU s | inference / default solve | median total wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    median = lambda chosen, field: statistics.median(row[field] for row in chosen)  # noqa: E731
    for family in dict.fromkeys(row["family"] for row in rows):
        baseline = [row for row in rows if row["family"] == family and row["policy"] == "default"]
        base_conflicts, base_solve = median(baseline, "conflicts"), median(baseline, "solve_cpu_s")
        load = f"{min(row['load'] for row in baseline):.1f}-{max(row['load'] for row in baseline):.1f}"
        for policy in POLICIES:
            chosen = [row for row in rows if row["family"] == family and row["policy"] == policy]
            if not chosen:
                continue
            conflicts, inference = median(chosen, "conflicts"), median(chosen, "inference_cpu_s")
            change = f"{(conflicts - base_conflicts) / base_conflicts:+.1%}" if base_conflicts else "-"
            share = f"{inference / base_solve:.1%}" if policy.startswith("gnn") and base_solve else "-"
            lines.append(
                f"| {family} | {load} | {policy} | {sum(row['answer'] != 'unknown' for row in chosen)}/{len(chosen)} "
                f"| {conflicts:g} | {change} | {median(chosen, 'decisions'):g} | {median(chosen, 'solve_cpu_s'):.3f} "
                f"| {inference:.4f} | {median(chosen, 'total_cpu_s'):.3f} | {share} "
                f"| {median(chosen, 'total_s'):.3f} |")
    return lines


def paired(rows: list[dict]) -> list[str]:
    """Per family and policy against the default on the same instances: wins and losses in conflicts,
    the two-sided sign test over the instances that differ, and the geometric mean of the conflict
    ratios (a conflict count of 0 counted as 1)."""
    from scipy.stats import binomtest

    lines = ["| family | policy | instances | fewer conflicts | more | equal | sign test p | geometric mean ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for family in dict.fromkeys(row["family"] for row in rows):
        default = {row["instance"]: row["conflicts"] for row in rows if row["family"] == family and row["policy"] == "default"}
        for policy in POLICIES[1:]:
            pairs = [(row["conflicts"], default[row["instance"]]) for row in rows
                     if row["family"] == family and row["policy"] == policy and row["instance"] in default]
            if not pairs:
                continue
            wins, losses = sum(mine < base for mine, base in pairs), sum(mine > base for mine, base in pairs)
            p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
            ratio = statistics.geometric_mean(max(mine, 1) / max(base, 1) for mine, base in pairs)
            lines.append(f"| {family} | {policy} | {len(pairs)} | {wins} | {losses} | {len(pairs) - wins - losses} "
                         f"| {p:.3g} | {ratio:.3f} |")
    return lines


def bad_input(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=",".join((*SATLIB, *GENERATED)))
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("VERILOOP_SHARED_DATA") or ROOT.parent / "shared" / "data")
                        / "satlib")
    parser.add_argument("--limit", type=int, default=None, help="at most N instances per family")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip each family's first N instances (to extend an earlier run with --limit)")
    parser.add_argument("--cpu-limit", type=float, default=10.0, help="CPU seconds per solve")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help="comma-separated, from: " + ", ".join(POLICIES) + " (the table needs default)")
    parser.add_argument("--threshold", type=float, default=0.5, help="gnn-confident's confidence threshold")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gnn.csv")
    arguments = parser.parse_args()
    families = arguments.families.split(",")
    unknown = [family for family in families if family not in SATLIB and family not in GENERATED]
    if unknown:
        bad_input(f"unknown families: {', '.join(unknown)}")
    if arguments.offset < 0 or (arguments.limit is not None and arguments.offset >= arguments.limit):
        bad_input("--offset must be at least 0 and below --limit")
    policies = tuple(arguments.policies.split(","))
    if "default" not in policies or not set(policies) <= set(POLICIES):
        bad_input(f"--policies: a comma-separated subset of {', '.join(POLICIES)} that includes default")
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    predictor = load_predictor(arguments.weights)
    load_s = time.perf_counter() - started
    trained = set(predictor.card.get("training_formulas", []))
    print(f"machine: {machine()}\nmodel load {load_s:.2f} s ({predictor.source}); solver {DEFAULT_SOLVER} with proof "
          f"logging, {arguments.cpu_limit:g} CPU s per solve", flush=True)
    rows: list[dict] = []
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    for family in families:
        run_family(family, arguments.data, arguments.limit, arguments.cpu_limit, arguments.threshold, predictor,
                   trained, rows, policies, arguments.offset)
        with arguments.out.open("w", newline="") as handle:  # after every family: a stopped run keeps its rows
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print("\n".join(summary(rows)))
    print("\n".join(paired(rows)))
    print(json.dumps({"rows": len(rows), "csv": str(arguments.out), "wall_s": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
