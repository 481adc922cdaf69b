"""The `polynomial` and `horn` invariant sources (agent/search/dynamic.py, agent/search/horn.py) and the
Z3-to-C printer they share with the SyGuS atoms (agent/search/z3c.py)."""

from __future__ import annotations

import z3

from agent.search.dynamic import polynomial_equalities
from agent.search.z3c import Untranslatable, to_c
from verifiers import cexpr


def test_polynomial_equalities_of_degree_three_are_fitted_from_states():
    # States of cohencu's loop (x = n^3, y = 3n^2 + 3n + 1, z = 6n + 6) for n = 0..59.
    states = [{"n": n, "x": n ** 3, "y": 3 * n * n + 3 * n + 1, "z": 6 * n + 6} for n in range(60)]
    atoms = polynomial_equalities(states, ["n", "x", "y", "z"])
    assert atoms
    solver = z3.Solver()
    n, x, y, z = z3.Ints("n x y z")
    fitted = z3.And(*[z3.parse_smt2_string(
        "(declare-const n Int)(declare-const x Int)(declare-const y Int)(declare-const z Int)"
        f"(assert {cexpr.to_smtlib(cexpr.parse_boolean(atom, ['n', 'x', 'y', 'z']))})")[0] for atom in atoms])
    # Every fitted equality holds on the loop's states, and together with z = 6n + 6 they pin x = n^3.
    solver.add(fitted, z == 6 * n + 6, y == 3 * n * n + 3 * n + 1, n >= 1, x != n * n * n)
    assert solver.check() == z3.unsat
    for state in states:
        for atom in atoms:
            assert eval(atom, {}, dict(state))  # C and Python agree on these integer expressions


def test_too_few_states_fit_nothing():
    assert polynomial_equalities([{"a": 1, "b": 2}, {"a": 2, "b": 4}], ["a", "b"]) == []


def test_spacer_terms_become_c_with_the_same_meaning():
    x, y = z3.Ints("x y")
    for term in (z3.Not(x - y <= -1), z3.Implies(x > 0, y % 3 == 1), z3.And(x / 4 == y, x != 2 * y),
                 z3.If(x > y, x, y) >= 0, (x >= 0) == (y >= 0)):
        text = to_c(term)
        back = z3.parse_smt2_string("(declare-const x Int)(declare-const y Int)"
                                    f"(assert {cexpr.to_smtlib(cexpr.parse_boolean(text, ['x', 'y']))})")[0]
        solver = z3.Solver()
        solver.add(back != term)
        assert solver.check() == z3.unsat, text


def test_spacer_division_by_a_variable_is_not_translated():
    x, y = z3.Ints("x y")
    try:
        to_c(x % y == 0)
    except Untranslatable:
        return
    raise AssertionError("x mod y has no faithful C counterpart")


def test_a_deep_term_is_printed_without_recursion():
    x = z3.Int("x")
    term = x
    for _ in range(5000):
        term = term + 1
    text = to_c(term >= x)
    assert text.count("+") == 5000


def test_spacer_runs_in_the_background_and_its_invariant_is_verified():
    import time
    from pathlib import Path

    from agent.search.horn import SpacerRun
    from agent.tasks import load_task
    from verifiers.base import VerifyBudget
    from verifiers.invariant import InvariantVerifier

    task = load_task(Path(__file__).resolve().parent.parent / "tasks" / "code2inv" / "1.yaml")
    spacer = SpacerRun(task.vc_template, timeout_s=60)
    text = spacer.invariant(wait=True)
    assert text is not None and spacer.invariant(wait=True) is None  # collected once
    verdict = InvariantVerifier().verify(task, text, VerifyBudget(timeout_s=30))
    assert verdict.status == "accepted" and verdict.certified  # cvc5 re-checks Z3's acceptance
    stopped = SpacerRun(task.vc_template, timeout_s=60)
    stopped.cancel()
    assert not stopped.running() and stopped.invariant(wait=True) is None
    # A delayed start: no process before its time, none ever once cancelled; asking with `wait` starts it.
    delayed = SpacerRun(task.vc_template, timeout_s=60, start_after_s=30)
    assert not delayed.running() and delayed.invariant(wait=False) is None
    assert delayed.invariant(wait=True) == text
    cancelled = SpacerRun(task.vc_template, timeout_s=60, start_after_s=0.01)
    cancelled.cancel()
    time.sleep(0.05)
    assert not cancelled.running() and cancelled.invariant(wait=True) is None
