"""The program parser and the two program-derived sources: text atoms and run-derived equalities."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cprogram import ProgramError, c_divide, loop_head_states, parse_program
from agent.search.atoms import program_atoms
from agent.search.dynamic import equalities, sample_states
from agent.tasks import load_task
from verifiers import cexpr

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"


def test_every_code2inv_program_parses() -> None:
    for path in sorted(TASKS.glob("*.yaml")):
        if path.name != "suite.yaml":
            task = load_task(path)
            assert task.parsed_program.assertions, path


def test_program_structure() -> None:
    program = load_task(TASKS / "60.yaml").parsed_program
    assert program.variables == ["c", "n", "v1", "v2", "v3"]
    assert program.guard is None  # while (unknown())
    assert len(program.assertions) == 1 and len(program.assertions[0].guards) == 2


@pytest.mark.parametrize("source, message", [
    ("int main() { int x; while (x) { while (x) {} } assert(x); }", "nested loops"),
    ("int main() { int x; float y; while (x) {} assert(x); }", "not `float y`"),
    ("int main() { int x; while (x) { y = 1; } assert(x); }", "assignment to something other than a declared variable"),
    ("int main() { int x; while (x < 1) { x = f(x); } assert(x); }", "unsupported call `f(x)`"),
    ("int main() { int x; break; while (x) {} assert(x); }", "`break;` outside the loop"),
    ("int main() { int x; while (x < 1) { x++; } }", "no `assert(...)`"),
])
def test_programs_outside_the_dialect_are_refused(source: str, message: str) -> None:
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_program(source)


def test_text_atoms_parse_and_include_guard_assertion_and_initial_values() -> None:
    task = load_task(TASKS / "27.yaml")  # x = n; while (x > 1) x--; if (n >= 0) assert(x == 1)
    atoms = program_atoms(task.parsed_program, task.program_variables)
    assert "x > 1" in atoms and "!(x > 1)" in atoms
    assert "!((n >= 0)) || (x == 1)" in atoms
    assert "x == n" in atoms
    for atom in atoms:
        cexpr.parse_boolean(atom, task.variables)  # every atom is a well-typed proposal


def test_a_negated_condition_is_negated_back_without_a_double_negation() -> None:
    program = parse_program("int main() { int x; int y; x = 0; y = 0; while (!(x >= 10)) { x = x + 1; "
                            "if (!(y > 3)) y = y + 1; } assert(x == 10); }")
    atoms = program_atoms(program, ["x", "y"])
    assert "x >= 10" in atoms and "y > 3" in atoms  # `!(!(x >= 10))`, written as what it negates
    assert not any("!!" in cexpr.to_c(cexpr.parse(atom)) for atom in atoms)


def test_runs_follow_c_semantics() -> None:
    assert [c_divide(a, b) for a, b in [(-7, 2), (7, -2), (-7, -2), (7, 2)]] == [-3, -3, 3, 3]
    program = load_task(TASKS / "23.yaml").parsed_program  # i = 1; j = 20; while (j >= i) { i += 2; j -= 1; }
    states = loop_head_states(program, {"i": 0, "j": 0}, lambda: False, max_iterations=100)
    assert states[0] == {"i": 1, "j": 20}
    assert states[-1] == {"i": 15, "j": 13}


def test_equalities_from_runs_hold_on_every_sampled_state() -> None:
    task = load_task(TASKS / "93.yaml")
    variables = task.program_variables
    states = sample_states(task.parsed_program, variables, seed=0)
    found = equalities(states, variables)
    assert "3 * i == x + y" in found
    for state in states:
        assert state["x"] + state["y"] == 3 * state["i"]


def test_no_equality_where_none_holds() -> None:
    task = load_task(TASKS / "1.yaml")  # x = x + y; y++: no linear relation
    assert equalities(sample_states(task.parsed_program, task.program_variables, seed=0), task.program_variables) == []


def test_facts_guarded_by_a_branch_prove_a_loop_whose_invariant_is_disjunctive() -> None:
    from verifiers.base import VerifyBudget
    from verifiers.invariant import InvariantVerifier, largest_inductive_subset

    # x = 0; y = 50; while (x < 100) { if (x < 50) x++; else { x++; y++; } } assert(y == 100):
    # no conjunction of linear atoms proves it; `x < 50 || y == x` with `!(x < 50) || y == 50` does.
    task = load_task(TASKS.parent / "lam4inv" / "189.yaml")
    atoms = program_atoms(task.parsed_program, task.program_variables)
    assert "!(x < 50) || (y == 50)" in atoms and "(x < 50) || (x == y)" in atoms
    subset = largest_inductive_subset(task.vc_template, atoms, timeout_s=60)
    assert subset.status == "inductive"
    verdict = InvariantVerifier().verify(task, " && ".join(f"({atom})" for atom in subset.survivors),
                                         VerifyBudget(timeout_s=60))
    assert verdict.status == "accepted"


def test_congruence_atoms_come_from_constant_steps() -> None:
    from agent.search.atoms import congruence_atoms

    program = parse_program("int main() { int x; int y; int z; x = 1; y = 0; while (x < 100) { if (x < 50) x = x + 2; "
                            "else x += 4; y = y + 1; z = z * 2; } assert(x >= 100); }")
    atoms = congruence_atoms(program, ["x", "y", "z"])
    assert "x % 2 == 1" in atoms and "x % 4 == 1" in atoms  # the steps 2 and 4 and the start 1
    assert not any(atom.startswith(("y ", "z ")) for atom in atoms)  # step 1; not a constant step
