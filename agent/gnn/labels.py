"""Training labels from the solver: the backbone (literals true in every model) and, for the other
variables, how often they are true in the models met on the way.

The backbone is computed by the standard iterative test with model filtering: after one model M,
every literal of M is a candidate; a candidate l is tested by solving under the assumption -l;
UNSAT makes l a backbone literal (added as a unit to speed up later tests), SAT gives a new model
that removes every candidate it falsifies. That is one solve plus at most one per variable, usually
far fewer (PySAT has no backbone routine of its own).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pysat.solvers import Solver

@dataclass(frozen=True)
class PhaseLabels:
    variables: int
    backbone: frozenset[int]  # literals true in every model
    true_fraction: tuple[float, ...]  # per variable 1..n: share of the models met in which it is true
    models: int  # how many models were met

    def target(self, variable: int) -> float:
        """The soft phase target of `variable`: 1 or 0 in the backbone, else its true fraction."""
        if variable in self.backbone:
            return 1.0
        if -variable in self.backbone:
            return 0.0
        return self.true_fraction[variable - 1]


class LabelTimeout(Exception):
    """The solver ran out of time while labelling an instance."""


def phase_labels(variables: int, clauses: list[list[int]], timeout_s: float = 30.0) -> PhaseLabels | None:
    """Backbone and model frequencies of a formula; None when it is unsatisfiable. Raises LabelTimeout
    when the whole computation exceeds `timeout_s`."""
    with Solver(name="glucose4", bootstrap_with=clauses) as solver:
        # glucose4 is interruptible in process (CaDiCaL is not, through PySAT).
        timer = threading.Timer(timeout_s, solver.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return _label(solver, variables)
        finally:
            timer.cancel()


def _label(solver: Solver, variables: int) -> PhaseLabels | None:
    def solve(assumptions: list[int]) -> bool:
        answer = solver.solve_limited(assumptions=assumptions, expect_interrupt=True)
        if answer is None:
            raise LabelTimeout("labelling ran out of time")
        return answer

    if not solve([]):
        return None
    true_counts = [0] * variables
    models = 0

    def record(model: list[int]) -> set[int]:
        nonlocal models
        assignment = {abs(literal): literal > 0 for literal in model}
        for variable in range(1, variables + 1):
            true_counts[variable - 1] += assignment.get(variable, False)
        models += 1
        return {v if assignment.get(v, False) else -v for v in range(1, variables + 1)}

    candidates = record(solver.get_model())
    backbone: set[int] = set()
    for literal in sorted(candidates, key=abs):
        if literal not in candidates:
            continue
        if solve([-literal]):
            candidates &= record(solver.get_model())
        else:
            backbone.add(literal)
            solver.add_clause([literal])
    return PhaseLabels(variables, frozenset(backbone), tuple(count / models for count in true_counts), models)
