"""Solver work on formulas a proposal wrote, run in a child process (`verifiers/child.py`).

The parent calls these by name (`call_in_child("verifiers.solver_children:z3_solve", ...)`); the
child's alarm ends them at the time limit and a crash ends only the child. Each function imports
only the solver it uses, so that a child starts quickly. Arguments and results are JSON data; the
parent checks every answer as it would check any solver's.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def pysat_solve(clauses: list[list[int]], solver: str, with_proof: bool) -> dict[str, Any]:
    """A PySAT solver's answer, model (when SAT) and DRAT proof (when UNSAT and `with_proof`)."""
    from pysat.solvers import Solver

    with Solver(name=solver, bootstrap_with=clauses, with_proof=with_proof) as engine:
        answer = engine.solve()
        return {"answer": answer, "model": engine.get_model() if answer else None,
                "proof": engine.get_proof() if answer is False and with_proof else None}


def pysat_enumerate(clauses: list[list[int]], primary: list[int], limit: int) -> list[list[int]]:
    """Up to `limit` models (their true variables among `primary`), distinct on `primary`."""
    from pysat.solvers import Solver

    found: list[list[int]] = []
    with Solver(name="glucose4", bootstrap_with=clauses) as engine:
        while len(found) < limit and engine.solve():
            true = {literal for literal in engine.get_model() if literal > 0}
            found.append(sorted(true & set(primary)))
            engine.add_clause([-variable if variable in true else variable for variable in dict.fromkeys(primary)])
    return found


def _z3_work(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A refused script or a solver that contradicts itself becomes a reply the parent raises again."""
    from verifiers.solvers import ScriptProblem

    try:
        return work()
    except ScriptProblem as problem:
        return {"rejection": str(problem)}
    except _ModelFault as fault:
        return {"fault": str(fault)}


class _ModelFault(Exception):
    pass


def _value(model: Any, constant: Any) -> Any:
    import z3

    value = model.eval(constant, model_completion=True)
    if z3.is_int_value(value):
        return value.as_long()
    if z3.is_true(value) or z3.is_false(value):
        return z3.is_true(value)
    raise _ModelFault(f"Z3's model gives {constant} the value {value}, which is not a number or a truth value")


def _constants(context: Any, variables: list[list[str]]) -> list[Any]:
    import z3

    return [(z3.Int if sort == "Int" else z3.Bool)(name, context) for name, sort in variables]


def z3_solve(script: str, variables: list[list[str]], timeout_s: float) -> dict[str, Any]:
    """Z3's answer on `script` (checked by `check_script` first): the values of `variables`
    ([name, sort]) in its model, or the script as Z3 printed it (for cvc5) when unsat."""
    import z3

    from verifiers.solvers import parse_script, z3_check

    started = time.monotonic()

    def work() -> dict[str, Any]:
        context, assertions = parse_script(script)
        solver = z3.Solver(ctx=context)
        solver.add(assertions)
        printed = solver.sexpr()  # before check(), which appends Z3's model-converter commands
        status, reason = z3_check(solver, context, max(0.05, timeout_s - (time.monotonic() - started)))
        if status == "unknown":
            return {"status": "unknown", "reason": reason}
        if status == "unsat":
            return {"status": "unsat", "script": printed}
        model = solver.model()
        falsified = [index for index, assertion in enumerate(assertions)
                     if z3.is_false(model.eval(assertion, model_completion=True))]
        if falsified:
            raise _ModelFault(f"Z3's model falsifies assertion {falsified[0] + 1} of its own formula")
        return {"status": "sat", "values": [_value(model, constant) for constant in _constants(context, variables)]}

    return _z3_work(work)


def z3_enumerate(script: str, variables: list[list[str]], limit: int, timeout_s: float) -> dict[str, Any]:
    """Up to `limit` models of `script`, distinct on `variables`."""
    import z3

    from verifiers.solvers import parse_script, z3_check

    started = time.monotonic()

    def work() -> dict[str, Any]:
        context, assertions = parse_script(script)
        solver = z3.Solver(ctx=context)
        solver.add(assertions)
        constants = _constants(context, variables)
        found: list[list[Any]] = []
        while len(found) < limit:
            status, reason = z3_check(solver, context, max(0.05, timeout_s - (time.monotonic() - started)))
            if status == "unknown":
                return {"status": "unknown", "reason": reason}
            if status == "unsat":
                break
            model = solver.model()
            found.append([_value(model, constant) for constant in constants])
            solver.add(z3.Or([constant != model.eval(constant, model_completion=True) for constant in constants]))
        return {"status": "done", "models": found}

    return _z3_work(work)


def cvc5_check(script: str, timeout_s: float) -> list[str]:
    """cvc5's [answer, detail] on `script` (`verifiers.solvers.cvc5_status`)."""
    from verifiers.solvers import cvc5_status

    return list(cvc5_status(script, timeout_s))
