"""Linear equalities among program variables, inferred from concrete runs (the `dynamic` source).

The program is run on random inputs with random choices for `unknown()`; the states reached at the
loop head span a space, and every linear equality `a1*x1 + ... + an*xn + c == 0` that holds on all
of them is in the null space of the matrix of sampled states (with a column of ones). The basis of
that null space (exact rational arithmetic with sympy, scaled to integers) gives candidate atoms.
They are only candidates: an equality that holds on the samples but not on every run is dropped by
Houdini, and nothing is accepted without the verifier.
"""

from __future__ import annotations

import itertools
import random
import time
from math import gcd
from functools import reduce

import sympy
import z3
from sympy.polys.matrices import DomainMatrix

from agent.cprogram import Choices, Program, loop_head_states
from verifiers.invariant import parse_template
from verifiers.solvers import z3_check

RANGES = (3, 10, 100)


def sample_states(program: Program, variables: list[str], seed: int, runs: int = 60,
                  max_iterations: int = 30, time_limit_s: float = 2.0) -> list[dict[str, int]]:
    """Loop-head states from up to `runs` random runs (deterministic for a seed unless the time
    limit cuts the sampling short)."""
    rng = random.Random(seed)
    states: list[dict[str, int]] = []
    attempts = 0
    deadline = time.perf_counter() + time_limit_s
    while len(states) < runs * 2 and attempts < runs * 20 and time.perf_counter() < deadline:
        attempts += 1
        spread = RANGES[attempts % len(RANGES)]
        initial = {name: rng.randint(-spread, spread) for name in program.variables}
        bias = rng.random()
        iterations = rng.randint(0, max_iterations)
        choices = Choices(lambda: rng.random() < bias, lambda: rng.randint(-spread, spread))
        states.extend(loop_head_states(program, initial, choices, iterations))
    return [{name: state[name] for name in variables} for state in states]


def states_from_precondition(program: Program, vc_template: str, variables: list[str], seed: int, runs: int = 60,
                             max_iterations: int = 30, time_limit_s: float = 2.0) -> list[dict[str, int]]:
    """Loop-head states of runs that start from initial states Z3 draws from the template's `pre-f`.

    Random initial values rarely satisfy `assume(x == 0)`; here each run starts from a model of the
    pre-condition close to a random point (each variable boxed around it; the boxes in the unsat core
    are given up until the pre-condition can be met). The program itself is then run, as in
    `sample_states`, so the states are the C program's."""
    rng = random.Random(seed)
    template = parse_template(vc_template)
    context = z3.Context()
    precondition = z3.parse_smt2_string(f"{template.definitions('true')}(assert {template.precondition_call})",
                                        ctx=context)
    solver = z3.Solver(ctx=context)
    solver.add(precondition)
    constants = {name: z3.Int(name, ctx=context) for name in template.variables}
    states: list[dict[str, int]] = []
    deadline = time.perf_counter() + time_limit_s
    for run in range(runs):
        if time.perf_counter() >= deadline:
            break
        spread = RANGES[run % len(RANGES)]
        boxes = {}
        for name, constant in constants.items():
            centre = rng.randint(-spread, spread)
            boxes[z3.Bool(f"box {name} low", ctx=context)] = constant >= centre - rng.randint(0, spread)
            boxes[z3.Bool(f"box {name} high", ctx=context)] = constant <= centre + rng.randint(0, spread)
        model = None
        while model is None and time.perf_counter() < deadline:
            solver.push()
            solver.add(*[z3.Implies(literal, bound) for literal, bound in boxes.items()])
            status, _ = z3_check(solver, context, max(0.01, min(0.5, deadline - time.perf_counter())), tuple(boxes))
            if status == "sat":
                model = solver.model()
            elif status == "unsat" and boxes:
                core = {literal.get_id() for literal in solver.unsat_core()}
                boxes = {literal: bound for literal, bound in boxes.items() if literal.get_id() not in core}
            solver.pop()
            if status == "unknown" or (status == "unsat" and not boxes and model is None):
                break
        if model is None:
            continue
        initial = {name: rng.randint(-spread, spread) for name in program.variables}
        initial.update({name: model.eval(constant, model_completion=True).as_long()
                        for name, constant in constants.items() if name in initial})
        iterations = rng.randint(0, max_iterations)
        bias = rng.random()
        states.extend(loop_head_states(program, initial, lambda: rng.random() < bias, iterations))
    return [{name: state[name] for name in variables} for state in states]


def _as_linear_text(coefficients: list[int], names: list[str], constant: int) -> str | None:
    terms = []
    for coefficient, name in zip(coefficients, names):
        if coefficient == 0:
            continue
        magnitude = abs(coefficient)
        term = name if magnitude == 1 else f"{magnitude} * {name}"
        terms.append(("-" if coefficient < 0 else "+", term))
    if not terms:
        return None
    # Move negative terms to the right-hand side so the atom reads naturally.
    left = [term for sign, term in terms if sign == "+"]
    right = [term for sign, term in terms if sign == "-"]
    if constant > 0:
        left.append(str(constant))
    elif constant < 0:
        right.append(str(-constant))
    return f"{' + '.join(left) or '0'} == {' + '.join(right) or '0'}"


def equalities(states: list[dict[str, int]], variables: list[str]) -> list[str]:
    """Integer linear equalities satisfied by every state (a basis of them)."""
    if not states or not variables:
        return []
    names = list(variables)
    unique = {tuple(state[name] for name in names) for state in states}
    matrix = sympy.Matrix([list(row) + [1] for row in sorted(unique)])
    return _atoms(matrix.nullspace(), names)


# Distinct states needed per unknown coefficient before a fitted equality is worth offering: with
# fewer, the null space holds equalities that only the few samples satisfy.
SAMPLES_PER_MONOMIAL = 1.5


def monomials(variables: list[str], degree: int) -> list[tuple[str, ...]]:
    """Every product of at most `degree` variables (with repetition), highest degree first; the
    empty product (the constant) last."""
    return [combination for size in range(degree, 0, -1)
            for combination in itertools.combinations_with_replacement(variables, size)]


def polynomial_equalities(states: list[dict[str, int]], variables: list[str], max_degree: int = 3) -> list[str]:
    """Polynomial equalities of degree 2..`max_degree` satisfied by every state, as in DIG: the null
    space of the matrix whose columns are the monomials' values (exact rationals). The degree is
    lowered until there are enough distinct states for the number of monomials; linear equalities
    alone are left to `equalities`."""
    if not states or not variables:
        return []
    names = list(variables)
    unique = sorted({tuple(state[name] for name in names) for state in states})
    for degree in range(max_degree, 1, -1):
        columns = monomials(names, degree)
        if len(unique) >= SAMPLES_PER_MONOMIAL * (len(columns) + 1):
            break
    else:
        return []
    index = {name: position for position, name in enumerate(names)}
    rows = [[sympy.QQ(reduce(lambda product, name: product * row[index[name]], monomial, 1)) for monomial in columns]
            + [sympy.QQ(1)] for row in unique]
    basis = DomainMatrix(rows, (len(rows), len(columns) + 1), sympy.QQ).nullspace().to_Matrix()
    vectors = [basis.row(number).T for number in range(basis.rows)]
    shown = ["*".join(monomial) for monomial in columns]
    return [atom for vector, atom in zip(vectors, _atoms(vectors, shown, keep_empty=True))
            if atom and any(vector[position] != 0 for position, monomial in enumerate(columns) if len(monomial) > 1)]


def _atoms(vectors: list[sympy.Matrix], names: list[str], keep_empty: bool = False) -> list[str | None]:
    """Each null-space vector (coefficients of `names`, then the constant) as an integer equality."""
    atoms: list[str | None] = []
    for vector in vectors:
        denominators = [sympy.fraction(value)[1] for value in vector]
        scale = reduce(lambda a, b: a * b // gcd(a, b), (int(d) for d in denominators), 1)
        integers = [int(value * scale) for value in vector]
        divisor = reduce(gcd, (abs(v) for v in integers if v), 0) or 1
        integers = [value // divisor for value in integers]
        if next(value for value in integers if value) < 0:  # a fixed sign, so equal atoms print alike
            integers = [-value for value in integers]
        text = _as_linear_text(integers[:-1], names, integers[-1])
        if text or keep_empty:
            atoms.append(text)
    return atoms
