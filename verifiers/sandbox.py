"""Running model-written Python in a child process with limits.

One call involves four processes:

    T  the trusted process (a verifier) -- JSON lines on a pipe -->  S  the sandbox server
    S  forks  C, the supervisor: a new session and, where the machine allows, new mount, PID,
       network, IPC and UTS namespaces
    C  forks  G, the guest: PID 1 of the new PID namespace; it drops to user `nobody`, sets its
       resource limits, scrubs its environment and runs the *driver* (a trusted function, e.g.
       `verifiers.encoding_runtime:main`), which runs the untrusted program

S is a small, single-threaded Python process started once per trusted process. It imports each
driver module (and through it z3 and PySAT) before it forks, so a call costs two forks and a few
mounts rather than an interpreter start and the solvers' imports (`benchmarks/sandbox_overhead.py`
measures both). Python 3.11 has no `os.unshare`/`mount`, and no library on PyPI wraps them for
this, so they are called through ctypes.

What keeps G in (each layer that applied is listed in `SandboxResult.isolation`):

- `user:nobody`: G runs as uid/gid 65534 with no supplementary groups and `no_new_privs` (needs
  root). File permissions keep it away from everything it does not own, and the kernel enforces
  RLIMIT_NPROC, which it ignores for root.
- `pidns`: G is PID 1 of its own PID namespace; when G ends or is killed, the kernel kills every
  process in the namespace, whatever session or process group they moved to.
- `netns`: a new network namespace has only a loopback interface, which is down: no network.
- `mountns`: the work directory and /tmp, /var/tmp, /dev/shm, /run/lock are private, size- and
  inode-limited tmpfs; /proc shows only the sandbox's processes. The trusted side's files are not
  visible at all; C copies the inputs in and the outputs out.
- `pgroup` (the fallback without a PID namespace): G leads its own process group, which is killed
  as a whole; a process that calls setsid() escapes this, which only the PID namespace prevents.
- `socket-block`: only without a network namespace. Python's socket constructors are replaced in
  G before the driver runs. This is defence in depth, NOT a guarantee: the untrusted code runs in
  the same interpreter and can undo it.
- always: RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0, a wall-clock limit
  after which C kills G (and with it the namespace or the process group), the parent-death signal
  (G dies if C dies), stdin from /dev/null, an environment of PATH, HOME, TMPDIR and LANG only.

Only data comes back: the regular files G left at the top of its work directory (no links,
bounded sizes and count), read by C without following links, and G's exit status. Callers treat
all of it as untrusted proposals: they parse it with the solvers' own parsers and check it; the
exit status and printed words never decide anything.

A trusted-side time limit covers S and C as well: if S does not answer within the wall-clock limit
plus a grace period, T kills S and C's process group (G then dies of its parent-death signal) and
the next call starts a fresh server.
"""

from __future__ import annotations

import ctypes
import encodings.idna  # noqa: F401 - socket's name lookups need it; G cannot import it later
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

NOBODY = 65534
GUEST_WORK = "/tmp/work"  # the work directory as G sees it inside its mount namespace
STDOUT_FILE, STDERR_FILE = "stdout.txt", "stderr.txt"
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_OUTPUT_FILES = 64
SETUP_FAILED_EXIT = 125  # G's exit status when its own setup (before the driver) failed
# T waits this much longer than the wall-clock limit for S's answer (forks, mounts, copying).
SERVER_GRACE_S = 10.0
REPO_ROOT = str(Path(__file__).resolve().parent.parent)

# Linux constants (linux/sched.h, linux/mount.h, linux/prctl.h).
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
PRIVATE_TMPFS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


class SandboxError(Exception):
    """The sandbox itself failed (not the program in it): an infrastructure error."""


class _ServerGone(SandboxError):
    """The server's pipe closed: if that happens before it took the request, a retry is safe."""


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # wall-clock limit; then the whole process tree is killed
    cpu_s: float = 10.0  # RLIMIT_CPU of each process (the wall clock bounds their sum)
    memory_mb: int = 1024  # RLIMIT_AS: address space of each process
    processes: int = 32  # RLIMIT_NPROC: processes and threads of the sandbox user
    file_mb: int = 64  # RLIMIT_FSIZE: largest file G may write (each tmpfs holds a few such files)
    files: int = 256  # inodes of the work tmpfs
    output_mb: int = 32  # largest output file copied back

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SandboxResult:
    files: dict[str, bytes]  # output files G left in its work directory (untrusted data)
    exit_code: int | None  # G's exit status, None when a signal ended it
    signal: int | None
    timed_out: bool  # the wall-clock limit was reached and G was killed
    wall_s: float  # time G ran
    cpu_s: float  # CPU time of G and the children it waited for
    isolation: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # output files not copied back, and why
    setup_error: str | None = None  # G's own setup failed (a sandbox fault, not the program's)

    @property
    def stdout(self) -> str:
        return self.files.get(STDOUT_FILE, b"").decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.files.get(STDERR_FILE, b"").decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# The trusted side (T).


class _Server:
    """One sandbox server process S and the pipe to it."""

    def __init__(self) -> None:
        environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        bootstrap = "import sys; sys.path.insert(0, sys.argv[1]); from verifiers.sandbox import serve; serve()"
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", bootstrap, REPO_ROOT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment,
            cwd="/", start_new_session=True, close_fds=True,
        )
        self.owner = os.getpid()
        self._buffer = b""

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def receive(self, deadline: float) -> dict[str, Any]:
        """The next JSON line from S, or SandboxError at the deadline or when S is gone."""
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError("the sandbox server did not answer in time")
            readable, _, _ = select.select([descriptor], [], [], remaining)
            if readable:
                chunk = os.read(descriptor, 1 << 16)
                if not chunk:
                    raise _ServerGone("the sandbox server ended unexpectedly")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self, supervisor: int | None) -> None:
        if supervisor:
            _kill_group(supervisor)
        if self.owner == os.getpid():
            _kill_group(self.process.pid)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Sandbox:
    """Runs drivers in isolated children. One server per trusted process; calls are serialised.

    `namespaces=False` forces the fallback (process group, in-process socket block) even where
    namespaces are available; tests use it to exercise that path.
    """

    def __init__(self, namespaces: bool = True) -> None:
        self.namespaces = namespaces
        self.fallback_reason: str | None = None
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def run(self, driver: str, inputs: dict[str, bytes | str], limits: Limits = Limits()) -> SandboxResult:
        """Run `driver` ("module:function", a trusted function of this repository) in G, with
        `inputs` as files in its work directory; return what G left there.

        If the namespaces cannot be set up on this machine (a setup error, not the program's fault),
        this sandbox falls back to a process group for the rest of its life and says why in
        `fallback_reason`; every result lists the isolation that applied."""
        for name in inputs:
            if not OUTPUT_NAME.match(name) or name in (STDOUT_FILE, STDERR_FILE):
                raise ValueError(f"bad input file name {name!r}")
        result = self._run_once(driver, inputs, limits)
        if result.setup_error and self.namespaces:
            self.namespaces = False
            self.fallback_reason = result.setup_error
            result = self._run_once(driver, inputs, limits)
        return result

    def _run_once(self, driver: str, inputs: dict[str, bytes | str], limits: Limits) -> SandboxResult:
        exchange = Path(tempfile.mkdtemp(prefix="veriloop-sandbox-"))
        try:
            exchange.chmod(0o711)  # the fallback's work directory lies inside; nobody may pass through
            (exchange / "in").mkdir(mode=0o755)
            for name, content in inputs.items():
                data = content.encode() if isinstance(content, str) else content
                (exchange / "in" / name).write_bytes(data)
            request = {"driver": driver, "exchange": str(exchange), "inputs": sorted(inputs),
                       "limits": limits.as_dict(), "namespaces": self.namespaces}
            report = self._call(request, limits.wall_s + SERVER_GRACE_S)
            files = {}
            out = exchange / "out"
            for name in report.get("outputs", []):
                files[name] = (out / name).read_bytes()
            return SandboxResult(
                files=files, exit_code=report.get("exit_code"), signal=report.get("signal"),
                timed_out=bool(report.get("timed_out")), wall_s=float(report.get("wall_s", 0.0)),
                cpu_s=float(report.get("cpu_s", 0.0)), isolation=tuple(report.get("isolation", ())),
                skipped=dict(report.get("skipped", {})), setup_error=report.get("setup_error"),
            )
        finally:
            shutil.rmtree(exchange, ignore_errors=True)

    def _call(self, request: dict[str, Any], grace_limit_s: float) -> dict[str, Any]:
        with self._lock:
            try:
                return self._call_once(request, grace_limit_s)
            except _ServerGone:  # died between calls (killed, or out of memory): one fresh server, one retry
                try:
                    return self._call_once(request, grace_limit_s)
                except _ServerGone as gone:
                    raise SandboxError(str(gone)) from None

    def _call_once(self, request: dict[str, Any], grace_limit_s: float) -> dict[str, Any]:
        if self._server is None or not self._server.alive():
            self._server = _Server()
        server = self._server
        deadline = time.monotonic() + grace_limit_s
        supervisor = None
        try:
            server.send(request)
            started = server.receive(deadline)
            if "error" not in started:
                supervisor = int(started["supervisor"])
                done = server.receive(deadline)
        except (SandboxError, OSError, ValueError) as error:
            server.kill(supervisor)
            self._server = None
            if supervisor is None and isinstance(error, (OSError, _ServerGone)):
                raise _ServerGone(f"the sandbox server ended unexpectedly: {error}") from None
            raise SandboxError(f"{error}") from None
        if "error" in started:  # S refused the request; S itself is fine
            raise SandboxError(started["error"])
        if "error" in done:
            raise SandboxError(done["error"])
        return done

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.kill(None)
                self._server = None


_default: Sandbox | None = None


def default_sandbox() -> Sandbox:
    global _default
    if _default is None:
        _default = Sandbox()
    return _default


# --------------------------------------------------------------------------------------------
# The server (S), the supervisor (C) and the guest (G). Everything below runs in S or its forks.

_libc: Any = None


def _c_library() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _checked(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _checked(_c_library().mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags),
                                encode(data)), f"mount {target}")


def serve() -> None:
    """S's loop: one JSON request per line on stdin, two JSON lines back per request."""
    os.chdir("/")
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer

    def reply(message: dict[str, Any]) -> None:
        replies.write((json.dumps(message) + "\n").encode())
        replies.flush()

    for line in requests:
        try:
            request = json.loads(line)
            function = _driver(request["driver"])
        except Exception as error:  # a bad request or a driver that cannot be imported
            reply({"error": f"sandbox request refused: {type(error).__name__}: {error}"})
            continue
        report_read, report_write = os.pipe()
        supervisor = os.fork()
        if supervisor == 0:
            os.close(report_read)
            try:
                report = _supervise(request, function)
            except BaseException as error:  # noqa: BLE001 - reported to T as a sandbox fault
                report = {"error": f"sandbox supervisor failed: {type(error).__name__}: {error}"}
            try:
                os.write(report_write, json.dumps(report).encode())
            finally:
                os._exit(0)
        os.close(report_write)
        reply({"supervisor": supervisor})
        chunks = []
        while chunk := os.read(report_read, 1 << 16):
            chunks.append(chunk)
        os.close(report_read)
        os.waitpid(supervisor, 0)
        try:
            reply(json.loads(b"".join(chunks)))
        except ValueError:
            reply({"error": "the sandbox supervisor failed before reporting"})


_drivers: dict[str, Callable[[], None]] = {}


def _driver(spec: str) -> Callable[[], None]:
    """Import the driver in S, once, so that every guest inherits it (and what it imports)."""
    if spec not in _drivers:
        module, _, function = spec.partition(":")
        if not module.startswith("verifiers.") or not function:
            raise ValueError(f"a driver is `verifiers.<module>:<function>`, not {spec!r}")
        _drivers[spec] = getattr(import_module(module), function)
    return _drivers[spec]


def _supervise(request: dict[str, Any], driver: Callable[[], None]) -> dict[str, Any]:
    """C: isolate, fork G, enforce the wall clock, copy the outputs back, report."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(null, descriptor)
    os.close(null)
    limits = Limits(**request["limits"])
    exchange = os.open(request["exchange"], os.O_RDONLY | os.O_DIRECTORY)
    isolation: list[str] = []
    namespaces = False
    if request["namespaces"]:
        try:
            _checked(_c_library().unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
                     "unshare")
            namespaces = True
        except OSError:
            namespaces = False  # not privileged here: fall back to a process group
    user = NOBODY if os.geteuid() == 0 else None
    if namespaces:
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            for directory in PRIVATE_TMPFS:
                if os.path.isdir(directory):
                    _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV,
                           f"size={4 * limits.file_mb + 16}m,nr_inodes={limits.files},mode=1777")
        except OSError as error:  # namespaces without the right to mount (some containers)
            return {"setup_error": f"namespace setup failed: {error}", "isolation": ["pidns", "netns"]}
        work = GUEST_WORK
        os.mkdir(work, 0o700)
        isolation += ["pidns", "netns", "mountns"]
    else:
        os.mkdir("work", 0o700, dir_fd=exchange)
        work = os.path.join(request["exchange"], "work")
        isolation += ["pgroup"]
    if user is not None:
        os.chown(work, user, user)
        isolation.append("user:nobody")
    _copy_inputs(exchange, work, request["inputs"], user)

    status_read, status_write = os.pipe()  # G -> C: its setup's outcome
    alive_read, alive_write = os.pipe()  # held open by C; G sees it hang up if C dies
    started = time.monotonic()
    guest = os.fork()
    if guest == 0:
        os.close(status_read)
        os.close(alive_write)
        _guest(driver, work, limits, user, namespaces, status_write, alive_read)
    os.close(status_write)
    os.close(alive_read)
    deadline = started + limits.wall_s
    setup_error, finished, timed_out = _watch(guest, status_read, deadline)
    if not finished:
        _kill_guest(guest, namespaces)
        timed_out = True
    _, wait_status, usage = os.wait4(guest, 0)
    wall_s = time.monotonic() - started
    if not namespaces:
        _kill_group_from_supervisor(guest)  # what G left behind in its group
    os.close(alive_write)
    outputs, skipped = _copy_outputs(work, exchange, limits, set(request["inputs"]))
    if not namespaces:
        isolation.append("socket-block (defence in depth)")
    return {
        "exit_code": os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None,
        "signal": os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None,
        "timed_out": timed_out, "wall_s": round(wall_s, 6),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 6), "isolation": isolation,
        "outputs": outputs, "skipped": skipped, "setup_error": setup_error,
    }


def _watch(guest: int, status_read: int, deadline: float) -> tuple[str | None, bool, bool]:
    """Wait for G's setup report and then for G's end, until the deadline.
    Returns (setup error or None, whether G ended, timed_out=False)."""
    poller = select.poll()
    poller.register(status_read, select.POLLIN | select.POLLHUP)
    pidfd = os.pidfd_open(guest)
    poller.register(pidfd, select.POLLIN)
    report = b""
    status_open = True
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _setup_error(report, status_open), False, False
            for descriptor, _ in poller.poll(max(1, int(remaining * 1000))):
                if descriptor == pidfd:
                    if status_open:  # G died during its setup: drain what it said
                        report += os.read(status_read, 4096)
                        status_open = False
                    return _setup_error(report, status_open), True, False
                chunk = os.read(status_read, 4096)
                if chunk:
                    report += chunk
                else:
                    poller.unregister(status_read)
                    status_open = False
    finally:
        os.close(pidfd)
        os.close(status_read)


def _setup_error(report: bytes, status_open: bool) -> str | None:
    text = report.decode("utf-8", "replace")
    if text.startswith("ok"):
        return None
    if text:
        return text
    return "the guest did not finish its setup" if status_open else None


def _kill_guest(guest: int, namespaces: bool) -> None:
    # G is PID 1 of its namespace: killing it kills the namespace. Without one, kill its group.
    try:
        os.kill(guest, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if not namespaces:
        _kill_group_from_supervisor(guest)


def _kill_group_from_supervisor(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _copy_inputs(exchange: int, work: str, names: list[str], user: int | None) -> None:
    inbox = os.open("in", os.O_RDONLY | os.O_DIRECTORY, dir_fd=exchange)
    try:
        for name in names:
            source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=inbox)
            with os.fdopen(source, "rb") as handle:
                data = handle.read()
            target = os.path.join(work, name)
            with open(target, "wb") as handle:
                handle.write(data)
            if user is not None:
                os.chown(target, user, user)
    finally:
        os.close(inbox)


def _copy_outputs(work: str, exchange: int, limits: Limits, inputs: set[str]) -> tuple[list[str], dict[str, str]]:
    """Copy the regular files at the top of `work` (except the inputs) into exchange/out, refusing
    links, special files, odd names and anything over the size limit. Nothing is followed."""
    os.mkdir("out", 0o700, dir_fd=exchange)
    out = os.open("out", os.O_RDONLY | os.O_DIRECTORY, dir_fd=exchange)
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    copied: list[str] = []
    skipped: dict[str, str] = {}
    cap = limits.output_mb << 20
    try:
        for name in sorted(os.listdir(work_fd)):
            if name in inputs:
                continue
            if len(copied) >= MAX_OUTPUT_FILES:
                skipped[name[:64]] = "too many files"
                continue
            if not OUTPUT_NAME.match(name):
                skipped[name[:64].encode("ascii", "replace").decode()] = "not an allowed file name"
                continue
            try:
                source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=work_fd)
            except OSError as error:
                skipped[name] = f"cannot open: {error.strerror}"
                continue
            with os.fdopen(source, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                    skipped[name] = "not a plain file"
                    continue
                if info.st_size > cap:
                    skipped[name] = f"larger than {limits.output_mb} MB"
                    continue
                data = handle.read(cap + 1)
            if len(data) > cap:
                skipped[name] = f"larger than {limits.output_mb} MB"
                continue
            target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=out)
            with os.fdopen(target, "wb") as handle:
                handle.write(data)
            copied.append(name)
    finally:
        os.close(work_fd)
        os.close(out)
    return copied, skipped


def _guest(driver: Callable[[], None], work: str, limits: Limits, user: int | None, namespaces: bool,
           status_write: int, alive_read: int) -> None:
    """G: finish the isolation, then run the driver. Never returns."""
    try:
        if namespaces:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        else:
            os.setpgid(0, 0)
        os.chdir(work)
        _set_limits(limits, user)
        if user is not None:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
        library = _c_library()
        _checked(library.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(no_new_privs)")
        # Set after setuid, which clears it; then make sure C did not die before it took effect.
        _checked(library.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(pdeathsig)")
        if select.select([alive_read], [], [], 0)[0]:
            os._exit(SETUP_FAILED_EXIT)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": os.getcwd(), "TMPDIR": os.getcwd(), "LANG": "C.UTF-8"})
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for descriptor, name in ((1, STDOUT_FILE), (2, STDERR_FILE)):
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            os.dup2(handle, descriptor)
            os.close(handle)
        if not namespaces:
            _block_sockets()
        os.write(status_write, b"ok")
        os.closerange(3, _max_descriptors())
    except BaseException as error:  # noqa: BLE001 - report any setup failure to C
        try:
            os.write(status_write, f"guest setup failed: {type(error).__name__}: {error}".encode())
        finally:
            os._exit(SETUP_FAILED_EXIT)
    status = 0
    try:
        driver()
    except SystemExit as exit_request:
        status = exit_request.code if isinstance(exit_request.code, int) else 1
    except BaseException:  # noqa: BLE001 - the driver's own failure, shown on stderr
        traceback.print_exc()
        status = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def run_program() -> None:
    """A driver that runs `program.py` from the work directory as a plain script."""
    with open("program.py", encoding="utf-8") as handle:
        source = handle.read()
    exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})


def _max_descriptors() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _set_limits(limits: Limits, user: int | None) -> None:
    cpu = max(1, int(limits.cpu_s + 0.999))
    processes = limits.processes
    if user is None and os.geteuid() != 0:
        # RLIMIT_NPROC counts every process of the user: allow this many on top of those running.
        processes += _processes_of(os.getuid())
    for which, value in (
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, limits.memory_mb << 20),
        (resource.RLIMIT_FSIZE, limits.file_mb << 20),
        (resource.RLIMIT_NOFILE, 256),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, processes),
    ):
        resource.setrlimit(which, (value, value))


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                continue
    return count


def _block_sockets() -> None:
    """Defence in depth where no network namespace is available (see the module docstring)."""
    def refuse(*_: Any, **__: Any) -> Any:
        raise PermissionError("network access is not allowed in the sandbox")

    for name in ("socket", "create_connection", "socketpair", "fromfd", "create_server"):
        setattr(socket, name, refuse)
