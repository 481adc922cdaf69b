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

import numpy
import sympy
import z3
from sympy.polys.matrices import DomainMatrix

from agent.cprogram import Choices, Program, loop_head_states, parse_program
from verifiers import cexpr
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
# hundreds. Pairs are fitted up to degree 4, larger groups up to `max_degree`. At most MAX_WHOLE_FIT
# equalities come from the fit over all variables (the fewest terms first), and a fit reads at most
# ROWS_PER_COLUMN distinct states per monomial.
MAX_GROUP = 4
PAIR_DEGREE = 4
MAX_WHOLE_FIT = 6
ROWS_PER_COLUMN = 4
# Besides, one variable is fitted against a polynomial of degree up to POWER_DEGREE in another
# (`4*x == y*y*y*y + 2*y*y*y + y*y`, sums of powers), and against such a polynomial of degree up to
# SCALED_DEGREE times a third variable (`6*q == x*w*w*w + 3*x*w*w + 2*x*w`): these families have few
# monomials at any degree, so few distinct states fit them where every monomial of degree 6 over two
# variables (28) or of degree 4 over three (35) would need many more.
POWER_DEGREE = 6
SCALED_DEGREE = 3
# A power family's base must take this many values beyond its degree + 1 (through degree + 1
# points some polynomial of that degree always passes).
BASE_VALUES_MARGIN = 3


def polynomial_equalities(states: list[dict[str, int]], variables: list[str], max_degree: int = 3,
                          held_out: list[dict[str, int]] | None = None, time_limit_s: float = 3.0) -> list[str]:
    """Polynomial equalities satisfied by every state, as in DIG: the null space of the matrix whose
    columns are the monomials' values (exact rationals).

    Variables that a linear equality fixes in terms of the others are left out (their multiples would
    only restate that equality). Each group of two to four of the rest, and all of them together, is
    fitted at the lowest degree at which any equality holds (up to `max_degree`, 4 over pairs), and
    only equalities that involve every variable of the group are kept (the others are found in a
    smaller group); a degree is tried only when there are enough distinct states for its monomials.
    Then the few-monomial families above (`v` against powers of `u`, scaled by `t`).

    `held_out` states (other runs) check the fits: a group whose equalities do not all hold on them
    was fitted to too narrow a sample, and is fitted again on both sets. The fits with fewer
    monomials come first; after `time_limit_s` only the fit over all variables goes on."""
    if not states or not variables:
        return []
    names = [name for name in variables if name not in _linearly_fixed(states, list(variables))]
    specs = [(group, None, PAIR_DEGREE) for group in itertools.combinations(names, 2)]
    specs += [((power_of, fitted), "power", POWER_DEGREE) for power_of, fitted in itertools.permutations(names, 2)]
    specs += [((scale, power_of, fitted), "scaled", SCALED_DEGREE) for power_of, fitted in itertools.permutations(names, 2)
              for scale in names if scale not in (power_of, fitted)]
    specs += [(group, None, max_degree) for size in range(3, min(MAX_GROUP, len(names)) + 1)
              for group in itertools.combinations(names, size)]
    if len(names) > MAX_GROUP:
        specs.append((tuple(names), None, max_degree))
    # Every (fit, degree) in order of its number of monomials, so each fit still meets its degrees
    # lowest first, and the time limit cuts the costliest.
    steps = sorted(((len(_family_columns(list(group), degree, family)), number, degree)
                    for number, (group, family, top) in enumerate(specs) for degree in range(2, top + 1)))
    deadline = time.perf_counter() + time_limit_s
    settled: set[int] = set()
    atoms = []
    # Each group's distinct states, computed once for all its degrees and families.
    sampled, both = _Projections(states), _Projections(states + (held_out or []))
    for _, number, degree in steps:
        group, family, _ = specs[number]
        # The fit over all variables (the only one that sees relations of five or more) is not cut.
        if number in settled or (time.perf_counter() > deadline and len(group) <= MAX_GROUP):
            continue
        found = _fit_at_degree(sampled.unique(group), list(group), degree, family, variables)
        if found and held_out and not _all_hold(found, held_out, variables):
            found = _fit_at_degree(both.unique(group), list(group), degree, family, variables)
        if found is None:
            continue
        settled.add(number)
        if family is None and len(group) > MAX_GROUP:
            found = sorted(found, key=lambda atom: (atom.count("+"), len(atom)))[:MAX_WHOLE_FIT]
        atoms += found
    return list(dict.fromkeys(atoms))


def fitted_equalities(states: list[dict[str, int]], variables: list[str],
                      held_out: list[dict[str, int]] | None = None) -> list[str]:
    """The linear equalities (`equalities`) and the polynomial ones (`polynomial_equalities`) of `states`."""
    return equalities(states, variables) + polynomial_equalities(states, variables, held_out=held_out)


def fitted_in_child(program: str, vc_template: str, variables: list[str], states: list[dict[str, int]],
                    seed: int) -> list[str]:
    """Runs in a child process (`verifiers.child`), beside the search's other work: the equalities
    `states` (runs from the pre-condition) fit, the polynomial ones checked on runs of seed + 1."""
    held_out = states_from_precondition(parse_program(program), vc_template, variables, seed=seed + 1)
    return fitted_equalities(states, variables, held_out)


def _all_hold(atoms: list[str], states: list[dict[str, int]], variables: list[str]) -> bool:
    """Whether every fitted equality holds on every state (the verifier's own C expression semantics)."""
    expressions = [cexpr.parse_boolean(atom, variables) for atom in atoms]
    return all(value(state) for value in map(cexpr.evaluator, expressions) for state in states)


def _family_columns(names: list[str], degree: int, family: str | None) -> list[tuple[str, ...]]:
    """The monomials a fit reads, the constant left out: every monomial of `names` up to `degree`
    (family None); the powers of `names[0]` and `names[1]` itself ("power"); the powers of
    `names[1]`, each also times `names[0]`, and `names[2]` ("scaled")."""
    if family is None:
        return monomials(names, degree)
    if family == "power":
        base, fitted = names
        return [(base,) * power for power in range(degree, 0, -1)] + [(fitted,)]
    scale, base, fitted = names
    powers = [(base,) * power for power in range(degree, 0, -1)]
    return [(scale,) + power for power in powers] + [(scale,)] + powers + [(fitted,)]


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


class _Projections:
    """The distinct values of groups of variables over a list of states, sorted, each group's once."""

    def __init__(self, states: list[dict[str, int]]) -> None:
        self.states = states
        self.cache: dict[tuple[str, ...], list[tuple[int, ...]]] = {}

    def unique(self, names: tuple[str, ...]) -> list[tuple[int, ...]]:
        if names not in self.cache:
            self.cache[names] = sorted({tuple(state[name] for name in names) for state in self.states})
        return self.cache[names]


def _fit_at_degree(unique: list[tuple[int, ...]], names: list[str], degree: int, family: str | None,
                   order: list[str]) -> list[str] | None:
    """The equalities of one degree over `names` that involve all of them (factors written in
    `order`), fitted to `unique`, the distinct values `names` take; None when none holds at this
    degree, so the next is worth a try; [] when there are too few distinct states for it (or for the
    base of a power family, which any polynomial of its degree fits on as many points)."""
    columns = _family_columns(names, degree, family)
    if len(unique) < SAMPLES_PER_MONOMIAL * (len(columns) + 1):
        return []
    # Powers of a variable that takes few values fit anything: the base of a power family needs
    # BASE_VALUES_MARGIN values beyond degree + 1, every variable of a group of degree 3 or more one.
    powered = [1 if family == "scaled" else 0] if family else range(len(names))
    needed = degree + 1 + (BASE_VALUES_MARGIN if family else 1) if family or degree > 2 else 0
    if any(len({row[position] for row in unique}) < needed for position in powered):
        return []
    index = {name: position for position, name in enumerate(names)}
    sample = unique[::max(1, len(unique) // (ROWS_PER_COLUMN * (len(columns) + 1)))]
    values = [[reduce(lambda product, name: product * row[index[name]], monomial, 1) for monomial in columns] + [1]
              for row in sample]
    if _clearly_full_rank(values):
        return None
    # Over the integers (fraction-free elimination): each vector is a multiple of the rational
    # null space's, and `_integers` scales them alike; over QQ the fractions cost twice the time.
    rows = [[sympy.ZZ(value) for value in row] for row in values]
    basis = DomainMatrix(rows, (len(rows), len(columns) + 1), sympy.ZZ).nullspace().to_Matrix()
    if basis.rows == 0:
        return None
    vectors = _shortest([basis.row(number).T for number in range(basis.rows)])
    shown = ["*".join(sorted(monomial, key=order.index)) for monomial in columns]
    kept = []
    for vector, atom in zip(vectors, _atoms(vectors, shown, keep_empty=True)):
        used = {name for position, monomial in enumerate(columns) if vector[position] != 0 for name in monomial}
        # The fit over all variables keeps what no group of MAX_GROUP variables could have found.
        new = used == set(names) or (len(names) > MAX_GROUP and len(used) > MAX_GROUP)
        if atom and new and any(vector[position] != 0 for position, monomial in enumerate(columns)
                                if len(monomial) > 1) and max(map(abs, _integers(vector))) <= MAX_COEFFICIENT:
            kept.append(atom)
    return kept


def _integers(vector: sympy.Matrix) -> list[int]:
    """A rational vector scaled to coprime integers."""
    scale = reduce(lambda a, b: a * b // gcd(a, b), (int(sympy.fraction(value)[1]) for value in vector), 1)
    integers = [int(value * scale) for value in vector]
    divisor = reduce(gcd, (abs(value) for value in integers if value), 0) or 1
    return [value // divisor for value in integers]


# A fitted equality with a larger coefficient is a relation of the sample, not of the program: the
# reduced basis has a program's invariants as short vectors (sums of powers up to the sixth have
# coefficients up to 12), and what the states do not pin down comes out with coefficients in the
# millions. Each such atom would cost Houdini seconds of non-linear checks.
MAX_COEFFICIENT = 1000


def _shortest(vectors: list[sympy.Matrix]) -> list[sympy.Matrix]:
    """A basis of the same null space of short integer vectors (LLL, sympy's): the row-echelon
    basis mixes a program's few-term invariants into dense equalities with huge coefficients
    (`a == x*p + y*r` and `b == x*q + y*s` of an extended Euclid loop come out as one equality of
    twenty terms), where the reduced basis has them as they are."""
    if len(vectors) < 2:
        return vectors
    integers = [[sympy.ZZ(value) for value in _integers(vector)] for vector in vectors]
    try:
        reduced = DomainMatrix(integers, (len(integers), len(integers[0])), sympy.ZZ).lll().to_Matrix()
    except (ValueError, ZeroDivisionError, AssertionError):  # sympy's LLL asserts its own result
        return vectors
    return [reduced.row(number).T for number in range(reduced.rows)]


def _clearly_full_rank(values: list[list[int]]) -> bool:
    """Whether the matrix has no null space beyond doubt, in floating point (its columns scaled to
    unit length): most fits have none, and the exact null space costs a hundred times more. A matrix
    near singularity is left to the exact computation."""
    matrix = numpy.array(values, dtype=float)
    norms = numpy.linalg.norm(matrix, axis=0)
    if matrix.shape[0] < matrix.shape[1] or not numpy.all(numpy.isfinite(norms)) or numpy.any(norms == 0):
        return False
    singular = numpy.linalg.svd(matrix / norms, compute_uv=False)
    return bool(singular[-1] > FULL_RANK_MARGIN * singular[0])


# Smallest singular value, relative to the largest, above which a monomial matrix is taken to have
# no null space without the exact computation (an integer relation gives zero, far below it).
FULL_RANK_MARGIN = 1e-6


def _atoms(vectors: list[sympy.Matrix], names: list[str], keep_empty: bool = False) -> list[str | None]:
    """Each null-space vector (coefficients of `names`, then the constant) as an integer equality."""
    atoms: list[str | None] = []
    for vector in vectors:
        integers = _integers(vector)
        if next(value for value in integers if value) < 0:  # a fixed sign, so equal atoms print alike
            integers = [-value for value in integers]
        text = _as_linear_text(integers[:-1], names, integers[-1])
        if text or keep_empty:
            atoms.append(text)
    return atoms


def independent_equalities(atoms: list[str], variables: list[str]) -> dict[str, list[str]]:
    """The fitted equalities split into a basis and the ones it implies: simplest first,
    an equality whose polynomial lies in the ideal the kept ones generate (sympy's Gröbner basis) is
    implied by them, since it is a combination of polynomials that all vanish. Houdini then checks
    far fewer non-linear atoms (`z == x*w` and `2*p == z*w + z` imply `2*p == x*w*w + x*w`). Costly
    on large sets, so it runs in a child process (`verifiers.child`) under a time limit."""
    symbols = {name: sympy.Symbol(name) for name in variables}
    ordered = sorted(atoms, key=lambda atom: (atom.count("+"), len(atom)))
    basis: list[str] = []
    polynomials: list[sympy.Expr] = []
    implied: list[str] = []
    for atom in ordered:
        left, right = atom.split(" == ")
        polynomial = sympy.expand(sympy.parse_expr(left, local_dict=symbols) - sympy.parse_expr(right, local_dict=symbols))
        if polynomials and sympy.groebner(polynomials, *symbols.values(), order="grevlex").contains(polynomial):
            implied.append(atom)
        else:
            basis.append(atom)
            polynomials.append(polynomial)
    # In the order they came (the fits' order, cheapest first): Z3's non-linear checks are sensitive
    # to the order of their assertions, and this order is the one measured.
    return {"basis": [atom for atom in atoms if atom in basis], "implied": implied}
