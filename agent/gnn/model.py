"""The phase predictor: message passing over the signed variable-clause graph (NeuroBack-style).

Each round every clause gathers its variables' states through the positive and the negative edge
types separately (a literal's sign decides which weights carry it), then every variable gathers its
clauses' states the same way; layer norm and a residual keep deep rounds stable. A final MLP turns a
variable's state into one logit: P(variable is true in a model, or in the backbone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, SAGEConv

from agent.gnn.graph import (CLAUSE, CLAUSE_FEATURES, NEGATIVE, NEGATIVE_OF, POSITIVE, POSITIVE_OF, RELATIONS, VARIABLE,
                             VARIABLE_FEATURES, Incidence, mean_adjacency)


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 64
    rounds: int = 6

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class PhaseGNN(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        hidden = config.hidden
        self.embed = nn.ModuleDict({VARIABLE: nn.Linear(VARIABLE_FEATURES, hidden),
                                    CLAUSE: nn.Linear(CLAUSE_FEATURES, hidden)})
        self.rounds = nn.ModuleList(
            HeteroConv({relation: SAGEConv((hidden, hidden), hidden, aggr="mean") for relation in RELATIONS},
                       aggr="sum")
            for _ in range(config.rounds))
        self.norms = nn.ModuleList(
            nn.ModuleDict({VARIABLE: nn.LayerNorm(hidden), CLAUSE: nn.LayerNorm(hidden)}) for _ in range(config.rounds))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, data: HeteroData) -> torch.Tensor:
        """One logit per variable node (in `data[VARIABLE]` order)."""
        states = {kind: torch.relu(self.embed[kind](data[kind].x)) for kind in (VARIABLE, CLAUSE)}
        for conv, norms in zip(self.rounds, self.norms):
            updates = conv(states, data.edge_index_dict)
            states = {kind: norms[kind](states[kind] + torch.relu(updates[kind])) if kind in updates else states[kind]
                      for kind in states}
        return self.head(states[VARIABLE]).squeeze(-1)


class Cancelled(Exception):
    """Inference was asked to stop (its caller stopped waiting for it)."""


@dataclass(frozen=True)
class _FusedRound:
    to_clauses: torch.Tensor  # (h x 2h): both literal signs' neighbour weights, applied before the mean
    clause_root: torch.Tensor  # (h x h): the clause's own state, summed over both relations
    clause_bias: torch.Tensor
    from_clauses: torch.Tensor  # (2h x h): the means over positive and over negative clauses
    variable_root: torch.Tensor  # (h x h)
    variable_bias: torch.Tensor
    norms: dict[str, nn.LayerNorm]


class FusedPhaseGNN:
    """A trained `PhaseGNN`'s forward pass for inference, computed as a few dense and sparse matrix
    products per round. Hand-written because PyG's `HeteroConv` of four `SAGEConv`s costs about 2 ms
    of Python per call on a formula of any size (most of a small formula's inference) and gathers and
    scatters every edge's message (most of a large one's): since the aggregation is a mean and the
    relations are summed, both signs' weights fuse into one product and the means into one sparse
    product per node kind. The tests check it against `PhaseGNN.forward`."""

    def __init__(self, model: PhaseGNN):
        self.model = model
        self.rounds = []
        for conv, norms in zip(model.rounds, model.norms):
            part = {relation: conv.convs[relation] for relation in RELATIONS}
            weight = lambda relation, kind: getattr(part[relation], kind).weight.detach()  # noqa: E731
            self.rounds.append(_FusedRound(
                to_clauses=torch.cat([weight(POSITIVE, "lin_l"), weight(NEGATIVE, "lin_l")]).t().contiguous(),
                clause_root=(weight(POSITIVE, "lin_r") + weight(NEGATIVE, "lin_r")).t().contiguous(),
                clause_bias=(part[POSITIVE].lin_l.bias + part[NEGATIVE].lin_l.bias).detach(),
                from_clauses=torch.cat([weight(POSITIVE_OF, "lin_l"), weight(NEGATIVE_OF, "lin_l")], 1)
                .t().contiguous(),
                variable_root=(weight(POSITIVE_OF, "lin_r") + weight(NEGATIVE_OF, "lin_r")).t().contiguous(),
                variable_bias=(part[POSITIVE_OF].lin_l.bias + part[NEGATIVE_OF].lin_l.bias).detach(),
                norms={VARIABLE: norms[VARIABLE], CLAUSE: norms[CLAUSE]}))

    @torch.inference_mode()
    def __call__(self, incidence: Incidence, stop: Callable[[], bool] = lambda: False) -> torch.Tensor:
        """One logit per variable; raises `Cancelled` between rounds once `stop()` is true."""
        n = incidence.variables
        clause_matrix, variable_matrix = mean_adjacency(incidence)
        variables = torch.relu(self.model.embed[VARIABLE](torch.from_numpy(incidence.variable_features()).float()))
        clauses = torch.relu(self.model.embed[CLAUSE](torch.from_numpy(incidence.clause_features()).float()))
        hidden = variables.shape[1]
        for fused in self.rounds:
            if stop():
                raise Cancelled()
            signed = (variables @ fused.to_clauses).reshape(2 * n, hidden)
            clause_update = torch.addmm(fused.clause_bias, clauses, fused.clause_root)
            clause_update += torch.from_numpy(clause_matrix @ signed.numpy())
            means = torch.from_numpy(variable_matrix @ clauses.numpy()).reshape(n, 2 * hidden)
            variable_update = torch.addmm(fused.variable_bias, means, fused.from_clauses)
            variable_update.addmm_(variables, fused.variable_root)
            clauses = self._norm(fused.norms[CLAUSE], clause_update.relu_().add_(clauses))
            variables = self._norm(fused.norms[VARIABLE], variable_update.relu_().add_(variables))
        return self.model.head(variables).squeeze(-1)

    @staticmethod
    def _norm(norm: nn.LayerNorm, states: torch.Tensor) -> torch.Tensor:
        return functional.layer_norm(states, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
