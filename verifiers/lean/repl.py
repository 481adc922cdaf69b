"""The Lean REPL driver (leanprover-community/repl's JSON protocol, through LeanInteract).

Two layers:

- `ReplProcess`: one long-lived REPL process per worker. LeanInteract's `LeanServer` starts it
  (`lake env <repl>` in the Lean project), frames each request (one JSON object, then a blank line),
  reads the reply up to the next blank line under the request's time limit, and parses it into its
  typed models (`CommandResponse`, `ProofStepResponse`, or the REPL's `{"message": ...}` error). On
  top of that this class keeps the restart policy: after a crash, a time-out (LeanInteract kills the
  process) or when the process tree's resident memory passes a limit, the process is dropped and a new
  one is started on the next request; `generation` counts the processes so that state numbers of an
  old process are never sent to a new one. Every request must come with a time limit.

  LeanInteract's own `AutoLeanServer` is not used: its memory check only works together with a hard
  address-space limit (RLIMIT_AS), which breaks Lean processes that memory-map Mathlib's .olean files;
  this class measures resident memory instead. Its REPL set-up is not used either (it clones and builds
  a REPL at run time): the REPL is the user's own build (see `verifiers.lean.project`).

- `ReplDriver`: the tactic interface of the search (`start`, `run_tac`, `check_proof`), shared with
  the LeanDojo driver. Its `TacticState.id`s are its own handles: each remembers its parent and the
  tactic that made it, so after a restart a state is rebuilt by replaying the header, the theorem and
  the tactics on its path (Lean is deterministic), and the search never notices.

If the REPL process is killed with its worker, it reads end-of-file on stdin and exits by itself.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pydantic import ValidationError

from verifiers.lean.project import LeanProject
from verifiers.lean.trust import SORRY_WARNINGS, scan_proof, without_comments
from verifiers.lean.types import (
    LeanCrashed,
    LeanError,
    LeanTimeout,
    LeanUnavailable,
    Message,
    Position,
    ProofFinished,
    TacticResult,
    TacticState,
)

ENV_MEMORY_LIMIT = "VERILOOP_LEAN_MEMORY_MB"
ENV_HEARTBEATS = "VERILOOP_LEAN_HEARTBEATS"
DEFAULT_HEARTBEATS = 400_000  # twice Lean's default per-declaration limit, for each search step
DEFAULT_MEMORY_LIMIT_MB = 12 * 1024
RESTART_RETRIES = 3


def default_memory_limit_mb() -> int:
    return int(os.environ.get(ENV_MEMORY_LIMIT) or DEFAULT_MEMORY_LIMIT_MB)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).replace("-" * 50, " ").split())
    return (text[:500] + "...") if len(text) > 500 else (text or type(error).__name__)


class ReplProcess:
    """One REPL process at a time, restarted after a crash, a time-out or too much memory."""

    def __init__(self, project: LeanProject, repl_dir: Path, memory_limit_mb: int | None = None) -> None:
        self.project = project
        self.repl_dir = repl_dir
        self.memory_limit_mb = memory_limit_mb if memory_limit_mb is not None else default_memory_limit_mb()
        self.generation = 0  # bumped whenever a process is dropped: state numbers of older ones are void
        self.restarts = 0  # processes dropped (crash, time-out, memory)
        self.last_restart_reason = ""
        self.answered_generation = 0  # the generation of the process that gave the last reply
        self._server: Any = None
        self._config: Any = None
        self._lock = threading.Lock()

    def _repl_config(self) -> Any:
        if self._config is None:
            from lean_interact import LeanREPLConfig, LocalProject

            try:
                self._config = LeanREPLConfig(
                    project=LocalProject(directory=str(self.project.root), auto_build=False,
                                         lake_path=str(self.project.lake)),
                    local_repl_path=str(self.repl_dir), build_repl=False, lake_path=str(self.project.lake),
                    # Plain requests, exactly as the REPL documents them (no fork-specific fields).
                    enable_incremental_optimization=False, enable_parallel_elaboration=False,
                )
            except (ValueError, RuntimeError, OSError) as error:
                raise LeanUnavailable(f"cannot use the Lean REPL at {self.repl_dir}: {_one_line(error)}") from None
        return self._config

    def _ensure_started(self) -> Any:
        if self._server is None:
            from lean_interact import LeanServer

            try:
                self._server = LeanServer(self._repl_config())
            except FileNotFoundError as error:
                raise LeanUnavailable(f"cannot start the Lean REPL: {_one_line(error)}") from None
            except (ChildProcessError, OSError) as error:
                raise LeanCrashed(f"the Lean REPL did not start: {_one_line(error)}") from None
        return self._server

    def drop(self, reason: str) -> None:
        """Kill the current process (if any); the next request starts a new one."""
        if self._server is not None:
            self._server.kill()
            self._server = None
            self.generation += 1
            self.restarts += 1
            self.last_restart_reason = reason

    def memory_mb(self) -> float:
        server = self._server
        if server is None or server._proc is None:
            return 0.0
        try:
            process = psutil.Process(server._proc.pid)
            return (process.memory_info().rss
                    + sum(child.memory_info().rss for child in process.children(recursive=True))) / 2**20
        except psutil.Error:
            return 0.0

    def request(self, request: Any, timeout_s: float) -> Any:
        """Send one typed request; return the REPL's typed reply (a `CommandResponse`, a
        `ProofStepResponse` or LeanInteract's `LeanError` for the REPL's `{"message": ...}`).
        Raises LeanTimeout or LeanCrashed (the process is then dropped) and LeanUnavailable."""
        if not timeout_s or timeout_s <= 0:
            raise ValueError("every Lean request needs a positive time limit")
        with self._lock:
            server = self._ensure_started()
            self.answered_generation = self.generation
            try:
                response = server.run(request, timeout=timeout_s)
            except TimeoutError:
                self.drop("time-out")
                raise LeanTimeout(f"Lean did not answer within {timeout_s:g} s") from None
            except (ConnectionAbortedError, ChildProcessError, BrokenPipeError, OSError,
                    json.JSONDecodeError, ValidationError) as error:
                self.drop("crash")
                raise LeanCrashed(f"the Lean REPL failed: {_one_line(error)}") from None
            if self.memory_limit_mb and self.memory_mb() > self.memory_limit_mb:
                self.drop(f"memory above {self.memory_limit_mb} MiB")
            return response

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.kill()
                self._server = None
                self.generation += 1


def refusal(text: str) -> LeanError | None:
    """Model-written text is screened before it reaches the shared REPL process: what the verifier
    would refuse anyway (`#eval`, `run_tac`, new commands, ...) could run arbitrary code in it."""
    problems = scan_proof(text)
    return LeanError("refused before Lean: " + "; ".join(problems)) if problems else None


def convert_message(message: Any) -> Message:
    """A LeanInteract message (or sorry) as this package's frozen `Message`."""
    def position(value: Any) -> Position | None:
        return Position(value.line, value.column) if value is not None else None

    return Message(severity=message.severity, text=message.data, pos=position(message.start_pos),
                   end_pos=position(message.end_pos))


def step_result(response: Any, state_id: int) -> TacticResult:
    """Classify the REPL's reply to a tactic. Anything short of a clean step is a `LeanError`: Lean's
    errors, a kernel failure, a `sorry` (the REPL's error recovery inserts one after a failed tactic),
    unassigned metavariables. No goals left is `ProofFinished`, which the verifier must still confirm."""
    from lean_interact.interface import LeanError as ReplError

    if isinstance(response, ReplError):
        return LeanError(response.message.removeprefix("Lean error:\n").strip())
    messages = tuple(convert_message(message) for message in response.messages)
    errors = [message.text for message in messages if message.severity == "error"]
    status = response.proof_status or ""
    if errors:
        return LeanError("\n".join(errors), messages)
    if status.startswith("Error"):
        return LeanError(status.removeprefix("Error: "), messages)
    if response.sorries or "sorry" in status:
        return LeanError("the tactic leaves a `sorry`; sorry is never accepted", messages)
    if "metavariable" in status:
        return LeanError("the proof has unassigned metavariables (a `_` or `?x` Lean could not fill)", messages)
    if not response.goals:
        return ProofFinished(state_id, messages)
    return TacticState(state_id, tuple(response.goals), messages)


@dataclass
class _Handle:
    """How to rebuild a proof state: its root (header, statement) or its parent and tactic."""

    root: tuple[str, str] | None
    parent: int | None
    tactic: str | None
    repl_id: int
    generation: int


class ReplDriver:
    """Tactic-level access to Lean through the REPL: the driver behind the best-first search."""

    name = "lean-repl"

    def __init__(self, process: ReplProcess, heartbeats: int | None = None) -> None:
        """`heartbeats`: Lean's own limit for each tactic or proof checked (`set_option maxHeartbeats N
        in`), so that a slow tactic fails with Lean's time-out error instead of costing a restart of
        the process (a header may set `maxHeartbeats 0`). None: the request's time limit alone."""
        self.process = process
        self.heartbeats = heartbeats
        self._header_envs: dict[str, tuple[int, int]] = {}  # header -> (generation, env)
        self._handles: dict[int, _Handle] = {}
        self._roots: dict[tuple[str, str], int] = {}

    def _header_env(self, header: str, timeout_s: float) -> int | None:
        """The REPL environment after the header's imports and options (made once per process)."""
        from lean_interact import Command

        if not header.strip():
            return None
        for _ in range(RESTART_RETRIES):
            cached = self._header_envs.get(header)
            if cached and cached[0] == self.process.generation:
                return cached[1]
            response = self.process.request(Command(cmd=header), timeout_s)
            problem = _command_problem(response)
            if problem:
                raise LeanUnavailable(f"the task's header does not elaborate in this Lean project: {problem}")
            self._header_envs[header] = (self.process.answered_generation, response.env)
        raise LeanCrashed("the Lean REPL is restarted after every request (is the memory limit too low?)")

    def _theorem_state(self, header: str, statement: str, timeout_s: float) -> tuple[int, str]:
        """Elaborate `statement := by sorry` in the header's environment: the REPL id of the proof
        state at the `sorry` (in `process.answered_generation`), and its goal."""
        from lean_interact import Command

        env = self._header_env(header, timeout_s)
        code = f"{statement} := by sorry"
        response = self.process.request(Command(cmd=code) if env is None else Command(cmd=code, env=env), timeout_s)
        problem = _command_problem(response, allow_sorry=True)
        if problem:
            raise LeanUnavailable(f"the theorem's statement does not elaborate: {problem}")
        if len(response.sorries) != 1 or response.sorries[0].proof_state is None:
            raise LeanCrashed(f"expected one `sorry` with a proof state, the REPL reported {len(response.sorries)}")
        return response.sorries[0].proof_state, response.sorries[0].goal

    def start(self, header: str, statement: str, timeout_s: float) -> TacticState:
        """The initial proof state of `statement` (text up to, not including, `:= by`)."""
        repl_id, goal = self._theorem_state(header, statement, timeout_s)
        key = (header, statement)
        handle = self._roots.get(key)
        if handle is None:
            handle = len(self._handles)
            self._roots[key] = handle
        self._handles[handle] = _Handle(root=key, parent=None, tactic=None, repl_id=repl_id,
                                        generation=self.process.answered_generation)
        return TacticState(handle, (goal,))

    def _current_repl_id(self, handle_id: int, timeout_s: float) -> int:
        """The REPL's number for a state in the current process (a process dropped right after
        rebuilding the state means rebuilding it again)."""
        for _ in range(RESTART_RETRIES):
            repl_id = self._repl_id(handle_id, timeout_s)
            if self._handles[handle_id].generation == self.process.generation:
                return repl_id
        raise LeanCrashed("the Lean REPL is restarted after every request (is the memory limit too low?)")

    def _repl_id(self, handle_id: int, timeout_s: float) -> int:
        """The REPL's number for a state, replaying its path after a restart."""
        handle = self._handles.get(handle_id)
        if handle is None:
            raise KeyError(f"unknown proof state {handle_id}")
        if handle.generation == self.process.generation:
            return handle.repl_id
        if handle.root is not None:
            handle.repl_id, _ = self._theorem_state(*handle.root, timeout_s)
        else:
            assert handle.parent is not None and handle.tactic is not None
            response = self._step(self._current_repl_id(handle.parent, timeout_s), handle.tactic, timeout_s)
            if not isinstance(step_result(response, handle_id), TacticState):
                raise LeanCrashed("replaying a proof state after a restart gave a different result")
            handle.repl_id = response.proof_state
        handle.generation = self.process.answered_generation
        return handle.repl_id

    def _limited(self, code: str) -> str:
        return f"set_option maxHeartbeats {self.heartbeats} in\n{code}" if self.heartbeats else code

    def _step(self, repl_id: int, tactic: str, timeout_s: float) -> Any:
        from lean_interact import ProofStep

        return self.process.request(ProofStep(proof_state=repl_id, tactic=self._limited(tactic)), timeout_s)

    def run_tac(self, state: TacticState, tactic: str, timeout_s: float) -> TacticResult:
        if not tactic.strip():
            return LeanError("empty tactic")
        refused = refusal(tactic)
        if refused:
            return refused
        response = self._step(self._current_repl_id(state.id, timeout_s), tactic, timeout_s)
        handle = len(self._handles)
        result = step_result(response, handle)
        if not isinstance(result, LeanError):
            self._handles[handle] = _Handle(root=None, parent=state.id, tactic=tactic,
                                            repl_id=response.proof_state, generation=self.process.answered_generation)
        return result

    def check_proof(self, header: str, statement: str, proof: str, timeout_s: float) -> tuple[Message, ...]:
        """Elaborate a whole proof in the header's environment (a quick look before the from-scratch
        compile): Lean's messages, positions counted from the statement's first line (the proof, indented
        under `:= (by`, starts on the line after the statement)."""
        from lean_interact import Command

        refused = refusal(proof)
        if refused:
            return (Message("error", refused.message, Position(statement.count("\n") + 2, 0)),)
        env = self._header_env(header, timeout_s)
        # As in the compiled file: comments blanked, inside parentheses the proof cannot close (a command
        # in it is a parse error).
        body = textwrap.indent(textwrap.dedent(without_comments(proof)).strip("\n"), "  ")
        code = self._limited(f"{statement} := (by\n{body}\n)")
        response = self.process.request(Command(cmd=code) if env is None else Command(cmd=code, env=env), timeout_s)
        from lean_interact.interface import LeanError as ReplError

        if isinstance(response, ReplError):
            raise LeanCrashed(f"the REPL refused the command: {response.message}")
        shift = 1 if self.heartbeats else 0  # the `set_option ... in` line is not the caller's
        return tuple(_shifted(convert_message(message), shift) for message in response.messages)

    def close(self) -> None:
        self.process.close()


def _shifted(message: Message, lines: int) -> Message:
    if not lines:
        return message
    def move(pos: Position | None) -> Position | None:
        return Position(max(1, pos.line - lines), pos.column) if pos else None
    return Message(message.severity, message.text, move(message.pos), move(message.end_pos))


def _command_problem(response: Any, allow_sorry: bool = False) -> str:
    """Why a command reply is not clean ("" when it is): the REPL's error, Lean's errors, a sorry."""
    from lean_interact.interface import LeanError as ReplError

    if isinstance(response, ReplError):
        return response.message
    errors = [message.data for message in response.messages if message.severity == "error"]
    if errors:
        return " ".join(errors[0].split())
    if not allow_sorry and (response.sorries or any(m.data in SORRY_WARNINGS for m in response.messages)):
        return "it uses `sorry`"
    return ""


# One REPL process (and its driver, with the header environments it made) per worker process, shared by
# the tasks the worker runs: the header's imports, Mathlib's above all, are elaborated once per process.
_drivers: dict[tuple[str, str], ReplDriver] = {}


def shared_driver(project: LeanProject) -> ReplDriver:
    repl_dir = project.repl_dir()
    key = (str(project.root), str(repl_dir))
    if key not in _drivers:
        heartbeats = int(os.environ.get(ENV_HEARTBEATS) or DEFAULT_HEARTBEATS)
        _drivers[key] = ReplDriver(ReplProcess(project, repl_dir), heartbeats=heartbeats or None)
    return _drivers[key]
