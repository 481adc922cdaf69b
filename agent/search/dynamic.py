"""Linear equalities among program variables, inferred from concrete runs (the `dynamic` source).

The program is run on random inputs with random choices for `unknown()`; the states reached at the
loop head span a space, and every linear equality `a1*x1 + ... + an*xn + c == 0` that holds on all
of them is in the null space of the matrix of sampled states (with a column of ones). The basis of
that null space (exact rational arithmetic with sympy, scaled to integers) gives candidate atoms.
They are only candidates: an equality that holds on the samples but not on every run is dropped by
Houdini, and nothing is accepted without the verifier.
"""

from __future__ import annotations

import random
import time
from math import gcd
from functools import reduce

import sympy

from agent.cprogram import Choices, Program, loop_head_states

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
    atoms = []
    for vector in matrix.nullspace():
        denominators = [sympy.fraction(value)[1] for value in vector]
        scale = reduce(lambda a, b: a * b // gcd(a, b), (int(d) for d in denominators), 1)
        integers = [int(value * scale) for value in vector]
        divisor = reduce(gcd, (abs(v) for v in integers if v), 0) or 1
        integers = [value // divisor for value in integers]
        if next(value for value in integers if value) < 0:  # a fixed sign, so equal atoms print alike
            integers = [-value for value in integers]
        text = _as_linear_text(integers[:-1], names, integers[-1])
        if text:
            atoms.append(text)
    return atoms
