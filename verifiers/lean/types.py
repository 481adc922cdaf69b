"""Results of talking to Lean: a small union of frozen types, and the exceptions for infrastructure failures.

A tactic applied to a proof state ends in exactly one of:

- `TacticState`: the tactic worked and goals remain (the new state, its goals, Lean's messages);
- `ProofFinished`: the tactic closed the last goal (a *provisional* success: only the from-scratch
  compile in `verifiers.lean.verifier` can accept a proof);
- `LeanError`: Lean rejected the tactic (an error message, a `sorry`, an unassigned metavariable,
  a kernel failure).

A Lean that crashed, ran out of time or memory, or is not installed is not a verdict on the tactic:
those raise `LeanCrashed`, `LeanTimeout` or `LeanUnavailable` (subclasses of the generic
`verifiers.base.ToolError`, so the agent can catch them without importing this package).
Each result carries `kind` ("state" | "finished" | "error") for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Union

from verifiers.base import ToolError, ToolUnavailable


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 0-based, in code points


@dataclass(frozen=True)
class Message:
    """One of Lean's messages (an error, a warning, an information, a trace)."""

    severity: Literal["error", "warning", "info", "trace"]
    text: str
    pos: Position | None = None
    end_pos: Position | None = None

    def render(self, line_offset: int = 0) -> str:
        """`line L:C: severity: text`, with the line shifted by `line_offset` (to number it within a proof)."""
        where = f"line {self.pos.line - line_offset}:{self.pos.column}: " if self.pos and self.pos.line else ""
        return f"{where}{self.severity}: {self.text}"


@dataclass(frozen=True)
class TacticState:
    """A proof state with goals left. `id` is the driver's own handle for it (stable across restarts)."""

    kind: ClassVar[str] = "state"
    id: int
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()

    @property
    def pp(self) -> str:
        """The goals as one text, blank-line separated (LeanDojo's `pp` layout); the search's dedup key."""
        return "\n\n".join(self.goals)


@dataclass(frozen=True)
class ProofFinished:
    """No goals are left. Provisional: the proof is accepted only by the verifier's from-scratch check."""

    kind: ClassVar[str] = "finished"
    id: int
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True)
class LeanError:
    """Lean refused the tactic; `message` is what the model should read."""

    kind: ClassVar[str] = "error"
    message: str
    messages: tuple[Message, ...] = field(default=())


TacticResult = Union[TacticState, ProofFinished, LeanError]


class LeanInfrastructureError(ToolError):
    """Lean itself failed (not a verdict on the proof)."""


class LeanUnavailable(ToolUnavailable, LeanInfrastructureError):
    """No usable Lean toolchain or REPL; the message says how to provide one."""


class LeanTimeout(LeanInfrastructureError):
    """A request overran its time limit; the process was killed and will be restarted."""


class LeanCrashed(LeanInfrastructureError):
    """The Lean process died or answered garbage; it will be restarted."""
