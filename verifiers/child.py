"""Trusted code on untrusted data, in a child process: a crash or an overrun becomes an answer.

A solver that reads a formula the model wrote can be driven into a segmentation fault (PySAT with a
variable near 2^31), a stack overflow (cvc5 on very deep terms) or a parse that outlasts its budget
(Z3 on a huge script). Such work runs here: `call_in_child("verifiers.smt:solve_in_child", request,
timeout_s)` starts `python -m verifiers.child TARGET`, which imports only the target's module, sets
its own limits (an alarm at `timeout_s`, an address-space cap, no core files), calls the target with
the JSON request as keyword arguments and writes the JSON result. The parent kills it if it overruns
the alarm by more than a grace period. Only data comes back, and the caller checks it like any
other solver answer. (Model-written code runs in `verifiers/sandbox.py`, not here: this process is
trusted code whose input is not.)
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Address-space cap of a child (a formula that needs more is out of bounds, not a crash of the loop).
CHILD_MEMORY_BYTES = 8 << 30
# Seconds the parent waits beyond the child's own alarm before killing it.
KILL_GRACE_S = 2.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class ChildFailure(Exception):
    """The child crashed or said something unreadable; the message is one line."""


class ChildTimeout(ChildFailure):
    """The child ran out of time (its own alarm, or the parent's kill)."""


def call_in_child(target: str, request: dict[str, Any], timeout_s: float,
                  memory_bytes: int = CHILD_MEMORY_BYTES) -> Any:
    """Run `module:function(**request)` in a fresh Python process; its JSON result, or ChildTimeout /
    ChildFailure."""
    return ChildCall(target, request, timeout_s, memory_bytes).result()


class ChildCall:
    """`call_in_child` started in the background: the caller goes on with other work, asks `done()`,
    collects `result()` (which waits for the child at most until its limit) or `cancel()`s it."""

    def __init__(self, target: str, request: dict[str, Any], timeout_s: float,
                 memory_bytes: int = CHILD_MEMORY_BYTES) -> None:
        self.timeout_s = max(0.05, timeout_s)
        self.started = time.monotonic()
        search_path = os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))
        environment = {**os.environ, "PYTHONPATH": search_path}
        payload = json.dumps({"timeout_s": self.timeout_s, "memory_bytes": memory_bytes, "request": request})
        self._process = subprocess.Popen([sys.executable, "-m", "verifiers.child", target], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        # The request goes through a thread so that a large one cannot block the caller on a full pipe.
        self._output: list[str] = []
        self._reader = threading.Thread(target=self._communicate, args=(payload,), daemon=True)
        self._reader.start()

    def _communicate(self, payload: str) -> None:
        self._output.extend(self._process.communicate(payload))

    def done(self) -> bool:
        return not self._reader.is_alive()

    def cancel(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._reader.join()

    def result(self) -> Any:
        """The child's JSON answer (waiting for it until its limit and the grace period), or
        ChildTimeout / ChildFailure."""
        self._reader.join(max(0.0, self.started + self.timeout_s + KILL_GRACE_S - time.monotonic()))
        if not self.done():
            self.cancel()
            raise ChildTimeout(f"ran past its {self.timeout_s:.3g} s limit and was killed")
        returncode = self._process.returncode
        stdout, stderr = self._output
        if returncode == -signal.SIGALRM:
            raise ChildTimeout(f"ran past its {self.timeout_s:.3g} s limit")
        if returncode < 0:
            name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
            raise ChildFailure(f"crashed ({name})")
        if returncode != 0:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            if "MemoryError" in last:
                raise ChildFailure("ran out of memory")
            raise ChildFailure(f"failed: {last[:300]}")
        try:
            return json.loads(stdout)
        except ValueError:
            raise ChildFailure("answered with unreadable output") from None


def _main(target: str) -> None:
    order = json.load(sys.stdin)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (order["memory_bytes"], order["memory_bytes"]))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm ends the process, even inside a solver
    signal.setitimer(signal.ITIMER_REAL, order["timeout_s"])
    module, _, function = target.partition(":")
    result = getattr(importlib.import_module(module), function)(**order["request"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    _main(sys.argv[1])
