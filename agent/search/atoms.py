"""Candidate invariant atoms taken from the program text (the `symbolic` proposal source).

Atoms come from what the program says: its loop guard and its negation, branch conditions,
`assume`s, the assertion (with its guards, as an implication), the initial assignments, facts
guarded by a branch condition (`!(x < 50) || (y == x)`), congruences `v % m == r` for variables the
loop moves by constant steps (also guarded), and
templates instantiated with the program's variables and constants: bounds `v <= c`, `v >= c`,
equalities, and octagon-style relations `u - v <= c`, `u + v >= c` between pairs of variables.
Houdini (see `houdini.py`) keeps the largest subset that is inductive. A task without a C program
(SyGuS-Inv) gets the same families from its pre/trans/post terms instead (`template_atoms`).
"""

from __future__ import annotations

from functools import reduce
from itertools import combinations
from math import gcd

import z3
from pycparser import c_ast

from agent.cprogram import Assign, Assume, If, Program, Statement, expr_text
from agent.search.z3c import Untranslatable, to_c
from verifiers import cexpr
from verifiers.transition import TransitionSystem


def _paren(text: str) -> str:
    return f"({text})"


def _negation(text: str, operand: bool = False) -> str:
    """`!(text)`, or what `text` negates when it is a negation already (`!!a` is `a`: no answer should be
    written so), in parentheses when it is to be an `operand` of `||`."""
    expr = cexpr.parse(text)
    if isinstance(expr, cexpr.Unary) and expr.op == "!":
        negated = cexpr.to_c(expr.arg)
        return _paren(negated) if operand else negated
    return f"!({text})"


def _conditions(statements: list[Statement] | tuple[Statement, ...]) -> list[c_ast.Node]:
    found: list[c_ast.Node] = []
    for statement in statements:
        if isinstance(statement, Assume):
            found.append(statement.condition)
        elif isinstance(statement, If):
            if statement.condition is not None:
                found.append(statement.condition)
            found.extend(_conditions(statement.then))
            found.extend(_conditions(statement.otherwise))
    return found


def _initial_values(program: Program) -> dict[str, str]:
    values: dict[str, str] = {}
    for statement in program.pre:
        if isinstance(statement, Assign):
            values[statement.target] = expr_text(statement.value)
    return values


# Moduli and residues of congruence atoms per variable, at most (the atoms are also guarded by
# every condition, so their number multiplies).
MAX_MODULI = 3
MAX_RESIDUES = 4


def _steps(statements: list[Statement] | tuple[Statement, ...], steps: dict[str, set[int]],
           other: set[str]) -> None:
    """For each variable, the constants the body adds to it (`v = v + c`, `v += c`, `v++`, `v = c + v`,
    `v -= c`); variables assigned anything else go in `other`."""
    for statement in statements:
        if isinstance(statement, If):
            _steps(statement.then, steps, other)
            _steps(statement.otherwise, steps, other)
        elif isinstance(statement, Assign):
            value = statement.value
            step = None
            if isinstance(value, c_ast.BinaryOp) and value.op in ("+", "-"):
                left, right = value.left, value.right
                if isinstance(left, c_ast.ID) and left.name == statement.target and isinstance(right, c_ast.Constant):
                    step = _integer(right)
                    step = -step if step is not None and value.op == "-" else step
                elif (value.op == "+" and isinstance(right, c_ast.ID) and right.name == statement.target
                      and isinstance(left, c_ast.Constant)):
                    step = _integer(left)
            if step is None:
                other.add(statement.target)
            else:
                steps.setdefault(statement.target, set()).add(step)


def _integer(node: c_ast.Constant) -> int | None:
    try:
        return int(node.value.rstrip("uUlL"), 0)
    except ValueError:
        return None


def congruence_atoms(program: Program, names: list[str]) -> list[str]:
    """`v % m == r` for variables the loop moves by constant steps: the moduli are the steps of at
    least 2 and their gcd (`x += 2` in one branch keeps the parity of `x` there); the residues are
    those of the variable's initial value and of the program's constants. Invariants such as
    `x < 10000000 || x % 2 == 0` are these, guarded by a branch condition."""
    steps: dict[str, set[int]] = {}
    other: set[str] = set()
    _steps(program.body, steps, other)
    initial = _initial_values(program)
    atoms: list[str] = []
    for name in names:
        moves = {abs(step) for step in steps.get(name, ()) if step}
        if not moves:
            continue
        moduli = {move for move in moves if move >= 2}
        common = reduce(gcd, moves)
        if common >= 2 and name not in other:
            moduli.add(common)
        for modulus in sorted(moduli)[:MAX_MODULI]:
            residues: list[int] = []
            start = initial.get(name)
            if start is not None and start.lstrip("-").isdigit():
                residues.append(int(start) % modulus)
            residues += sorted({constant % modulus for constant in program.constants | {0}})
            for residue in list(dict.fromkeys(residues))[:MAX_RESIDUES]:
                atoms.append(f"{name} % {modulus} == {residue}")
    return atoms


def program_atoms(program: Program, variables: list[str]) -> list[str]:
    """Atoms over `variables` (the invariant's allowed variables), most specific first, without duplicates."""
    allowed = set(variables)
    names = [name for name in program.variables if name in allowed]
    constants = sorted({0, 1} | {c for value in program.constants for c in (value - 1, value, value + 1)})
    atoms: list[str] = []

    def mentions_only_allowed(node: c_ast.Node) -> bool:
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, c_ast.ID) and current.name not in allowed:
                return False
            if isinstance(current, c_ast.FuncCall):  # a non-deterministic value is no state predicate
                return False
            stack.extend(child for _, child in current.children())
        return True

    def add(text: str) -> None:
        if text not in seen:
            seen.add(text)
            atoms.append(text)

    seen: set[str] = set()
    conditions = [c for c in _conditions(program.pre) + _conditions(program.body) if mentions_only_allowed(c)]
    if program.guard is not None and mentions_only_allowed(program.guard):
        conditions.append(program.guard)
    condition_texts = [expr_text(c) for c in conditions]

    # The assertion itself, as the implication its guards make it, and with the loop's exit.
    for assertion in program.assertions:
        if not mentions_only_allowed(assertion.condition) or not all(mentions_only_allowed(g) for g in assertion.guards):
            continue
        goal = expr_text(assertion.condition)
        add(goal)
        if assertion.guards:
            guards = " && ".join(_paren(expr_text(g)) for g in assertion.guards)
            add(f"!({guards}) || ({goal})")
            for guard in assertion.guards:
                add(f"{_negation(expr_text(guard), operand=True)} || ({goal})")
        if program.guard is not None and mentions_only_allowed(program.guard):
            # At the loop's exit the guard is false: guard || !(assertion guards) || goal.
            escape = "".join(f" || {_negation(expr_text(g), operand=True)}" for g in assertion.guards)
            add(f"({expr_text(program.guard)}){escape} || ({goal})")

    for text in condition_texts:
        add(text)
        add(_negation(text))

    for name, value in _initial_values(program).items():
        if name in allowed:
            add(f"{name} == {value}")
            add(f"{name} >= {value}")
            add(f"{name} <= {value}")

    # Guarded facts for loops whose invariant depends on a branch (`x < 50 ? y == 50 : y == x`): each
    # condition, and its negation, as the guard of the assertion, of an initial value and of an
    # equality between two variables.
    facts = [expr_text(assertion.condition) for assertion in program.assertions
             if mentions_only_allowed(assertion.condition)]
    facts += [f"{name} == {value}" for name, value in _initial_values(program).items() if name in allowed]
    facts += [f"{left} == {right}" for left, right in combinations(names, 2)]
    congruences = congruence_atoms(program, names)
    facts += congruences
    for text in dict.fromkeys(condition_texts):
        for fact in facts:
            add(f"({text}) || ({fact})")
            add(f"{_negation(text, operand=True)} || ({fact})")

    for atom in congruences:
        add(atom)
    for name in names:
        for constant in constants:
            add(f"{name} >= {constant}")
            add(f"{name} <= {constant}")
        for constant in sorted({0, 1} | program.constants):
            add(f"{name} != {constant}")
    for left, right in combinations(names, 2):
        add(f"{left} == {right}")
        for constant in sorted({-1, 0, 1} | program.constants):
            add(f"{left} - {right} <= {constant}")
            add(f"{left} - {right} >= {constant}")
            add(f"{left} + {right} <= {constant}")
            add(f"{left} + {right} >= {constant}")
    return atoms


def _c_text(term: z3.ExprRef) -> str | None:
    try:
        return to_c(term)
    except Untranslatable:
        return None


def template_atoms(system: TransitionSystem, variables: list[str]) -> list[str]:
    """Atoms for a task without a C program (SyGuS-Inv): the post-condition, the comparisons that
    pre/trans/post make over the current state, and bounds and differences with their constants."""
    allowed = set(variables)
    atoms: list[str] = []
    seen: set[str] = set()
    constants: set[int] = {0, 1}
    comparisons: list[z3.ExprRef] = []
    stack = [system.post, system.pre, system.trans]
    while stack:
        term = stack.pop()
        if z3.is_int_value(term):
            constants.add(term.as_long())
        if z3.is_app(term) and term.decl().kind() in (z3.Z3_OP_LE, z3.Z3_OP_GE, z3.Z3_OP_LT, z3.Z3_OP_GT, z3.Z3_OP_EQ):
            comparisons.append(term)
        stack.extend(term.children())

    def over_state(term: z3.ExprRef) -> bool:
        names: set[str] = set()
        pending = [term]
        while pending:
            current = pending.pop()
            if z3.is_const(current) and not z3.is_int_value(current) and current.sort() == z3.IntSort(current.ctx):
                names.add(current.decl().name())
            pending.extend(current.children())
        return names <= allowed

    def add(text: str | None) -> None:
        if text and text not in seen:
            seen.add(text)
            atoms.append(text)

    if over_state(system.post):
        add(_c_text(system.post))
    for comparison in comparisons:
        if over_state(comparison):
            text = _c_text(comparison)
            add(text)
            if text:  # a comparison, never a negation: nothing to cancel
                add(f"!({text})")
    names = list(variables)
    bounds = sorted({c + delta for c in constants for delta in (-1, 0, 1)})
    for name in names:
        for constant in bounds:
            add(f"{name} >= {constant}")
            add(f"{name} <= {constant}")
    for left, right in combinations(names, 2):
        add(f"{left} == {right}")
        for constant in sorted({-1, 0, 1} | constants):
            add(f"{left} - {right} <= {constant}")
            add(f"{left} - {right} >= {constant}")
            add(f"{left} + {right} <= {constant}")
            add(f"{left} + {right} >= {constant}")
    return atoms
