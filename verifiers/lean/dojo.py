"""The LeanDojo driver: `Dojo` sessions over a theorem of a traced repository (optional extra `dojo`).

LeanDojo (`pip install 'veriloop[dojo]'`) traces a Lean repository once (it builds it and caches the
result; that needs the network and a Lean toolchain), then `Dojo(theorem)` opens an interactive
session in which each `run_tac(state, tactic)` returns `TacticState | ProofFinished | LeanError |
ProofGivenUp`. This driver maps those onto this package's own union (`ProofGivenUp`, LeanDojo's answer
to a `sorry`, becomes a `LeanError`), and LeanDojo's `DojoTacticTimeoutError`, `DojoCrashError` and
`DojoInitError` onto `LeanTimeout`, `LeanCrashed` and `LeanUnavailable`.

LeanDojo is imported only inside this module's functions, so the rest of veriloop never needs it. A
proof it finishes is still only provisional: the verifier compiles the task's file from scratch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verifiers.lean.repl import refusal
from verifiers.lean.types import (
    LeanCrashed,
    LeanError,
    LeanTimeout,
    LeanUnavailable,
    ProofFinished,
    TacticResult,
    TacticState,
)

GOAL_SEPARATOR = "\n\n"  # LeanDojo's `TacticState.pp` joins the goals with a blank line


def _lean_dojo() -> Any:
    try:
        import lean_dojo
    except ImportError:
        raise LeanUnavailable("LeanDojo is not installed: pip install 'veriloop[dojo]' (it needs a Lean toolchain "
                              "and network access to trace the repository once)") from None
    return lean_dojo


def split_goals(pp: str) -> tuple[str, ...]:
    """LeanDojo's pretty-printed state as one goal per entry (each goal has exactly one `⊢`)."""
    goals: list[str] = []
    for chunk in pp.split(GOAL_SEPARATOR):
        if goals and "⊢" not in goals[-1]:
            goals[-1] += GOAL_SEPARATOR + chunk  # a hypothesis with a blank line inside: same goal
        else:
            goals.append(chunk)
    return tuple(goal for goal in goals if goal.strip())


def convert_result(result: Any, lean_dojo: Any) -> TacticResult:
    """A LeanDojo tactic result as this package's union."""
    if isinstance(result, lean_dojo.TacticState):
        return TacticState(result.id, split_goals(result.pp))
    if isinstance(result, lean_dojo.ProofFinished):
        return ProofFinished(result.tactic_state_id)
    if isinstance(result, lean_dojo.ProofGivenUp):
        return LeanError("the tactic gives the proof up with `sorry`; sorry is never accepted")
    if isinstance(result, lean_dojo.LeanError):
        return LeanError(result.error)
    raise LeanCrashed(f"LeanDojo returned an unknown result {type(result).__name__}")


class DojoDriver:
    """Tactic-level access to one theorem of a traced repository, through LeanDojo's `Dojo`."""

    name = "lean-dojo"

    def __init__(self, url: str, commit: str, file_path: str, theorem_name: str, timeout_s: int = 600) -> None:
        self.url, self.commit, self.file_path, self.theorem_name = url, commit, file_path, theorem_name
        self.timeout_s = timeout_s
        self._dojo: Any = None
        self._states: dict[int, Any] = {}

    def start(self, header: str, statement: str, timeout_s: float) -> TacticState:
        """Enter the Dojo for the theorem (header and statement come from the repository itself)."""
        lean_dojo = _lean_dojo()
        self.close()
        theorem = lean_dojo.Theorem(lean_dojo.LeanGitRepo(self.url, self.commit), Path(self.file_path),
                                    self.theorem_name)
        try:
            dojo = lean_dojo.Dojo(theorem, timeout=max(1, int(min(self.timeout_s, timeout_s))))
            self._dojo, initial = dojo.__enter__()
        except lean_dojo.DojoInitError as error:
            raise LeanUnavailable(f"LeanDojo could not open {self.theorem_name}: {error}") from None
        except lean_dojo.DojoCrashError as error:
            raise LeanCrashed(f"LeanDojo crashed while opening {self.theorem_name}: {error}") from None
        self._states = {initial.id: initial}
        return TacticState(initial.id, split_goals(initial.pp))

    def run_tac(self, state: TacticState, tactic: str, timeout_s: float) -> TacticResult:
        lean_dojo = _lean_dojo()
        if self._dojo is None or state.id not in self._states:
            raise LeanCrashed(f"no open Dojo state {state.id}")
        refused = refusal(tactic)
        if refused:
            return refused
        try:
            result = self._dojo.run_tac(self._states[state.id], tactic)
        except lean_dojo.DojoTacticTimeoutError:
            raise LeanTimeout(f"LeanDojo's tactic time limit ({self.timeout_s} s) was reached") from None
        except lean_dojo.DojoCrashError as error:
            self.close()
            raise LeanCrashed(f"LeanDojo crashed: {error}") from None
        if isinstance(result, lean_dojo.TacticState):
            self._states[result.id] = result
        return convert_result(result, lean_dojo)

    def check_proof(self, header: str, statement: str, proof: str, timeout_s: float) -> tuple:
        raise NotImplementedError("LeanDojo sessions check tactics one at a time")

    def close(self) -> None:
        if self._dojo is not None:
            try:
                self._dojo.__exit__(None, None, None)
            finally:
                self._dojo = None
                self._states = {}
