"""`python -m agent ...`: solve, eval, view, export, schema, convert, model, gnn, sae, train.

Exit status: 0 success (for `solve`: the task was solved), 1 the task was not solved (unsolved,
refuted, template_wrong or a run error), 2 bad input (a missing or invalid file, an unknown model, a bad option),
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

from agent.files import write_atomically

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that names each option's default, where it has a meaningful one (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        meaningful = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if meaningful and "%(default)" not in help_text and action.option_strings:
            help_text += " (default: %(default)s)"
        return help_text


def _positive(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("veriloop")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


# RunSettings fields and the command-line options that set them, for error messages.
SETTINGS_OPTIONS = {"timeout_s": "--timeout", "max_proposals": "--max-proposals", "samples": "--samples",
                    "temperature": "--temperature", "seed": "--seed", "sources": "--sources",
                    "generation_limit_s": "--generation-limit"}


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="bundled (default), a local model folder, a Hugging Face id in the local cache, or an http(s) OpenAI-compatible endpoint")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "int8"),
                        help="weights' type for a transformers model (int8: dynamic quantisation, faster on CPU)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (model samples and random search)")
    parser.add_argument("--samples", type=int, default=None,
                        help="model samples per step (one batched call; default: the task's budget)")
    parser.add_argument("--max-proposals", type=int, default=None,
                        help="proposals per task, all sources together (default: the task's budget)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="wall-clock seconds per task (default: the task's budget)")
    parser.add_argument("--temperature", type=float, default=0.8, help="model sampling temperature")
    parser.add_argument("--generation-limit", type=float, default=None,
                        help="seconds one batched model call may take (default: the search's own, 60 s for formulas)")
    parser.add_argument("--sources", default="llm,symbolic,dynamic,polynomial,horn",
                        help="comma-separated proposal sources: llm, symbolic (program-text atoms), dynamic (equalities from runs), "
                             "polynomial (equalities of degree <= 3 fitted to runs), horn (Spacer on the template as Horn clauses)")
    parser.add_argument("--no-refute", action="store_true",
                        help="invariant: do not search for a run that violates the assertion")
    parser.add_argument("--refute-depth", type=int, default=None,
                        help="invariant: loop iterations the refutation search unrolls (default 10)")
    parser.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=None,
                        help="invariant: sample the model under the task's invariant grammar, so every proposal "
                             "parses and names only program variables (the default; llguidance, or an endpoint's "
                             "guided decoding)")
    parser.add_argument("--search-mode", choices=("best_first", "whole_proof"), default=None,
                        help="Lean: best-first search over proof states, or whole proofs repaired with Lean's errors")
    parser.add_argument("--expansions", type=int, default=None, help="Lean: proof states expanded per task")
    parser.add_argument("--guide", choices=("none", "gnn"), default=None,
                        help="cnf and sat_encoding: the graph neural network proposes the SAT solver's phases (agent/gnn)")
    parser.add_argument("--guide-threshold", type=float, default=None,
                        help="with --guide gnn: only phases at least this confident (0..1)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run folders are written")
    parser.add_argument("--sae", default=None, metavar="PATH",
                        help="an SAELens SAE folder, or `bundled` (the bundled model's shipped SAE): record its features per "
                             "model proposal in the trace (veriloop[sae])")
    parser.add_argument("--steer", default=None, metavar="F=V[,F+=V...]",
                        help="with --sae: clamp (=) or add to (+=) SAE features in the residual stream while generating")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="where this machine offers no sandbox, run model-written programs without one "
                             "(every verdict then says so); without it they are refused")


# Command-line options that belong to strategies: option -> [(strategy, its settings field)], each
# strategy named reads it (one option may reach several strategies, e.g. --guide: cnf and encoding).
STRATEGY_OPTIONS = {
    "no_refute": [("invariant", "refute")],
    "refute_depth": [("invariant", "refute_depth")],
    "constrained": [("invariant", "constrained")],
    "search_mode": [("lean", "mode")],
    "expansions": [("lean", "expansions")],
    "guide": [("cnf", "guide"), ("encoding", "guide")],
    "guide_threshold": [("cnf", "guide_threshold"), ("encoding", "guide_threshold")],
}


def _strategy_settings(arguments: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The strategy options given on the command line, by strategy, each checked against its model."""
    from pydantic import ValidationError

    from agent.search.registry import get_strategy

    given: dict[str, dict[str, Any]] = {}
    for option, targets in STRATEGY_OPTIONS.items():
        value = getattr(arguments, option)
        if option == "no_refute":
            value = False if value else None
        if value is not None:
            for name, field in targets:
                given.setdefault(name, {})[field] = value
    for name, values in given.items():
        try:
            get_strategy(name).settings_from(values)
        except ValidationError as error:
            first = error.errors()[0]
            option = next(option for option, targets in STRATEGY_OPTIONS.items() if (name, first["loc"][0]) in targets)
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
                           temperature=arguments.temperature, generation_limit_s=arguments.generation_limit,
                           strategies=_strategy_settings(arguments))
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        option = SETTINGS_OPTIONS.get(field, "--" + field.replace("_", "-"))
        raise UsageError(f"{option}: {first['msg']}") from None


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


# Task kinds whose verdicts may need the DRAT checker (UNSAT answers); its kernels compile on first use.
DRAT_KINDS = ("cnf", "sat_encoding", "smt_encoding")


def _prepare_drat(kinds: list[str], say: Any) -> None:
    """Compile (or load from numba's cache) the DRAT kernels now, saying so, rather than silently inside
    the first task; eval's workers are forked afterwards and inherit them."""
    if any(kind in DRAT_KINDS for kind in kinds):
        from verifiers.drat import warm_up

        say("preparing the DRAT checker (compiled on first use, about a minute; loaded from a cache afterwards) ...")
        warm_up()


def _proposer(arguments: argparse.Namespace, settings: Any) -> Any:
    if "llm" not in settings.sources:
        return None
    from agent.llm import load_proposer

    if arguments.steer and not arguments.sae:
        raise UsageError("--steer needs --sae")
    return load_proposer(arguments.model, dtype=arguments.dtype, sae=arguments.sae, steer=arguments.steer)


def command_solve(arguments: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from agent.loop import run_task
    from agent.tasks import load_task
    from agent.trace import new_run_id

    task = load_task(arguments.task)
    settings = _without_model_if_unused(_settings(arguments), [task.kind])
    _check_tools([task])
    console = Console(highlight=False, soft_wrap=True)
    proposer = _proposer(arguments, settings)
    _prepare_drat([task.kind], lambda line: console.print(line, markup=False))
    run_id = new_run_id(task.id)
    trace_path = arguments.runs_dir / run_id / "trace.jsonl"
    model = proposer.info.name if proposer else "none (model source off)"
    console.print(f"[bold]{escape(task.id)}[/bold] ({task.kind}) · model {escape(model)} · seed {settings.seed} · "
                  f"sources {','.join(settings.sources)}")
    result = run_task(task, settings, proposer, trace_path, run_id, Path(arguments.task))
    style = {"solved": "green", "refuted": "yellow", "template_wrong": "red", "unsolved": "red", "error": "red"}[result.status]
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
                  + ")", markup=False)
    if result.solved_by:
        console.print(f"solved by: {result.solved_by}", markup=False)
    console.print(f"trace: {trace_path}", markup=False)
    return 0 if result.status == "solved" else 1


def _tasks_with_tools(entries: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """The entries whose verifier's external tools are here, and the others' ids with the reason.
    When none can run, the first reason is raised (exit status 2, one line)."""
    from verifiers.base import REGISTRY, ToolUnavailable

    runnable, missing = [], {}
    first: ToolUnavailable | None = None
    for entry in entries:
        try:
            REGISTRY.for_kind(entry.task.kind).check_environment(entry.task)
        except ToolUnavailable as error:
            missing[entry.task.id] = str(error)
            first = first or error
        else:
            runnable.append(entry)
    if not runnable and first is not None:
        raise first
    return runnable, missing


def _resumed_run(arguments: argparse.Namespace) -> tuple[str, Path]:
    """The run folder `--resume` names: a folder, or a run id under --runs-dir."""
    given = Path(arguments.resume)
    run_dir = given if (given / "run.json").is_file() else arguments.runs_dir / arguments.resume
    if not (run_dir / "run.json").is_file():
        raise UsageError(f"--resume: no run {arguments.resume!r} (neither a run folder nor a run id under {arguments.runs_dir})")
    return run_dir.name, run_dir


def command_eval(arguments: argparse.Namespace) -> int:
    if arguments.ray is None:
        return _eval(arguments)
    from agent.eval_ray import RayUnavailable, ray_session

    try:
        with ray_session(arguments.ray, arguments.workers):  # connected first, so a bad address fails before any work
            return _eval(arguments)
    except RayUnavailable as error:
        raise UsageError(str(error)) from None


def _eval(arguments: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from agent.eval import (RunLocked, load_suite, lock_run, new_run_dir, pending_entries, read_results,
                            record_difference, run_suite, summarise, write_run_record)

    suite_name, entries = load_suite(arguments.suite)
    if arguments.limit:
        entries = entries[: arguments.limit]
    settings = _without_model_if_unused(_settings(arguments), [entry.task.kind for entry in entries])
    runnable, not_run = _tasks_with_tools(entries)
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    proposer = _proposer(arguments, settings)  # resolves the model now, so a bad --model fails early
    _prepare_drat([entry.task.kind for entry in runnable], lambda line: console.print(line, markup=False))
    record = {
        "suite": str(arguments.suite.resolve()), "suite_name": suite_name, "tasks": len(entries),
        "task_ids": [entry.task.id for entry in entries],
        "settings": settings.model_dump(mode="json"), "model": proposer.info.name if proposer else None,
        "model_revision": proposer.info.revision if proposer else None, "dtype": arguments.dtype,
        "workers": arguments.workers, "ray": arguments.ray, "sae": arguments.sae, "steer": arguments.steer,
    }
    if arguments.resume:
        run_id, run_dir = _resumed_run(arguments)
        recorded = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        difference = record_difference(recorded, record)
        if difference:
            raise UsageError(f"--resume: this command differs from run {run_id}: {difference}")
    else:
        run_id, run_dir = new_run_dir(arguments.runs_dir, suite_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_run(run_dir)
    except RunLocked as error:
        raise UsageError(str(error)) from None
    with lock:
        write_run_record(run_dir, {"run_id": run_id, **record})
        pending = pending_entries(runnable, run_dir)
        where = f" on Ray ({escape(arguments.ray)})" if arguments.ray else ""
        console.print(f"[bold]{escape(suite_name)}[/bold]: {len(entries)} tasks · {arguments.workers} worker(s){where} · "
                      f"run {escape(run_id)}" + (f" · resuming, {len(pending)} to run" if arguments.resume else ""))
        for task_id, reason in not_run.items():
            console.print(f"  {task_id:<24} not run: {reason}", markup=False)
        if "llm" in settings.sources and pending:
            console.print(f"loading the model {proposer.info.name} in each of {min(arguments.workers, len(pending))} "
                          "worker(s) ...", markup=False)
        started = time.perf_counter()
        solved = 0
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("solved {task.fields[solved]}"), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            bar = progress.add_task("tasks", total=len(pending), solved=0)
            for row in run_suite(runnable, settings, run_dir, run_id, arguments.model, arguments.dtype, arguments.workers,
                                 sae=arguments.sae, steer=arguments.steer, ray_address=arguments.ray):
                solved += row["status"] == "solved"
                progress.update(bar, advance=1, solved=solved)
                if not arguments.quiet:
                    progress.console.print(f"  {row['task_id']:<24} {row['status']:<9} {float(row['wall_s'] or 0):7.2f} s  "
                                           f"{row['answer']}", markup=False)
    ids = {entry.task.id for entry in entries}
    rows = [row for row in read_results(run_dir / "results.csv") if row["task_id"] in ids]
    summary = summarise(rows)
    summary["not_run"] = not_run
    summary["elapsed_s"] = time.perf_counter() - started
    table = Table(title=f"{escape(suite_name)} · run {escape(run_id)}")
    for column in ("tasks", "solved", "refuted", "template wrong", "unsolved", "errors", "not run", "proposals/task",
                   "verifier calls/task", "median s", "p95 s"):
        table.add_column(column, justify="right")
    table.add_row(str(summary["tasks"]), str(summary["solved"]), str(summary["refuted"]), str(summary["template_wrong"]),
                  str(summary["unsolved"]),
                  str(summary["errors"]), str(len(not_run)), f"{summary['proposals_mean']:.1f}",
                  f"{summary['verifier_calls_mean']:.1f}", f"{summary['wall_median_s']:.2f}", f"{summary['wall_p95_s']:.2f}")
    console.print(table)
    if summary["solved_by"]:
        console.print("solved by: " + ", ".join(f"{k} {v}" for k, v in summary["solved_by"].items()), markup=False)
    write_atomically(run_dir / "summary.json", json.dumps(summary, indent=2))
    console.print(f"results: {run_dir / 'results.csv'}", markup=False)
    if not_run:
        console.print(f"{len(not_run)} task(s) not run for want of a tool; once it is installed, "
                      f"--resume {run_dir} runs them", markup=False)
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
    elif arguments.format == "sygus":
        from agent.convert import SYGUS_ORIGIN, convert_sygus

        report = convert_sygus(arguments.source, arguments.destination, benchmark=arguments.name or "sygus",
                               origin=arguments.origin or SYGUS_ORIGIN, license=arguments.license)
    else:
        from agent.convert import convert_code2inv

        report = convert_code2inv(arguments.source, arguments.destination, benchmark=arguments.name or "code2inv",
                                  origin=arguments.origin, license=arguments.license, cross_check=arguments.cross_check)
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
    for name, difference in getattr(report, "disagreements", {}).items():
        print(f"template and program differ: {name}: {difference}", file=sys.stderr)
    program_only = getattr(report, "program_only", {})
    for name, reason in program_only.items():
        print(f"template not used: {name}: {reason}; converted from the program alone", file=sys.stderr)
    print(f"converted {len(report.written)} task(s) into {destination}"
          + (f"; suite {report.suite}" if report.suite else "")
          + (f"; {len(program_only)} from the program alone" if program_only else "")
          + (f"; {len(report.failed)} failed" if report.failed else ""))
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
    from agent.view.run import is_eval_run, show_run, write_run_report

    path = arguments.trace
    if is_eval_run(path):
        if arguments.html:
            print(f"wrote {write_run_report(path, arguments.html)}")
        else:
            show_run(path)
        return 0
    if path.is_dir():
        path = path / "trace.jsonl"
    if not path.is_file():
        raise UsageError(f"{arguments.trace}: no such trace or eval run")
    if arguments.html:
        print(f"wrote {write_html(path, arguments.html)}")
    else:
        show_trace(path, verbose=arguments.verbose)
    return 0


def command_export(arguments: argparse.Namespace) -> int:
    from agent.export_inspect import InspectUnavailable, export_inspect

    try:
        print(f"wrote {export_inspect(arguments.run, arguments.out)}")
    except InspectUnavailable as error:
        raise UsageError(str(error)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m agent", description="veriloop: a model proposes, exact verifiers decide.")
    parser.add_argument("--version", action="version", version=f"veriloop {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    solve = commands.add_parser("solve", help="solve one task file")
    solve.add_argument("task", type=Path, help="a task file (YAML)")
    _add_run_options(solve)
    solve.set_defaults(handler=command_solve)

    evaluate = commands.add_parser("eval", help="run a suite (a folder of task files or a suite.yaml)")
    evaluate.add_argument("suite", type=Path, help="a folder of task files or a suite.yaml")
    evaluate.add_argument("--workers", type=_positive, default=1, help="worker processes running tasks in parallel")
    evaluate.add_argument("--resume", default=None, metavar="RUN",
                          help="finish an interrupted run (its folder, or its id under --runs-dir): only tasks "
                               "without a result run, with the same suite and settings")
    evaluate.add_argument("--limit", type=_positive, default=None, help="only the first N tasks (default: all)")
    evaluate.add_argument("--quiet", action="store_true", help="no line per task, only the summary")
    evaluate.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                          help="run the tasks as Ray tasks, --workers at a time: on the cluster at ADDRESS "
                               "(auto, host:6379, ray://host:10001), or on a Ray started here when none is given "
                               "(veriloop[ray])")
    _add_run_options(evaluate)
    evaluate.set_defaults(handler=command_eval)

    schema = commands.add_parser("schema", help="print the JSON Schema of task files (or of trace events)")
    schema.add_argument("what", nargs="?", default="task", choices=("task", "trace"),
                        help="task files or trace events (default: task)")
    schema.set_defaults(handler=command_schema)

    convert = commands.add_parser("convert", help="build task files from a benchmark folder")
    convert.add_argument("format", choices=("code2inv", "sygus", "satlib", "minif2f", "encodings", "logic"),
                         help="the benchmark's format")
    convert.add_argument("source", type=Path,
                         help="code2inv: a folder with c/N.c and c_smt2/N.c.smt; sygus: a folder of SyGuS-Inv .sl files; satlib: a folder with expected_status.csv; "
                              "minif2f: a folder with valid/NAME.lean; encodings: a spec file (tasks/specs/*.yaml); "
                              "logic: a folder with <DataSet>/dev.json")
    convert.add_argument("destination", type=Path, help="the folder the task files (and suite.yaml) are written to")
    convert.add_argument("--name", default=None, help="benchmark name, used in task ids (default: the format's name)")
    convert.add_argument("--origin", default=None, help="where the files came from (kept in each task)")
    convert.add_argument("--license", default=None, help="the data's license (kept in each task)")
    convert.add_argument("--families", default=None, help="satlib: comma-separated families to convert (default: all)")
    convert.add_argument("--per-family", type=int, default=None, help="satlib: at most N files of each family")
    convert.add_argument("--data", type=Path, default=Path("../shared/data/satlib"),
                         help="encodings: the folder the spec's `satlib:` paths are relative to")
    convert.add_argument("--per-dataset", type=int, default=15, help="logic: puzzles taken from each data set")
    convert.add_argument("--cross-check", action="store_true",
                         help="code2inv: compare each template with its C program on the program's runs and name "
                              "those that differ (agent/c_transition.py)")
    convert.set_defaults(handler=command_convert)

    model = commands.add_parser("model", help="prepare the bundled model, or show what --model resolves to")
    model.add_argument("action", choices=("prepare", "info"),
                       help="prepare: convert the bundled model into the cache; info: what --model resolves to")
    model.add_argument("--model", default=None, help="as for solve (default: the bundled model)")
    model.add_argument("--force", action="store_true", help="convert again even if cached")
    model.set_defaults(handler=command_model)

    view = commands.add_parser("view", help="summarise a trace or an eval run in the terminal, or as HTML")
    view.add_argument("trace", type=Path, help="a trace.jsonl, its run folder, or an eval run's folder")
    view.add_argument("-v", "--verbose", action="store_true", help="show every verdict's feedback")
    view.add_argument("--html", type=Path, default=None, metavar="FILE", help="write a static HTML page instead (for an eval run, with a page per task beside it)")
    view.set_defaults(handler=command_view)

    export = commands.add_parser("export", help="write an eval run in another tool's format")
    export.add_argument("format", choices=("inspect",), help="inspect: an Inspect AI eval log (veriloop[inspect])")
    export.add_argument("run", type=Path, metavar="RUN_DIR", help="an eval run's folder")
    export.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="the log file, *.eval or *.json (default: RUN_DIR/inspect/<run id>.eval)")
    export.set_defaults(handler=command_export)

    from agent.gnn.cli import add_parser as add_gnn_parser
    from agent.sae.cli import add_sae_commands

    add_gnn_parser(commands)
    add_sae_commands(commands, UsageError)
    from agent.train.cli import add_train_commands

    add_train_commands(commands, UsageError, _add_run_options)
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
