"""Instance generators for training and benchmarking the phase predictor.

Every generator takes a `random.Random` and returns a `GeneratedInstance` (a CNF with a name). The
family encodings follow the variable conventions of `verifiers/families/` (e.g. ("color", v, c)) and
are built with PySAT's `IDPool` and `CardEnc`, like the reference encodings an encoding task expects.
Random k-SAT and planted colourings are hand-written: PySAT has no random-instance generator.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pysat.card import CardEnc, EncType
from pysat.formula import IDPool


@dataclass(frozen=True)
class GeneratedInstance:
    name: str
    family: str
    variables: int
    clauses: list[list[int]]


def random_ksat(rng: random.Random, variables: int, ratio: float = 4.26, k: int = 3) -> GeneratedInstance:
    """Uniform random k-SAT (SATLIB's uf/uuf model): k distinct variables per clause, random signs."""
    count = round(ratio * variables)
    clauses = [[v if rng.random() < 0.5 else -v for v in rng.sample(range(1, variables + 1), k)]
               for _ in range(count)]
    return GeneratedInstance(f"uf{variables}-{count}", "random3sat", variables, clauses)


def planted_ksat(rng: random.Random, variables: int, ratio: float = 4.26, k: int = 3) -> GeneratedInstance:
    """Random k-SAT with a planted solution: a hidden assignment first, then clauses drawn as for
    uniform random k-SAT, a clause the hidden assignment falsifies drawn again. Satisfiable by
    construction, with a large backbone close to the hidden assignment above the threshold ratio.
    Not a training family: the benchmark holds it out entirely."""
    hidden = [rng.random() < 0.5 for _ in range(variables + 1)]
    clauses: list[list[int]] = []
    while len(clauses) < round(ratio * variables):
        clause = [v if rng.random() < 0.5 else -v for v in rng.sample(range(1, variables + 1), k)]
        if any((literal > 0) == hidden[abs(literal)] for literal in clause):
            clauses.append(clause)
    return GeneratedInstance(f"planted{k}sat{variables}-{len(clauses)}", f"planted{k}sat", variables, clauses)


def _planted_graph(rng: random.Random, vertices: int, edges: int, colours: int) -> list[tuple[int, int]]:
    """A random graph with `edges` edges whose vertices split into `colours` near-equal classes with no
    edge inside a class (Culberson's flat-graph model without the flatness constraint)."""
    hidden = {v: (v - 1) % colours for v in range(1, vertices + 1)}
    order = list(range(1, vertices + 1))
    rng.shuffle(order)
    hidden = {v: hidden[order[v - 1]] for v in hidden}
    possible = [(u, v) for u, v in itertools.combinations(range(1, vertices + 1), 2) if hidden[u] != hidden[v]]
    return sorted(rng.sample(possible, min(edges, len(possible))))


def flat_colouring(rng: random.Random, vertices: int, edge_ratio: float = 2.3) -> GeneratedInstance:
    """A planted 3-colourable graph encoded as SATLIB's flat instances are: variable 3(v-1)+c says vertex
    v has colour c; one at-least-one clause per vertex, pairwise at-most-one, one clause per edge and colour."""
    edges = _planted_graph(rng, vertices, round(edge_ratio * vertices), 3)
    x = lambda v, c: 3 * (v - 1) + c  # noqa: E731
    clauses = [[x(v, c) for c in (1, 2, 3)] for v in range(1, vertices + 1)]
    clauses += [[-x(v, a), -x(v, b)] for v in range(1, vertices + 1) for a, b in itertools.combinations((1, 2, 3), 2)]
    clauses += [[-x(u, c), -x(v, c)] for u, v in edges for c in (1, 2, 3)]
    return GeneratedInstance(f"flat{vertices}-{len(edges)}", "flat", 3 * vertices, clauses)


def _finish(pool: IDPool, clauses: list[list[int]], name: str, family: str) -> GeneratedInstance:
    variables = max([pool.top] + [abs(literal) for clause in clauses for literal in clause])
    return GeneratedInstance(name, family, variables, clauses)


def _numbered(pool: IDPool, name: str, *spans: range) -> Callable[..., int]:
    """The variables (name, *index) for every index in the product of `spans`, numbered first and in
    order (before any counter's auxiliary variables), and the function from an index to its variable."""
    for index in itertools.product(*spans):
        pool.id((name, *index))
    return lambda *index: pool.id((name, *index))


def _cardinality(groups: Iterable[list[int]], pool: IDPool, bound: int = 1, exactly: bool = True) -> list[list[int]]:
    """Exactly (or at most) `bound` of each group true, by sequential counters."""
    encode = CardEnc.equals if exactly else CardEnc.atmost
    return [clause for group in groups
            for clause in encode(group, bound, vpool=pool, encoding=EncType.seqcounter).clauses]


def family_colouring(rng: random.Random, vertices: int, colours: int = 4, edge_ratio: float = 4.0) -> GeneratedInstance:
    """The `colouring` family's encoding (exactly one colour per vertex by a sequential counter)."""
    edges = _planted_graph(rng, vertices, round(edge_ratio * vertices), colours)
    pool = IDPool()
    x = _numbered(pool, "color", range(1, vertices + 1), range(1, colours + 1))
    clauses = _cardinality(([x(v, c) for c in range(1, colours + 1)] for v in range(1, vertices + 1)), pool)
    clauses += [[-x(u, c), -x(v, c)] for u, v in edges for c in range(1, colours + 1)]
    return _finish(pool, clauses, f"colouring{vertices}-{len(edges)}-k{colours}", "colouring")


def family_queens(rng: random.Random, n: int) -> GeneratedInstance:
    """The `queens` family: one queen per row, at most one per column and per diagonal. The variables
    are numbered in a random order, so instances of one size differ."""
    pool = IDPool()
    cells = list(itertools.product(range(1, n + 1), repeat=2))
    rng.shuffle(cells)
    for cell in cells:
        pool.id(("queen", *cell))
    q = lambda r, c: pool.id(("queen", r, c))  # noqa: E731
    span = range(1, n + 1)
    clauses = _cardinality(([q(r, c) for c in span] for r in span), pool)
    clauses += _cardinality(([q(r, c) for r in span] for c in span), pool, exactly=False)
    for (r1, c1), (r2, c2) in itertools.combinations(sorted(cells), 2):
        if r1 != r2 and abs(r1 - r2) == abs(c1 - c2):
            clauses.append([-q(r1, c1), -q(r2, c2)])
    return _finish(pool, clauses, f"queens{n}", "queens")


def family_scheduling(rng: random.Random, jobs: int, slots: int | None = None) -> GeneratedInstance:
    """The `scheduling` family with a planted feasible schedule: capacity, conflicts between jobs in
    different planted slots, and precedences that the planted slots respect."""
    slots = slots or max(2, jobs // 3)
    capacity = -(-jobs // slots) + 1
    planted = {j: rng.randrange(1, slots + 1) for j in range(1, jobs + 1)}
    while max(list(planted.values()).count(t) for t in range(1, slots + 1)) > capacity:
        planted = {j: rng.randrange(1, slots + 1) for j in range(1, jobs + 1)}
    pairs = list(itertools.combinations(range(1, jobs + 1), 2))
    conflicts = [(a, b) for a, b in pairs if planted[a] != planted[b] and rng.random() < 0.25]
    precedences = [(a, b) if planted[a] < planted[b] else (b, a)
                   for a, b in pairs if planted[a] != planted[b] and rng.random() < 0.03]
    pool = IDPool()
    at = _numbered(pool, "at", range(1, jobs + 1), range(1, slots + 1))
    clauses = _cardinality(([at(j, t) for t in range(1, slots + 1)] for j in range(1, jobs + 1)), pool)
    for t in range(1, slots + 1):
        clauses += _cardinality([[at(j, t) for j in range(1, jobs + 1)]], pool, capacity, exactly=False)
        clauses += [[-at(a, t), -at(b, t)] for a, b in conflicts]
    for a, b in precedences:
        clauses += [[-at(a, ta), -at(b, tb)] for ta in range(1, slots + 1) for tb in range(1, ta + 1)]
    return _finish(pool, clauses, f"scheduling{jobs}-{slots}", "scheduling")


def quasigroup_with_holes(rng: random.Random, order: int, holes: float = 0.42) -> GeneratedInstance:
    """Latin-square completion with a planted solution (Gomes and Selman's "quasigroup with holes"):
    a random Latin square of `order` (the cyclic one with rows, columns and symbols shuffled), a
    `holes` share of its cells emptied; variable ("cell", r, c, v) says cell (r, c) holds v, exactly
    one symbol per cell and each symbol exactly once per row and per column. Hardest near 42 % holes.
    Not a training family: the benchmark holds it out entirely."""
    rows, columns, symbols = (rng.sample(range(order), order) for _ in range(3))
    square = {(r + 1, c + 1): symbols[(rows[r] + columns[c]) % order] + 1 for r in range(order) for c in range(order)}
    emptied = set(rng.sample(sorted(square), round(holes * order * order)))
    pool = IDPool()
    span = range(1, order + 1)
    x = _numbered(pool, "cell", span, span, span)
    clauses = [[x(r, c, v)] for (r, c), v in sorted(square.items()) if (r, c) not in emptied]
    clauses += _cardinality(itertools.chain(([x(r, c, v) for v in span] for r in span for c in span),
                                            ([x(r, c, v) for c in span] for r in span for v in span),
                                            ([x(r, c, v) for r in span] for c in span for v in span)), pool)
    return _finish(pool, clauses, f"qwh{order}-{len(emptied)}", "qwh")


def family_sudoku(rng: random.Random, box: int, holes: float = 0.6) -> GeneratedInstance:
    """The `sudoku` family's encoding (verifiers/families/sudoku.py: ("cell", r, c, d), exactly one digit
    per cell and each digit exactly once per row, column and box) for a grid of side box*box with a
    planted solution: the pattern grid (box*(r mod box) + r div box + c) mod N with rows within a band,
    bands, columns within a stack, stacks and digits shuffled, a `holes` share of its cells emptied.
    Not a training family: the benchmark holds it out entirely."""
    size = box * box
    bands, stacks = rng.sample(range(box), box), rng.sample(range(box), box)
    rows = [band * box + inner for band in bands for inner in rng.sample(range(box), box)]
    columns = [stack * box + inner for stack in stacks for inner in rng.sample(range(box), box)]
    digits = rng.sample(range(1, size + 1), size)
    pattern = lambda r, c: (box * (r % box) + r // box + c) % size  # noqa: E731
    grid = {(r + 1, c + 1): digits[pattern(rows[r], columns[c])] for r in range(size) for c in range(size)}
    emptied = set(rng.sample(sorted(grid), round(holes * size * size)))
    pool = IDPool()
    span = range(1, size + 1)
    x = _numbered(pool, "cell", span, span, span)
    boxes = [[(top + r, left + c) for r in range(box) for c in range(box)]
             for top in range(1, size + 1, box) for left in range(1, size + 1, box)]
    clauses = [[x(r, c, d)] for (r, c), d in sorted(grid.items()) if (r, c) not in emptied]
    clauses += _cardinality(itertools.chain(([x(r, c, d) for d in span] for r in span for c in span),
                                            ([x(r, c, d) for c in span] for r in span for d in span),
                                            ([x(r, c, d) for r in span] for c in span for d in span),
                                            ([x(r, c, d) for r, c in cells] for cells in boxes for d in span)), pool)
    return _finish(pool, clauses, f"sudoku{size}-{len(emptied)}", "sudoku")


def planted_independent_set(rng: random.Random, vertices: int, share: float = 0.25, degree: float = 8.0) -> GeneratedInstance:
    """An independent set of at least `share` of the vertices in a random graph of average degree
    `degree` with one such set planted (no edge inside it). Edges between two vertices outside the set
    are drawn less often than edges leaving it, so that planted and other vertices have the same
    expected degree and a degree count does not give the set away. Variable ("in", v) says vertex v is
    in the set; one clause per edge and "at least k" by a sequential counter. Not a training family:
    the benchmark holds it out entirely."""
    size = round(share * vertices)
    planted = set(rng.sample(range(1, vertices + 1), size))
    crossing = size * (vertices - size)
    outside = (vertices - size) * (vertices - size - 1) // 2
    # equal expected degrees, p_crossing * (n - k) = p_crossing * k + p_outside * (n - k - 1), and degree * n / 2 edges
    p_crossing = degree * vertices / 2 / (crossing + outside * (vertices - 2 * size) / (vertices - size - 1))
    p_outside = p_crossing * (vertices - 2 * size) / (vertices - size - 1)
    edges = [(u, v) for u, v in itertools.combinations(range(1, vertices + 1), 2)
             if (u in planted) + (v in planted) < 2
             and rng.random() < (p_crossing if (u in planted) != (v in planted) else p_outside)]
    pool = IDPool()
    x = _numbered(pool, "in", range(1, vertices + 1))
    clauses = [[-x(u), -x(v)] for u, v in edges]
    clauses += CardEnc.atleast([x(v) for v in range(1, vertices + 1)], size, vpool=pool,
                               encoding=EncType.seqcounter).clauses
    return _finish(pool, clauses, f"indset{vertices}-{len(edges)}-k{size}", "indset")


# family -> (generator, the sizes training draws from)
FAMILIES: dict[str, tuple[Callable[..., GeneratedInstance], tuple[int, ...]]] = {
    "random3sat": (random_ksat, (50, 75, 100, 125, 150)),
    "flat": (flat_colouring, (30, 50, 75, 100)),
    "colouring": (family_colouring, (20, 30, 40)),
    "queens": (family_queens, (8, 10, 12, 14)),
    "scheduling": (family_scheduling, (12, 18, 24)),
}


# Families that training never draws from (benchmarks only): family -> (generator, default sizes)
HELD_OUT: dict[str, tuple[Callable[..., GeneratedInstance], tuple[int, ...]]] = {
    "qwh": (quasigroup_with_holes, (30,)),
    "sudoku": (family_sudoku, (5,)),  # the size is the box: 25 x 25 grids
    "indset": (planted_independent_set, (150,)),
    "planted3sat": (planted_ksat, (400,)),
    "planted5sat": (functools.partial(planted_ksat, k=5, ratio=20.0), (150,)),
}


def generate(family: str, rng: random.Random, size: int | None = None) -> GeneratedInstance:
    """One instance of `family` (a training family or a held-out one) at `size` (default: one of the
    family's sizes, at random)."""
    known = {**FAMILIES, **HELD_OUT}
    if family not in known:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(known)}")
    generator, sizes = known[family]
    return generator(rng, size if size is not None else rng.choice(sizes))
