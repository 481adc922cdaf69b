"""Train a TopK SAE on collected activations with SAELens's own trainer, save it in SAELens's format, measure it.

SAELens supplies the module (`TopKTrainingSAE`: TopK activation, auxiliary loss for dead features, decoder-norm
handling), the training loop (`SAETrainer`: Adam, schedules, activation-norm scaling folded into the weights at the
end) and the saved format (`cfg.json` + `sae_weights.safetensors`, opened by `SAE.load_from_disk`). Written here:
the data provider over our shards (SAELens's own activation store drives a TransformerLens model, and the project
uses the plain Hugging Face model) and the quality measures, which need that same model with our hook
(SAELens's `evals` also expect a TransformerLens model).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from agent.sae.collect import read_split
from agent.sae.hook import layer_hook

BATCH_TOKENS = 1024
CE_WINDOWS = 24  # held-out windows run through the model for the cross-entropy measure
# A feature that has not fired for this many training tokens counts as dead, and from then on SAELens's auxiliary-k
# loss trains it to reconstruct the residual error. A live feature at the mean rate (k / width per token) fires
# hundreds of times in this window; SAELens's own default (1000 steps of its batches) is longer than a whole
# training run on a CPU-collected corpus, so the loss would never revive anything.
DEAD_WINDOW_TOKENS = 32 * BATCH_TOKENS


def _batches(activations: torch.Tensor, seed: int) -> Iterator[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(activations.shape[0], generator=generator)
        for start in range(0, len(order) - BATCH_TOKENS + 1, BATCH_TOKENS):
            yield activations[order[start:start + BATCH_TOKENS]]


def new_sae(d_in: int, width: int, k: int, metadata: dict[str, Any], seed: int) -> Any:
    """A freshly (randomly) initialised SAELens TopK training SAE."""
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(seed)
    config = TopKTrainingSAEConfig(d_in=d_in, d_sae=width, k=k, dtype="float32", device="cpu",
                                   normalize_activations="expected_average_only_in",
                                   metadata=SAEMetadata(**metadata))
    return TopKTrainingSAE(config)


def load_sae(path: Path | str) -> Any:
    """An SAE saved in SAELens's format (ours, or a user's public one), for inference."""
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(path), device="cpu")
    sae.eval()
    return sae


def train(model: torch.nn.Module, tokenizer: Any, activations: Path, out: Path, width: int | None = None, k: int = 32,
          epochs: float = 4.0, seed: int = 0, lr: float = 1e-3) -> dict[str, Any]:
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    from sae_lens import SAETrainer
    from sae_lens.config import SAETrainerConfig

    collection = json.loads((activations / "collection.json").read_text())
    train_acts = read_split(activations, "train")["activations"].float()
    d_in = train_acts.shape[1]
    width = width or 4 * d_in
    metadata = {"model_name": collection["model"], "hook_name": collection["hook_name"],
                "context_size": collection["sequence_tokens"], "prepend_bos": False, "seqpos_slice": [1, None]}
    sae = new_sae(d_in, width, k, metadata, seed)
    total = int(epochs * train_acts.shape[0]) // BATCH_TOKENS * BATCH_TOKENS
    steps = total // BATCH_TOKENS
    config = SAETrainerConfig(total_training_samples=total, train_batch_size_samples=BATCH_TOKENS, lr=lr,
                              lr_scheduler_name="constant", lr_warm_up_steps=max(1, steps // 20),
                              lr_decay_steps=max(1, steps // 5), lr_end=lr / 10, device="cpu",
                              dead_feature_window=DEAD_WINDOW_TOKENS // BATCH_TOKENS,
                              feature_sampling_window=DEAD_WINDOW_TOKENS // BATCH_TOKENS,
                              n_batches_for_norm_estimate=16)
    started = time.perf_counter()
    trainer = SAETrainer(config, sae, _batches(train_acts, seed))
    trained = trainer.fit()
    training_s = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    trained.save_inference_model(out)
    sae = load_sae(out)
    quality = measure(sae, model, activations, train_acts)
    summary = {"width": width, "k": k, "model": collection["model"], "layer": collection["layer"],
               "layer_hook": collection["hook_name"], "activations": str(activations.resolve()),
               "tokens_trained": total,
               "distinct_training_tokens": int(train_acts.shape[0]), "steps": steps, "training_s": round(training_s, 1),
               "threads": torch.get_num_threads(), **quality}
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


@torch.no_grad()
def measure(sae: Any, model: torch.nn.Module, activations: Path, train_acts: torch.Tensor | None = None) -> dict[str, Any]:
    """Held-out L0, explained variance, CE loss recovered; dead features over the training activations."""
    held_out = read_split(activations, "heldout")["activations"].float()
    features = sae.encode(held_out)
    reconstruction = sae.decode(features)
    residual = (held_out - reconstruction).pow(2).sum()
    variance = (held_out - held_out.mean(0)).pow(2).sum()
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    for chunk in (train_acts if train_acts is not None else held_out).split(8192):
        fired |= (sae.encode(chunk) > 0).any(0)
    windows = json.loads((activations / "heldout_windows.json").read_text())[:CE_WINDOWS]
    hook_name = sae.cfg.metadata.hook_name
    return {"heldout_tokens": int(held_out.shape[0]), "l0": round(float((features > 0).sum(-1).float().mean()), 2),
            "explained_variance": round(float(1 - residual / variance), 4),
            "dead_fraction": round(float(1 - fired.float().mean()), 4),
            **ce_loss_recovered(sae, model, hook_name, windows)}


@torch.no_grad()
def ce_loss_recovered(sae: Any, model: torch.nn.Module, hook_name: str, windows: list[list[int]]) -> dict[str, float]:
    """Next-token cross-entropy on held-out windows: clean, with the layer's output replaced by the SAE's
    reconstruction (positions after the first), and with it zeroed; recovered = (zero - patched) / (zero - clean)."""
    def loss(replace: Any) -> float:
        total, count = 0.0, 0
        for window in windows:
            ids = torch.tensor([window])
            if replace is None:
                logits = model(input_ids=ids).logits
            else:
                with layer_hook(model, hook_name, replace):
                    logits = model(input_ids=ids).logits
            # Predictions from position 1 on (position 0 is never patched): targets 2..end.
            losses = torch.nn.functional.cross_entropy(logits[0, 1:-1], ids[0, 2:], reduction="sum")
            total, count = total + float(losses), count + ids.shape[1] - 2
        return total / count

    def patched(hidden: torch.Tensor) -> torch.Tensor:
        replaced = hidden.clone()
        replaced[:, 1:] = sae.decode(sae.encode(hidden[:, 1:]))
        return replaced

    def zeroed(hidden: torch.Tensor) -> torch.Tensor:
        replaced = hidden.clone()
        replaced[:, 1:] = 0
        return replaced

    clean, with_sae, zero = loss(None), loss(patched), loss(zeroed)
    return {"ce_clean": round(clean, 4), "ce_patched": round(with_sae, 4), "ce_zero_ablation": round(zero, 4),
            "ce_loss_recovered": round((zero - with_sae) / (zero - clean), 4)}


def random_like(sae: Any, seed: int = 12345) -> Any:
    """A randomly initialised inference SAE of the same architecture and shape (SAELens's initialisation): the
    report's control, which shows what a feature analysis finds without any training."""
    from sae_lens import SAE

    config = type(sae.cfg).from_dict(sae.cfg.to_dict())
    torch.manual_seed(seed)
    control = SAE.get_sae_class_for_architecture(config.architecture())(config)
    control.eval()
    return control
