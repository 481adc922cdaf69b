"""Task files: typed pydantic models loaded from YAML, and their JSON Schema.

A task file is one YAML mapping whose `kind` selects the model. Unknown keys are refused
(`extra="forbid"`), so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.cprogram import Program, ProgramError, parse_program


class TaskFileError(Exception):
    """A task file that cannot be used; the message is one line naming the file and the problem."""


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_proposals: int = Field(default=32, ge=1, description="Proposals verified, from every source together "
                               "(Houdini's recombinations of conjuncts already proposed are not counted).")
    samples_per_step: int = Field(default=4, ge=1, le=64, description="Model samples per step, in one batched call.")
    timeout_s: float = Field(default=120.0, gt=0, description="Wall-clock limit for the whole task.")
    verifier_timeout_s: float = Field(default=10.0, gt=0, description="Hard limit for each solver call.")
    max_new_tokens: int = Field(default=32, ge=1, le=4096, description="Tokens the model may write per sample.")


class Source(BaseModel):
    """Where a task came from, kept with every task built from a public benchmark."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    file: str | None = None
    origin: str | None = None
    license: str | None = None


class TaskBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")
    description: str = Field(default="", description="Extra text shown to the model.")
    source: Source | None = None
    budget: Budget = Field(default_factory=Budget)


_INV_PARAMETERS = re.compile(r"define-fun\s+inv-f\s*\(((?:\s*\(\s*[^()\s]+\s+Int\s*\))*)\s*\)")
_PARAMETER = re.compile(r"\(\s*([^()\s]+)\s+Int\s*\)")


class InvariantTask(TaskBase):
    """Find a loop invariant that proves a Code2Inv-style program's assertion."""

    model_config = ConfigDict(extra="forbid", ignored_types=(cached_property,))

    kind: Literal["invariant"]
    program: str | None = Field(default=None, description="The C program: declarations, pre-conditions, one while "
                                "loop, a final assert. Absent when the task comes from a SyGuS-Inv file.")
    vc_template: str = Field(description="SMT-LIB verification template in Code2Inv layout (see verifiers/invariant.py). "
                             "Optional when `program` is given: the program's own is built (agent/c_transition.py).")

    @cached_property
    def parsed_program(self) -> Program | None:
        return parse_program(self.program) if self.program is not None else None

    @cached_property
    def variables(self) -> list[str]:
        """Variables an invariant may mention: the parameters of the template's inv-f."""
        match = _INV_PARAMETERS.search(self.vc_template)
        return _PARAMETER.findall(match.group(1)) if match else []

    @property
    def program_variables(self) -> list[str]:
        """Variables of the program that an invariant may mention, in declaration order."""
        if self.parsed_program is None:
            return list(self.variables)
        allowed = set(self.variables)
        return [name for name in self.parsed_program.variables if name in allowed]


class CnfTask(TaskBase):
    """Decide a CNF formula with a certified answer: SAT with a checked model, UNSAT with a checked DRAT proof."""

    kind: Literal["cnf"]
    dimacs: str = Field(description="The formula in DIMACS CNF, inline (SATLIB's closing `%` line is allowed).")
    solver: str | None = Field(default=None, description="PySAT solver name; default: the verifier's (see verifiers/sat.py).")
    expected: Literal["SAT", "UNSAT"] | None = Field(
        default=None, description="The known answer, for evaluation only: it never decides anything.")


DEFAULT_SYMBOLIC_TACTICS = ("norm_num", "linarith", "nlinarith", "positivity", "omega", "simp", "decide", "aesop",
                            "ring_nf", "field_simp")


class LeanRepository(BaseModel):
    """Where the theorem lives in a git repository (what LeanDojo traces)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    commit: str
    file_path: str = Field(description="The theorem's file inside the repository.")


class LeanSearch(BaseModel):
    """How the Lean strategy searches; `--search-mode` and `--expansions` override these."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["best_first", "whole_proof"] = Field(
        default="best_first", description="best_first: tactic by tactic over proof states; whole_proof: complete "
                                          "proofs, repaired with Lean's error messages.")
    driver: Literal["repl", "dojo"] = Field(default="repl", description="How Lean is reached step by step.")
    max_expansions: int = Field(default=64, ge=1, description="Proof states expanded (best_first).")
    symbolic_tactics: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLIC_TACTICS),
                                        description="Tactics tried on every expanded state besides the model's.")
    symbolic_logprob: float = Field(default=-1.0, le=0, description="Score a symbolic tactic adds to its path.")
    tactic_timeout_s: float = Field(default=30.0, gt=0, description="Limit for one tactic (or one REPL check).")
    max_depth: int = Field(default=32, ge=1, description="Tactics on one path at most.")


class LeanTask(TaskBase):
    """Prove a Lean 4 theorem; the proof is accepted only after a from-scratch compile (verifiers/lean)."""

    kind: Literal["lean"]
    header: str = Field(description="Imports, options and `open`s before the theorem, kept verbatim.")
    statement: str = Field(description="`theorem NAME ... : TYPE`, up to (not including) `:= by`.")
    theorem_name: str = Field(min_length=1)
    lean_project: str | None = Field(default=None, description="Lean project folder (with Mathlib built); "
                                                                "default: $VERILOOP_LEAN_PROJECT.")
    repository: LeanRepository | None = None
    search: LeanSearch = Field(default_factory=LeanSearch)



def _encoding_budget() -> Budget:
    # Programs are longer than invariants; each verification runs the program and maybe a faithfulness check.
    return Budget(max_proposals=8, max_new_tokens=400, timeout_s=300.0, verifier_timeout_s=30.0)


class _EncodingTask(TaskBase):
    family: str = Field(description="The problem family (colouring, pigeonhole, queens, sudoku, scheduling).")
    instance: dict[str, Any] = Field(description="The instance, in the family's format (see README).")
    expected: Literal["sat", "unsat"] | None = Field(
        default=None, description="The known answer, if any; used only to grade the result, never shown.")
    budget: Budget = Field(default_factory=_encoding_budget)


class SatEncodingTask(_EncodingTask):
    """Write a program that encodes an instance of a problem family as CNF (PySAT)."""

    kind: Literal["sat_encoding"]


class SmtEncodingTask(_EncodingTask):
    """Write a program that encodes an instance of a problem family as SMT constraints (z3)."""

    kind: Literal["smt_encoding"]


class LogicTask(TaskBase):
    """Formalise a logic puzzle in z3; the answer is the option the formalisation entails."""

    kind: Literal["logic"]
    style: Literal["choice", "truth"] = Field(
        description="choice: exactly one option is true; truth: the options are True/False/Unknown.")
    context: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2, description="Lettered options: `A) ...`.")
    expected: str | None = Field(default=None, description="The data set's answer letter; used only to grade.")
    budget: Budget = Field(default_factory=_encoding_budget)


AnyTask = Union[InvariantTask, CnfTask, LeanTask, SatEncodingTask, SmtEncodingTask, LogicTask]
Task = Annotated[AnyTask, Field(discriminator="kind")]
TASK_KINDS = ("invariant", "cnf", "lean", "sat_encoding", "smt_encoding", "logic")
_task_adapter: TypeAdapter[Any] = TypeAdapter(Task)


def task_schema() -> dict[str, Any]:
    return _task_adapter.json_schema()


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"] if not str(part).startswith("function-"))
    # Drop the discriminator's own name from the location ("invariant.program" -> "program").
    for kind in TASK_KINDS:
        if location.startswith(kind + "."):
            location = location[len(kind) + 1:]
    message = first["msg"]
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location or 'task'}: {message}{more}"


def parse_task(data: Any, where: str) -> AnyTask:
    """Validate a mapping as a task; raise TaskFileError with a one-line reason."""
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: a task file must hold a YAML mapping")
    kind = data.get("kind")
    if kind is None:
        raise TaskFileError(f"{where}: missing `kind` (one of: {', '.join(TASK_KINDS)})")
    if kind not in TASK_KINDS:
        raise TaskFileError(f"{where}: unknown task kind {kind!r} (known: {', '.join(TASK_KINDS)})")
    if kind == "invariant" and "vc_template" not in data and isinstance(data.get("program"), str):
        from agent.c_transition import c_template

        try:
            data = {**data, "vc_template": c_template(data["program"])}
        except ProgramError as error:
            raise TaskFileError(f"{where}: program: {error}") from None
    try:
        task = _task_adapter.validate_python(data)
    except ValidationError as error:
        raise TaskFileError(f"{where}: {_first_error(error)}") from None
    if isinstance(task, InvariantTask):
        try:
            task.parsed_program
        except ProgramError as error:
            raise TaskFileError(f"{where}: program: {error}") from None
        if not task.variables:
            raise TaskFileError(f"{where}: vc_template: no `(define-fun inv-f ((x Int) ...) Bool` found")
    # The verifier that will judge the task says whether it can (a broken template, a bad formula).
    from verifiers.base import REGISTRY

    try:
        REGISTRY.for_kind(task.kind).check_task(task)
    except ValueError as error:
        raise TaskFileError(f"{where}: {error}") from None
    return task


def load_task(path: str | Path) -> AnyTask:
    """A task from a YAML task file, or an invariant task from a C program (`.c`), whose
    verification template is then built from the program itself."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: no such task file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TaskFileError(f"{path}: cannot read: {error}") from None
    if path.suffix == ".c":
        task_id = re.sub(r"[^A-Za-z0-9_.:/-]", "_", path.stem) or "program"
        return parse_task({"id": task_id, "kind": "invariant", "program": text}, str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise TaskFileError(f"{path}: YAML error{where}: {problem}") from None
    return parse_task(data, str(path))


def task_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class LiteralBlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, so programs and templates stay readable in task files."""


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


LiteralBlockDumper.add_representer(str, _represent_string)


def dump_task(task: BaseModel) -> str:
    """YAML text of a task: `id` and `kind` first, the budget spelled out, empty fields left out."""
    data = task.model_dump(mode="json", exclude_none=True)
    ordered = {key: data.pop(key) for key in ("id", "kind") if key in data}
    ordered.update((key, value) for key, value in data.items() if value != "")
    return yaml.dump(ordered, Dumper=LiteralBlockDumper, sort_keys=False, allow_unicode=True, width=120)
