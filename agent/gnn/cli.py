"""`python -m agent gnn train|predict`: the phase predictor from the command line.

Bad input (an unreadable CNF file, missing weights, a bad option value) is one line on stderr and
exit status 2, like every other command.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_BAD_INPUT = 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    gnn = commands.add_parser("gnn", help="the graph neural network that predicts SAT phases")
    actions = gnn.add_subparsers(dest="gnn_command", required=True, parser_class=type(gnn),
                                 help="train the network, or predict a formula's phases")

    from agent.gnn.generate import FAMILIES, HELD_OUT

    train = actions.add_parser("train", help="generate and label instances, train, save weights and model card")
    train.add_argument("--family", action="append", choices=sorted({**FAMILIES, **HELD_OUT}), default=None,
                       help="a family to train on (repeatable; default: all but the benchmark's held-out "
                            f"ones, {', '.join(HELD_OUT)})")
    train.add_argument("--sizes", default=None,
                       help="comma-separated instance sizes to draw from (default: each family's own)")
    train.add_argument("--instances", type=int, default=500, help="labelled satisfiable formulas (default 500)")
    train.add_argument("--epochs", type=int, default=15, help="passes over the training formulas")
    train.add_argument("--seed", type=int, default=0, help="seed of the generators and the training")
    train.add_argument("--hidden", type=int, default=64, help="width of the node embeddings")
    train.add_argument("--rounds", type=int, default=6, help="message-passing rounds")
    train.add_argument("--out", type=Path, default=None, help="weights folder (default: the packaged one)")
    train.set_defaults(handler=command_train)

    predict = actions.add_parser("predict", help="predicted phases and confidences for a DIMACS file")
    predict.add_argument("cnf", type=Path, help="a DIMACS file")
    predict.add_argument("--threshold", type=float, default=None,
                         help="only phases at least this confident (0..1)")
    predict.add_argument("--weights", type=Path, default=None, help="weights folder (default: the packaged one)")
    predict.add_argument("--json", action="store_true", help="print the phase hint as JSON")
    predict.set_defaults(handler=command_predict)


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def command_train(arguments: argparse.Namespace) -> int:
    from agent.gnn.generate import FAMILIES
    from agent.gnn.model import ModelConfig
    from agent.gnn.predict import WEIGHTS_DIR
    from agent.gnn.train import train

    if arguments.instances < 2 or arguments.epochs < 1 or arguments.hidden < 1 or arguments.rounds < 1:
        return _bad_input("--instances must be at least 2, --epochs, --hidden and --rounds at least 1")
    try:
        sizes = tuple(int(size) for size in arguments.sizes.split(",")) if arguments.sizes else None
    except ValueError:
        return _bad_input(f"--sizes must be comma-separated whole numbers, not {arguments.sizes!r}")
    if sizes is not None and min(sizes) < 1:
        return _bad_input("--sizes must be positive")
    families = list(dict.fromkeys(arguments.family or FAMILIES))
    destination = arguments.out or WEIGHTS_DIR
    started = time.perf_counter()
    log = lambda message: print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)  # noqa: E731
    try:
        card = train(families, arguments.instances, arguments.epochs, destination, arguments.seed,
                     ModelConfig(hidden=arguments.hidden, rounds=arguments.rounds), progress=log, sizes=sizes)
    except ValueError as error:
        return _bad_input(str(error))
    overall = card["held_out_accuracy"].get("all", {})
    print(f"held out: backbone accuracy {overall.get('backbone_accuracy')}, phase accuracy "
          f"{overall.get('phase_accuracy')}; weights and model card in {destination}")
    return 0


def command_predict(arguments: argparse.Namespace) -> int:
    from agent.gnn.predict import WeightsError, load_predictor
    from verifiers.sat import DimacsError, read_dimacs

    if arguments.threshold is not None and not 0.0 <= arguments.threshold <= 1.0:
        return _bad_input("--threshold must lie in [0, 1]")
    try:
        text = arguments.cnf.read_text()
    except (OSError, UnicodeDecodeError) as error:
        return _bad_input(f"cannot read {arguments.cnf}: {getattr(error, 'strerror', None) or error}")
    try:
        variables, clauses = read_dimacs(text)
    except DimacsError as error:
        return _bad_input(f"{arguments.cnf}: {error}")
    try:
        predictor = load_predictor(arguments.weights)
    except WeightsError as error:
        return _bad_input(str(error))
    hint = predictor.predict(variables, clauses, arguments.threshold)
    if arguments.json:
        print(json.dumps(hint.model_dump()))
        return 0
    selected = set(hint.selected())
    confident = len(selected)
    print(f"c {arguments.cnf}: {variables} variables, {len(clauses)} clauses; {hint.source}; "
          f"inference {hint.inference_s * 1000:.1f} ms; {confident} phases"
          + (f" at confidence >= {arguments.threshold:g}" if arguments.threshold is not None else ""))
    print("c literal confidence")
    for literal, confidence in zip(hint.phases, hint.confidences):
        if literal in selected:
            print(f"{literal} {confidence:.3f}")
    return 0
