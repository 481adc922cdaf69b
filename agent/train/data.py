"""Training sets from traces: for each task, the prompt the model sees paired with verified answers.

`build_dataset(runs, out)` reads the traces of `solve` and `eval` runs, takes every answer the verifier
accepted (from any source: the model, program atoms, runs, fitted polynomials, Spacer, Houdini's
recombinations), and verifies it again with the real verifier, dropping the conjuncts it does not
need (`agent.search.houdini.finish`: those Z3's cores name, else trial removals; every step re-verified), then each disjunctive conjunct is replaced
by the shortest of its disjuncts that keeps it accepted (`strengthen`: the program sources' case splits
such as `(a || b) && (!a || b)` are learnt as `b`) and shrunk again. An answer that is not accepted again
is left out and counted; nothing unverified is ever written. The prompt is the one the invariant
strategy renders for the model's first step (`prompt_for`). Tasks are split into `train` and `test`
by a hash of the task id (or by a named test suite), so one task's answers never cross a split.

The folder written (atomically: it appears whole or not at all):
  train.jsonl, test.jsonl   one `Example` per line
  report.json               counts by split, source and task kind, and what was left out and why
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.files import folder_written_atomically
from agent.llm.base import Prompt
from agent.prompts import render_prompt
from agent.tasks import TaskFileError, load_task, task_digest
from agent.train.augment import origin_id
from agent.trace import Header, ProposalEvent, ResultEvent, TraceError, TraceWriter, VerdictEvent, read_trace
from verifiers import cexpr
from verifiers.details import InvariantDetails

FORMAT_VERSION = 1
# Task kinds with a training prompt; answers of other kinds are counted in the report and left out.
TRAINABLE_KINDS = ("invariant",)
SPLITS = ("train", "test")
# Seconds allowed for re-verifying and shrinking one answer (all its verifier calls together).
VERIFY_TIMEOUT_S = 60.0
# Round numbers of the strengthening trials in the scratch trace (after shrinking's).
STRENGTHEN_ROUNDS = 1000


class DataError(ValueError):
    """Bad input for the data builder (a missing run, an existing output folder); one line for the user."""


class Example(BaseModel):
    """One verified answer to one task, with the prompt the model sees for it."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    task_kind: str
    task_path: str
    task_sha256: str
    split: Literal["train", "test"]
    messages: list[dict[str, str]] = Field(description="The chat the model is given (system, example turns, user).")
    response_prefix: str = Field(description="The start of the model's reply; the answer continues it.")
    answer: str = Field(description="The answer, shrunk to the conjuncts it needs, as the verifier prints it.")
    sources: list[str] = Field(description="Sources that found this answer (before shrinking), first one first.")
    found: list[str] = Field(description="The answers as found in the traces, before shrinking.")
    verifier: str
    verifier_version: str
    certified: bool = Field(description="The verifier's independent check agreed (for invariants: cvc5).")
    runs: list[str] = Field(description="Run ids of the traces the answer came from.")

    @property
    def prompt(self) -> Prompt:
        return Prompt(messages=self.messages, response_prefix=self.response_prefix)


def prompt_for(task: Any) -> Prompt:
    """The prompt the invariant strategy gives the model at its first step (`agent.search.invariant`):
    nothing proved yet, no failed attempts."""
    return render_prompt("invariant", program=task.program or task.vc_template, description=task.description,
                         variables=task.variables, proved=[], attempts=[])


def split_of(task_id: str, test_share: float, test_ids: set[str] | None = None) -> str:
    """`test` for the tasks of a named test suite, else for a `test_share` of tasks chosen by a hash of
    the id (the same on every machine and in every run). A program's variants (`train augment`) go where
    the program they were made from goes."""
    task_id = origin_id(task_id)
    if test_ids is not None:
        return "test" if task_id in test_ids else "train"
    fraction = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big") / 2**64
    return "test" if fraction < test_share else "train"


@dataclass
class Found:
    """An accepted answer as a trace recorded it."""

    task_id: str
    task_kind: str
    task_path: Path | None
    task_sha256: str | None
    answer: str
    source: str
    run_id: str


@dataclass
class Report:
    traces: int = 0
    found: int = 0  # accepted answers in the traces (repeats included)
    examples: dict[str, int] = field(default_factory=lambda: {split: 0 for split in SPLITS})
    tasks: dict[str, int] = field(default_factory=lambda: {split: 0 for split in SPLITS})
    by_source: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> answers
    held_out: str = ""  # how the test split was chosen, in words
    test_tasks: list[str] | None = None  # the named held-out tasks, when a set of tasks (not a share) chose them

    def as_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "traces": self.traces, "found": self.found,
                "examples": self.examples, "tasks": self.tasks, "by_source": dict(self.by_source.most_common()),
                "by_kind": dict(self.by_kind.most_common()), "left_out": dict(self.left_out.most_common()),
                "held_out": self.held_out, "test_tasks": self.test_tasks}


def trace_files(location: Path) -> list[Path]:
    """The traces of a run: a trace file, a `solve` run folder (trace.jsonl) or an `eval` run folder
    (traces/*.jsonl)."""
    if location.is_file():
        return [location]
    if (location / "traces").is_dir():
        return sorted((location / "traces").glob("*.jsonl"))
    if (location / "trace.jsonl").is_file():
        return [location / "trace.jsonl"]
    raise DataError(f"{location}: not a trace, a solve run folder or an eval run folder")


def _suite_folder(trace: Path) -> Path | None:
    """The suite folder an eval run recorded (task paths in its traces may be relative to where it ran)."""
    record = trace.parent.parent / "run.json"
    try:
        suite = Path(json.loads(record.read_text(encoding="utf-8"))["suite"])
    except (OSError, ValueError, KeyError):
        return None
    return suite if suite.is_dir() else suite.parent


def _task_path(header: Header, trace: Path) -> Path | None:
    if not header.task_path:
        return None
    given = Path(header.task_path)
    candidates = [given]
    suite = _suite_folder(trace)
    if suite is not None and not given.is_absolute():
        candidates.append(suite / given.name)
    return next((path for path in candidates if path.is_file()), None)


def accepted_answers(trace: Path) -> list[Found]:
    """The answers a verifier accepted in one trace (the last one of each proposal), with the source that
    found it. An answer Houdini refined is credited as the run's result credits it (`houdini(symbolic)`)."""
    events = read_trace(trace)
    header = next((event for event in events if isinstance(event, Header)), None)
    if header is None:
        raise TraceError(f"{trace}: no header")
    sources = {event.id: event.source for event in events if isinstance(event, ProposalEvent)}
    result = next((event for event in events if isinstance(event, ResultEvent)), None)
    task_path = _task_path(header, trace)
    # One answer per proposal: the last one accepted for it (Houdini's shrinking verifies ever smaller
    # accepted refinements of one proposal; the last is the smallest).
    last_accepted: dict[int, VerdictEvent] = {}
    for event in events:
        if isinstance(event, VerdictEvent) and event.verdict.status == "accepted":
            last_accepted[event.proposal_id] = event
    found = []
    for event in last_accepted.values():
        details = event.verdict.details
        answer = details.invariant if isinstance(details, InvariantDetails) and details.invariant else event.candidate
        source = sources.get(event.proposal_id, "unknown")
        if result is not None and result.solved_by and result.answer == answer:
            source = result.solved_by
        found.append(Found(header.task_id, header.task_kind, task_path, header.task_sha256, answer, source,
                           header.run_id))
    return found


def disjuncts(text: str) -> list[str]:
    """The top-level disjuncts of a C condition (`a || b || c` gives a, b, c), each as canonical C text."""
    return [cexpr.to_c(part) for part in cexpr.disjuncts(cexpr.parse(text))]


def strengthen(session: Any, proposal: Any, conjuncts: list[str]) -> tuple[Any, list[str]] | None:
    """Each disjunctive conjunct replaced by one of its disjuncts (the shortest that keeps the invariant
    accepted), so that `(a || b) && (!a || b)` is learnt as `b` and `x > 40 || x >= 0` as `x >= 0`; a
    conjunct that then repeats another is dropped. Every step is verified (by Z3; the caller verifies the
    result in full). Returns the accepted verdict and the conjuncts, or None when no conjunct could be
    strengthened (or the time ran out before any was)."""
    from agent.search.houdini import conjunction
    from agent.session import BudgetExhausted

    kept, best, round_number, index = list(conjuncts), None, STRENGTHEN_ROUNDS, 0
    try:
        while index < len(kept):
            try:
                choices = disjuncts(kept[index])
            except cexpr.ExprError:
                choices = []
            replaced = False
            for choice in sorted(choices, key=len) if len(choices) > 1 else []:
                trial = list(dict.fromkeys(kept[:index] + [choice] + kept[index + 1:]))
                round_number += 1
                verdict = session.verify(proposal, conjunction(trial), round=round_number, certify=False)
                if verdict.status == "accepted":
                    # A choice that repeats an earlier conjunct is gone, and the next one takes its place.
                    replaced = len(trial) < len(kept) and choice in kept[:index]
                    best, kept = verdict, trial
                    break
            index += 0 if replaced else 1
    except BudgetExhausted:
        pass
    return None if best is None else (best, kept)


class _Verifier:
    """Verifies and shrinks answers with the task kind's real verifier, through a `Session` (the same door
    every proposal takes), writing its events to a scratch trace."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def shrink(self, task: Any, answer: str) -> tuple[Any, str] | None:
        """The accepted verdict on `answer` shrunk to the conjuncts it needs and its text; None when the
        verifier does not accept `answer` again."""
        from agent.search.houdini import conjunction, finish
        from agent.session import RunSettings, Session
        from verifiers.base import REGISTRY

        budget = task.budget.model_copy(update={"timeout_s": VERIFY_TIMEOUT_S, "max_proposals": 1})
        with TraceWriter(self.scratch / "verify.jsonl") as trace:
            session = Session(task=task, verifier=REGISTRY.for_kind(task.kind), proposer=None,
                              settings=RunSettings(sources=("symbolic",)), budget=budget, trace=trace)
            proposal = session.propose(answer, source="train-data", step=0)
            verdict = session.verify(proposal)
            details = verdict.details
            if verdict.status != "accepted" or not isinstance(details, InvariantDetails):
                return None
            # Shrinking data is not a user's wait: up to 6 s (at least 2), as before the search's share.
            verdict, kept = finish(session, proposal, verdict, details.conjuncts, 0,
                                   time_s=max(2.0, min(6.0, session.time_left() / 4)))
            if verdict.status != "accepted":
                return None
            stronger = strengthen(session, proposal, kept)
            if stronger is not None:
                final, smaller = finish(session, proposal, stronger[0], stronger[1], STRENGTHEN_ROUNDS,
                                        time_s=max(2.0, min(6.0, session.time_left() / 4)))
                if final.status == "accepted":
                    verdict, kept = final, smaller
        shrunk = verdict.details.invariant if isinstance(verdict.details, InvariantDetails) else None
        return verdict, shrunk or conjunction(kept)


def collect_examples(runs: Iterable[Path], test_share: float = 0.1, test_ids: set[str] | None = None,
                     report: Report | None = None, known: list[Example] | None = None) -> tuple[list[Example], Report]:
    """The verified examples of the runs' traces, each answer re-verified and shrunk; `known` examples
    (from an earlier data set) are kept, and an answer already among them is not verified again."""
    report = report or Report()
    examples: dict[tuple[str, str], Example] = {(example.task_id, example.answer): example for example in known or []}
    found_before: dict[tuple[str, str], tuple[str, str] | None] = {}  # (task, found) -> (task, answer) or None
    for example in known or []:
        for text in example.found:
            found_before[(example.task_id, text)] = (example.task_id, example.answer)
    tasks: dict[Path, Any] = {}
    # A task of the known examples keeps its split, whatever rule made it.
    splits = {example.task_id: example.split for example in known or []}
    with tempfile.TemporaryDirectory(prefix="veriloop-train-data-") as scratch:
        verifier = _Verifier(Path(scratch))
        for location in runs:
            for trace in trace_files(location):
                report.traces += 1
                for found in accepted_answers(trace):
                    report.found += 1
                    split = splits.setdefault(found.task_id, split_of(found.task_id, test_share, test_ids))
                    _add(found, examples, found_before, tasks, verifier, report, split)
    ordered = sorted(examples.values(), key=lambda example: (example.task_id, example.answer))
    return ordered, report


def _add(found: Found, examples: dict[tuple[str, str], Example], found_before: dict, tasks: dict[Path, Any],
         verifier: _Verifier, report: Report, split: str) -> None:
    if found.task_kind not in TRAINABLE_KINDS:
        report.left_out[f"task kind {found.task_kind} has no training prompt yet"] += 1
        return
    if found.task_path is None:
        report.left_out["task file not found"] += 1
        return
    digest = task_digest(found.task_path)
    if found.task_sha256 and digest != found.task_sha256:
        report.left_out["task file changed since the run"] += 1
        return
    key = (found.task_id, found.answer)
    if key not in found_before:
        if found.task_path not in tasks:
            try:
                tasks[found.task_path] = load_task(found.task_path)
            except TaskFileError:
                report.left_out["task file unreadable"] += 1
                return
        shrunk = verifier.shrink(tasks[found.task_path], found.answer)
        if shrunk is None:
            found_before[key] = None
        else:
            verdict, answer = shrunk
            target = (found.task_id, answer)
            found_before[key] = target
            if target not in examples:
                task = tasks[found.task_path]
                prompt = prompt_for(task)
                examples[target] = Example(
                    task_id=task.id, task_kind=task.kind, task_path=str(found.task_path), task_sha256=digest,
                    split=split, messages=prompt.messages,
                    response_prefix=prompt.response_prefix, answer=answer, sources=[], found=[],
                    verifier=verdict.verifier, verifier_version=verdict.verifier_version,
                    certified=verdict.certified, runs=[])
    target = found_before[key]
    if target is None:
        report.left_out["not accepted when verified again"] += 1
        return
    example = examples[target]
    for values, value in ((example.sources, found.source), (example.found, found.answer), (example.runs, found.run_id)):
        if value not in values:
            values.append(value)


def summarise(examples: list[Example], report: Report) -> Report:
    """Fill the report's counts from the final examples."""
    for split in SPLITS:
        chosen = [example for example in examples if example.split == split]
        report.examples[split] = len(chosen)
        report.tasks[split] = len({example.task_id for example in chosen})
    report.by_source = Counter(example.sources[0] for example in examples)
    report.by_kind = Counter(example.task_kind for example in examples)
    return report


def write_dataset(examples: list[Example], report: Report, out: Path) -> None:
    """Write the data folder whole (a staging folder renamed into place); an existing `out` is refused."""
    if out.exists():
        raise DataError(f"{out} already exists; name a new folder")
    with folder_written_atomically(out) as staging:
        for split in SPLITS:
            lines = [example.model_dump_json() + "\n" for example in examples if example.split == split]
            (staging / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
        (staging / "report.json").write_text(json.dumps(summarise(examples, report).as_dict(), indent=2) + "\n",
                                            encoding="utf-8")


def share_rule(test_share: float) -> str:
    """The words for a test split chosen as a share of tasks (`split_of` without named test tasks)."""
    return f"a {test_share:g} share of tasks chosen by a hash of the task id"


def read_report(location: Path) -> Report:
    """The split rule of a data folder, for adding to it: its `held_out` words and named test tasks."""
    try:
        recorded = json.loads((location / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{location}: not a training data folder ({error})") from None
    return Report(held_out=recorded.get("held_out", ""), test_tasks=recorded.get("test_tasks"))


def read_dataset(location: Path, splits: tuple[str, ...] = SPLITS) -> list[Example]:
    """The examples of a data folder (`train data`'s output), in the given splits."""
    if not (location / "report.json").is_file():
        raise DataError(f"{location}: not a training data folder (no report.json)")
    examples = []
    for split in splits:
        path = location / f"{split}.jsonl"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                examples.append(Example.model_validate_json(line))
            except ValueError as error:
                raise DataError(f"{path}:{number}: not a training example: {str(error).splitlines()[0]}") from None
    return examples


def build_dataset(runs: list[Path], out: Path, test_share: float = 0.1, test_ids: set[str] | None = None,
                  held_out: str | None = None) -> Report:
    """`held_out` says in words how the test split was chosen (e.g. which suite); the report keeps it."""
    if out.exists():
        raise DataError(f"{out} already exists; name a new folder")
    for location in runs:
        trace_files(location)  # a bad run is refused before any work
    rule = held_out or (f"{len(test_ids)} named tasks" if test_ids is not None else share_rule(test_share))
    report = Report(held_out=rule, test_tasks=sorted(test_ids) if test_ids is not None else None)
    examples, report = collect_examples(runs, test_share, test_ids, report=report)
    write_dataset(examples, report, out)
    return report
