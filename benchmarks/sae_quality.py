"""SAE quality on held-out text, against a randomly initialised SAE of the same shape in the same run.

Reads an SAE folder written by `python -m agent sae train` (its training.json names the activations and holds the
training time) and measures, on the held-out split of `python -m agent sae collect`: L0, explained variance,
cross-entropy loss recovered when the reconstruction is patched into the forward pass (against zero ablation),
fraction of dead features (over the training activations).

    python benchmarks/sae_quality.py runs/sae
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu import cpu_model  # noqa: E402

TARGETS = {"explained_variance": (">=", 0.85), "l0": ("<=", 32), "ce_loss_recovered": (">=", 0.85),
           "dead_fraction": ("<=", 0.10)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sae", nargs="?", default="bundled", help="an SAE folder, or bundled (the shipped one)")
    arguments = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from agent.llm import load_proposer
    from agent.sae.collect import read_split
    from agent.sae.hook import sae_folder
    from agent.sae.train import load_sae, measure, random_like

    folder = sae_folder(arguments.sae)
    training = json.loads((folder / "training.json").read_text())
    activations = Path(training["activations"])
    proposer = load_proposer(None).load()
    train_acts = read_split(activations, "train")["activations"].float()
    sae = load_sae(folder)
    rows = {"trained SAE": measure(sae, proposer.model, activations, train_acts),
            "random SAE, same shape": measure(random_like(sae), proposer.model, activations, train_acts)}
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"SAE: {folder} (width {training['width']}, k {training['k']}, hook {training['layer_hook']}); "
          f"trained on {training['tokens_trained']} tokens ({training['distinct_training_tokens']} distinct) in "
          f"{training['training_s']} s with {training['threads']} threads")
    print("| SAE | L0 | explained variance | CE clean | CE patched | CE zero-ablation | CE loss recovered | dead |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['l0']} | {row['explained_variance']} | {row['ce_clean']} | {row['ce_patched']} | "
              f"{row['ce_zero_ablation']} | {row['ce_loss_recovered']} | {row['dead_fraction']} |")
    trained = rows["trained SAE"]
    for key, (sign, target) in TARGETS.items():
        met = trained[key] >= target if sign == ">=" else trained[key] <= target
        print(f"target {key} {sign} {target}: {'met' if met else 'NOT met'} ({trained[key]})")
    met = training["training_s"] <= 20 * 60
    print(f"target training <= 20 min: {'met' if met else 'NOT met'} ({training['training_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
