"""Traces: typed events in a JSONL file, appended and flushed as they happen.

The first line is a header: everything needed to run the task again (format version, task and its
digest, model, revision and its settings such as the dtype, seed, generation settings, budget, the
strategy and its settings, the verifier, versions of every solver and checker, git commit); each
later line is one event. A killed writer leaves at worst a
partial last line, which the reader skips; a malformed line anywhere else is an error.
"""

from __future__ import annotations

import errno
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from verifiers.base import Verdict

FORMAT_VERSION = 2  # 2: typed verdicts (details by verifier), strategy settings, unverified proposals
# What a run's answers depend on: the solvers and checkers (z3, cvc5, PySAT, numba for the DRAT
# checker, lean-interact), the front ends (pycparser, lark, sympy) and the model's libraries.
PACKAGES = ("veriloop", "z3-solver", "cvc5", "python-sat", "numba", "lean-interact", "sympy", "pycparser", "lark",
            "torch", "transformers", "pydantic")


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time: float = Field(default_factory=time.time)


class Header(_Event):
    type: Literal["header"] = "header"
    format_version: int = FORMAT_VERSION
    run_id: str
    task_id: str
    task_kind: str
    task_path: str | None = None
    task_sha256: str | None = None
    model: str | None
    model_revision: str | None = None
    model_backend: str | None = None
    model_settings: dict[str, Any] = Field(default_factory=dict, description="How the model was loaded (dtype, ...).")
    seed: int
    generation: dict[str, Any]
    sources: list[str]
    budget: dict[str, Any]
    strategy: str = ""
    strategy_settings: dict[str, Any] = Field(default_factory=dict, description="The strategy's own settings, in full.")
    verifier: str | None = None
    verifier_version: str | None = None
    versions: dict[str, str]
    git_commit: str | None
    python: str = Field(default_factory=platform.python_version)
    started_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class ProposalEvent(_Event):
    type: Literal["proposal"] = "proposal"
    id: int
    step: int
    source: str  # "llm", "symbolic", "dynamic", "houdini"
    raw: str  # what the source produced (the model's completion, the atoms)
    text: str  # the candidate handed to the verifier
    logprob: float | None = None
    tokens: int | None = None
    payload: dict[str, Any] | None = None  # a proposal that is not text (a phase vector, say)
    payload_type: str | None = None  # the payload's model
    unverified: str | None = Field(default=None, description="Why this proposal was never verified (the budget "
                                                              "ended first); None for a proposal that was.")


class VerdictEvent(_Event):
    type: Literal["verdict"] = "verdict"
    proposal_id: int
    round: int | None = None  # Houdini refinement round, when the candidate is a refinement
    candidate: str
    cached: bool = False  # the same candidate was verified earlier in this run
    template: Literal["task", "program"] = Field(
        default="task", description="The template the verdict is on: the task's, or the C program's own (the search "
                                    "that goes on after the task's template was found to misread its program).")
    verdict: Verdict


class ProgramCheckEvent(_Event):
    """A solved task's answer verified again on its C program's own template (semantics): `rejected`
    means the task's template misreads the program (the result is then `template_wrong`)."""

    type: Literal["program_check"] = "program_check"
    candidate: str
    verdict: Verdict


class FeaturesEvent(_Event):
    """What a proposer-side hook (the SAE hook) recorded while the proposal was generated; written
    right after the proposal. The hook owns the shape of `features`."""

    type: Literal["features"] = "features"
    proposal_id: int
    features: dict[str, Any]


class RefutationEvent(_Event):
    type: Literal["refutation"] = "refutation"
    depth: int
    states: list[dict[str, int]]
    certified: bool
    elapsed_s: float


class TacticEvent(_Event):
    """One tactic tried on one proof state of the Lean search (the goals before and after, Lean's words)."""

    type: Literal["tactic"] = "tactic"
    proposal_id: int
    node: int  # the search node (proof state) the tactic was applied to
    depth: int
    tactic: str
    goals_before: list[str]
    outcome: Literal["state", "finished", "error", "duplicate", "timeout", "crash"]
    child: int | None = None  # the new node, when the tactic gave a new proof state
    goals_after: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    elapsed_s: float


class LeanCheckEvent(_Event):
    """A whole proof elaborated in the REPL before the from-scratch compile (a quick look, not a verdict)."""

    type: Literal["lean_check"] = "lean_check"
    proposal_id: int
    ok: bool
    messages: list[str] = Field(default_factory=list)
    elapsed_s: float


class SearchEvent(_Event):
    """How a Lean search went, written when it ends."""

    type: Literal["search"] = "search"
    mode: str
    driver: str | None = None
    expansions: int = 0
    nodes: int = 0
    duplicates: int = 0
    tactic_errors: int = 0
    infrastructure_errors: int = 0
    proofs_checked: int = 0
    stopped: str = ""


class ResultEvent(_Event):
    type: Literal["result"] = "result"
    status: Literal["solved", "refuted", "template_wrong", "unsolved", "error"]
    answer: str | None = None
    certified: bool = False
    message: str = ""
    proposals: int
    unverified: int = 0  # proposals the budget left no time to verify (counted in `proposals`)
    verifier_calls: int
    proposals_by_source: dict[str, int] = Field(default_factory=dict)
    solved_by: str | None = None
    wall_s: float
    model_s: float = 0.0
    verifier_s: float = 0.0
    model_load_s: float = Field(default=0.0, description="The model's one-time load during this task (in `wall_s`, "
                                                         "not in the task's time budget).")


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    message: str


Event = Annotated[
    Union[Header, ProposalEvent, VerdictEvent, ProgramCheckEvent, FeaturesEvent, RefutationEvent, TacticEvent, LeanCheckEvent,
          SearchEvent, ResultEvent, ErrorEvent],
    Field(discriminator="type"),
]
_event_adapter: TypeAdapter[Any] = TypeAdapter(Event)


def event_schema() -> dict[str, Any]:
    return _event_adapter.json_schema()


class TraceWriter:
    """Appends one JSON line per event and flushes it at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(path)
        self._handle = open_append(path)

    def write(self, event: BaseModel) -> None:
        self._handle.write(event.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_append(path: Path, newline: str | None = None) -> TextIO:
    """`path` opened for appending text; a symbolic link there is refused (TraceError), since a link
    planted in the runs folder would send the run's output to another file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise TraceError(f"{path} is a symbolic link; veriloop writes only to plain files") from None
        raise
    return os.fdopen(descriptor, "a", encoding="utf-8", newline=newline)


def _drop_partial_last_line(path: Path) -> None:
    """Appending after a line cut by a killed writer would corrupt the next event: cut it off."""
    if path.is_symlink():
        raise TraceError(f"{path} is a symbolic link; veriloop writes only to plain files")
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class TraceError(ValueError):
    pass


def read_trace(path: Path) -> list[Any]:
    """All complete events of a trace; a partial last line (a writer killed mid-line) is skipped."""
    lines = path.read_text(encoding="utf-8").split("\n")
    # A complete trace ends with "\n", so the last element is "" unless the last line was cut.
    complete, last = lines[:-1], lines[-1]
    events = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            events.append(_event_adapter.validate_json(line))
        except ValueError as error:
            raise TraceError(f"{path}:{number}: not a trace event: {str(error).splitlines()[0]}") from None
    if last.strip():
        try:  # a last line without its newline may still be whole; keep it if it parses
            events.append(_event_adapter.validate_json(last))
        except ValueError:
            pass
    return events


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def new_run_id(label: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in label)[:40]
    return f"{stamp}-{safe}-{os.urandom(2).hex()}"
