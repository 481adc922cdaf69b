"""The transition-system core and its front ends on real files: Code2Inv templates and SyGuS-Inv."""

from __future__ import annotations

from pathlib import Path

import pytest
import z3

from agent.convert import convert_sygus
from agent.cprogram import c_divide, evaluate
from agent.tasks import load_task
from verifiers.base import VerifyBudget
from verifiers.invariant import InvariantVerifier
from verifiers.transition import SygusError, from_sygus, from_template, read_sygus, sygus_to_template

CODE2INV = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"
BUDGET = VerifyBudget(timeout_s=10)


def _equivalent(left: z3.BoolRef, right: z3.BoolRef) -> bool:
    right = right.translate(left.ctx) if right.ctx is not left.ctx else right
    solver = z3.Solver(ctx=left.ctx)
    solver.set("timeout", 10_000)
    solver.add(left != right)
    return solver.check() == z3.unsat


def test_every_sygus_dev_file_converts_and_both_readings_agree(shared_data: Path, tmp_path: Path) -> None:
    report = convert_sygus(shared_data / "sygus_inv", tmp_path)
    assert report.failed == {} and len(report.written) == 63
    assert (tmp_path / "suite.yaml").is_file()
    for path in sorted((shared_data / "sygus_inv").glob("*.sl")):
        text = path.read_text()
        # Two paths from the file: Z3 reading the SyGuS bodies directly, and the generated template.
        direct, through_template = from_sygus(text), from_template(sygus_to_template(text))
        for part in ("pre", "trans", "post"):
            assert _equivalent(getattr(direct, part), getattr(through_template, part)), (path.name, part)


def test_an_invariant_accepted_on_a_sygus_task_holds_on_the_direct_reading(shared_data: Path, tmp_path: Path) -> None:
    convert_sygus(shared_data / "sygus_inv", tmp_path)
    task = load_task(tmp_path / "jmbl_inc.yaml")
    assert task.program is None and task.variables == ["x"]
    verdict = InvariantVerifier().verify(task, "x <= 100", BUDGET)
    assert verdict.status == "accepted" and verdict.certified  # cvc5 agreed too
    system = from_sygus((shared_data / "sygus_inv" / "jmbl_inc.sl").read_text())
    x = system.current("x")
    assert set(system.check(x <= 100).values()) == {"holds"}
    assert system.check(x <= 99)["initiation"] == "holds" and system.check(x <= 99)["consecution"] == "fails"
    assert InvariantVerifier().verify(task, "x <= 99", BUDGET).status == "rejected"


@pytest.mark.parametrize("number, invariant", [(1, lambda s: s.current("x") >= 1), (93, None)])
def test_code2inv_template_as_a_transition_system(number: int, invariant) -> None:
    task = load_task(CODE2INV / f"{number}.yaml")
    system = from_template(task.vc_template)
    assert [v.name for v in system.variables] == task.variables
    if number == 93:  # the verifier's accepted invariant, re-checked on the terms
        x, y, i, n = (system.current(name) for name in ("x", "y", "i", "n"))
        candidate = z3.And(x + y == 3 * i, i <= n)
        assert InvariantVerifier().verify(task, "x + y == 3 * i && i <= n", BUDGET).status == "accepted"
        assert set(system.check(candidate).values()) == {"holds"}
    else:
        assert system.check(invariant(system))["postcondition"] == "fails"  # too weak for 1's assertion


def test_template_division_and_remainder_are_not_c_ones() -> None:
    """SMT-LIB `div`/`mod` (templates, SyGuS) are Euclidean; C's `/`, `%` truncate (the interpreter)."""
    from pycparser import c_parser

    context = z3.Context()
    assertions = z3.parse_smt2_string("(declare-const r Int)(assert (= r (mod (- 7) 2)))(assert (= r (div (- 7) 2)))",
                                      ctx=context)
    smt_mod, smt_div = (z3.simplify(assertion.arg(1)) for assertion in assertions)

    def c(text: str) -> int:
        ast = c_parser.CParser().parse(f"int main() {{ {text}; }}")
        return evaluate(ast.ext[0].body.block_items[0], {}, lambda: False)
    assert (smt_mod.as_long(), smt_div.as_long()) == (1, -4)
    assert (c("-7 % 2"), c("-7 / 2")) == (-1, -3) == (-7 - 2 * c_divide(-7, 2), c_divide(-7, 2))
    # `/` on integers in a template is real division: x / 2 == 3 is satisfiable with x = 7 for C, not for Z3.
    template_reading = z3.parse_smt2_string("(declare-const x Int)(assert (= (/ x 2) 3))(assert (= x 7))", ctx=context)
    solver = z3.Solver(ctx=context)
    solver.add(*template_reading)
    assert solver.check() == z3.unsat and c_divide(7, 2) == 3


@pytest.mark.parametrize("text, message", [
    ("(synth-inv inv ((b Bool)))", "sort Bool"),
    ("(synth-inv inv ((x Int)))(define-fun pre ((x Int)) Bool true)", "no `inv-constraint`"),
    ("(synth-inv inv ((x Int))", "unbalanced"),
    ("(synth-inv inv ((x Int)))(inv-constraint inv pre trans post)", "is not defined"),
    ("(declare-var x Int)", "`declare-var` is not supported"),
    ("(synth-inv inv ((x.1 Int)))", "not a C identifier"),
])
def test_sygus_files_outside_the_subset_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(SygusError, match=message.replace("(", r"\(")):
        sygus_to_template(text)


def test_sygus_cli_reports_bad_files_and_converts_the_rest(tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tmp_path / "in"
    source.mkdir()
    (source / "good.sl").write_text("(set-logic LIA)(synth-inv inv ((x Int)))(define-fun pre ((x Int)) Bool (= x 0))"
                                    "(define-fun tr ((x Int) (x! Int)) Bool (= x! (+ x 1)))"
                                    "(define-fun post ((x Int)) Bool (>= x 0))(inv-constraint inv pre tr post)(check-synth)")
    (source / "bad.sl").write_text("(synth-inv inv ((b Bool)))")
    done = subprocess.run([sys.executable, "-m", "agent", "convert", "sygus", str(source), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert "not converted: bad: variable `b` has sort Bool" in done.stderr
    assert "converted 1 task(s)" in done.stdout
    assert read_sygus((source / "good.sl").read_text()).roles == {"pre": "pre", "trans": "tr", "post": "post"}


def test_a_sygus_task_is_solved_from_its_terms_alone(shared_data: Path, tmp_path: Path) -> None:
    from agent.llm.scripted import ScriptedProposer
    from agent.loop import RunSettings, run_task
    from agent.search.atoms import template_atoms

    convert_sygus(shared_data / "sygus_inv", tmp_path / "tasks")
    task = load_task(tmp_path / "tasks" / "jmbl_inc.yaml")
    atoms = template_atoms(from_template(task.vc_template), task.variables)
    assert "x <= 100" in atoms and "((x) < (100))" in atoms  # a bound, and trans's own comparison
    result = run_task(task, RunSettings(sources=("symbolic",)), ScriptedProposer([]), tmp_path / "trace.jsonl",
                      "test-run", tmp_path / "tasks" / "jmbl_inc.yaml")
    assert result.status == "solved" and result.certified
    system = from_sygus((shared_data / "sygus_inv" / "jmbl_inc.sl").read_text())
    # The answer is C text; read back through the verifier's own parser it holds on the direct reading too.
    assert InvariantVerifier().verify(task, result.answer, BUDGET).status == "accepted"
    assert set(system.check(system.current("x") <= 100).values()) == {"holds"}
