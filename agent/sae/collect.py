"""Residual-stream activations of the proposing model at one layer, over the offline corpus, in shards on disk.

The corpus's documents are tokenized and cut into windows of `SEQUENCE_TOKENS`; every tenth window (by its
number) goes to the held-out split, used only to measure the SAE. The first position of each window is not stored:
it is an attention sink with a norm tens of times the others, which an SAE would spend features on. The forward pass
stops at the hooked layer (nothing after it is needed), which halves the cost. Ctrl-C or SIGTERM ends a collection
early and keeps what it has. A collection asked for more tokens than a compatible one already on disk holds (same
model, layer, seed and window length) extends it: the finished windows are skipped (tokenizing them is cheap; the
forward passes are the cost) and the new shards are written beside the old ones.

Speed on a CPU is the forward pass's matrix products; with other processes on the same cores, one torch thread does
the same work in under half the CPU time of two (OpenMP threads spin waiting for a descheduled peer): `--threads 1`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors.torch import save_file

from agent.files import folder_written_atomically
from agent.llm.models import cache_root
from agent.sae.corpus import documents
from agent.sae.hook import default_layer, layer_hook

SEQUENCE_TOKENS = 128
BATCH_WINDOWS = 8
SHARD_TOKENS = 16384
HELD_OUT_EVERY = 10


def _interrupt(_signal: int, _frame: Any) -> None:
    raise KeyboardInterrupt


class _StopForward(Exception):
    """Raised by the collecting hook: the layers after the hooked one are not needed."""


def activations_dir(model_name: str, layer: int) -> Path:
    return cache_root() / "sae" / model_name / f"layer{layer}"


def hook_name_for(layer: int) -> str:
    return f"model.layers.{layer}"


def windows(tokenizer: Any, seed: int, data: Path | None) -> Iterator[tuple[list[int], str]]:
    """Windows of SEQUENCE_TOKENS token ids, each with its document's source; a document's tail shorter than a
    quarter window is dropped."""
    for document in documents(seed, data):
        ids = tokenizer(document.text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), SEQUENCE_TOKENS):
            window = ids[start:start + SEQUENCE_TOKENS]
            if len(window) >= SEQUENCE_TOKENS // 4:
                yield window, document.source


@dataclass
class _ShardWriter:
    directory: Path
    buffers: dict[str, list[torch.Tensor]]
    count: int = 0
    shards: int = 0
    total: int = 0

    def add(self, activations: torch.Tensor, tokens: torch.Tensor, window: torch.Tensor, position: torch.Tensor) -> None:
        for key, value in (("activations", activations.to(torch.float16)), ("tokens", tokens.to(torch.int32)),
                           ("window", window.to(torch.int32)), ("position", position.to(torch.int16))):
            self.buffers.setdefault(key, []).append(value)
        self.count += activations.shape[0]
        self.total += activations.shape[0]
        if self.count >= SHARD_TOKENS:
            self.flush()

    def resume(self, previous: Path) -> None:
        """Carry over a previous collection's shards of this split (hard links: nothing is copied)."""
        for shard in sorted((previous / self.directory.name).glob("shard-*.safetensors")):
            os.link(shard, self.directory / shard.name)
            self.shards += 1
        self.total = _shard_tokens(self.directory)

    def flush(self) -> None:
        if not self.count:
            return
        tensors = {key: torch.cat(values).contiguous() for key, values in self.buffers.items()}
        save_file(tensors, str(self.directory / f"shard-{self.shards:05d}.safetensors"))
        self.buffers, self.count, self.shards = {}, 0, self.shards + 1


def _shard_tokens(directory: Path) -> int:
    from safetensors import safe_open

    total = 0
    for shard in directory.glob("shard-*.safetensors"):
        with safe_open(str(shard), "pt") as opened:
            total += opened.get_slice("activations").get_shape()[0]
    return total


def _extendable(destination: Path, model_name: str, layer: int, seed: int) -> dict[str, Any] | None:
    """The record of a collection at `destination` that this one can extend, if any."""
    try:
        record = json.loads((destination / "collection.json").read_text())
    except (OSError, ValueError):
        return None
    same = (record.get("model"), record.get("layer"), record.get("seed"), record.get("sequence_tokens")) == \
        (model_name, layer, seed, SEQUENCE_TOKENS)
    return record if same and (destination / "heldout_windows.json").is_file() else None


def collect(model: torch.nn.Module, tokenizer: Any, destination: Path, model_name: str, layer: int | None = None,
            tokens: int = 200_000, seed: int = 0, data: Path | None = None, log: Any = sys.stderr) -> dict[str, Any]:
    """Store about `tokens` training activations (plus a tenth as many held out) under `destination`, replacing
    what was there only once everything is written."""
    layer = default_layer(model) if layer is None else layer
    if not 0 <= layer < model.config.num_hidden_layers:
        raise ValueError(f"--layer {layer}: the model has layers 0..{model.config.num_hidden_layers - 1}")
    with folder_written_atomically(destination, replace=True) as staging:
        writers = {split: _ShardWriter(staging / split, {}) for split in ("train", "heldout")}
        for writer in writers.values():
            writer.directory.mkdir()
        captured: list[torch.Tensor] = []

        def capture(hidden: torch.Tensor) -> None:
            captured.append(hidden.detach().float())
            raise _StopForward

        held_out_windows: list[list[int]] = []
        sources: dict[str, int] = {}
        previous = _extendable(destination, model_name, layer, seed)
        if previous is not None and previous["train_tokens"] < tokens:
            for writer in writers.values():
                writer.resume(destination)
            held_out_windows = json.loads((destination / "heldout_windows.json").read_text())
            sources = dict(previous["tokens_by_source"])
            print(f"  extending the collection in {destination} ({previous['train_tokens']} tokens)", file=log, flush=True)
        else:
            previous = None
        started = time.perf_counter()
        batch: list[tuple[int, list[int]]] = []
        window_count = 0
        done_windows = previous["windows"] if previous else 0

        def run_batch() -> None:
            width = max(len(ids) for _, ids in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, ids) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                mask[row, : len(ids)] = 1
            captured.clear()
            with layer_hook(model, hook_name_for(layer), capture), torch.inference_mode():
                try:
                    model.model(input_ids=input_ids, attention_mask=mask)
                except _StopForward:
                    pass
            hidden = captured[0]
            for row, (number, ids) in enumerate(batch):
                keep = slice(1, len(ids))  # position 0 is the attention sink
                positions = torch.arange(1, len(ids))
                split = "heldout" if number % HELD_OUT_EVERY == 0 else "train"
                writers[split].add(hidden[row, keep], input_ids[row, keep], torch.full_like(positions, number), positions)
            batch.clear()

        interrupted = False
        # SIGINT and SIGTERM end the collection early, keeping the finished batches (a background job's SIGINT is
        # ignored by default, hence both, and set here).
        handlers = {number: signal.signal(number, _interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            for ids, source in windows(tokenizer, seed, data):
                if writers["train"].total >= tokens:
                    break
                if window_count < done_windows:
                    window_count += 1
                    continue
                if window_count % HELD_OUT_EVERY == 0:
                    held_out_windows.append(ids)
                sources[source] = sources.get(source, 0) + len(ids)
                batch.append((window_count, ids))
                window_count += 1
                if len(batch) == BATCH_WINDOWS:
                    run_batch()
                    print(f"  {writers['train'].total} / {tokens} tokens ({time.perf_counter() - started:.0f} s)",
                          file=log, flush=True)
            if batch:
                run_batch()
        except KeyboardInterrupt:  # Ctrl-C (SIGINT) ends the collection early and keeps the finished batches
            interrupted = True
            print("interrupted: keeping the activations collected so far", file=log, flush=True)
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        for writer in writers.values():
            writer.flush()
        record = {
            "model": model_name, "layer": layer, "hook_name": hook_name_for(layer), "d_in": model.config.hidden_size,
            "sequence_tokens": SEQUENCE_TOKENS, "train_tokens": writers["train"].total,
            "heldout_tokens": writers["heldout"].total, "windows": window_count, "tokens_by_source": sources,
            "seed": seed, "collect_s": round(time.perf_counter() - started + (previous["collect_s"] if previous else 0), 1),
            "threads": torch.get_num_threads(), "interrupted": interrupted,
            "sessions": [*(previous.get("sessions") or [{"train_tokens": previous["train_tokens"],
                                                          "collect_s": previous["collect_s"]}] if previous else []),
                         {"train_tokens": writers["train"].total, "collect_s": round(time.perf_counter() - started, 1),
                          "threads": torch.get_num_threads()}],
        }
        (staging / "collection.json").write_text(json.dumps(record, indent=2))
        # The held-out windows' token ids, whole: the CE-loss measure runs the model over them again.
        (staging / "heldout_windows.json").write_text(json.dumps(held_out_windows))
    return record


def read_split(directory: Path, split: str) -> dict[str, torch.Tensor]:
    """All shards of one split concatenated (the collections here are small enough to hold in memory)."""
    from safetensors.torch import load_file

    shards = sorted((directory / split).glob("shard-*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no {split} activations in {directory}: run `python -m agent sae collect` first")
    loaded = [load_file(str(path)) for path in shards]
    return {key: torch.cat([shard[key] for shard in loaded]) for key in loaded[0]}
