"""Loading the trained phase predictor and predicting a formula's phases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from agent.gnn.graph import Incidence
from agent.gnn.model import FusedPhaseGNN, ModelConfig, PhaseGNN
from verifiers.phases import PhaseHint

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "phase_gnn.safetensors"
CONFIG_FILE = "phase_gnn.json"
# One thread: on a busy machine torch's thread pool makes a small graph's forward pass slower, not faster.
INFERENCE_THREADS = 1


class WeightsError(Exception):
    """Missing or unreadable weights; the message is one line."""


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's thread count is the process's: set for the inference, then given back (a language model in
    the same process keeps its own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class LoadedPredictor:
    model: PhaseGNN
    card: dict  # the JSON beside the weights: config, training data, held-out accuracy
    source: str
    fused: FusedPhaseGNN = field(init=False)

    def __post_init__(self) -> None:
        self.fused = FusedPhaseGNN(self.model)

    def predict(self, variables: int, clauses: Sequence[Sequence[int]], threshold: float | None = None,
                stop: Callable[[], bool] = lambda: False) -> PhaseHint:
        """The predicted phase of every variable 1..n with its confidence |2p - 1| (p: the predicted
        probability of true), timed from the formula to the hint (graph building included). Raises
        `agent.gnn.model.Cancelled` once `stop()` is true."""
        started = time.perf_counter()
        if variables == 0:
            return PhaseHint(phases=(), confidences=(), threshold=threshold, source=self.source)
        with torch_threads(INFERENCE_THREADS):
            probabilities = torch.sigmoid(self.fused(Incidence.of(variables, clauses), stop)).double().numpy()
        numbered = np.arange(1, variables + 1)
        return PhaseHint(phases=tuple(np.where(probabilities >= 0.5, numbered, -numbered).tolist()),
                         confidences=tuple(np.minimum(1.0, np.abs(2.0 * probabilities - 1.0)).tolist()),
                         threshold=threshold, source=self.source, inference_s=time.perf_counter() - started)


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
