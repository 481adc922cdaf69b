"""`python -m agent ...`: solve, eval, view, schema, convert, model.

Exit status: 0 success (for `solve`: the task was solved), 1 the task was not solved (unsolved,
refuted or a run error), 2 bad input (a missing or invalid file, an unknown model, a bad option),
always as one line on stderr and with nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="bundled (default), a local model folder, a Hugging Face id in the local cache, or an http(s) OpenAI-compatible endpoint")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "int8"),
                        help="weights' type for a transformers model (int8: dynamic quantisation, faster on CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=None, help="model samples per step (one batched call)")
    parser.add_argument("--max-proposals", type=int, default=None, help="proposals per task, all sources together")
    parser.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per task")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--sources", default="llm,symbolic,dynamic,polynomial,horn",
                        help="comma-separated proposal sources: llm, symbolic (program-text atoms), dynamic (equalities from runs), "
                             "polynomial (equalities of degree <= 3 fitted to runs), horn (Spacer on the template as Horn clauses)")
    parser.add_argument("--no-refute", action="store_true",
                        help="invariant: do not search for a run that violates the assertion")
    parser.add_argument("--refute-depth", type=int, default=None,
                        help="invariant: loop iterations the refutation search unrolls (default 10)")
    parser.add_argument("--search-mode", choices=("best_first", "whole_proof"), default=None,
                        help="Lean: best-first search over proof states, or whole proofs repaired with Lean's errors")
    parser.add_argument("--expansions", type=int, default=None, help="Lean: proof states expanded per task")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="where this machine offers no sandbox, run model-written programs without one "
                             "(every verdict then says so); without it they are refused")


# Command-line options that belong to one strategy: option -> (strategy, its settings field).
STRATEGY_OPTIONS = {
    "no_refute": ("invariant", "refute"),
    "refute_depth": ("invariant", "refute_depth"),
    "search_mode": ("lean", "mode"),
    "expansions": ("lean", "expansions"),
}


def _strategy_settings(arguments: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The strategy options given on the command line, by strategy, each checked against its model."""
    from pydantic import ValidationError

    from agent.search.registry import get_strategy

    given: dict[str, dict[str, Any]] = {}
    for option, (name, field) in STRATEGY_OPTIONS.items():
        value = getattr(arguments, option)
        if option == "no_refute":
            value = False if value else None
        if value is not None:
            given.setdefault(name, {})[field] = value
    for name, values in given.items():
        try:
            get_strategy(name).settings_from(values)
        except ValidationError as error:
            first = error.errors()[0]
            option = next(option for option, target in STRATEGY_OPTIONS.items() if target == (name, first["loc"][0]))
            raise UsageError(f"--{option.replace('_', '-')}: {first['msg']}") from None
    return given


def _settings(arguments: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from agent.session import SOURCES, RunSettings

    sources = tuple(part.strip() for part in arguments.sources.split(",") if part.strip())
    unknown = [source for source in sources if source not in SOURCES]
    if unknown or not sources:
        raise UsageError(f"--sources: unknown source(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(SOURCES)}")
    try:
        return RunSettings(sources=sources, seed=arguments.seed, samples=arguments.samples,
                           max_proposals=arguments.max_proposals, timeout_s=arguments.timeout,
                           temperature=arguments.temperature, strategies=_strategy_settings(arguments))
    except ValidationError as error:
        first = error.errors()[0]
        raise UsageError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _without_model_if_unused(settings: Any, kinds: list[str]) -> Any:
    """Drop the `llm` source when no task kind in the run uses a model (the model is not loaded)."""
    from agent.search.registry import model_free_kinds

    free = model_free_kinds()
    if "llm" in settings.sources and all(kind in free for kind in kinds):
        sources = tuple(source for source in settings.sources if source != "llm") or ("symbolic",)
        return settings.model_copy(update={"sources": sources})
    return settings


def _check_tools(tasks: list[Any]) -> None:
    """Raise ToolUnavailable (exit status 2, one line) when a verifier's external tool is missing."""
    from verifiers.base import REGISTRY

    for task in tasks:
        REGISTRY.for_kind(task.kind).check_environment(task)


# How `solve` names a task's answer and what its certification means, by task kind.
ANSWER_LABELS = {"invariant": "invariant", "lean": "proof"}
ENCODING_NOTE = "SAT: solution checked; UNSAT: formula refuted with a checked proof, faithfulness tested, not proved"
CERTIFIED_NOTES = {"invariant": "cvc5 agrees", "lean": "kernel-checked in a from-scratch compile, axioms audited",
                   "sat_encoding": ENCODING_NOTE, "smt_encoding": ENCODING_NOTE}


def _proposer(arguments: argparse.Namespace, settings: Any) -> Any:
    if "llm" not in settings.sources:
        return None
    from agent.llm import load_proposer

    return load_proposer(arguments.model, dtype=arguments.dtype)


def command_solve(arguments: argparse.Namespace) -> int:
    from rich.console import Console

    from agent.loop import run_task
    from agent.tasks import load_task
    from agent.trace import new_run_id

    task = load_task(arguments.task)
    settings = _without_model_if_unused(_settings(arguments), [task.kind])
    _check_tools([task])
    proposer = _proposer(arguments, settings)
    run_id = new_run_id(task.id)
    trace_path = arguments.runs_dir / run_id / "trace.jsonl"
    console = Console(highlight=False, soft_wrap=True)
    model = proposer.info.name if proposer else "none (model source off)"
    console.print(f"[bold]{task.id}[/bold] ({task.kind}) · model {model} · seed {settings.seed} · sources {','.join(settings.sources)}")
    result = run_task(task, settings, proposer, trace_path, run_id, Path(arguments.task))
    style = {"solved": "green", "refuted": "yellow", "unsolved": "red", "error": "red"}[result.status]
    note = CERTIFIED_NOTES.get(task.kind, "answer checked independently")
    certified = f" (certified: {note})" if result.certified and result.status == "solved" else ""
    if result.status == "refuted":
        certified = " (the violating run was replayed)" if result.certified else ""
    console.print(f"verdict: [{style}]{result.status}[/{style}]{certified}")
    if result.answer:
        label = ANSWER_LABELS.get(task.kind, "answer")
        console.print(f"{label}:\n{result.answer}" if "\n" in result.answer else f"{label}: {result.answer}",
                      markup=False)  # the answer and the message are data, never markup
    if result.message and (result.status != "solved" or task.kind != "invariant"):
        console.print(result.message, markup=False)
    sources = ", ".join(f"{name} {count}" for name, count in result.proposals_by_source.items())
    unverified = f", {result.unverified} not verified: the budget ended first" if result.unverified else ""
    console.print(f"proposals {result.proposals} ({sources}{unverified}), verifier calls {result.verifier_calls}, "
                  f"{result.wall_s:.2f} s (model {result.model_s:.2f} s, verifier {result.verifier_s:.2f} s"
                  + (f", loading the model {result.model_load_s:.2f} s, outside the budget" if result.model_load_s else "")
                  + ")")
    if result.solved_by:
        console.print(f"solved by: {result.solved_by}")
    console.print(f"trace: {trace_path}")
    return 0 if result.status == "solved" else 1


def command_eval(arguments: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.eval import load_suite, new_run_dir, read_results, run_suite, summarise, write_run_record

    if arguments.workers < 1:
        raise UsageError("--workers must be at least 1")
    suite_name, entries = load_suite(arguments.suite)
    if arguments.limit:
        entries = entries[: arguments.limit]
    settings = _without_model_if_unused(_settings(arguments), [entry.task.kind for entry in entries])
    _check_tools([entry.task for entry in entries])
    proposer = _proposer(arguments, settings)  # resolves the model now, so a bad --model fails early
    if arguments.resume:
        run_id, run_dir = arguments.resume, arguments.runs_dir / arguments.resume
        if not (run_dir / "run.json").is_file():
            raise UsageError(f"--resume: no run {arguments.resume!r} under {arguments.runs_dir}")
    else:
        run_id, run_dir = new_run_dir(arguments.runs_dir, suite_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_record(run_dir, {
        "run_id": run_id, "suite": str(arguments.suite), "suite_name": suite_name, "tasks": len(entries),
        "settings": settings.model_dump(mode="json"), "model": proposer.info.name if proposer else None,
        "model_revision": proposer.info.revision if proposer else None, "dtype": arguments.dtype,
        "workers": arguments.workers,
    })
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    console.print(f"[bold]{suite_name}[/bold]: {len(entries)} tasks · {arguments.workers} worker(s) · run {run_id}")
    started = time.perf_counter()
    for row in run_suite(entries, settings, run_dir, run_id, arguments.model, arguments.dtype, arguments.workers):
        if not arguments.quiet:
            console.print(f"  {row['task_id']:<24} {row['status']:<9} {float(row['wall_s'] or 0):7.2f} s  {row['answer']}",
                          markup=False)
    rows = [row for row in read_results(run_dir / "results.csv") if row["task_id"] in {e.task.id for e in entries}]
    summary = summarise(rows)
    summary["elapsed_s"] = time.perf_counter() - started
    table = Table(title=f"{suite_name} · run {run_id}")
    for column in ("tasks", "solved", "refuted", "unsolved", "errors", "proposals/task", "verifier calls/task",
                   "median s", "p95 s"):
        table.add_column(column, justify="right")
    table.add_row(str(summary["tasks"]), str(summary["solved"]), str(summary["refuted"]), str(summary["unsolved"]),
                  str(summary["errors"]), f"{summary['proposals_mean']:.1f}", f"{summary['verifier_calls_mean']:.1f}",
                  f"{summary['wall_median_s']:.2f}", f"{summary['wall_p95_s']:.2f}")
    console.print(table)
    if summary["solved_by"]:
        console.print("solved by: " + ", ".join(f"{k} {v}" for k, v in summary["solved_by"].items()))
    from agent.convert import write_atomically

    write_atomically(run_dir / "summary.json", json.dumps(summary, indent=2))
    console.print(f"results: {run_dir / 'results.csv'}")
    return 0


def command_schema(arguments: argparse.Namespace) -> int:
    if arguments.what == "task":
        from agent.tasks import task_schema

        schema = task_schema()
    else:
        from agent.trace import event_schema

        schema = event_schema()
    print(json.dumps(schema, indent=2))
    return 0


def command_convert(arguments: argparse.Namespace) -> int:
    if arguments.format in ("encodings", "logic"):
        return _convert_suite(arguments)
    if arguments.format == "satlib":
        from agent.convert_satlib import SATLIB_LICENSE, SATLIB_ORIGIN, convert_satlib

        families = {part.strip() for part in arguments.families.split(",") if part.strip()} if arguments.families else None
        if arguments.per_family is not None and arguments.per_family < 1:
            raise UsageError("--per-family must be at least 1")
        report = convert_satlib(arguments.source, arguments.destination,
                                benchmark=arguments.name or "satlib",
                                origin=arguments.origin or SATLIB_ORIGIN, license=arguments.license or SATLIB_LICENSE,
                                families=families, per_family=arguments.per_family)
    elif arguments.format == "minif2f":
        from agent.convert_minif2f import MINIF2F_ORIGIN, convert_minif2f

        report = convert_minif2f(arguments.source, arguments.destination, benchmark=arguments.name or "minif2f-valid",
                                 origin=arguments.origin or MINIF2F_ORIGIN, license=arguments.license or "MIT")
    else:
        from agent.convert import convert_code2inv

        report = convert_code2inv(arguments.source, arguments.destination, benchmark=arguments.name or "code2inv",
                                  origin=arguments.origin, license=arguments.license)
    return _conversion_summary(report, arguments.destination)


def _convert_suite(arguments: argparse.Namespace) -> int:
    from agent.encoding_suites import convert_encodings, convert_logic

    if arguments.format == "encodings":
        if not arguments.source.is_file():
            raise UsageError(f"{arguments.source}: no such spec file")
        report = convert_encodings(arguments.source, arguments.destination, arguments.data)
    else:
        if not arguments.source.is_dir():
            raise UsageError(f"{arguments.source}: no such folder (expected LogicalDeduction/dev.json, ...)")
        report = convert_logic(arguments.source, arguments.destination, arguments.per_dataset)
    return _conversion_summary(report, arguments.destination)


def _conversion_summary(report: Any, destination: Path) -> int:
    """Each file not converted on stderr, one line of totals on stdout; status 1 when nothing was converted."""
    for name, reason in report.failed.items():
        print(f"not converted: {name}: {reason}", file=sys.stderr)
    print(f"converted {len(report.written)} task(s) into {destination}"
          + (f"; suite {report.suite}" if report.suite else "") + (f"; {len(report.failed)} failed" if report.failed else ""))
    return 0 if report.written else 1


def command_model(arguments: argparse.Namespace) -> int:
    from agent.llm.models import prepare_bundled, resolve

    if arguments.action == "prepare":
        started = time.perf_counter()
        directory = prepare_bundled(force=arguments.force)
        print(f"bundled model ready in {directory} ({time.perf_counter() - started:.1f} s)")
        return 0
    resolved = resolve(arguments.model)
    print(json.dumps(resolved.__dict__, indent=2))
    return 0


def command_view(arguments: argparse.Namespace) -> int:
    from agent.view import show_trace, write_html

    path = arguments.trace
    if path.is_dir():
        path = path / "trace.jsonl"
    if not path.is_file():
        raise UsageError(f"{arguments.trace}: no such trace")
    if arguments.html:
        print(f"wrote {write_html(path, arguments.html)}")
    else:
        show_trace(path, verbose=arguments.verbose)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m agent", description="veriloop: a model proposes, exact verifiers decide.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    solve = commands.add_parser("solve", help="solve one task file")
    solve.add_argument("task", type=Path)
    _add_run_options(solve)
    solve.set_defaults(handler=command_solve)

    evaluate = commands.add_parser("eval", help="run a suite (a folder of task files or a suite.yaml)")
    evaluate.add_argument("suite", type=Path)
    evaluate.add_argument("--workers", type=int, default=1)
    evaluate.add_argument("--resume", default=None, metavar="RUN_ID", help="finish an interrupted run")
    evaluate.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    evaluate.add_argument("--quiet", action="store_true")
    _add_run_options(evaluate)
    evaluate.set_defaults(handler=command_eval)

    schema = commands.add_parser("schema", help="print the JSON Schema of task files (or of trace events)")
    schema.add_argument("what", nargs="?", default="task", choices=("task", "trace"))
    schema.set_defaults(handler=command_schema)

    convert = commands.add_parser("convert", help="build task files from a benchmark folder")
    convert.add_argument("format", choices=("code2inv", "satlib", "minif2f", "encodings", "logic"))
    convert.add_argument("source", type=Path,
                         help="code2inv: a folder with c/N.c and c_smt2/N.c.smt; satlib: a folder with expected_status.csv; "
                              "minif2f: a folder with valid/NAME.lean; encodings: a spec file (tasks/specs/*.yaml); "
                              "logic: a folder with <DataSet>/dev.json")
    convert.add_argument("destination", type=Path)
    convert.add_argument("--name", default=None, help="benchmark name, used in task ids (default: the format's name)")
    convert.add_argument("--origin", default=None, help="where the files came from (kept in each task)")
    convert.add_argument("--license", default=None)
    convert.add_argument("--families", default=None, help="satlib: comma-separated families to convert (default: all)")
    convert.add_argument("--per-family", type=int, default=None, help="satlib: at most N files of each family")
    convert.add_argument("--data", type=Path, default=Path("../shared/data/satlib"),
                         help="encodings: the folder the spec's `satlib:` paths are relative to")
    convert.add_argument("--per-dataset", type=int, default=15, help="logic: puzzles taken from each data set")
    convert.set_defaults(handler=command_convert)

    model = commands.add_parser("model", help="prepare the bundled model, or show what --model resolves to")
    model.add_argument("action", choices=("prepare", "info"))
    model.add_argument("--model", default=None)
    model.add_argument("--force", action="store_true", help="convert again even if cached")
    model.set_defaults(handler=command_model)

    view = commands.add_parser("view", help="summarise a trace in the terminal")
    view.add_argument("trace", type=Path, help="a trace.jsonl or its run folder")
    view.add_argument("-v", "--verbose", action="store_true", help="show every verdict's feedback")
    view.add_argument("--html", type=Path, default=None, metavar="FILE", help="write a static HTML page instead")
    view.set_defaults(handler=command_view)
    return parser


def main(argv: list[str] | None = None) -> int:
    from agent.cprogram import ProgramError
    from agent.llm.base import ModelError
    from agent.tasks import TaskFileError
    from agent.trace import TraceError
    from verifiers.base import ToolUnavailable

    try:
        arguments = build_parser().parse_args(argv)
        if getattr(arguments, "allow_unsandboxed", False):
            from verifiers.sandbox import ALLOW_UNSANDBOXED_VARIABLE

            os.environ[ALLOW_UNSANDBOXED_VARIABLE] = "1"  # read by the sandbox, here and in eval's workers
        return arguments.handler(arguments)
    except (UsageError, TaskFileError, ModelError, ProgramError, TraceError, ToolUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
