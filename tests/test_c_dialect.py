"""The SV-COMP / LaM4Inv extensions of the C front end: `unsigned int`, non-deterministic values,
`break`/`continue`, `__VERIFIER_` names, and the interpreter's semantics for them."""

from __future__ import annotations

import random
import subprocess
import shutil
from pathlib import Path

import pytest
from pycparser import c_parser

from agent.convert import convert_code2inv
from agent.tasks import load_task
from agent.cprogram import Choices, evaluate, loop_head_states, parse_program

SEMANTIC_CASES = [
    # (expression, unsigned variables, state)
    ("x - y", {"x", "y"}, {"x": 3, "y": 5}),
    ("x - 5", {"x"}, {"x": 3}),
    ("-x", {"x"}, {"x": 1}),
    ("x / y", set(), {"x": -7, "y": 2}),
    ("x % y", set(), {"x": -7, "y": 2}),
    ("x % y", set(), {"x": 7, "y": -2}),
    ("x / y", {"x"}, {"x": 7, "y": -2}),
    ("x % y", {"y"}, {"x": -7, "y": 3}),
    ("x < y", {"x"}, {"x": 1, "y": -1}),
    ("x * y", {"x", "y"}, {"x": 65536, "y": 65536}),
    ("x + 1u", set(), {"x": -2}),
]


def _expression(text: str):
    ast = c_parser.CParser().parse(f"int main() {{ {text}; }}")
    return ast.ext[0].body.block_items[0]


def _c_value(text: str, unsigned: set[str], state: dict[str, int], tmp_path: Path) -> int:
    """What a real C compiler computes (printed as the expression's own type)."""
    declarations = " ".join(f"{'unsigned int' if name in unsigned else 'int'} {name} = {value};"
                            for name, value in state.items())
    source = tmp_path / "probe.c"
    source.write_text('#include <stdio.h>\nint main(void) { %s long long r = (%s); '
                      'printf("%%lld\\n", r); return 0; }\n' % (declarations, text))
    binary = tmp_path / "probe"
    subprocess.run(["cc", "-fwrapv", "-o", str(binary), str(source)], check=True, timeout=60)
    return int(subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=10).stdout)


@pytest.mark.parametrize("text, unsigned, state", SEMANTIC_CASES)
def test_interpreter_matches_a_c_compiler(text: str, unsigned: set[str], state: dict[str, int],
                                          tmp_path: Path) -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    ours = evaluate(_expression(text), state, lambda: False, unsigned)
    assert ours == _c_value(text, unsigned, state, tmp_path)


def test_unsigned_assignment_wraps_and_signed_does_not() -> None:
    program = parse_program("""
        int main() { unsigned int u; int s;
          u = 0; s = 0;
          while (unknown()) { u = u - 1; s = s - 1; break; }
          assert(u >= 0); }""")
    states = loop_head_states(program, {"u": 5, "s": 5}, Choices(lambda: True, lambda: 0), 3)
    assert states == [{"u": 0, "s": 0}]  # `break` leaves the loop: no second loop-head state
    program_without_break = parse_program("""
        int main() { unsigned int u; int s; u = 0; s = 0;
          while (unknown()) { u = u - 1; s = s - 1; } assert(u >= 0); }""")
    states = loop_head_states(program_without_break, {"u": 5, "s": 5}, Choices(lambda: True, lambda: 0), 1)
    assert states[-1] == {"u": 2**32 - 1, "s": -1}


def test_uninitialised_unsigned_starts_in_range() -> None:
    program = parse_program("int main() { unsigned int n; while (n > 0) { n--; } assert(n == 0); }")
    states = loop_head_states(program, {"n": -1}, lambda: False, 0)
    assert states == [{"n": 2**32 - 1}]


def test_nondeterministic_values_and_continue() -> None:
    program = parse_program("""
        int main() { int x; int y; int i;
          x = __VERIFIER_nondet_int(); y = 0; i = 0;
          __VERIFIER_assume(x > 0);
          while (i < 4) {
            i++;
            if (unknown1()) continue;
            y = y + nondet();
          }
          __VERIFIER_assert(i == 4); }""")
    rng = random.Random(1)
    values = iter([7, 2, 3, 4, 5])
    states = loop_head_states(program, {"x": 0, "y": 0, "i": 0},
                              Choices(lambda: rng.random() < 0.5, lambda: next(values)), 10)
    assert states[0] == {"x": 7, "y": 0, "i": 0}
    assert [state["i"] for state in states] == [0, 1, 2, 3, 4]  # `continue` still reaches the loop head
    assert states[-1]["y"] in range(0, 2 + 3 + 4 + 5 + 1)


def test_a_false_assume_ends_the_run_and_nondeterministic_conditions_vary() -> None:
    program = parse_program("int main() { int x; x = unknown(); assume(x > 10); while (x > 0) { x--; } assert(x == 0); }")
    assert loop_head_states(program, {"x": 0}, Choices(lambda: False, lambda: 3), 5) == []
    assert loop_head_states(program, {"x": 0}, Choices(lambda: False, lambda: 11), 1) == [{"x": 11}, {"x": 10}]


def test_lam4inv_dev_programs_convert(shared_data: Path, tmp_path: Path) -> None:
    report = convert_code2inv(shared_data / "lam4inv", tmp_path, benchmark="lam4inv")
    # Every program of the dev set converts except the one with `float` variables, refused by name.
    assert set(report.failed) == {"241"}
    assert "not `float x`" in report.failed["241"]
    assert len(report.written) == 91
    unsigned_program = parse_program((shared_data / "lam4inv" / "c" / "306.c").read_text())
    assert unsigned_program.unsigned == {"n", "j", "i", "l"}


def test_every_nl_dev_program_converts_nl51_from_its_program(shared_data: Path, tmp_path: Path) -> None:
    """`NL51`'s template declares a variable with no name: the program alone is its task, and the report says so."""
    report = convert_code2inv(shared_data / "clause2inv_nl", tmp_path, benchmark="clause2inv_nl")
    assert report.failed == {} and len(report.written) == 25
    assert set(report.program_only) == {"NL51"} and "inv-f" in report.program_only["NL51"]
    task = load_task(tmp_path / "NL51.yaml")
    assert task.program == (shared_data / "clause2inv_nl" / "c" / "NL51.c").read_text()
    assert task.program_variables and "(declare-const  Int )" not in task.vc_template


CODE2INV = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"


def _run(task, tmp_path: Path):
    from agent.llm.scripted import ScriptedProposer
    from agent.loop import RunSettings, run_task

    return run_task(task, RunSettings(sources=("symbolic", "dynamic")), ScriptedProposer([]),
                    tmp_path / "trace.jsonl", "test-run", CODE2INV / "26.yaml")


def test_a_refutation_the_program_runs_too_is_refuted(tmp_path: Path) -> None:

    result = _run(load_task(CODE2INV / "26.yaml"), tmp_path)
    assert result.status == "refuted" and "the C program runs it too" in result.message


def test_a_template_that_disagrees_with_its_program_is_reported_as_such(tmp_path: Path) -> None:

    task = load_task(CODE2INV / "26.yaml")
    # The program gains an assumption its template lacks: the template's violating run (n = 0)
    # is no run of the program any more.
    program = task.program.replace("(x = n);", "(x = n);\n  assume(n > 0);")
    assert program != task.program
    disagreeing = type(task).model_validate({**task.model_dump(), "program": program})
    result = _run(disagreeing, tmp_path)
    assert result.status == "template_wrong"
    assert "disagree" in result.message and "no run of the program" in result.message


def test_replay_of_claimed_runs() -> None:
    from agent.cprogram import replay_violation

    counter = parse_program("int main() { unsigned int x; x = 0; while (x < 3) { x = x + 1; } assert(x == 2); }")
    assert replay_violation(counter, [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 3}]).verdict == "reproduced"
    # Variables the template has and the program lacks (Code2Inv's `tmp`) do not count.
    assert replay_violation(counter, [{"x": 0, "tmp": 5}, {"x": 1}, {"x": 2}, {"x": 3, "tmp": 1}]).verdict == "reproduced"
    assert replay_violation(counter, [{"x": 0}, {"x": 2}, {"x": 3}]).verdict == "impossible"
    # A variable the program never reads may be missing from the run; one it reads may not.
    unread = parse_program("int main() { int x; int unused; x = 0; while (x < 3) { x = x + 1; } assert(x == 2); }")
    assert replay_violation(unread, [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 3}]).verdict == "reproduced"
    assert replay_violation(counter, [{"y": 0}]).verdict == "inconclusive"
    negative = replay_violation(counter, [{"x": -1}])
    assert negative.verdict == "impossible" and "unsigned" in negative.reason
    choosing = parse_program("int main() { int x; x = 0; while (unknown()) { if (unknown()) x++; else x--; } assert(x > -2); }")
    assert replay_violation(choosing, [{"x": 0}, {"x": -1}, {"x": -2}]).verdict == "reproduced"
    assert replay_violation(choosing, [{"x": 0}, {"x": -2}]).verdict == "impossible"
    valued = parse_program("int main() { int x; x = 0; while (x < 5) { x = x + unknown(); } assert(x == 5); }")
    assert replay_violation(valued, [{"x": 0}, {"x": 7}]).verdict == "inconclusive"


@pytest.mark.parametrize("number", [26, 27, 31, 32, 61, 62, 72, 75, 106])
def test_every_code2inv_refutation_is_a_run_of_its_program(number: int) -> None:
    from agent.cprogram import replay_violation
    from verifiers.base import VerifyBudget
    from verifiers.invariant import refute

    task = load_task(CODE2INV / f"{number}.yaml")
    refutation = refute(task, 10, VerifyBudget(timeout_s=10))
    assert refutation is not None
    assert replay_violation(task.parsed_program, list(refutation.states)).verdict == "reproduced"
