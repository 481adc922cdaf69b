"""The GNN as a proposer: a phase hint for a formula, from the packaged (or a given) predictor.

The predictor is loaded once per process; `--guide gnn` calls `phase_hint` for every `cnf` task.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agent.gnn.predict import LoadedPredictor, load_predictor
from verifiers.phases import PhaseHint


@lru_cache(maxsize=4)
def predictor(weights: Path | None = None) -> LoadedPredictor:
    return load_predictor(weights)


def phase_hint(variables: int, clauses: list[list[int]], threshold: float | None = None,
               weights: Path | None = None) -> PhaseHint:
    """The predicted phases of a formula (raises WeightsError when no predictor can be loaded)."""
    return predictor(weights).predict(variables, clauses, threshold)
