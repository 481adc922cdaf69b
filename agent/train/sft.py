"""Supervised fine-tuning on verified answers (TRL's SFTTrainer), full or with LoRA (peft), on the CPU.

Each training example is the text the proposer gives the model (the chat through the tokenizer's
template, then the response prefix: `agent.llm.hf.render_text`) as the prompt, and the verified
answer closing the reply's code block as the completion; the loss is taken on the completion's tokens
only. A LoRA adapter is merged into the weights on save, so the folder written is a plain Hugging Face
model that `--model FOLDER` loads like any other. Training stops at a wall-clock limit (`max_minutes`)
and says so. The folder appears whole or not at all, with a model card (README.md) and `training.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from agent.files import folder_written_atomically, write_atomically
from agent.llm.base import ModelError
from agent.train.data import DataError, Example, read_dataset

# What follows the answer in the model's reply: the response prefix opens a ```c block.
ANSWER_END = "\n```"
CARD = "README.md"
RECORD = "training.json"


class SFTSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="The model to start from (`--model`; default: the bundled one).")
    lora: bool = Field(default=False, description="Train a LoRA adapter (merged on save) instead of every weight.")
    epochs: float = Field(default=3.0, gt=0)
    learning_rate: float | None = Field(default=None, gt=0, description="Default 5e-5 (full), 5e-4 (LoRA).")
    batch_size: int = Field(default=4, ge=1)
    max_steps: int = Field(default=-1, description="Stop after this many optimiser steps (-1: the epochs decide).")
    max_minutes: float = Field(default=30.0, gt=0, description="Wall-clock limit; training stops there and says so.")
    lora_rank: int = Field(default=16, ge=1)
    top_layers: int | None = Field(default=None, ge=1, description="Train only the last N decoder layers (the rest "
                                   "frozen: the backward pass stops there, which roughly halves a step's cost on a CPU).")
    max_length: int = Field(default=1024, ge=64, description="Tokens per example (prompt and answer); longer "
                            "examples are left out and counted, not cut (a cut one would lose its answer).")
    seed: int = 0

    @property
    def rate(self) -> float:
        return self.learning_rate or (5e-4 if self.lora else 5e-5)


class TrainResult(BaseModel):
    out: str
    base_model: str
    base_revision: str | None
    examples: int
    tasks: int
    too_long: int = Field(default=0, description="Examples left out for being longer than max_length tokens.")
    steps: int
    epochs_done: float
    first_loss: float | None
    last_loss: float | None
    train_s: float
    stopped_by_time: bool
    tokens_per_s: float


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _layer_number(parameter_name: str) -> int | None:
    parts = parameter_name.split(".")
    return int(parts[parts.index("layers") + 1]) if "layers" in parts else None


def _layer_linears(model: Any) -> list[str]:
    """The names of the decoder layers' linear modules (q_proj, ..., down_proj): peft needs them listed
    when only some layers get adapters."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and _layer_number(name) is not None})


def _top_layers(model: Any, count: int | None) -> list[int] | None:
    if count is None:
        return None
    layers = model.config.num_hidden_layers
    return list(range(max(0, layers - count), layers))


def training_rows(examples: list[Example], tokenizer: Any) -> list[dict[str, str]]:
    """Prompt-completion rows for TRL: the proposer's exact input text, then the answer closing the block."""
    from agent.llm.hf import render_text

    return [{"prompt": render_text(tokenizer, example.prompt), "completion": example.answer + ANSWER_END}
            for example in examples]


def fine_tune(data: Path, out: Path, settings: SFTSettings, figures: dict[str, Any] | None = None,
              say: Callable[[str], None] = lambda line: None) -> TrainResult:
    """Fine-tune `settings.model` on the train split of `data`; write the merged model to `out`.
    `figures` (e.g. evaluation results) are added to the model card; `say` hears each step's loss."""
    if out.exists():
        raise DataError(f"{out} already exists; name a new folder")
    examples = read_dataset(data, ("train",))
    if not examples:
        raise DataError(f"{data}: the train split is empty")
    from agent.llm.models import resolve

    resolved = resolve(settings.model)
    if resolved.backend != "transformers":
        raise ModelError(f"fine-tuning needs a local transformers model, not {resolved.location}")

    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.utils import logging as transformers_logging
    from trl import SFTConfig, SFTTrainer

    transformers_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(resolved.location, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(resolved.location, local_files_only=True, dtype=torch.float32)
    fitting = [(example, row) for example, row in zip(examples, training_rows(examples, tokenizer))
               if len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) <= settings.max_length]
    too_long = len(examples) - len(fitting)
    kept, rows = [example for example, _ in fitting], [row for _, row in fitting]
    if not rows:
        raise DataError(f"{data}: every training example is longer than {settings.max_length} tokens")
    deadline = time.monotonic() + settings.max_minutes * 60

    class StopAtDeadline(TrainerCallback):
        """Stops training at the wall-clock limit, and says how each step went (`say`)."""

        stopped = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.monotonic() >= deadline:
                StopAtDeadline.stopped = True
                control.should_training_stop = True
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                say(f"step {state.global_step}/{state.max_steps}: loss {logs['loss']:.4f}")

    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank, lora_dropout=0.05,
                                 target_modules=_layer_linears(model), task_type="CAUSAL_LM",
                                 layers_to_transform=_top_layers(model, settings.top_layers))
    elif settings.top_layers is not None:
        trained = set(_top_layers(model, settings.top_layers))
        for name, parameter in model.named_parameters():
            layer = _layer_number(name)
            parameter.requires_grad = (layer in trained) if layer is not None else name.startswith("model.norm")
    with folder_written_atomically(out) as staging:
        config = SFTConfig(
            output_dir=str(staging / "checkpoints"), num_train_epochs=settings.epochs, max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size, learning_rate=settings.rate, lr_scheduler_type="cosine",
            warmup_steps=0, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=settings.seed,
            completion_only_loss=True, max_length=settings.max_length, packing=False, dataloader_num_workers=0,
            disable_tqdm=True, dataset_num_proc=None,
            # Batches of examples of like length: prompts range from about 300 to over 1,000 tokens, and a batch
            # is padded to its longest, so random batches spend much of a step on padding.
            train_sampling_strategy="group_by_length",
            # float32 throughout and no activation recomputation, against TRL's defaults (bfloat16 autocast,
            # recomputation on): with both on, a step took over ten times as long on this CPU (no native bfloat16),
            # and a 135M model does not need the memory recomputation saves.
            bf16=False, gradient_checkpointing=False,
        )
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                             peft_config=peft_config, callbacks=[StopAtDeadline()])
        started = time.perf_counter()
        output = trainer.train()
        train_s = time.perf_counter() - started
        trained = trainer.model.merge_and_unload() if settings.lora else trainer.model
        shutil.rmtree(staging / "checkpoints", ignore_errors=True)
        trained.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        tokens = max((entry.get("num_tokens", 0) for entry in trainer.state.log_history), default=0)
        result = TrainResult(
            out=str(out), base_model=resolved.name, base_revision=resolved.revision, examples=len(kept),
            tasks=len({example.task_id for example in kept}), too_long=too_long, steps=output.global_step,
            epochs_done=round(float(trainer.state.epoch or 0), 3), first_loss=losses[0] if losses else None,
            last_loss=losses[-1] if losses else None, train_s=round(train_s, 1),
            stopped_by_time=StopAtDeadline.stopped, tokens_per_s=round(tokens / train_s, 1) if train_s else 0.0)
        record = {"result": result.model_dump(), "settings": settings.model_dump(), "learning_rate": settings.rate,
                  "data": str(data.resolve()), "data_train_sha256": _digest(data / "train.jsonl"),
                  "data_report": json.loads((data / "report.json").read_text(encoding="utf-8")),
                  "trained": trained_counts(kept), "losses": losses, "figures": figures or {},
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
                             f"({torch.get_num_threads()} threads); load average at the end "
                             + ", ".join(f"{load:.1f}" for load in os.getloadavg()),
                  "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (staging / CARD).write_text(model_card(record), encoding="utf-8")
    return result


def trained_counts(examples: list[Example]) -> dict[str, dict[str, int]]:
    """What the trained examples are: by suite (the task id's prefix) and by the source that found them."""
    return {"by_suite": dict(Counter(example.task_id.split("/")[0] for example in examples).most_common()),
            "by_source": dict(Counter(example.sources[0] for example in examples).most_common())}


def model_card(record: dict[str, Any]) -> str:
    """The model card: what the model was trained on, how, and what it measured."""
    result, settings, report = record["result"], record["settings"], record["data_report"]
    trained = record.get("trained") or {"by_source": report["by_source"]}
    sources = ", ".join(f"{name} {count}" for name, count in trained["by_source"].items())
    suites = ", ".join(f"{name} {count}" for name, count in trained.get("by_suite", {}).items())
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-generation", "tags: [veriloop, loop-invariants]", "---",
        "", f"# {Path(result['out']).name}", "",
        f"{result['base_model']} fine-tuned by `python -m agent train sft` (veriloop) on loop invariants that the "
        "project's verifier (Z3, cross-checked by cvc5) accepted. Load it with `--model` pointing at this folder.", "",
        "## Data", "",
        f"- `{record['data']}` (train.jsonl sha256 `{record['data_train_sha256'][:16]}`)",
        f"- {result['examples']} training examples over {result['tasks']} tasks (train split"
        + (f"; {result['too_long']} more left out, longer than {settings['max_length']} tokens" if result.get("too_long") else "")
        + "); "
        f"held out: {report['examples']['test']} examples over {report['tasks']['test']} tasks (test split, never trained on)"
        + (f"; the test split is {report['held_out']}" if report.get("held_out") else ""),
        f"- trained answers by source: {sources}" + (f"; by suite: {suites}" if suites else ""),
        "- every answer was verified again and shrunk to the conjuncts it needs before training; "
        "the split is by task, so no task's answers are on both sides", "",
        "## Settings", "",
        f"- {'LoRA (rank %d, merged into the weights on save)' % settings['lora_rank'] if settings['lora'] else 'full fine-tune'}, "
        + (f"last {settings['top_layers']} decoder layers trained, the rest frozen, " if settings.get("top_layers") else "")
        + f"learning rate {record['learning_rate']:g} (cosine), batch {settings['batch_size']}, "
        f"epochs {settings['epochs']:g}" + (f" (at most {settings['max_steps']} steps)" if settings["max_steps"] > 0 else "")
        + f", seed {settings['seed']}, loss on the answer tokens only, float32",
        f"- machine: {record['machine']}", "",
        "## Figures", "",
        f"- {result['steps']} steps ({result['epochs_done']} epochs) in {result['train_s']} s "
        f"({result['train_s'] / 60:.1f} min; wall-clock limit {settings['max_minutes']:g} min)"
        + (" — stopped at the time limit" if result["stopped_by_time"] else ""),
        f"- training loss: first step {_rounded(result['first_loss'])}, last step {_rounded(result['last_loss'])}",
    ]
    for name, value in (record.get("figures") or {}).items():
        lines.append(f"- {name}: {value}")
    return "\n".join(lines) + "\n"


def _rounded(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def add_figures(model_dir: Path, figures: dict[str, Any]) -> None:
    """Add measured figures (an evaluation) to a trained model's record and card."""
    record = json.loads((model_dir / RECORD).read_text(encoding="utf-8"))
    record["figures"] = {**record.get("figures", {}), **figures}
    write_atomically(model_dir / RECORD, json.dumps(record, indent=2) + "\n")
    write_atomically(model_dir / CARD, model_card(record))
