"""`python -m agent train augment|synth|data|sft|iterate` (heavy imports happen inside the commands)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_train_commands(commands: Any, usage_error: type[Exception], add_run_options: Any) -> None:
    train = commands.add_parser("train", help="learn from verified answers: training data, fine-tuning, expert iteration (veriloop[train])")
    actions = train.add_subparsers(dest="action", required=True, parser_class=type(train),
                                  help="augment: program variants; synth: new random programs; data: a training set from runs; sft: fine-tune; iterate: expert iteration")

    data = actions.add_parser("data", help="a training set from the traces of solve/eval runs (verified answers only)")
    data.add_argument("runs", type=Path, nargs="+", help="eval run folders, solve run folders or trace files")
    data.add_argument("--out", type=Path, required=True, help="the data folder to write (must not exist)")
    data.add_argument("--test-share", type=float, default=0.1, help="share of tasks held out, chosen by a hash of the task id")
    data.add_argument("--test-suite", type=Path, default=None,
                      help="hold out exactly this suite's tasks instead (a folder of task files or a suite.yaml)")
    data.set_defaults(handler=lambda arguments: command_data(arguments, usage_error))

    augment = actions.add_parser("augment", help="variants of a suite's C programs (variables renamed, constants "
                                 "changed) to solve and learn from")
    augment.add_argument("suite", type=Path, help="a folder of task files or a suite.yaml")
    augment.add_argument("--out", type=Path, required=True, help="the folder of variant task files to write (must not exist)")
    augment.add_argument("--variants", type=int, default=4, help="variants per program (odd: renamed; even: constants changed too)")
    augment.add_argument("--seed", type=int, default=0, help="seed of the names and constants drawn")
    augment.set_defaults(handler=lambda arguments: command_augment(arguments, usage_error))

    synth = actions.add_parser("synth", help="new random loop programs (an assertion their sampled runs keep) to solve "
                               "and learn from")
    synth.add_argument("--out", type=Path, required=True, help="the folder of task files to write (must not exist)")
    synth.add_argument("--count", type=int, default=500, help="programs to write")
    synth.add_argument("--seed", type=int, default=0, help="seed of the programs drawn")
    synth.set_defaults(handler=lambda arguments: command_synth(arguments, usage_error))

    sft = actions.add_parser("sft", help="fine-tune a model on a data folder's train split (TRL; full or LoRA)")
    sft.add_argument("data", type=Path, help="a `train data` folder")
    _add_sft_options(sft)
    sft.add_argument("--out", type=Path, required=True, help="the model folder to write, e.g. models/NAME (must not exist)")
    sft.set_defaults(handler=lambda arguments: command_sft(arguments, usage_error))

    iterate = actions.add_parser("iterate", help="expert iteration: sample with the model, verify, add, fine-tune, repeat")
    iterate.add_argument("suite", type=Path, help="the suite sampled each round (a folder of task files or a suite.yaml)")
    iterate.add_argument("--rounds", type=int, default=1, help="rounds of sampling and fine-tuning")
    iterate.add_argument("--data", type=Path, default=None, help="a `train data` folder to start from (e.g. the program sources' answers)")
    iterate.add_argument("--start", default=None,
                         help="the model sampled in the first round (default: --model, the one fine-tuning starts from)")
    iterate.add_argument("--workers", type=int, default=1, help="worker processes sampling tasks in parallel")
    iterate.add_argument("--limit", type=int, default=None, help="only the first N tasks of the suite")
    iterate.add_argument("--out", type=Path, default=None, help="the run folder (default: a new one under runs/)")
    _add_sft_options(iterate, with_model=False)
    add_run_options(iterate)
    iterate.set_defaults(handler=lambda arguments: command_iterate(arguments, usage_error))


def _add_sft_options(parser: argparse.ArgumentParser, with_model: bool = True) -> None:
    if with_model:
        parser.add_argument("--model", default=None, help="the model to fine-tune (default: the bundled one)")
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft), merged into the weights on save")
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over the training examples")
    parser.add_argument("--learning-rate", type=float, default=None, help="default 5e-5 (full) or 5e-4 (LoRA)")
    parser.add_argument("--batch-size", type=int, default=4, help="examples per optimiser step")
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after N optimiser steps (default: the epochs decide)")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="wall-clock limit for training")
    parser.add_argument("--lora-rank", type=int, default=16, help="the LoRA adapters' rank (with --lora)")
    parser.add_argument("--max-length", type=int, default=1024,
                        help="tokens per example, prompt and answer; longer examples are left out (default: 1024)")
    parser.add_argument("--top-layers", type=int, default=None,
                        help="train only the last N decoder layers (cheaper on a CPU; default: all)")


def _sft_settings(arguments: argparse.Namespace, usage_error: type[Exception], model: str | None) -> Any:
    from pydantic import ValidationError

    from agent.train.sft import SFTSettings

    try:
        return SFTSettings(model=model, lora=arguments.lora, epochs=arguments.epochs,
                           learning_rate=arguments.learning_rate, batch_size=arguments.batch_size,
                           max_steps=arguments.max_steps, max_minutes=arguments.max_minutes, lora_rank=arguments.lora_rank,
                           top_layers=arguments.top_layers, max_length=arguments.max_length, seed=getattr(arguments, "seed", 0))
    except ValidationError as error:
        first = error.errors()[0]
        raise usage_error(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _test_ids(suite: Path | None) -> set[str] | None:
    if suite is None:
        return None
    from agent.eval import load_suite

    _, entries = load_suite(suite)
    return {entry.task.id for entry in entries}


def _held_out(arguments: argparse.Namespace, test_ids: set[str] | None) -> str | None:
    return None if test_ids is None else f"the {len(test_ids)} tasks of the suite {arguments.test_suite}"


def command_data(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.train.data import DataError, build_dataset

    if not 0 <= arguments.test_share < 1:
        raise usage_error("--test-share must be at least 0 and below 1")
    try:
        test_ids = _test_ids(arguments.test_suite)
        report = build_dataset(arguments.runs, arguments.out, arguments.test_share, test_ids,
                               _held_out(arguments, test_ids))
    except DataError as error:
        raise usage_error(str(error)) from None
    summary = report.as_dict()
    print(f"wrote {arguments.out}: {summary['examples']['train']} train examples ({summary['tasks']['train']} tasks), "
          f"{summary['examples']['test']} test examples ({summary['tasks']['test']} tasks) from {summary['traces']} traces")
    print(f"held out: {summary['held_out']}")
    print("by source: " + ", ".join(f"{name} {count}" for name, count in summary["by_source"].items()))
    print("by task kind: " + ", ".join(f"{name} {count}" for name, count in summary["by_kind"].items()))
    for reason, count in summary["left_out"].items():
        print(f"left out: {count} answer(s): {reason}")
    return 0


def command_augment(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.train.augment import AugmentError, augment_suite

    try:
        report = augment_suite(arguments.suite, arguments.out, arguments.variants, arguments.seed)
    except AugmentError as error:
        raise usage_error(str(error)) from None
    print(f"wrote {arguments.out}: {report.written} variant tasks of {report.programs} programs")
    for reason, count in report.skipped.items():
        print(f"skipped: {count}: {reason}")
    print(f"next: python -m agent eval {arguments.out} --sources symbolic,dynamic,polynomial,horn, then `train data` on the run")
    return 0


def command_synth(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.train.synth import SynthError, synth_suite

    try:
        written = synth_suite(arguments.out, arguments.count, arguments.seed)
    except SynthError as error:
        raise usage_error(str(error)) from None
    print(f"wrote {arguments.out}: {written} synthetic tasks")
    print(f"next: python -m agent eval {arguments.out} --sources symbolic,dynamic, then `train data` on the run")
    return 0


def command_sft(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.train.data import DataError
    from agent.train.sft import fine_tune

    settings = _sft_settings(arguments, usage_error, arguments.model)
    try:
        result = fine_tune(arguments.data, arguments.out, settings, say=lambda line: print(line, flush=True))
    except DataError as error:
        raise usage_error(str(error)) from None
    print(json.dumps(result.model_dump(), indent=2))
    if result.stopped_by_time:
        print(f"stopped at the {settings.max_minutes:g} min limit after {result.epochs_done} epochs")
    print(f"model: {arguments.out} (use it with --model {arguments.out})")
    return 0


def command_iterate(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.__main__ import _settings
    from agent.train.data import DataError
    from agent.train.iterate import expert_iteration

    if arguments.rounds < 1:
        raise usage_error("--rounds must be at least 1")
    settings = _settings(arguments)
    if "llm" not in settings.sources:
        raise usage_error("--sources must include llm: expert iteration samples the model")
    sft_settings = _sft_settings(arguments, usage_error, arguments.model)
    try:
        run_dir = expert_iteration(arguments.suite, arguments.rounds, settings, sft_settings, start=arguments.start,
                                   data=arguments.data, out=arguments.out, runs_dir=arguments.runs_dir,
                                   workers=arguments.workers, limit=arguments.limit, dtype=arguments.dtype,
                                   say=print)
    except DataError as error:
        raise usage_error(str(error)) from None
    print(f"rounds: {run_dir / 'rounds.json'}")
    return 0
