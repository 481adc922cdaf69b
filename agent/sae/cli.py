"""`python -m agent sae collect|train|report` (heavy imports happen inside the commands: the CLI stays quick)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_sae_commands(commands: Any, usage_error: type[Exception]) -> None:
    sae = commands.add_parser("sae", help="sparse autoencoders on the model's residual stream (veriloop[sae])")
    actions = sae.add_subparsers(dest="action", required=True, parser_class=type(sae),
                                 help="collect activations, train an SAE, or report on runs")

    collect = actions.add_parser("collect", help="store residual-stream activations over the offline corpus")
    collect.add_argument("--model", default=None, help="the model (default: the bundled one)")
    collect.add_argument("--layer", type=int, default=None, help="decoder layer (default: the middle one)")
    collect.add_argument("--tokens", type=int, default=200_000, help="training tokens (a tenth more are held out)")
    collect.add_argument("--seed", type=int, default=0, help="random seed")
    collect.add_argument("--data", type=Path, default=None, help="shared benchmark data (default ../shared/data)")
    collect.add_argument("--out", type=Path, default=None, help="folder (default ~/.cache/veriloop/sae/MODEL/layerL); "
                         "a smaller collection there with the same settings is extended")
    collect.add_argument("--threads", type=int, default=None, help="torch threads (1 is best on shared cores)")
    collect.set_defaults(handler=lambda arguments: command_collect(arguments, usage_error))

    train = actions.add_parser("train", help="train a TopK SAE on collected activations (SAELens)")
    train.add_argument("--model", default=None, help="the model (default: the bundled one)")
    train.add_argument("--layer", type=int, default=None, help="decoder layer (default: the middle one)")
    train.add_argument("--activations", type=Path, default=None, help="a `sae collect` folder (default: the cache's)")
    train.add_argument("--width", type=int, default=None, help="features (default 4x the model's width)")
    train.add_argument("--k", type=int, default=32, help="active features per token")
    train.add_argument("--epochs", type=float, default=4.0, help="passes over the training activations")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument("--out", type=Path, default=Path("runs/sae"), help="where the SAE folder is written")
    train.set_defaults(handler=lambda arguments: command_train(arguments, usage_error))

    report = actions.add_parser("report", help="accepted against rejected proposals, feature by feature")
    report.add_argument("runs", type=Path, nargs="+", help="run folders (eval runs or single traces) made with --sae")
    report.add_argument("--sae", type=Path, default=None, help="the SAE the runs used (default: from the traces; `bundled`: the shipped one)")
    report.add_argument("--html", type=Path, default=None, help="also write an offline HTML page")
    report.add_argument("--out", type=Path, default=None, help="folder for tables and plots (default: beside --html)")
    report.add_argument("--seed", type=int, default=0, help="random seed")
    report.set_defaults(handler=lambda arguments: command_report(arguments, usage_error))


def _model(spec: str | None, threads: int | None = None) -> Any:
    from agent.llm import load_proposer

    return load_proposer(spec, threads=threads).load()


def command_collect(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.sae.collect import activations_dir, collect
    from agent.sae.hook import default_layer

    if arguments.tokens < 1000:
        raise usage_error("--tokens must be at least 1000")
    if arguments.threads is not None and arguments.threads < 1:
        raise usage_error("--threads must be at least 1")
    proposer = _model(arguments.model, arguments.threads)
    layer = default_layer(proposer.model) if arguments.layer is None else arguments.layer
    if not 0 <= layer < proposer.model.config.num_hidden_layers:
        raise usage_error(f"--layer {layer}: the model has layers 0..{proposer.model.config.num_hidden_layers - 1}")
    destination = arguments.out or activations_dir(proposer.info.name, layer)
    record = collect(proposer.model, proposer.tokenizer, destination, proposer.info.name, layer, arguments.tokens,
                     arguments.seed, arguments.data)
    print(f"collected {record['train_tokens']} training and {record['heldout_tokens']} held-out activations of "
          f"layer {layer} in {record['collect_s']} s into {destination}")
    return 0


def command_train(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.sae.collect import activations_dir
    from agent.sae.train import train

    proposer = _model(arguments.model)
    source = arguments.activations
    if source is None:
        from agent.sae.hook import default_layer

        layer = default_layer(proposer.model) if arguments.layer is None else arguments.layer
        source = activations_dir(proposer.info.name, layer)
    if not (source / "collection.json").is_file():
        raise usage_error(f"{source}: no collected activations (run `python -m agent sae collect` first)")
    if arguments.k < 1 or (arguments.width is not None and arguments.width <= arguments.k):
        raise usage_error("--k must be at least 1 and below --width")
    summary = train(proposer.model, proposer.tokenizer, source, arguments.out, width=arguments.width, k=arguments.k,
                    epochs=arguments.epochs, seed=arguments.seed)
    print(json.dumps(summary, indent=2))
    print(f"SAE saved in {arguments.out}")
    return 0


def command_report(arguments: argparse.Namespace, usage_error: type[Exception]) -> int:
    from agent.sae.hook import sae_folder
    from agent.sae.report import ReportError, write_report

    try:
        text = write_report(arguments.runs, sae_path=sae_folder(arguments.sae) if arguments.sae else None, html=arguments.html, out=arguments.out,
                            seed=arguments.seed)
    except ReportError as error:
        raise usage_error(str(error)) from None
    sys.stdout.write(text)
    return 0
