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
RUNS_PER_MODEL = 3


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
                             max_iterations: int = 40, time_limit_s: float = 3.0) -> list[dict[str, int]]:
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
        # Every state of a run is kept, so each run goes as far as it may; a model is costly (a
        # solver call) and a run is not, so each model starts a few runs with other choices.
        for _ in range(RUNS_PER_MODEL):
            bias = rng.random()
            choices = Choices(lambda: rng.random() < bias, lambda: rng.randint(-spread, spread))
            states.extend(loop_head_states(program, initial, choices, max_iterations))
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


# Fits over every group of two to four variables (and all of them together): an invariant such as
# `x == n*n*n` is found over {n, x} from few states, where the monomials of all variables would need
# hundreds. Pairs are fitted up to degree 4 (`4*x == y*y*y*y + 2*y*y*y + y*y` sums cubes), larger groups
# up to `max_degree`. At most MAX_WHOLE_FIT equalities come from the fit over all variables (the fewest
# terms first), and a fit reads at most ROWS_PER_COLUMN distinct states per monomial.
MAX_GROUP = 4
PAIR_DEGREE = 4
MAX_WHOLE_FIT = 6
ROWS_PER_COLUMN = 4


def polynomial_equalities(states: list[dict[str, int]], variables: list[str], max_degree: int = 3) -> list[str]:
    """Polynomial equalities of degree 2..`max_degree` (4 over pairs) satisfied by every state, as in
    DIG: the null space of the matrix whose columns are the monomials' values (exact rationals).

    Variables that a linear equality fixes in terms of the others are left out (their multiples would
    only restate that equality). Each group of two to four of the rest, and all of them together, is
    fitted at the lowest degree at which any equality holds, and only equalities that involve every
    variable of the group are kept (the others are found in a smaller group); a degree is tried only
    when there are enough distinct states for its monomials."""
    if not states or not variables:
        return []
    names = [name for name in variables if name not in _linearly_fixed(states, list(variables))]
    groups = [group for size in range(2, min(MAX_GROUP, len(names)) + 1)
              for group in itertools.combinations(names, size)]
    atoms = [atom for group in groups
             for atom in _lowest_degree_fit(states, list(group), PAIR_DEGREE if len(group) == 2 else max_degree)]
    if len(names) > MAX_GROUP:
        whole = sorted(_lowest_degree_fit(states, names, max_degree), key=lambda atom: (atom.count("+"), len(atom)))
        atoms += whole[:MAX_WHOLE_FIT]
    return list(dict.fromkeys(atoms))


def _linearly_fixed(states: list[dict[str, int]], names: list[str]) -> set[str]:
    """Variables that the linear equalities of `states` determine from the others (one pivot each)."""
    unique = sorted({tuple(state[name] for name in names) for state in states})
    basis = sympy.Matrix([list(row) + [1] for row in unique]).nullspace()
    if not basis:
        return set()
    # Columns in reverse order: the variables declared last are the ones expressed by the others
    # (a program's counters tend to be declared first, and polynomials over them read best).
    coefficients = sympy.Matrix.hstack(*basis).T[:, :len(names)]
    _, pivots = coefficients[:, ::-1].rref()
    return {names[len(names) - 1 - pivot] for pivot in pivots}


def _lowest_degree_fit(states: list[dict[str, int]], names: list[str], max_degree: int) -> list[str]:
    unique = sorted({tuple(state[name] for name in names) for state in states})
    index = {name: position for position, name in enumerate(names)}
    for degree in range(2, max_degree + 1):
        columns = monomials(names, degree)
        if len(unique) < SAMPLES_PER_MONOMIAL * (len(columns) + 1):
            return []
        sample = unique[::max(1, len(unique) // (ROWS_PER_COLUMN * (len(columns) + 1)))]
        rows = [[sympy.QQ(reduce(lambda product, name: product * row[index[name]], monomial, 1))
                 for monomial in columns] + [sympy.QQ(1)] for row in sample]
        basis = DomainMatrix(rows, (len(rows), len(columns) + 1), sympy.QQ).nullspace().to_Matrix()
        if basis.rows == 0:
            continue
        vectors = [basis.row(number).T for number in range(basis.rows)]
        shown = ["*".join(monomial) for monomial in columns]
        kept = []
        for vector, atom in zip(vectors, _atoms(vectors, shown, keep_empty=True)):
            used = {name for position, monomial in enumerate(columns) if vector[position] != 0 for name in monomial}
            if atom and used == set(names) and any(vector[position] != 0 for position, monomial in enumerate(columns)
                                                    if len(monomial) > 1):
                kept.append(atom)
        return kept
    return []


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
