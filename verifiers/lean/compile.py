"""Compile one Lean file from scratch: `lake env lean --json FILE` in the user's Lean project.

A fresh `lean` process elaborates the whole file (imports, header, statement, proof) and the kernel
checks every declaration; nothing from the REPL session that found the proof is reused. With `--json`
Lean prints each message as one JSON object per line (Lean's `SerialMessage`: `severity`
"information" | "warning" | "error", `pos`/`endPos` with 1-based lines and 0-based columns, `data`).
The process runs in its own session and the whole group is killed when it overruns its time limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from verifiers.lean.project import LeanProject
from verifiers.lean.repl import default_memory_limit_mb
from verifiers.lean.types import Message, Position

_SEVERITIES = {"information": "info", "info": "info", "warning": "warning", "error": "error", "trace": "trace"}


@dataclass(frozen=True)
class CompileOutput:
    returncode: int | None  # None when it was killed for overrunning its time
    messages: tuple[Message, ...]
    other_output: str  # stdout lines that were not messages, and stderr (a panic, lake's complaints)
    elapsed_s: float
    timed_out: bool = False
    command: tuple[str, ...] = field(default=())


def parse_messages(stdout: str) -> tuple[tuple[Message, ...], str]:
    """Lean's `--json` output: the messages, and whatever else was printed."""
    messages, other = [], []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            if line.strip():
                other.append(line)
            continue
        if not isinstance(data, dict) or "data" not in data or "severity" not in data:
            other.append(line)
            continue
        pos, end = data.get("pos"), data.get("endPos")
        messages.append(Message(
            severity=_SEVERITIES.get(data["severity"], "error"),
            text=(f"{data['caption']}:\n" if data.get("caption") else "") + str(data["data"]),
            pos=Position(pos["line"], pos["column"]) if pos else None,
            end_pos=Position(end["line"], end["column"]) if end else None,
        ))
    return tuple(messages), "\n".join(other)


def compile_file(project: LeanProject, text: str, timeout_s: float, memory_limit_mb: int | None = None) -> CompileOutput:
    memory = memory_limit_mb if memory_limit_mb is not None else default_memory_limit_mb()
    with tempfile.TemporaryDirectory(prefix="veriloop-lean-") as folder:
        path = Path(folder) / "Proof.lean"
        path.write_text(text, encoding="utf-8")
        command = (str(project.lake), "env", "lean", "--json", f"--memory={memory}", str(path))
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                   start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            messages, other = parse_messages(stdout)
            return CompileOutput(None, messages, (other + "\n" + stderr).strip(), time.perf_counter() - started,
                                 timed_out=True, command=command)
        messages, other = parse_messages(stdout)
        return CompileOutput(process.returncode, messages, (other + "\n" + stderr).strip(),
                             time.perf_counter() - started, command=command)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
