"""A phase hint for the SAT solver: preferred values of variables, with a confidence for each.

A hint only steers the solver's search (PySAT `set_phases`: the value a decision tries first); it
never enters a verdict's check. A SAT answer is still checked clause by clause and an UNSAT answer
still needs its DRAT proof to check, so a wrong or adversarial hint can cost time, never trust.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PhaseHint(BaseModel):
    """Preferred phases as signed literals (v: try true first, -v: false first), one per variable,
    with confidences in [0, 1] in the same order. `threshold`: only literals at least this confident
    are handed to the solver (None: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phases: tuple[int, ...]
    confidences: tuple[float, ...]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    source: str = Field(default="", description="what proposed the phases, e.g. the GNN's weights")
    inference_s: float = Field(default=0.0, ge=0.0, description="seconds the proposer took")

    @model_validator(mode="after")
    def _consistent(self) -> "PhaseHint":
        if len(self.phases) != len(self.confidences):
            raise ValueError(f"{len(self.phases)} phases but {len(self.confidences)} confidences")
        if 0 in self.phases:
            raise ValueError("a phase is a nonzero literal")
        if len({abs(literal) for literal in self.phases}) != len(self.phases):
            raise ValueError("a variable has more than one phase")
        if any(not 0.0 <= confidence <= 1.0 for confidence in self.confidences):
            raise ValueError("confidences lie in [0, 1]")
        return self

    def selected(self, variables: int | None = None) -> list[int]:
        """The literals handed to the solver: those at or above the threshold, over variables
        1..`variables` when given (a hint for another formula's variables is cut to this one's)."""
        return [literal for literal, confidence in zip(self.phases, self.confidences)
                if (self.threshold is None or confidence >= self.threshold)
                and (variables is None or abs(literal) <= variables)]


# ---------------------------------------------------------------------------------------------
# Advisors: a proposer of phases that a verifier asks itself, for a formula that exists only inside
# the verifier (an encoding program's output). The verifier runs it in its own (trusted) process on
# an untrusted formula, so its input is bounded by size and its wait by time; whatever it returns or
# raises, only the search is steered, never the check of the answer.

# Formulas larger than these are solved without advice (the advisor's cost grows with the formula).
MAX_ADVISED_VARIABLES = 200_000
MAX_ADVISED_LITERALS = 2_000_000
# The share of the solve's time the verifier waits for advice.
ADVICE_SHARE = 0.1


class PhaseAdvisor(Protocol):
    """Proposes a phase hint for a formula (its variables 1..`variables` and its clauses). `stop` is set
    when the verifier stops waiting: the advisor should then give up soon (return or raise), so that
    it does not go on competing with the solver for the CPU."""

    def __call__(self, variables: int, clauses: Sequence[Sequence[int]], stop: threading.Event) -> PhaseHint: ...


@runtime_checkable
class TakesPhaseAdvisor(Protocol):
    """A verifier that asks an advisor for the phases of the formulas it solves."""

    def with_phase_advisor(self, advisor: PhaseAdvisor) -> Any:
        """A copy of this verifier that asks `advisor` (this one is left as it was)."""
        ...


@dataclass(frozen=True)
class Advice:
    """What asking an advisor gave: the hint, or None and why there is none."""

    hint: PhaseHint | None
    skipped: str | None = None
    waited_s: float = 0.0


def ask_advisor(advisor: PhaseAdvisor, variables: int, clauses: Sequence[Sequence[int]],
                time_limit_s: float) -> Advice:
    """The advisor's hint for the formula, or none when the formula is past the size caps, the advisor
    takes longer than `time_limit_s`, fails, or returns something that is not a PhaseHint."""
    literals = sum(len(clause) for clause in clauses)
    if variables > MAX_ADVISED_VARIABLES or literals > MAX_ADVISED_LITERALS:
        return Advice(None, f"the formula ({variables} variables, {literals} literals) is past the advice caps "
                            f"({MAX_ADVISED_VARIABLES} variables, {MAX_ADVISED_LITERALS} literals)")
    started = time.perf_counter()
    # A daemon thread, waited for at most the time limit: the advisor runs in this process and cannot
    # be interrupted, so past the limit the solver starts without it and `stop` asks the advisor to
    # give up (the size caps bound what it costs until it does, and a daemon thread never holds up
    # the process's exit).
    reply: list[Any] = []
    stop = threading.Event()
    frozen = tuple(tuple(clause) for clause in clauses)  # the advisor cannot edit the clauses the answer is checked on

    def work() -> None:
        try:
            reply.append(advisor(variables, frozen, stop))
        except Exception as error:  # an advisor's failure costs its advice, never the verdict
            reply.append(error)

    thread = threading.Thread(target=work, name="phase-advisor", daemon=True)
    thread.start()
    thread.join(max(0.0, time_limit_s))
    if not reply:
        stop.set()
        return Advice(None, f"the advisor took longer than {time_limit_s:.3g} s", time.perf_counter() - started)
    hint = reply[0]
    if isinstance(hint, Exception):
        return Advice(None, f"the advisor failed: {type(hint).__name__}: {' '.join(str(hint).split())[:160]}",
                      time.perf_counter() - started)
    waited = time.perf_counter() - started
    if not isinstance(hint, PhaseHint):
        return Advice(None, f"the advisor returned a {type(hint).__name__}, not a PhaseHint", waited)
    return Advice(hint, None, waited)
