"""Phase-predictor inference time: the fused forward pass (`FusedPhaseGNN`, what `predict` runs)
against the PyTorch Geometric reference (`PhaseGNN.forward` over the `HeteroData` graph, what training
runs), same packaged weights, same formulas, one thread, in one run. Wall and CPU seconds (CPU time is
what the process itself used: on a shared machine wall time also counts waiting for a core), best of
`--repeat`, graph building included in both.

    python benchmarks/gnn_inference.py
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from agent.gnn.generate import generate  # noqa: E402
from agent.gnn.graph import Incidence, cnf_graph  # noqa: E402
from agent.gnn.predict import load_predictor  # noqa: E402
from verifiers.sat import read_dimacs  # noqa: E402

# name -> (generator family, size); plus SATLIB's uf50-01 when the shared data is there
FORMULAS = {"scheduling-30": ("scheduling", 30), "qwh-20": ("qwh", 20), "qwh-25": ("qwh", 25)}


def best_of(repeat: int, work) -> tuple[float, float]:
    """The smallest wall and CPU seconds of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("VERILOOP_SHARED_DATA") or ROOT.parent / "shared" / "data")
                        / "satlib")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    predictor = load_predictor()
    formulas = {}
    uf50 = arguments.data / "uf50-218" / "uf50-01.cnf"
    if uf50.is_file():
        formulas["uf50-01"] = read_dimacs(uf50.read_text())
    for name, (family, size) in FORMULAS.items():
        made = generate(family, random.Random(f"bench-inference-{name}"), size)
        formulas[name] = (made.variables, made.clauses)
    config = predictor.card["config"]
    print(f"weights: hidden {config['hidden']}, {config['rounds']} rounds; load average {os.getloadavg()[0]:.1f}")
    print("| formula | variables | clauses | literals | reference wall s | reference CPU s | fused wall s "
          "| fused CPU s | CPU speed-up |\n|---|---|---|---|---|---|---|---|---|")
    for name, (variables, clauses) in formulas.items():
        with torch.inference_mode():
            reference = best_of(arguments.repeat, lambda: predictor.model(cnf_graph(variables, clauses)))
        fused = best_of(arguments.repeat, lambda: predictor.fused(Incidence.of(variables, clauses)))
        print(f"| {name} | {variables} | {len(clauses)} | {sum(map(len, clauses))} | {reference[0]:.4f} "
              f"| {reference[1]:.4f} | {fused[0]:.4f} | {fused[1]:.4f} | {reference[1] / fused[1]:.1f}x |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
