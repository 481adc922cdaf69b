"""The variable-clause graph of a CNF formula, as a PyTorch Geometric `HeteroData`.

Nodes: one per variable (`variable`, index v-1 for variable v) and one per clause (`clause`). Edges
are signed by their type: (`variable`, `positive`, `clause`) when the clause holds the variable's
positive literal, (`variable`, `negative`, `clause`) for the negative one, and the reverse of each
(`clause`, `positive_of` / `negative_of`, `variable`) so messages flow both ways.

Node features are cheap and permutation-invariant: a variable's occurrence counts and
Jeroslow-Wang scores per polarity, a clause's length and share of positive literals. Everything is
computed with numpy over the formula's flattened literals (`Incidence`): a formula of a few hundred
thousand literals takes milliseconds, not the seconds of a Python loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse
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


@dataclass(frozen=True)
class Incidence:
    """A formula's literals flattened: for literal occurrence i, its variable's index (v-1), its
    clause's index, and its sign; with the number of variables, clauses and each clause's length."""

    variables: int
    lengths: np.ndarray  # per clause
    variable_index: np.ndarray  # per literal occurrence
    clause_index: np.ndarray
    positive: np.ndarray  # bool

    @property
    def clauses(self) -> int:
        return len(self.lengths)

    @classmethod
    def of(cls, variables: int, clauses: Sequence[Sequence[int]]) -> "Incidence":
        lengths = np.fromiter(map(len, clauses), dtype=np.int64, count=len(clauses))
        literals = np.fromiter(itertools.chain.from_iterable(clauses), dtype=np.int64, count=int(lengths.sum()))
        return cls(variables, lengths, np.abs(literals) - 1, np.repeat(np.arange(len(clauses)), lengths),
                   literals > 0)

    def counts(self, sign: bool, weights: np.ndarray | None = None) -> np.ndarray:
        """Per variable: how often its literal of `sign` occurs (summing `weights` per occurrence when given)."""
        chosen = self.positive if sign else ~self.positive
        return np.bincount(self.variable_index[chosen], weights=None if weights is None else weights[chosen],
                           minlength=self.variables).astype(np.float64)

    def variable_features(self) -> np.ndarray:
        positive, negative = self.counts(True), self.counts(False)
        jw_positive, jw_negative = self.jeroslow_wang()
        return np.stack([np.log1p(positive), np.log1p(negative), jw_positive, jw_negative,
                         (positive - negative) / (positive + negative + 1)], axis=1).reshape(-1, VARIABLE_FEATURES)

    def clause_features(self) -> np.ndarray:
        safe = np.maximum(self.lengths, 1)
        positives = np.bincount(self.clause_index[self.positive], minlength=self.clauses)
        return np.stack([1.0 / safe, np.log1p(self.lengths), positives / safe], axis=1).reshape(-1, CLAUSE_FEATURES)

    def jeroslow_wang(self) -> tuple[np.ndarray, np.ndarray]:
        weights = np.exp2(-self.lengths.astype(np.float64))[self.clause_index]
        return self.counts(True, weights), self.counts(False, weights)


def jeroslow_wang(variables: int, clauses: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per variable 1..n (index v-1): the Jeroslow-Wang scores sum(2^-|C|) of its positive and of its
    negative literal over the clauses C that hold it."""
    return Incidence.of(variables, clauses).jeroslow_wang()


def cnf_graph(variables: int, clauses: Sequence[Sequence[int]]) -> HeteroData:
    """The signed variable-clause graph of a formula over variables 1..`variables`."""
    incidence = Incidence.of(variables, clauses)
    data = HeteroData()
    data[VARIABLE].x = torch.from_numpy(incidence.variable_features()).float()
    data[CLAUSE].x = torch.from_numpy(incidence.clause_features()).float()
    for relation, reverse, sign in ((POSITIVE, POSITIVE_OF, True), (NEGATIVE, NEGATIVE_OF, False)):
        chosen = incidence.positive if sign else ~incidence.positive
        index = torch.from_numpy(np.stack([incidence.variable_index[chosen], incidence.clause_index[chosen]]))
        data[relation].edge_index = index
        data[reverse].edge_index = index.flip(0)
    return data


def mean_adjacency(incidence: Incidence) -> tuple[scipy.sparse.csr_array, scipy.sparse.csr_array]:
    """The graph's four relations as two row-normalised sparse matrices, so that a product with one is
    the mean over a relation's neighbours (`SAGEConv`'s aggregation, duplicate literals counted alike):

    - clauses (m x 2n): column 2(v-1) for the positive literal of v, 2(v-1)+1 for the negative one,
      each row's positive and negative entries averaged separately;
    - variables (2n x m): row 2(v-1) averages the clauses holding v, row 2(v-1)+1 those holding -v.

    SciPy's CSR product, not torch's: on one CPU thread torch's sparse-dense product is several times slower.
    """
    n, m = incidence.variables, incidence.clauses
    signed = 2 * incidence.variable_index + (~incidence.positive)
    # clauses x signed variables (literals already come in clause order)
    positives_per_clause = np.bincount(incidence.clause_index[incidence.positive], minlength=m)[incidence.clause_index]
    same_sign_in_clause = np.where(incidence.positive, positives_per_clause,
                                   incidence.lengths[incidence.clause_index] - positives_per_clause)
    clauses = scipy.sparse.csr_array(
        ((1.0 / same_sign_in_clause).astype(np.float32), signed, np.concatenate([[0], np.cumsum(incidence.lengths)])),
        shape=(m, 2 * n))
    # signed variables x clauses: the same entries sorted by signed variable (stable: clauses stay in order)
    order = np.argsort(signed, kind="stable")
    per_signed = np.bincount(signed, minlength=2 * n)
    variables = scipy.sparse.csr_array(
        ((1.0 / per_signed[signed[order]]).astype(np.float32), incidence.clause_index[order],
         np.concatenate([[0], np.cumsum(per_signed)])), shape=(2 * n, m))
    return clauses, variables
