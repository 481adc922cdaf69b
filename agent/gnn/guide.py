"""The GNN as a proposer: a phase hint for a formula, from the packaged (or a given) predictor.

The predictor is loaded once per process; `--guide gnn` calls `phase_hint` for every `cnf` task and
hands `phase_advisor` to the SAT encoding verifier, which asks it for the phases of each formula a
program emits (`verifiers.phases.PhaseAdvisor`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from agent.gnn.predict import LoadedPredictor, load_predictor
from verifiers.phases import PhaseAdvisor, PhaseHint


@lru_cache(maxsize=4)
def predictor(weights: Path | None = None) -> LoadedPredictor:
    return load_predictor(weights)


def phase_hint(variables: int, clauses: Sequence[Sequence[int]], threshold: float | None = None,
               weights: Path | None = None) -> PhaseHint:
    """The predicted phases of a formula (raises WeightsError when no predictor can be loaded)."""
    return predictor(weights).predict(variables, clauses, threshold)


def phase_advisor(threshold: float | None = None, weights: Path | None = None) -> PhaseAdvisor:
    """The GNN as a verifier's phase advisor (loads the predictor now: WeightsError when it cannot)."""
    loaded = predictor(weights)

    def advise(variables: int, clauses: Sequence[Sequence[int]], stop: threading.Event) -> PhaseHint:
        return loaded.predict(variables, clauses, threshold, stop.is_set)

    return advise
