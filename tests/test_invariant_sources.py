"""The `polynomial` and `horn` invariant sources (agent/search/dynamic.py, agent/search/horn.py) and the
Z3-to-C printer they share with the SyGuS atoms (agent/search/z3c.py)."""

from __future__ import annotations

import re

import pytest
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
                 z3.If(x > y, x, y) >= 0, (x >= 0) == (y >= 0), z3.Not(z3.Not(x > 0)),
                 z3.Not(z3.Not(z3.Not(x > y))), z3.Implies(z3.Not(x < 0), y >= 0), z3.Not(x > 0) == z3.Not(y > 0)):
        text = to_c(term)
        assert "!!" not in cexpr.to_c(cexpr.parse(text)), text  # a double negation is written as what it negates
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


def _nl_task(name: str):
    from pathlib import Path

    from agent.tasks import load_task

    return load_task(Path(__file__).resolve().parent.parent / "tasks" / "clause2inv_nl" / f"{name}.yaml")


def _fitted_on_runs(name: str) -> tuple[list[str], list[str], list[dict[str, int]]]:
    """The NL task's variables, the equalities fitted to runs from its pre-condition (seed 0) and the
    held-out runs (seed 1) that checked them. Sampling and fitting get ample time: the tests are about
    what the fit finds, and under load the default limits cut the group fits short (CI once lost
    NL7's determinant, a fit over four of its variables, that way)."""
    from agent.search.dynamic import states_from_precondition

    task = _nl_task(name)
    variables = task.program_variables
    sample = dict(time_limit_s=60.0)
    states = states_from_precondition(task.parsed_program, task.vc_template, variables, seed=0, **sample)
    held_out = states_from_precondition(task.parsed_program, task.vc_template, variables, seed=1, **sample)
    return variables, polynomial_equalities(states, variables, held_out=held_out, **sample), held_out


def test_a_degree_four_relation_in_one_variable_is_fitted_on_a_real_programs_runs():
    # Clause2Inv NL17: `x = y*y*y + x` with `y` counting up sums cubes, so 4x = y^4 + 2y^3 + y^2.
    variables, atoms, held_out = _fitted_on_runs("NL17")
    assert "y*y*y*y + 2 * y*y*y + y*y == 4 * x" in atoms
    # Every fitted equality holds on other runs of the program (the held-out check).
    for atom in atoms:
        expression = cexpr.parse_boolean(atom, variables)
        assert all(cexpr.evaluate(expression, state) for state in held_out)


def test_the_fit_runs_in_a_child_process_beside_the_search():
    # A non-linear task's fits run in a child of the fork server (`fitted_in_child`) while the
    # Houdini over the program's atoms goes on; the child draws its own held-out runs.
    from agent.search.dynamic import states_from_precondition
    from verifiers.child import ChildCall

    task = _nl_task("NL17")
    variables = task.program_variables
    states = states_from_precondition(task.parsed_program, task.vc_template, variables, seed=0, time_limit_s=60.0)
    fit = ChildCall("agent.search.dynamic:fitted_in_child", {"program": task.program, "vc_template": task.vc_template,
                                                            "variables": variables, "states": states, "seed": 0}, 60)
    assert "y*y*y*y + 2 * y*y*y + y*y == 4 * x" in fit.result()


def test_relations_of_five_variables_come_out_of_the_fit_over_all_of_them_as_they_are():
    # Clause2Inv NL7, extended Euclid: `a == x*p + y*r` and `b == x*q + y*s` (five variables each, so
    # only the fit over all eight sees them) and the determinant `p*s == q*r + 1`. The reduced basis
    # has them with their own small coefficients, not mixed into equalities of twenty terms.
    _, atoms, _ = _fitted_on_runs("NL7")
    assert {"p*x + r*y == a", "q*x + s*y == b", "p*s == q*r + 1"} <= set(atoms)
    for atom in atoms:  # none with the huge coefficients of a relation of the sample only
        assert max((int(number) for number in re.findall(r"\d+", atom)), default=0) <= 1000


def test_a_power_of_a_variable_with_few_values_fits_nothing():
    # `u` takes 4 values and `v` is 0 where `u` is: v * (u-1) * (u-2) * (u-3) == 0 holds on every
    # state without meaning anything.
    states = [{"u": 0, "v": 0}] + [{"u": u, "v": v} for u in (1, 2, 3) for v in range(-20, 20, 3)]
    assert polynomial_equalities(states, ["u", "v"]) == []
    # With many values of the base, a cubic in `u` scaled by `t`, and a sixth power, are found.
    states = [{"t": t, "u": u, "v": t * (u ** 3 + 3 * u * u + 2 * u)} for t in range(5) for u in range(-10, 10)]
    assert "t*u*u*u + 3 * t*u*u + 2 * t*u == v" in polynomial_equalities(states, ["t", "u", "v"])
    states = [{"a": a, "b": a ** 6 - 3 * a} for a in range(-15, 15)]
    assert polynomial_equalities(states, ["a", "b"]) == ["a*a*a*a*a*a == 3 * a + b"]


@pytest.mark.parametrize("compiled", [False, True])
def test_c_expressions_evaluate_as_the_verifier_reads_them(compiled):
    import random

    rng = random.Random(0)
    text = "(x / y == q) && (x % y == r) && (y > 0 ? x * y >= q : !(q < r) || x != 0)"
    expression = cexpr.parse_boolean(text, ["x", "y", "q", "r"])
    evaluate_on = cexpr.evaluator(expression) if compiled else (lambda state: cexpr.evaluate(expression, state))
    declarations = "".join(f"(declare-const {name} Int)" for name in "xyqr")
    term = z3.parse_smt2_string(f"{declarations}(assert {cexpr.to_smtlib(expression)})")[0]
    for _ in range(200):
        state = {name: rng.randint(-9, 9) for name in "xyqr"}
        if state["y"] == 0:
            try:
                evaluate_on(state)
            except cexpr.Undefined:
                continue
            raise AssertionError("a division by zero has no value")
        if rng.random() < 0.5:  # make the quotient and remainder right half the time
            state["q"], state["r"] = int(state["x"] / state["y"]), state["x"] - state["y"] * int(state["x"] / state["y"])
        expected = z3.simplify(z3.substitute(term, *[(z3.Int(name), z3.IntVal(value)) for name, value in state.items()]))
        assert evaluate_on(state) == z3.is_true(expected), state


def test_fitted_equalities_split_into_a_basis_and_what_it_implies():
    from agent.search.dynamic import independent_equalities

    # cohencu's fitted equalities: three generate the rest (each a combination of them).
    atoms = ["6 * n + 6 == z", "3 * n*n + 3 * n + 1 == y", "n*n*n == x", "n*y == 3 * n*n + n + 3 * x",
             "y*y*y + 3 * y == 27 * x*x + 27 * x*y + 3 * y*y + 1"]
    split = independent_equalities(atoms, ["n", "x", "y", "z"])
    assert sorted(split["basis"]) == sorted(atoms[:3])
    assert sorted(split["implied"]) == sorted(atoms[3:])
    # An equality the others do not imply stays in the basis.
    assert independent_equalities(["x*x == y", "x*y == z"], ["x", "y", "z"])["implied"] == []


def test_a_non_linear_houdini_proves_a_cubic_basis_a_guarded_encoding_left_undecided():
    from verifiers.invariant import largest_inductive_subset

    # Clause2Inv NL29's fitted basis: with each atom guarded by an indicator literal, Z3 left the third
    # one's consecution undecided for 30 s (and Houdini gave it up); asserted plainly in a fresh solver
    # its preprocessing substitutes the equalities and proves all three.
    task = _nl_task("NL29")
    basis = ["x*w == z", "z*w + z == 2 * p", "w*p + 2 * p == 3 * q"]
    subset = largest_inductive_subset(task.vc_template, basis, 30.0)
    assert subset.status == "inductive" and subset.survivors == basis


def test_an_invariant_of_a_template_that_misreads_its_program_is_a_template_result():
    from types import SimpleNamespace

    from agent.c_transition import c_template
    from agent.search.invariant import on_program
    from agent.session import Outcome
    from agent.tasks import Budget, parse_task
    from verifiers.invariant import InvariantVerifier

    program = "int main() { int x; x = 0; while (x < 10) { x = x + 1; } assert(x <= 10); }"
    # A template of the same loop stepping by two: `x % 2 == 0` holds there, not in the program.
    stepping_by_two = c_template(program.replace("x + 1", "x + 2"))

    events = []

    def session(template: str) -> SimpleNamespace:
        task = parse_task({"id": "misread", "kind": "invariant", "program": program, "vc_template": template}, "test")
        return SimpleNamespace(task=task, verifier=InvariantVerifier(), budget=Budget(), time_left=lambda: 60.0,
                               trace=SimpleNamespace(write=events.append), verifier_s=0.0, verifier_calls=0)

    solved = Outcome("solved", answer="x % 2 == 0 && x <= 10", certified=True, message="accepted.")
    wrong, own_task = on_program(session(stepping_by_two), solved)
    assert wrong.status == "template_wrong" and "the template and the program disagree" in wrong.message
    assert [(event.type, event.verdict.status) for event in events] == [("program_check", "rejected")]
    # The search goes on with the task on the program's own template.
    assert own_task is not None and own_task.vc_template == c_template(program) and own_task.id == "misread"
    # The program's own semantics admit `x <= 10`: solved, and the message says it was checked.
    own = c_template(program) + "\n"  # the program's own template, written differently
    right, no_task = on_program(session(own), Outcome("solved", answer="x <= 10", message="accepted."))
    assert right.status == "solved" and "holds for the C program too" in right.message and no_task is None


def test_a_solve_of_a_template_that_misreads_its_program_searches_the_programs_own(tmp_path):
    from agent.c_transition import c_template
    from agent.loop import RunSettings, run_task
    from agent.tasks import parse_task
    from agent.trace import read_trace
    from verifiers.base import VerifyBudget
    from verifiers.invariant import InvariantVerifier

    program = "int main() { int x; x = 0; while (x < 10) { x = x + 1; } assert(x <= 10); }"
    # The task's template steps by two and asserts `x <= 11`: `x <= 11` proves it, not the program.
    task = parse_task({"id": "misread", "kind": "invariant", "program": program,
                       "vc_template": c_template(program.replace("x + 1", "x + 2").replace("x <= 10", "x <= 11"))},
                      "test")
    result = run_task(task, RunSettings(sources=("symbolic", "dynamic")), None, tmp_path / "trace.jsonl", "test")
    assert result.status == "template_wrong" and "On the program's own template" in result.message
    # The trace says which template each verdict is on, and holds the program check that found the disagreement.
    events = read_trace(tmp_path / "trace.jsonl")
    checks = [event for event in events if event.type == "program_check"]
    assert checks and checks[0].verdict.status == "rejected"
    on_program_template = [event for event in events if event.type == "verdict" and event.template == "program"]
    assert any(event.verdict.status == "accepted" and event.candidate == result.answer
               for event in on_program_template)
    # The answer is the program's invariant: the verifier accepts it on the program's own template.
    own = type("Own", (), {"vc_template": c_template(program)})
    assert InvariantVerifier().verify(own, result.answer, VerifyBudget(timeout_s=10)).status == "accepted"


def test_an_invariant_of_the_program_that_proves_the_template_too_solves_the_task(tmp_path):
    from agent.c_transition import c_template
    from agent.loop import RunSettings, run_task
    from agent.trace import read_trace
    from verifiers.base import VerifyBudget
    from verifiers.invariant import InvariantVerifier

    # Clause2Inv NL47 asserts `q == x / y`: its template's `/` is SMT-LIB's, which agrees with C's
    # only where x >= 0, and the program's runs never go elsewhere. The answer Z3's cores keep on
    # the template lacks `x >= 0`; on the program it is too weak, and the search on the program's
    # own template finds one with it, which the task's template accepts too: solved, not
    # `template_wrong`.
    task = _nl_task("NL47")
    result = run_task(task, RunSettings(sources=("symbolic", "dynamic", "polynomial")), None,
                      tmp_path / "trace.jsonl", "test")
    events = read_trace(tmp_path / "trace.jsonl")
    assert [event.verdict.status for event in events if event.type == "program_check"][:1] == ["rejected"]
    assert result.status == "solved" and "also accepts" in result.message
    own = type("Own", (), {"vc_template": c_template(task.program)})
    for template in (task, own):
        assert InvariantVerifier().verify(template, result.answer, VerifyBudget(timeout_s=30)).status == "accepted"


def test_fitted_equalities_are_verified_together_with_the_facts_already_proved(tmp_path):
    from agent.loop import RunSettings, run_task
    from agent.trace import read_trace

    # Clause2Inv NL39: the fitted equality of the sum is inductive, but the assertion also needs
    # bounds the program's atoms proved inductive first: one verdict on both, accepted.
    task = _nl_task("NL39")
    result = run_task(task, RunSettings(sources=("symbolic", "dynamic", "polynomial")), None,
                      tmp_path / "trace.jsonl", "test")
    assert result.status == "solved"
    events = read_trace(tmp_path / "trace.jsonl")
    fitted = next(event for event in events if event.type == "proposal" and event.source == "polynomial")
    first = next(event for event in events if event.type == "verdict" and event.proposal_id == fitted.id)
    assert first.verdict.status == "accepted"
    conjuncts = first.verdict.details.conjuncts
    fitted_atoms = fitted.raw.splitlines()
    assert any(conjunct.replace(" ", "") in {atom.replace(" ", "") for atom in fitted_atoms} for conjunct in conjuncts)
    assert any(conjunct.replace(" ", "") not in {atom.replace(" ", "") for atom in fitted_atoms}
               for conjunct in conjuncts)


def test_facts_and_a_fitted_equality_too_hard_together_come_down_to_what_the_assertion_needs(tmp_path):
    from agent.loop import RunSettings, run_task
    from agent.trace import read_trace
    from verifiers.base import VerifyBudget
    from verifiers.invariant import InvariantVerifier

    # Clause2Inv NL19, a sum of fifth powers: the fitted degree-6 equality is inductive, but beside the
    # eighty-odd facts the program's atoms proved Z3 does not decide the conjunction in its time. The
    # conjuncts the assertion needs of both (unsat cores) it decides: the equality and the bound on `c`.
    task = _nl_task("NL19")
    result = run_task(task, RunSettings(sources=("symbolic", "dynamic", "polynomial")), None,
                      tmp_path / "trace.jsonl", "test")
    assert result.status == "solved", result.message
    assert "12 * x" in result.answer and "k - c >= 0" in result.answer
    events = read_trace(tmp_path / "trace.jsonl")
    fitted = next(event for event in events if event.type == "proposal" and event.source == "polynomial")
    verdicts = [event.verdict for event in events if event.type == "verdict" and event.proposal_id == fitted.id]
    accepted = next(verdict for verdict in verdicts if verdict.status == "accepted")
    assert len(accepted.details.conjuncts) < 10
    assert InvariantVerifier().verify(task, result.answer, VerifyBudget(timeout_s=30)).status == "accepted"


def test_a_fit_that_fails_is_said_in_the_trace(monkeypatch, tmp_path):
    # The fits' child runs past its limit (made tiny here): the search goes on without fitted
    # equalities, and the trace says why the polynomial source gave none.
    import agent.search.invariant as invariant_search
    from agent.loop import run_task
    from agent.session import RunSettings
    from agent.trace import ErrorEvent, read_trace

    monkeypatch.setattr(invariant_search, "FIT_TIME_S", 0.001)
    task = _nl_task("NL17")
    trace = tmp_path / "trace.jsonl"
    run_task(task, RunSettings(sources=("symbolic", "dynamic", "polynomial"), timeout_s=20), None, trace, "fit")
    errors = [event.message for event in read_trace(trace) if isinstance(event, ErrorEvent)]
    assert any(message.startswith("polynomial fit: ") and "limit" in message for message in errors), errors
