"""The phase predictor: message passing over the signed variable-clause graph (NeuroBack-style).

Each round every clause gathers its variables' states through the positive and the negative edge
types separately (a literal's sign decides which weights carry it), then every variable gathers its
clauses' states the same way; layer norm and a residual keep deep rounds stable. A final MLP turns a
variable's state into one logit: P(variable is true in a model, or in the backbone).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, SAGEConv

from agent.gnn.graph import CLAUSE, CLAUSE_FEATURES, RELATIONS, VARIABLE, VARIABLE_FEATURES


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
