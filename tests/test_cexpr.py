"""The invariant language: parsing, typing, canonical printing, and C99 `/` `%` in SMT-LIB."""

from __future__ import annotations

import itertools

import pytest
import z3

from agent.cprogram import c_divide
from verifiers import cexpr

VARIABLES = ["x", "y", "n"]


@pytest.mark.parametrize("text, canonical", [
    ("x<=y&&!(n==1)||x%2==0", "x <= y && !(n == 1) || x % 2 == 0"),
    ("(x + 1) * (y - 2) == x - (y - n)", "(x + 1) * (y - 2) == x - (y - n)"),
    ("-x + -3 <= +y", "-x + -3 <= y"),
    ("x > 0 ? x >= y : n >= 0", "x > 0 ? x >= y : n >= 0"),
    ("0x10 == x", "16 == x"),
    ("true || false", "true || false"),
])
def test_canonical_text_reparses_to_itself(text: str, canonical: str) -> None:
    expr = cexpr.parse_boolean(text, VARIABLES)
    assert cexpr.to_c(expr) == canonical
    assert cexpr.to_c(cexpr.parse_boolean(canonical, VARIABLES)) == canonical


def test_conjuncts_are_the_top_level_ands() -> None:
    expr = cexpr.parse_boolean("x >= 0 && (y >= 0 && n > x) && (x == 1 || y == 2)", VARIABLES)
    assert [cexpr.to_c(part) for part in cexpr.conjuncts(expr)] == ["x >= 0", "y >= 0", "n > x", "x == 1 || y == 2"]


@pytest.mark.parametrize("text, message", [
    ("x <= y &&", "syntax error at column 8: the expression ends too early"),
    ("x => y", "C has no implication operator"),
    ("x = 3", "`=` is assignment in C"),
    ("x @ y", "unexpected character '@'"),
    ("q > 0", "unknown variable `q` at column 1; the program's variables are: n, x, y"),
    ("x + 1", "`x + 1` is an integer expression"),
    ("x && y", "operand of `&&` at column 3 must be a boolean, but `x` is an integer"),
    ("x == (y > 0)", "compares `x` (an integer) with `y > 0` (a boolean)"),
    ("0 <= x <= n", "chains comparisons, which in C compares a boolean with an integer; write `0 <= x && x <= n`"),
    ("!x", "operand of `!` at column 1 must be a boolean, but `x` is an integer"),
    ("x == 08", "the number `08` at column 6 has a leading zero, which C reads as octal"),
    ("", "the proposal is empty"),
])
def test_bad_proposals_are_rejected_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(cexpr.ExprError) as raised:
        cexpr.parse_boolean(text, VARIABLES)
    assert message in str(raised.value)


def _value(smtlib: str, values: dict[str, int]) -> int:
    declarations = "".join(f"(declare-const {name} Int)" for name in values)
    pins = "".join(f"(assert (= {name} {value if value >= 0 else f'(- {-value})'}))" for name, value in values.items())
    solver = z3.Solver()
    solver.add(z3.parse_smt2_string(f"{declarations}(declare-const result Int){pins}(assert (= result {smtlib}))"))
    assert solver.check() == z3.sat
    return solver.model().eval(z3.Int("result")).as_long()


@pytest.mark.parametrize("a, b", list(itertools.product([-7, -6, -1, 0, 1, 6, 7], [-3, -2, 2, 3])))
def test_division_and_remainder_follow_c99(a: int, b: int) -> None:
    quotient = cexpr.parse("x / y")
    remainder = cexpr.parse("x % y")
    values = {"x": a, "y": b}
    # C99: truncation toward zero, a == b * (a / b) + a % b, remainder has the dividend's sign.
    quotient_value = _value(cexpr.to_smtlib(quotient), values)
    remainder_value = _value(cexpr.to_smtlib(remainder), values)
    assert quotient_value == c_divide(a, b) == int(a / b)
    assert a == b * quotient_value + remainder_value
    assert abs(remainder_value) < abs(b)
    assert remainder_value == 0 or (remainder_value > 0) == (a > 0)


def test_division_semantics_examples_are_valid_formulas() -> None:
    # `-7 / 2 == -3 && -7 % 2 == -1` is a true C99 fact; its SMT-LIB translation must be valid.
    expr = cexpr.parse_boolean("-7 / 2 == -3 && -7 % 2 == -1 && 7 / -2 == -3 && 7 % -2 == 1", [])
    solver = z3.Solver()
    solver.add(z3.Not(z3.parse_smt2_string(f"(assert {cexpr.to_smtlib(expr)})")[0]))
    assert solver.check() == z3.unsat
