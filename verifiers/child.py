"""Trusted code on untrusted data, in a child process: a crash or an overrun becomes an answer.

A solver that reads a formula the model wrote can be driven into a segmentation fault (PySAT with a
variable near 2^31), a stack overflow (cvc5 on very deep terms) or a parse that outlasts its budget
(Z3 on a huge script). Such work runs here: `call_in_child("verifiers.smt:solve_in_child", request,
timeout_s)` runs `verifiers.smt.solve_in_child(**request)` in a child process that sets its own limits
(an alarm at `timeout_s`, an address-space cap, no core files) and sends back its JSON result. The
parent kills it if it overruns the alarm by more than a grace period. Only data comes back, and the
caller checks it like any other solver answer. (Model-written code runs in `verifiers/sandbox.py`,
not here: this process is trusted code whose input is not.)

The children are forked by a fork server (`python -m verifiers.child`, started by the first call and
ending with its parent) that has imported Z3, cvc5 and the verifiers once (`preload` adds modules):
a fresh interpreter importing them took about 0.6 s per call, which a non-linear invariant task paid
on every check. Per call the server forks a watcher, single-threaded, which forks the worker and
reports how it ended; the worker writes its process id and its answer on a pipe the caller passed
with the request. Hand-written rather than `multiprocessing`'s fork server: that one re-imports the
caller's `__main__` in every child.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import struct
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
# Imported once by the fork server, so that each child starts with them loaded.
_PRELOAD = ["z3", "cvc5", "verifiers.invariant", "verifiers.solver_children"]
_HEADER = struct.Struct("!Q")


class ChildFailure(Exception):
    """The child crashed or said something unreadable; the message is one line."""


class ChildTimeout(ChildFailure):
    """The child ran out of time (its own alarm, or the parent's kill)."""


def preload(*modules: str) -> None:
    """Have children start with `modules` imported (for a fork server started after this call)."""
    _PRELOAD.extend(module for module in modules if module not in _PRELOAD)


def call_in_child(target: str, request: dict[str, Any], timeout_s: float,
                  memory_bytes: int = CHILD_MEMORY_BYTES) -> Any:
    """Run `module:function(**request)` in a child process; its JSON result, or ChildTimeout /
    ChildFailure."""
    return ChildCall(target, request, timeout_s, memory_bytes).result()


class _ForkServer:
    """The parent's end of the fork server: a socket that carries requests and the answer pipe."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        search_path = os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))
        self.process = subprocess.Popen([sys.executable, "-m", "verifiers.child", str(theirs.fileno()), *_PRELOAD],
                                        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ, "PYTHONPATH": search_path})
        theirs.close()
        self.socket = ours
        self.owner = os.getpid()
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def send(self, order: bytes, answer_fd: int) -> None:
        with self.lock:
            socket.send_fds(self.socket, [_HEADER.pack(len(order))], [answer_fd])
            self.socket.sendall(order)


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def start() -> None:
    """Start the fork server now, when there is none alive: it imports in the background, so the
    first child of a task that will surely need some does not wait for it."""
    _running()


def _running() -> _ForkServer:
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            _server = _ForkServer()
        return _server


def _submit(order: bytes, answer_fd: int) -> None:
    """Hand an order to the fork server, starting it (again) when there is none alive."""
    global _server
    server = _running()
    try:
        server.send(order, answer_fd)
    except OSError:  # it died since: one fresh server, one more try
        with _server_lock:
            _server = _ForkServer()
            server = _server
        server.send(order, answer_fd)


class ChildCall:
    """`call_in_child` started in the background: the caller goes on with other work, asks `done()`,
    collects `result()` (which waits for the child at most until its limit) or `cancel()`s it. A
    positive `niceness` lowers the child's scheduling priority (work that should only use idle time)."""

    def __init__(self, target: str, request: dict[str, Any], timeout_s: float,
                 memory_bytes: int = CHILD_MEMORY_BYTES, niceness: int = 0) -> None:
        self.timeout_s = max(0.05, timeout_s)
        self.started = time.monotonic()
        order = json.dumps({"target": target, "request": request, "timeout_s": self.timeout_s,
                            "memory_bytes": memory_bytes, "niceness": niceness}).encode()
        reading, writing = os.pipe()
        try:
            _submit(order, writing)
        finally:
            os.close(writing)  # the worker holds the only other copy: its exit ends the reading
        self._pid: int | None = None
        self._cancelled = False
        self._lock = threading.Lock()  # between the worker naming itself and a cancellation
        self._lines: list[bytes] = []
        self._reader = threading.Thread(target=self._collect, args=(reading,), daemon=True)
        self._reader.start()

    def _collect(self, reading: int) -> None:
        """Read the pipe to its end: the worker's pid, its answer, then the watcher's `exit N` /
        `signal N` line."""
        buffer = b""
        with os.fdopen(reading, "rb") as pipe:
            for chunk in iter(lambda: pipe.read1(1 << 16), b""):
                buffer += chunk
                if self._pid is None and b"\n" in buffer:
                    with self._lock:
                        self._pid = int(buffer.split(b"\n", 1)[0])
                        cancelled = self._cancelled
                    if cancelled:
                        _kill(self._pid)
        self._lines = buffer.split(b"\n")

    def done(self) -> bool:
        return not self._reader.is_alive()

    def cancel(self) -> None:
        """Kill the worker and wait for it to end; or, when the fork server has not started it yet
        (it may still be importing, a second or so after it was started), have it killed as soon as
        it names itself, without waiting for that."""
        with self._lock:
            self._cancelled = True
            pid = self._pid
        if pid is not None:
            if not self.done():
                _kill(pid)
            self._reader.join()

    def result(self) -> Any:
        """The child's answer (waiting for it until its limit and the grace period), or
        ChildTimeout / ChildFailure."""
        self._reader.join(max(0.0, self.started + self.timeout_s + KILL_GRACE_S - time.monotonic()))
        if not self.done():
            self.cancel()
            raise ChildTimeout(f"ran past its {self.timeout_s:.3g} s limit and was killed")
        # [pid, answer, "exit N" | "signal N", ""] when all went well
        ending = self._lines[-2].decode(errors="replace").split() if len(self._lines) >= 3 else []
        if len(ending) != 2 or ending[0] not in ("exit", "signal"):
            raise ChildFailure("vanished without a word (the fork server died)")
        if ending[0] == "signal":
            number = int(ending[1])
            if number == signal.SIGALRM:
                raise ChildTimeout(f"ran past its {self.timeout_s:.3g} s limit")
            name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
            raise ChildFailure(f"crashed ({name})")
        try:
            kind, value = json.loads(self._lines[1]) if len(self._lines) == 4 else (None, None)
        except ValueError:
            kind, value = None, None
        if kind == "ok":
            return value
        if kind == "failed":
            if "MemoryError" in value:
                raise ChildFailure("ran out of memory")
            raise ChildFailure(f"failed: {value[:300]}")
        raise ChildFailure(f"exited ({ending[1]}) with unreadable output")


# --- The fork server's side ------------------------------------------------------------------------

def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _receive(connection: socket.socket, size: int, first: bytes = b"") -> bytes:
    data = first
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve(descriptor: int, modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # a module that cannot load is loaded (and fails) in the child that needs it
            pass
    connection = socket.socket(fileno=descriptor)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # watchers are reaped by the system
    while True:
        try:
            header, descriptors, _, _ = socket.recv_fds(connection, _HEADER.size, 1)
            if not header:
                return  # the parent has gone
            (size,) = _HEADER.unpack(_receive(connection, _HEADER.size, header))
            order = json.loads(_receive(connection, size))
        except (EOFError, OSError):
            return
        if not descriptors:
            continue
        if os.fork() == 0:
            connection.close()
            _watch(descriptors[0], order)
        os.close(descriptors[0])


def _watch(answer: int, order: dict[str, Any]) -> None:
    """In the watcher: fork the worker, wait for it, say how it ended."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    worker = os.fork()
    if worker == 0:
        _work(answer, order)
    _, status = os.waitpid(worker, 0)
    ending = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
    _write(answer, f"{ending}\n".encode())
    os._exit(0)


def _work(answer: int, order: dict[str, Any]) -> None:
    """In the worker: limits, then `target(**request)`; its result (or the error, one line) on the pipe."""
    try:
        _write(answer, f"{os.getpid()}\n".encode())
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (order["memory_bytes"], order["memory_bytes"]))
        os.nice(order["niceness"])  # background work yields the processor to the caller's other children
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm ends the process, even inside a solver
        signal.setitimer(signal.ITIMER_REAL, order["timeout_s"])
        quiet = os.open(os.devnull, os.O_RDWR)  # a solver's own printing goes nowhere
        for descriptor in (0, 1, 2):
            os.dup2(quiet, descriptor)
        module, _, function = order["target"].partition(":")
        reply = json.dumps(["ok", getattr(importlib.import_module(module), function)(**order["request"])])
    except BaseException as error:  # whatever the work raises is the caller's ChildFailure
        reply = json.dumps(["failed", f"{type(error).__name__}: {' '.join(str(error).split())}"])
    _write(answer, reply.encode() + b"\n")
    os._exit(0)


def _write(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
