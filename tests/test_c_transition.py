"""C programs read directly (agent/c_transition.py): the template built from a program agrees with the
program's concrete semantics, and a dev program without its template is solved from the program alone."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import z3

from agent.c_transition import c_template, cross_check_template
from agent.cprogram import AssumeFailed, Choices, _LeaveLoop, _NextIteration, execute, initial_state, parse_program
from agent.tasks import TaskFileError, load_task
from verifiers.base import VerifyBudget
from verifiers.invariant import InvariantVerifier, parse_template

REPO = Path(__file__).resolve().parent.parent

# unsigned wrap-around (u - 7 below 0, w * 3 past 2^32), C99 `/` and `%` on negatives, `break`.
SEMANTICS = """
int main() {
  unsigned int u; unsigned int w; int a; int q; int r; int n;
  u = 3; w = 4000000000u;
  while (n > 0) {
    u = u - 7;
    w = w * 3;
    q = a / 4;
    r = a % 4;
    a = a - 5;
    if (a < -20) break;
    n = n - 1;
  }
  assert(u >= 0);
}
"""


def _relations(template_text: str) -> tuple[z3.Context, z3.BoolRef, z3.BoolRef, z3.BoolRef]:
    template = parse_template(template_text)
    context = z3.Context()
    applications = [template.precondition_call] + [re.search(r"\(\s*" + name + r"\b[^()]*\)", template.checks[check]).group(0)
                                                   for name, check in (("trans-f", "consecution"), ("post-f", "postcondition"))]
    pre, trans, post = z3.parse_smt2_string(template.definitions("true") + "".join(f"(assert {a})" for a in applications),
                                            ctx=context)
    return context, pre, trans, post


def test_transition_relation_matches_the_interpreter_step_by_step() -> None:
    program = parse_program(SEMANTICS)
    context, _, trans, _ = _relations(c_template(SEMANTICS))
    rng = random.Random(1)
    checked = 0
    for _ in range(40):
        state = initial_state(program, {"u": rng.randint(0, 2**32 - 1), "w": rng.randint(0, 2**32 - 1),
                                        "a": rng.randint(-30, 30), "q": 0, "r": 0, "n": rng.randint(-1, 3)})
        after = dict(state)
        try:
            if not state["n"] > 0:
                continue
            execute(program.body, after, Choices(lambda: False, lambda: 0), program.unsigned)
            stays = True
        except _LeaveLoop:
            stays = False
        except (AssumeFailed, _NextIteration):
            continue
        solver = z3.Solver(ctx=context)
        solver.add(trans)
        solver.add(*[z3.Int(name, ctx=context) == value for name, value in state.items()])
        if stays:
            # The program's successor is a successor of the template, and the only one.
            assert solver.check(*[z3.Int(name + "!", ctx=context) == value for name, value in after.items()]) == z3.sat
            solver.add(z3.Or(*[z3.Int(name + "!", ctx=context) != value for name, value in after.items()]))
            assert solver.check() == z3.unsat
        else:  # a break leaves the loop: no loop-head successor
            assert solver.check() == z3.unsat
        checked += 1
    assert checked >= 15
    # -7 / 4 == -1 and -7 % 4 == -3 in C: the template says so (SMT-LIB's div/mod would give -2 and 1).
    solver = z3.Solver(ctx=context)
    solver.add(trans, z3.Int("a", ctx=context) == -7, z3.Int("n", ctx=context) == 1,
               z3.Int("u", ctx=context) == 3, z3.Int("w", ctx=context) == 0)
    assert solver.check() == z3.sat
    model = solver.model()
    assert (model.eval(z3.Int("q!", ctx=context)).as_long(), model.eval(z3.Int("r!", ctx=context)).as_long()) == (-1, -3)
    assert model.eval(z3.Int("u!", ctx=context)).as_long() == 2**32 - 4


def test_break_state_must_satisfy_the_assertion() -> None:
    # The loop is left by `break` with x == 5 (the guard still true): an invariant that ignores the
    # break exit (x <= 10, with assertion x == 10 at the guard's exit) must not be accepted.
    source = "int main() { int x; x = 0; while (x < 10) { if (x == 5) break; x = x + 1; } assert(x == 10); }"
    task = type("Task", (), {"vc_template": c_template(source)})()
    verdict = InvariantVerifier().verify(task, "x <= 10", VerifyBudget(timeout_s=10))
    assert verdict.status == "rejected"
    assert "Postcondition fails" in verdict.feedback
    fixed = "int main() { int x; x = 0; while (x < 10) { if (x == 5) break; x = x + 1; } assert(x <= 10); }"
    task = type("Task", (), {"vc_template": c_template(fixed)})()
    assert InvariantVerifier().verify(task, "x >= 0 && x <= 10", VerifyBudget(timeout_s=10)).status == "accepted"


@pytest.mark.parametrize("source, message", [
    ("int main() { float x; while (x < 1) { x = x + 1; } assert(x >= 1); }", "only `int` and `unsigned int`"),
    ("int main() { int x; while (x < 1) { x = x & 3; } assert(x >= 1); }", "unsupported operator `&`"),
])
def test_a_program_outside_the_dialect_is_one_line(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad.c"
    path.write_text(source)
    with pytest.raises(TaskFileError, match=message):
        load_task(path)


def test_dev_program_without_its_template_is_solved_and_holds_on_the_original_template(
        shared_data: Path, tmp_path: Path) -> None:
    # LaM4Inv 295 (`unsigned int`, parity in one branch): the program alone, no template.
    source = shared_data / "lam4inv" / "c" / "295.c"
    program = tmp_path / "295.c"
    shutil.copy(source, program)
    result = subprocess.run([sys.executable, "-m", "agent", "solve", str(program), "--sources", "symbolic,dynamic",
                             "--timeout", "60", "--runs-dir", str(tmp_path / "runs")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: solved" in result.stdout
    invariant = next(line.removeprefix("invariant: ") for line in result.stdout.splitlines()
                     if line.startswith("invariant: "))
    # The other front end: the benchmark's own template (mathematical integers) accepts it too.
    original = (shared_data / "lam4inv" / "c_smt2" / "295.c.smt").read_text()
    task = type("Task", (), {"vc_template": original})()
    assert InvariantVerifier().verify(task, invariant, VerifyBudget(timeout_s=20)).status == "accepted"


def test_cross_check_finds_wrong_templates_and_passes_a_right_one(shared_data: Path) -> None:
    def pair(folder: str, name: str) -> tuple[str, str]:
        root = shared_data / folder
        return (root / "c" / f"{name}.c").read_text(), (root / "c_smt2" / f"{name}.c.smt").read_text()

    assert cross_check_template(*pair("code2inv", "1")) == []
    # LaM4Inv 283's template forgets the loop's `x += 4; y++` (it only lets the state stay).
    assert any("which the program takes" in line for line in cross_check_template(*pair("lam4inv", "283")))
    # NL37's template reads `n / 2` as SMT-LIB real division, so odd `n` cannot start the loop.
    assert any("pre-condition rules out" in line for line in cross_check_template(*pair("clause2inv_nl", "NL37")))


def test_a_linear_program_gives_a_linear_template() -> None:
    # Z3 prints -3 as `(- 3)`, which reads back as an application: `x % 3` must still count as linear
    # (decided in process by Houdini, not sent to the non-linear search).
    from verifiers.invariant import template_is_nonlinear

    source = "int main() { int x; int y; x = 0; while (y > 0) { x = x - 3 * (y % 3); y = y - 1; } assert(x <= 0); }"
    assert not template_is_nonlinear(c_template(source))
    assert template_is_nonlinear(c_template(source.replace("3 * (y % 3)", "y * y")))


def test_convert_cross_check_names_the_wrong_template(shared_data: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("283", "295"):
        for folder, suffix in (("c", ".c"), ("c_smt2", ".c.smt")):
            (source / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(shared_data / "lam4inv" / folder / f"{name}{suffix}", source / folder)
    result = subprocess.run([sys.executable, "-m", "agent", "convert", "code2inv", str(source), str(tmp_path / "out"),
                             "--cross-check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "converted 2 task(s)" in result.stdout
    differ = [line for line in result.stderr.splitlines() if line.startswith("template and program differ")]
    assert len(differ) == 1 and differ[0].startswith("template and program differ: 283:")
