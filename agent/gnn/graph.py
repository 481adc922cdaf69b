"""The variable-clause graph of a CNF formula, as a PyTorch Geometric `HeteroData`.

Nodes: one per variable (`variable`, index v-1 for variable v) and one per clause (`clause`). Edges
are signed by their type: (`variable`, `positive`, `clause`) when the clause holds the variable's
positive literal, (`variable`, `negative`, `clause`) for the negative one, and the reverse of each
(`clause`, `positive_of` / `negative_of`, `variable`) so messages flow both ways.

Node features are cheap and permutation-invariant: a variable's occurrence counts and
Jeroslow-Wang scores per polarity, a clause's length and share of positive literals.
"""

from __future__ import annotations

import math

import torch
from torch_geometric.data import HeteroData

VARIABLE, CLAUSE = "variable", "clause"
POSITIVE = (VARIABLE, "positive", CLAUSE)
NEGATIVE = (VARIABLE, "negative", CLAUSE)
POSITIVE_OF = (CLAUSE, "positive_of", VARIABLE)
NEGATIVE_OF = (CLAUSE, "negative_of", VARIABLE)
RELATIONS = (POSITIVE, NEGATIVE, POSITIVE_OF, NEGATIVE_OF)
VARIABLE_FEATURES = 5
CLAUSE_FEATURES = 3


def jeroslow_wang(variables: int, clauses: list[list[int]]) -> tuple[list[float], list[float]]:
    """Per variable 1..n (index v-1): the Jeroslow-Wang scores sum(2^-|C|) of its positive and of its
    negative literal over the clauses C that hold it."""
    positive, negative = [0.0] * variables, [0.0] * variables
    for clause in clauses:
        weight = 2.0 ** -len(clause)
        for literal in clause:
            (positive if literal > 0 else negative)[abs(literal) - 1] += weight
    return positive, negative


def cnf_graph(variables: int, clauses: list[list[int]]) -> HeteroData:
    """The signed variable-clause graph of a formula over variables 1..`variables`."""
    edges: dict[bool, tuple[list[int], list[int]]] = {True: ([], []), False: ([], [])}
    positive_count, negative_count = [0] * variables, [0] * variables
    clause_features = []
    for index, clause in enumerate(clauses):
        for literal in clause:
            sources, targets = edges[literal > 0]
            sources.append(abs(literal) - 1)
            targets.append(index)
            (positive_count if literal > 0 else negative_count)[abs(literal) - 1] += 1
        length = len(clause)
        clause_features.append([1.0 / max(length, 1), math.log1p(length),
                                sum(literal > 0 for literal in clause) / max(length, 1)])
    jw_positive, jw_negative = jeroslow_wang(variables, clauses)
    variable_features = [
        [math.log1p(p), math.log1p(n), jp, jn, (p - n) / (p + n + 1)]
        for p, n, jp, jn in zip(positive_count, negative_count, jw_positive, jw_negative)
    ]
    data = HeteroData()
    data[VARIABLE].x = torch.tensor(variable_features, dtype=torch.float32).reshape(variables, VARIABLE_FEATURES)
    data[CLAUSE].x = torch.tensor(clause_features, dtype=torch.float32).reshape(len(clauses), CLAUSE_FEATURES)
    for relation, reverse, sign in ((POSITIVE, POSITIVE_OF, True), (NEGATIVE, NEGATIVE_OF, False)):
        index = torch.tensor(edges[sign], dtype=torch.long).reshape(2, -1)
        data[relation].edge_index = index
        data[reverse].edge_index = index.flip(0)
    return data
