"""Pilot runs for choosing what `benchmarks/gnn.py` measures: a generated family on `pilot-...` seeds
(never the benchmark's `bench-...` seeds), default phases against Jeroslow-Wang, all GNN phases and
only the GNN phases at or above each confidence threshold, for one or more weights folders. Used to
choose a family, a model and a confidence threshold on a validation set before the benchmark, so
that nothing is tuned on the benchmark's instances. Same solver, proof logging and CPU-time limit as
the benchmark.

    python benchmarks/gnn_pilot.py colouring 150 --count 16 --thresholds 0.3,0.5,0.7,0.9
    python benchmarks/gnn_pilot.py sudoku 5 --option holes=0.53 --weights packaged,benchmarks/results/gnn-qwh-model
    python benchmarks/gnn_pilot.py indset 150 --count 3 --split 150   # vertices' phases apart from the counters'

`--split N` also hands over the JW and GNN phases of variables 1..N alone (":first") and of the others
alone (":rest"): the generators number the problem's own variables first and an encoding's auxiliary
variables (counters) after them, so this says which of the two a gain comes from.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gnn import bad_input, jw_phases, solve  # noqa: E402  (benchmarks/, the script's own folder)

from agent.gnn.generate import FAMILIES, HELD_OUT  # noqa: E402
from agent.gnn.predict import load_predictor  # noqa: E402
from agent.gnn.train import formula_digest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", help="a generator family: " + ", ".join({**FAMILIES, **HELD_OUT}))
    parser.add_argument("size", type=int)
    parser.add_argument("--count", type=int, default=4, help="instances (seeds pilot-FAMILY-SIZE-0, -1, ...)")
    parser.add_argument("--option", action="append", default=[], help="NAME=NUMBER, a generator keyword (e.g. holes=0.53)")
    parser.add_argument("--weights", default="packaged", help="comma-separated weights folders; packaged = the shipped one")
    parser.add_argument("--thresholds", default="0.5", help="comma-separated confidence thresholds")
    parser.add_argument("--cpu-limit", type=float, default=5.0, help="CPU seconds per solve")
    parser.add_argument("--split", type=int, default=0, help="also phases of variables 1..N alone and of the rest alone")
    arguments = parser.parse_args()
    generators = {**FAMILIES, **HELD_OUT}
    if arguments.family not in generators:
        bad_input(f"unknown family {arguments.family!r}")
    try:
        options = {name: float(value) for name, value in (option.split("=", 1) for option in arguments.option)}
        thresholds = [float(threshold) for threshold in arguments.thresholds.split(",") if threshold]
    except ValueError:
        bad_input("--option takes NAME=NUMBER and --thresholds numbers")
    import torch

    torch.set_num_threads(1)
    predictors = {name: load_predictor(None if name == "packaged" else Path(name)) for name in arguments.weights.split(",")}
    trained = {digest for predictor in predictors.values() for digest in predictor.card.get("training_formulas", [])}
    conflicts: dict[str, list[int]] = {}
    for index in range(arguments.count):
        made = generators[arguments.family][0](random.Random(f"pilot-{arguments.family}-{arguments.size}-{index}"),
                                               arguments.size, **options)
        if formula_digest(made.clauses) in trained:
            raise SystemExit(f"{made.name}#{index} was used in training")
        policies = {"default": [], "jw": jw_phases(made.variables, made.clauses)}
        inference = {}
        for name, predictor in predictors.items():
            started = time.process_time()
            hint = predictor.predict(made.variables, made.clauses)
            inference[name] = time.process_time() - started
            policies[f"{name}:all"] = list(hint.phases)
            for threshold in thresholds:
                policies[f"{name}@{threshold:g}"] = [phase for phase, confidence in zip(hint.phases, hint.confidences)
                                                     if confidence >= threshold]
        if arguments.split:
            for name in ["jw", *(f"{name}:all" for name in predictors)]:
                phases = policies[name]
                policies[f"{name}:first"], policies[f"{name}:rest"] = phases[:arguments.split], phases[arguments.split:]
        shown = []
        for policy, phases in policies.items():
            result = solve(made.clauses, phases, arguments.cpu_limit)
            conflicts.setdefault(policy, []).append(result["conflicts"])
            shown.append(f"{policy} {result['conflicts']}{'*' if result['answer'] == 'unknown' else ''} "
                         f"({result['solve_cpu_s']:.2f} s)")
        print(f"{made.name}#{index} ({made.variables} variables, {len(made.clauses)} clauses; inference CPU s "
              + ", ".join(f"{name} {seconds:.3f}" for name, seconds in inference.items()) + "): " + ", ".join(shown),
              flush=True)
    default = conflicts["default"]
    print("(* = unsolved within the limit)")
    for policy, counts in conflicts.items():
        wins = sum(mine < base for mine, base in zip(counts, default))
        losses = sum(mine > base for mine, base in zip(counts, default))
        print(f"{policy}: median conflicts {statistics.median(counts):g} (default {statistics.median(default):g}), "
              f"fewer on {wins}, more on {losses} of {len(counts)}")


if __name__ == "__main__":
    main()
