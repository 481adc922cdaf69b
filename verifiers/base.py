"""The trusted base's core types: Verdict, the Verifier protocol and the registry.

Nothing here imports from `agent/`. A verifier receives a task object (duck-typed: each verifier
documents the attributes it reads), a proposal (a `Proposal`: its candidate `text` and, for a
non-text proposal, a typed `payload`; or a plain string) and a budget, and returns a Verdict whose
`details` are the verifier's own typed model (`verifiers.details`). A rejection is a return value;
a broken verifier is an `error` verdict; a time-out or a solver's `unknown` is an `unknown` verdict
and never an acceptance. Optional abilities of a verifier are Protocols checked with `isinstance`.
"""

from __future__ import annotations

import time
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from verifiers.details import AnyDetails, OtherDetails, VerdictDetails

VerdictStatus = Literal["accepted", "rejected", "unknown", "error"]

ENTRY_POINT_GROUP = "veriloop.verifiers"
# Modules of the verifiers that ship with veriloop; imported on the registry's first lookup.
BUILTIN_MODULES = ("verifiers.invariant", "verifiers.sat", "verifiers.lean.verifier", "verifiers.encoding",
                   "verifiers.smt", "verifiers.logic")


class Verdict(BaseModel):
    """The decision on one proposal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: VerdictStatus
    verifier: str
    verifier_version: str
    feedback: str = Field(description="Text the proposer sees next.")
    counterexample: dict[str, Any] | None = None
    certificate: Any | None = None
    certified: bool = Field(
        default=False, description="True only when an independent check of the certificate passed."
    )
    details: AnyDetails | None = Field(default=None, description="What the verifier checked and found (its own model).")
    elapsed_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


class VerifyBudget(BaseModel):
    """Limits for one verification."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(default=10.0, gt=0,
                             description="Hard limit for one verdict: all its solver calls together.")
    certify: bool = Field(default=True, description="Re-check an acceptance with a second solver (what makes it "
                          "`certified`); off for intermediate candidates whose final form is checked again. A "
                          "verifier without a second opinion ignores it.")
    certify_s: float | None = Field(default=None, gt=0, description="Seconds the second solver's re-check may take "
                                    "in all (within `timeout_s`); None: what the verdict's time leaves it.")


@runtime_checkable
class HasText(Protocol):
    text: str


@runtime_checkable
class Proposal(Protocol):
    """What a verifier receives: the candidate text and, for a proposal that is not text (a phase
    vector, say), its typed payload."""

    text: str
    payload: BaseModel | None


PayloadT = TypeVar("PayloadT", bound=BaseModel)
AbilityT = TypeVar("AbilityT")


def proposal_text(proposal: HasText | str) -> str:
    return proposal if isinstance(proposal, str) else proposal.text


def proposal_payload(proposal: HasText | str, model: type[PayloadT]) -> PayloadT | None:
    """The proposal's payload when it is a `model`; None for a text proposal."""
    payload = proposal.payload if isinstance(proposal, Proposal) else None
    return payload if isinstance(payload, model) else None


class Verifier:
    """Base class of verifiers: set `name`, `version`, `kinds` and `details_model`, implement `verify`."""

    name: ClassVar[str]
    version: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    details_model: ClassVar[type[VerdictDetails]] = OtherDetails

    def verify(self, task: Any, proposal: Proposal | str, budget: VerifyBudget) -> Verdict:
        raise NotImplementedError

    def check_task(self, task: Any) -> None:
        """Raise ValueError with a one-line reason when `task` cannot be verified at all
        (a broken template, say). Called when tasks are loaded or converted."""

    def check_environment(self, task: Any) -> None:
        """Raise ToolUnavailable with a one-line reason (and how to fix it) when an external tool this
        verifier needs for `task` is not installed or configured. Called before a run starts."""

    def verdict(self, status: VerdictStatus, feedback: str, started: float,
                details: VerdictDetails | dict[str, Any] | None = None, **fields: Any) -> Verdict:
        """Build a Verdict stamped with this verifier's name, version and the time since `started`.
        `details` given as a dict is validated into the verifier's `details_model` (unknown keys
        are an error, so the model stays the truth about what a verifier reports)."""
        if isinstance(details, dict):
            details = self.details_model.model_validate(details)
        return Verdict(
            status=status,
            verifier=self.name,
            verifier_version=self.version,
            feedback=feedback,
            elapsed_s=time.perf_counter() - started,
            details=details,
            **fields,
        )


# Optional abilities of a verifier, asked for with `isinstance` (never `hasattr`).


@runtime_checkable
class Refutes(Protocol):
    """Looks for a run that violates the task's claim: when one exists, no proposal can succeed.
    Returns None when no such run is found within `max_depth` steps."""

    def refute(self, task: Any, max_depth: int, budget: VerifyBudget) -> Any: ...


@runtime_checkable
class OpensTacticDriver(Protocol):
    """Opens a step-by-step session with a proof assistant (a search's tactic driver)."""

    def open_driver(self, task: Any, driver: str = "repl") -> Any: ...


@runtime_checkable
class DescribesFamily(Protocol):
    """Names the problem family of a task (its statement and variable conventions, for prompts)."""

    def family_of(self, task: Any) -> Any: ...


@runtime_checkable
class LabelsByBruteForce(Protocol):
    """Decides small instances by trying every candidate: "sat", "unsat", or None when too many."""

    def brute_force_answer(self, task: Any, limit: int) -> str | None: ...


@runtime_checkable
class ReportsToolVersions(Protocol):
    """Names the versions of external tools it uses for `task` beyond Python packages (a Lean
    toolchain, say), for the trace header; an empty dict when they cannot be found."""

    def tool_versions(self, task: Any) -> dict[str, str]: ...


@runtime_checkable
class ReadsCnf(Protocol):
    """Reads DIMACS text into (variables, clauses); ValueError with one line when it cannot."""

    def read_cnf(self, dimacs: str) -> tuple[int, list[list[int]]]: ...


class RegistryError(Exception):
    pass


class ToolError(Exception):
    """An external tool behind a verifier failed (crashed, overran its time, ran out of memory).
    Not a verdict on any proposal: the caller decides whether to retry or give up."""


class ToolUnavailable(ToolError):
    """The external tool is not installed or not configured; the message is one line saying how to
    provide it. The CLI turns it into exit status 2."""


class Registry:
    """Verifier classes by name; refuses duplicate names. Third parties register through the
    `veriloop.verifiers` entry-point group (each entry point names a Verifier subclass)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Verifier]] = {}
        self._instances: dict[str, Verifier] = {}
        self._entry_points_loaded = False

    def register(self, cls: type[Verifier]) -> type[Verifier]:
        for attribute in ("name", "version", "kinds"):
            if not getattr(cls, attribute, None):
                raise RegistryError(f"verifier class {cls.__qualname__} has no `{attribute}`")
        if cls.name in self._classes and self._classes[cls.name] is not cls:
            raise RegistryError(f"a verifier named {cls.name!r} is already registered")
        self._classes[cls.name] = cls
        return cls

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for module in BUILTIN_MODULES:
            import_module(module)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            self.register(entry_point.load())

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._classes)

    def get(self, name: str) -> Verifier:
        self._load_entry_points()
        if name not in self._classes:
            raise RegistryError(f"no verifier named {name!r}; known: {', '.join(self.names())}")
        if name not in self._instances:
            self._instances[name] = self._classes[name]()
        return self._instances[name]

    def for_kind(self, kind: str) -> Verifier:
        self._load_entry_points()
        matches = [name for name, cls in self._classes.items() if kind in cls.kinds]
        if not matches:
            raise RegistryError(f"no verifier serves task kind {kind!r}")
        if len(matches) > 1:
            raise RegistryError(f"several verifiers serve task kind {kind!r}: {', '.join(sorted(matches))}")
        return self.get(matches[0])

    def ability(self, kind: str, ability: type[AbilityT]) -> AbilityT:
        """The verifier for `kind`, as one with `ability` (one of the Protocols above); RegistryError
        when it lacks it."""
        verifier = self.for_kind(kind)
        if not isinstance(verifier, ability):
            raise RegistryError(f"the verifier for task kind {kind!r} ({verifier.name}) has no {ability.__name__}")
        return verifier


REGISTRY = Registry()
register = REGISTRY.register
