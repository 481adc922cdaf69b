"""Loading the trained phase predictor and predicting a formula's phases."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from agent.gnn.graph import cnf_graph
from agent.gnn.model import ModelConfig, PhaseGNN
from verifiers.phases import PhaseHint

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "phase_gnn.safetensors"
CONFIG_FILE = "phase_gnn.json"
# One thread: on a busy machine torch's thread pool makes a small graph's forward pass slower, not faster.
INFERENCE_THREADS = 1


class WeightsError(Exception):
    """Missing or unreadable weights; the message is one line."""


@dataclass
class LoadedPredictor:
    model: PhaseGNN
    card: dict  # the JSON beside the weights: config, training data, held-out accuracy
    source: str

    @torch.no_grad()
    def predict(self, variables: int, clauses: list[list[int]], threshold: float | None = None) -> PhaseHint:
        """The predicted phase of every variable 1..n with its confidence |2p - 1| (p: the predicted
        probability of true), timed from the formula to the hint (graph building included)."""
        torch.set_num_threads(INFERENCE_THREADS)
        started = time.perf_counter()
        if variables == 0:
            return PhaseHint(phases=(), confidences=(), threshold=threshold, source=self.source)
        probabilities = torch.sigmoid(self.model(cnf_graph(variables, clauses))).tolist()
        phases = tuple(v if p >= 0.5 else -v for v, p in enumerate(probabilities, start=1))
        confidences = tuple(min(1.0, abs(2.0 * p - 1.0)) for p in probabilities)
        return PhaseHint(phases=phases, confidences=confidences, threshold=threshold, source=self.source,
                         inference_s=time.perf_counter() - started)


def save_predictor(model: PhaseGNN, card: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    weights, config = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    # Written beside, then renamed: a killed run never leaves half-written weights.
    save_file(model.state_dict(), str(weights) + ".part")
    Path(str(config) + ".part").write_text(json.dumps({"config": model.config.to_dict(), **card}, indent=1) + "\n")
    for final in (weights, config):
        part = Path(str(final) + ".part")
        part.chmod(0o644)  # readable by every user of the installed package
        part.replace(final)


def load_predictor(directory: Path | None = None) -> LoadedPredictor:
    directory = directory or WEIGHTS_DIR
    weights, config = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    if not weights.is_file() or not config.is_file():
        raise WeightsError(f"no trained phase predictor in {directory} (run `python -m agent gnn train`)")
    try:
        card = json.loads(config.read_text())
        model = PhaseGNN(ModelConfig(**card["config"]))
        model.load_state_dict(load_file(str(weights)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise WeightsError(f"cannot load the phase predictor from {directory}: {' '.join(str(error).split())[:200]}") from None
    model.eval()
    return LoadedPredictor(model, card, f"phase-gnn {card.get('trained_at', '?')}")
