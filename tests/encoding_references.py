"""Reference encodings of every family, and mutants of them, for the tests only (the agent never
sees these). A mutant is a reference with one textual change: a dropped clause or constraint, or an
off-by-one in a cardinality or a range. `mutate` insists the change applies, so a reference edited
later cannot silently turn a mutant into a copy of itself."""

from __future__ import annotations

SAT = {
    "colouring": """
n, k = instance["vertices"], instance["colours"]
pool = IDPool()
x = lambda v, c: pool.id(("color", v, c))
cnf = CNF()
for v in range(1, n + 1):
    cnf.extend(CardEnc.equals(lits=[x(v, c) for c in range(1, k + 1)], bound=1, vpool=pool).clauses)
for u, w in instance["edges"]:
    for c in range(1, k + 1):
        cnf.append([-x(u, c), -x(w, c)])
emit(cnf, pool)
""",
    "pigeonhole": """
p, h = instance["pigeons"], instance["holes"]
pool = IDPool()
x = lambda i, j: pool.id(("in", i, j))
cnf = CNF()
for i in range(1, p + 1):
    cnf.extend(CardEnc.equals(lits=[x(i, j) for j in range(1, h + 1)], bound=1, vpool=pool).clauses)
for j in range(1, h + 1):
    cnf.extend(CardEnc.atmost(lits=[x(i, j) for i in range(1, p + 1)], bound=1, vpool=pool).clauses)
emit(cnf, pool)
""",
    "queens": """
n = instance["n"]
pool = IDPool()
q = lambda r, c: pool.id(("queen", r, c))
cnf = CNF()
for r in range(1, n + 1):
    cnf.extend(CardEnc.equals(lits=[q(r, c) for c in range(1, n + 1)], bound=1, vpool=pool).clauses)
for c in range(1, n + 1):
    cnf.extend(CardEnc.atmost(lits=[q(r, c) for r in range(1, n + 1)], bound=1, vpool=pool).clauses)
for r1, c1, r2, c2 in itertools.product(range(1, n + 1), repeat=4):
    if (r1, c1) < (r2, c2) and r1 != r2 and abs(r1 - r2) == abs(c1 - c2):
        cnf.append([-q(r1, c1), -q(r2, c2)])
emit(cnf, pool)
""",
    "sudoku": """
b = instance["box"]
n = b * b
pool = IDPool()
x = lambda r, c, d: pool.id(("cell", r, c, d))
cnf = CNF()
R = range(1, n + 1)
for r in R:
    for c in R:
        cnf.extend(CardEnc.equals(lits=[x(r, c, d) for d in R], bound=1, vpool=pool).clauses)
        if instance["grid"][r - 1][c - 1]:
            cnf.append([x(r, c, instance["grid"][r - 1][c - 1])])
for d in R:
    for i in R:
        cnf.extend(CardEnc.atmost(lits=[x(i, c, d) for c in R], bound=1, vpool=pool).clauses)
        cnf.extend(CardEnc.atmost(lits=[x(r, i, d) for r in R], bound=1, vpool=pool).clauses)
    for top in range(0, n, b):
        for left in range(0, n, b):
            cells = [x(top + r, left + c, d) for r in range(1, b + 1) for c in range(1, b + 1)]
            cnf.extend(CardEnc.atmost(lits=cells, bound=1, vpool=pool).clauses)
emit(cnf, pool)
""",
    "scheduling": """
m, T, cap = instance["jobs"], instance["slots"], instance["capacity"]
pool = IDPool()
at = lambda j, t: pool.id(("at", j, t))
cnf = CNF()
for j in range(1, m + 1):
    cnf.extend(CardEnc.equals(lits=[at(j, t) for t in range(1, T + 1)], bound=1, vpool=pool).clauses)
for t in range(1, T + 1):
    cnf.extend(CardEnc.atmost(lits=[at(j, t) for j in range(1, m + 1)], bound=cap, vpool=pool).clauses)
    for a, b in instance["conflicts"]:
        cnf.append([-at(a, t), -at(b, t)])
for a, b in instance["precedences"]:
    for ta in range(1, T + 1):
        for tb in range(1, ta + 1):
            cnf.append([-at(a, ta), -at(b, tb)])
emit(cnf, pool)
""",
}

SMT = {
    "colouring": """
n, k = instance["vertices"], instance["colours"]
color = {v: Int(f"c{v}") for v in range(1, n + 1)}
s = Solver()
for v in color:
    s.add(color[v] >= 1, color[v] <= k)
for u, w in instance["edges"]:
    s.add(color[u] != color[w])
emit(s, {("color", v): color[v] for v in color})
""",
    "pigeonhole": """
p, h = instance["pigeons"], instance["holes"]
hole = {i: Int(f"h{i}") for i in range(1, p + 1)}
s = Solver()
for i in hole:
    s.add(hole[i] >= 1, hole[i] <= h)
s.add(Distinct(list(hole.values())))
emit(s, {("hole", i): hole[i] for i in hole})
""",
    "queens": """
n = instance["n"]
q = {r: Int(f"q{r}") for r in range(1, n + 1)}
s = Solver()
for r in q:
    s.add(q[r] >= 1, q[r] <= n)
s.add(Distinct(list(q.values())))
for r1 in q:
    for r2 in q:
        if r1 < r2:
            s.add(q[r1] - q[r2] != r1 - r2, q[r1] - q[r2] != r2 - r1)
emit(s, {("queen", r): q[r] for r in q})
""",
    "sudoku": """
b = instance["box"]
n = b * b
cell = {(r, c): Int(f"x_{r}_{c}") for r in range(1, n + 1) for c in range(1, n + 1)}
s = Solver()
for (r, c), v in cell.items():
    s.add(v >= 1, v <= n)
    if instance["grid"][r - 1][c - 1]:
        s.add(v == instance["grid"][r - 1][c - 1])
for i in range(1, n + 1):
    s.add(Distinct([cell[(i, c)] for c in range(1, n + 1)]))
    s.add(Distinct([cell[(r, i)] for r in range(1, n + 1)]))
for top in range(0, n, b):
    for left in range(0, n, b):
        s.add(Distinct([cell[(top + r, left + c)] for r in range(1, b + 1) for c in range(1, b + 1)]))
emit(s, {("cell", r, c): v for (r, c), v in cell.items()})
""",
    "scheduling": """
m, T, cap = instance["jobs"], instance["slots"], instance["capacity"]
slot = {j: Int(f"s{j}") for j in range(1, m + 1)}
s = Solver()
for j in slot:
    s.add(slot[j] >= 1, slot[j] <= T)
for a, b in instance["conflicts"]:
    s.add(slot[a] != slot[b])
for a, b in instance["precedences"]:
    s.add(slot[a] < slot[b])
for t in range(1, T + 1):
    s.add(Sum([If(slot[j] == t, 1, 0) for j in slot]) <= cap)
emit(s, {("slot", j): slot[j] for j in slot})
""",
}


def mutate(program: str, old: str, new: str) -> str:
    assert program.count(old) == 1, f"the mutation target {old!r} must occur exactly once"
    return program.replace(old, new)


# (family, description, mutated program, kind of bug): under-constrained mutants let wrong solutions
# through; over-constrained ones lose solutions (and would give false UNSATs).
SAT_MUTANTS = [
    ("colouring", "dropped edge clause", mutate(SAT["colouring"], "        cnf.append([-x(u, c), -x(w, c)])\n", "        pass\n"), "under"),
    ("colouring", "edges checked for colours 1..k-1 only",
     mutate(SAT["colouring"], "    for c in range(1, k + 1):\n        cnf.append", "    for c in range(1, k):\n        cnf.append"), "under"),
    ("colouring", "off-by-one: one colour fewer",
     mutate(SAT["colouring"], "[x(v, c) for c in range(1, k + 1)]", "[x(v, c) for c in range(1, k)]"), "over"),
    ("pigeonhole", "off-by-one: two pigeons per hole",
     mutate(SAT["pigeonhole"], "for i in range(1, p + 1)], bound=1", "for i in range(1, p + 1)], bound=2"), "under"),
    ("pigeonhole", "off-by-one: the last hole unused",
     mutate(SAT["pigeonhole"], "[x(i, j) for j in range(1, h + 1)]", "[x(i, j) for j in range(1, h)]"), "over"),
    ("queens", "dropped diagonal clauses", mutate(SAT["queens"], "        cnf.append([-q(r1, c1), -q(r2, c2)])\n", "        pass\n"), "under"),
    ("queens", "forbids the corner square",
     mutate(SAT["queens"], "emit(cnf, pool)", "cnf.append([-q(1, 1)])\nemit(cnf, pool)"), "over"),
    ("sudoku", "dropped box constraints",
     mutate(SAT["sudoku"], "            cnf.extend(CardEnc.atmost(lits=cells, bound=1, vpool=pool).clauses)\n", ""), "under"),
    ("sudoku", "givens ignored", mutate(SAT["sudoku"], "            cnf.append([x(r, c, instance[\"grid\"][r - 1][c - 1])])\n", "            pass\n"), "under"),
    ("scheduling", "off-by-one: precedence allows the same slot",
     mutate(SAT["scheduling"], "for tb in range(1, ta + 1)", "for tb in range(1, ta)"), "under"),
    ("scheduling", "off-by-one: capacity one too small",
     mutate(SAT["scheduling"], "bound=cap,", "bound=cap - 1,"), "over"),
]

SMT_MUTANTS = [
    ("colouring", "dropped edge constraint", mutate(SMT["colouring"], "    s.add(color[u] != color[w])\n", "    pass\n"), "under"),
    ("pigeonhole", "off-by-one: one hole fewer", mutate(SMT["pigeonhole"], "hole[i] <= h)", "hole[i] <= h - 1)"), "over"),
    ("queens", "dropped Distinct", mutate(SMT["queens"], "s.add(Distinct(list(q.values())))\n", ""), "under"),
    ("sudoku", "dropped box constraints",
     mutate(SMT["sudoku"], "        s.add(Distinct([cell[(top + r, left + c)] for r in range(1, b + 1) for c in range(1, b + 1)]))\n",
            "        pass\n"), "under"),
    ("scheduling", "off-by-one: capacity one too small", mutate(SMT["scheduling"], "<= cap)", "<= cap - 1)"), "over"),
]
