"""TEMPORARY stand-in for `verifiers.sat.solve_cnf` until the sat-core branch (CNF solving with
DRAT-checked UNSAT answers) lands on main; then this file is deleted and `verifiers.sat` is used.

It solves for real with PySAT and checks a model against every clause; it checks no proof, so an
UNSAT answer from it is never certified.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from pysat.solvers import Solver

from verifiers.base import VerifyBudget


@dataclass(frozen=True)
class CnfOutcome:
    status: Literal["sat", "unsat", "unknown"]
    model: list[int] | None
    proof: None
    certified: bool
    solver: str
    solve_s: float
    check_s: float
    message: str


def solve_cnf(clauses: list[list[int]], budget: VerifyBudget, solver: str = "cadical153") -> CnfOutcome:
    started = time.perf_counter()
    with Solver(name=solver, bootstrap_with=clauses) as engine:
        timer = threading.Timer(budget.timeout_s, engine.interrupt)
        timer.start()
        try:
            answer = engine.solve_limited(expect_interrupt=True)
        finally:
            timer.cancel()
        model = engine.get_model() if answer else None
    solve_s = time.perf_counter() - started
    if answer is None:
        return CnfOutcome("unknown", None, None, False, solver, solve_s, 0.0, "the solver ran out of time")
    if not answer:
        return CnfOutcome("unsat", None, None, False, solver, solve_s, 0.0, "unsat (no proof checked: stand-in)")
    checked = time.perf_counter()
    true = set(model or [])
    unsatisfied = next((clause for clause in clauses if not any(literal in true for literal in clause)), None)
    check_s = time.perf_counter() - checked
    if unsatisfied is not None:
        return CnfOutcome("unknown", None, None, False, solver, solve_s, check_s,
                          f"the solver's model falsifies clause {unsatisfied}")
    return CnfOutcome("sat", model, None, True, solver, solve_s, check_s, "model satisfies every clause")
