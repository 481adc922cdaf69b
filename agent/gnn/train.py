"""Training the phase predictor: generate instances, label them with the solver, fit the GNN.

Instances are drawn from `agent.gnn.generate` with seeds derived from the run's seed; the
unsatisfiable ones (no phases to learn) and the ones whose labelling times out are skipped. Each
variable's target is its backbone value, or for a variable outside the backbone the share of the
models met in which it is true; the loss is binary cross-entropy against that soft target. A tenth of
the instances (at least one per family) is held out; the model card reports accuracy on them.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

from agent.gnn.generate import GeneratedInstance, generate
from agent.gnn.graph import VARIABLE, cnf_graph
from agent.gnn.labels import LabelTimeout, phase_labels
from agent.gnn.model import ModelConfig, PhaseGNN
from agent.gnn.predict import save_predictor

HELD_OUT_SHARE = 0.1
LABEL_TIMEOUT_S = 20.0
TRAINING_THREADS = 1


def formula_digest(clauses: list[list[int]]) -> str:
    """A short fingerprint of a formula (its clauses as sorted sets, order-independent), so a benchmark
    can prove its instances were never trained on."""
    canonical = sorted(tuple(sorted(set(clause))) for clause in clauses)
    return hashlib.sha256(repr(canonical).encode()).hexdigest()[:16]


@dataclass
class LabelledGraph:
    instance: GeneratedInstance
    graph: HeteroData  # variable nodes carry `y` (soft target) and `backbone` (bool mask)


def label_instance(instance: GeneratedInstance) -> LabelledGraph | None:
    try:
        labels = phase_labels(instance.variables, instance.clauses, LABEL_TIMEOUT_S)
    except LabelTimeout:
        return None
    if labels is None:
        return None
    graph = cnf_graph(instance.variables, instance.clauses)
    graph[VARIABLE].y = torch.tensor([labels.target(v) for v in range(1, instance.variables + 1)])
    graph[VARIABLE].backbone = torch.tensor(
        [v in labels.backbone or -v in labels.backbone for v in range(1, instance.variables + 1)])
    return LabelledGraph(instance, graph)


def build_dataset(families: list[str], instances: int, seed: int,
                  progress: Callable[[str], None] = lambda _: None,
                  sizes: tuple[int, ...] | None = None) -> list[LabelledGraph]:
    """`instances` labelled satisfiable formulas, spread evenly over `families`, at `sizes` (default: each
    family's own training sizes)."""
    dataset: list[LabelledGraph] = []
    for position, family in enumerate(families):
        wanted = instances // len(families) + (position < instances % len(families))
        drawn = kept = 0
        while kept < wanted and drawn < 4 * wanted + 20:
            rng = random.Random(f"train-{seed}-{family}-{drawn}")
            instance = generate(family, rng, rng.choice(sizes) if sizes else None)
            drawn += 1
            labelled = label_instance(instance)
            if labelled is not None:
                dataset.append(labelled)
                kept += 1
        progress(f"{family}: {kept} labelled of {drawn} drawn")
    return dataset


def split(dataset: list[LabelledGraph], seed: int) -> tuple[list[LabelledGraph], list[LabelledGraph]]:
    """(train, held out): a tenth of every family, at least one instance when it has two."""
    rng = random.Random(f"split-{seed}")
    train, held_out = [], []
    for family in dict.fromkeys(item.instance.family for item in dataset):
        members = [item for item in dataset if item.instance.family == family]
        rng.shuffle(members)
        count = max(1, round(HELD_OUT_SHARE * len(members))) if len(members) > 1 else 0
        held_out += members[:count]
        train += members[count:]
    return train, held_out


@torch.no_grad()
def accuracy(model: PhaseGNN, items: list[LabelledGraph]) -> dict[str, dict[str, float]]:
    """Per family and overall: the share of backbone variables whose predicted phase is the backbone's,
    and of all variables whose predicted phase agrees with the rounded target."""
    model.eval()
    totals: dict[str, list[int]] = {}
    for item in items:
        predicted = model(item.graph) >= 0
        target = item.graph[VARIABLE].y >= 0.5
        backbone = item.graph[VARIABLE].backbone
        for key in (item.instance.family, "all"):
            counts = totals.setdefault(key, [0, 0, 0, 0])
            counts[0] += int((predicted == target)[backbone].sum())
            counts[1] += int(backbone.sum())
            counts[2] += int((predicted == target).sum())
            counts[3] += len(target)
    return {key: {"backbone_accuracy": round(c[0] / c[1], 4) if c[1] else None, "backbone_variables": c[1],
                  "phase_accuracy": round(c[2] / c[3], 4), "variables": c[3]} for key, c in totals.items()}


def train(families: list[str], instances: int, epochs: int, destination: Path, seed: int = 0,
          config: ModelConfig = ModelConfig(), batch_size: int = 8,
          progress: Callable[[str], None] = lambda _: None, sizes: tuple[int, ...] | None = None) -> dict:
    """Generate, label, train and save; returns the model card's data."""
    torch.set_num_threads(TRAINING_THREADS)
    torch.manual_seed(seed)
    started = time.perf_counter()
    dataset = build_dataset(families, instances, seed, progress, sizes)
    if len(dataset) < 2:
        raise ValueError(f"only {len(dataset)} satisfiable instances could be labelled; ask for more")
    labelling_s = time.perf_counter() - started
    train_items, held_out = split(dataset, seed)
    model = PhaseGNN(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, epochs))
    loader = DataLoader([item.graph for item in train_items], batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    loss_function = torch.nn.BCEWithLogitsLoss()
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch in loader:
            optimiser.zero_grad()
            loss = loss_function(model(batch), batch[VARIABLE].y)
            loss.backward()
            optimiser.step()
            total += loss.item() * batch.num_graphs
        scheduler.step()
        progress(f"epoch {epoch}/{epochs}: training loss {total / len(train_items):.4f}")
    card = {
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": seed, "epochs": epochs, "batch_size": batch_size,
        "families": families,
        "instances": {"labelled": len(dataset), "train": len(train_items), "held_out": len(held_out)},
        "sizes": {family: sorted({item.instance.variables for item in dataset if item.instance.family == family})
                  for family in families},
        "labelling_s": round(labelling_s, 1), "total_s": round(time.perf_counter() - started, 1),
        "train_accuracy": accuracy(model, train_items)["all"],
        "held_out_accuracy": accuracy(model, held_out),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_formulas": sorted(formula_digest(item.instance.clauses) for item in dataset),
    }
    save_predictor(model, card, destination)
    (destination / "MODEL_CARD.md").write_text(model_card({"config": config.to_dict(), **card}))
    return card


def model_card(card: dict) -> str:
    rows = "\n".join(
        f"| {family} | {figures['backbone_accuracy'] if figures['backbone_accuracy'] is not None else '-'} "
        f"({figures['backbone_variables']}) | {figures['phase_accuracy']} ({figures['variables']}) |"
        for family, figures in sorted(card["held_out_accuracy"].items(), key=lambda item: item[0] == "all"))
    sizes = "; ".join(f"{family}: {', '.join(map(str, sizes))}" for family, sizes in card["sizes"].items())
    return f"""# Phase predictor (agent/gnn): model card

A graph neural network over the signed variable-clause graph of a CNF formula (`agent/gnn/model.py`:
{card['config']['rounds']} rounds of message passing, hidden size
{card['config']['hidden']}, {card['parameters']} parameters) that predicts, for each
variable, the probability that it is true: its backbone value where it has one, else the share of
solver models in which it is true. Its output is a hint to the SAT solver's phase selection and
nothing else: verdicts are checked exactly as without it.

## Data

Generated by `agent/gnn/generate.py` (seeds `train-{card['seed']}-FAMILY-i`), labelled by
`agent/gnn/labels.py` (backbone by assumption solving with glucose4; unsatisfiable or timed-out
instances skipped): {card['instances']['labelled']} satisfiable formulas, {card['instances']['train']} for
training and {card['instances']['held_out']} held out. Families: {', '.join(card['families'])}.
Variables per formula: {sizes}. No SATLIB file was used. `phase_gnn.json` lists the fingerprints of
every training formula (`training_formulas`), which the benchmark checks against.

## Training

`python -m agent gnn train` on {card['trained_at']}: {card['epochs']} epochs, batch {card['batch_size']},
Adam (2e-3, cosine), binary cross-entropy against the soft targets, one CPU thread; labelling
{card['labelling_s']} s, everything {card['total_s']} s (a shared 2-core machine, `nice -n 10`).

## Held-out accuracy

Backbone accuracy: the share of backbone variables whose predicted phase is the backbone's. Phase
accuracy: the share of all variables whose predicted phase agrees with the rounded target (for a
variable outside the backbone the rounded target is the value most of the labeller's models give it,
so this figure is only a rough guide). In parentheses: how many variables.

| family | backbone accuracy | phase accuracy |
|---|---|---|
{rows}

On the training set: backbone accuracy {card['train_accuracy']['backbone_accuracy']}, phase accuracy
{card['train_accuracy']['phase_accuracy']}.

## Inference

`predict` runs the trained weights through `FusedPhaseGNN` (`agent/gnn/model.py`): the same
function as the PyTorch Geometric forward pass, as a few dense and sparse matrix products per
round, on one CPU thread. `benchmarks/gnn_inference.py` measures it; whether the hint pays for its
cost is measured per family by `benchmarks/gnn.py` (BENCHMARKS.md, GNN section), not here.

## Limits

Colouring-like families have symmetric solutions (any permutation of the colours), so they have
no backbone and a variable's phase is a matter of which solution the solver happens to find; the
predictor can only learn that most one-hot variables are false. The labels come from one solver's
models and are biased towards its default phases.
"""
