"""Running model-written Python in a child process with limits.

One call involves four processes:

    T  the trusted process (a verifier) -- JSON lines on a pipe -->  S  the sandbox server
    S  forks  C, the supervisor: a new session, new namespaces (a user namespace too when not
       root) and a new root file system holding nothing of the host's
    C  forks  G, the guest: PID 1 of the new PID namespace; it drops its privileges, sets its
       resource limits, loads a seccomp filter and runs the *driver* (a trusted function, e.g.
       `verifiers.encoding_runtime:main`), which runs the untrusted program

S is a small, single-threaded Python process started once per trusted process. It imports each
driver module (and through it z3 and PySAT) before it forks, so a call costs two forks and a few
mounts rather than an interpreter start and the solvers' imports (`benchmarks/sandbox_overhead.py`
measures both). Python 3.11 has no `os.unshare`/`mount`/`pivot_root`, and no library on PyPI wraps
them for this, so they are called through ctypes (bubblewrap does the same from C, but it would
cost an interpreter start and the solvers' imports per call). The seccomp filter is built with
libseccomp (through `pyseccomp`).

What keeps G in (each layer that applied is listed in `SandboxResult.isolation`):

- `userns` (as an ordinary user): C creates a user namespace in which it is root, mapped to the
  invoking user; that is what lets an ordinary user create the namespaces below. G then drops
  every capability (`no capabilities`).
- `user:nobody` (as root): G runs as uid/gid 65534 with no supplementary groups.
- `pidns`: G is PID 1 of its own PID namespace; when G ends or is killed, everything in it dies.
- `netns`: a new network namespace has only a loopback interface, which is down: no network, and
  no abstract UNIX sockets of the host.
- `ipcns`, `utsns`: no System V IPC objects or host name of the host.
- `mountns`: a new mount namespace whose root is a small read-only tmpfs with only `/tmp` (a
  size- and inode-limited tmpfs, no exec, holding the work directory `/tmp/work`) and `/dev/null`,
  `/dev/zero`, `/dev/urandom`. The host's root is unmounted: no interpreter files, no repository,
  no task files, no home directories, no sockets on disk. Everything G runs was imported by S
  before the fork (hence a program may import only what its driver preloads).
- `seccomp`: a kernel filter refuses (EPERM) `socket`/`socketpair` of every family, new processes
  (`fork`, `vfork`, and `clone` without CLONE_THREAD; `clone3` says ENOSYS so that threads use
  `clone`), `execve`, signals to any process but itself, and the calls that change namespaces,
  mounts, tracing, keys, BPF, io_uring and kernel modules.
- `one process`: because G cannot start another process, its limits bound the whole sandbox:
  RLIMIT_AS is the memory of everything the guest runs (threads share it), RLIMIT_CPU its CPU time.
- always: RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC (threads),
  RLIMIT_CORE=0, `no_new_privs`, a wall-clock limit after which C kills G, the parent-death signal
  (G dies if C dies), stdin from /dev/null, an environment of PATH, HOME, TMPDIR and LANG only.

A control group would bound memory across processes too, but an ordinary user can create one only
where systemd delegates it, and this machine's memory controller is cgroup v1; one process under
RLIMIT_AS needs nothing of the kind.

Where the kernel refuses the namespaces (or libseccomp is missing), there is no sandbox, and model-
written code is NOT run: `Sandbox.run` raises `SandboxUnavailable` (a one-line reason) unless the
user allowed running without one (`--allow-unsandboxed`, or VERILOOP_ALLOW_UNSANDBOXED=1). Then G
runs in a process group (`pgroup`), as `nobody` when root, under the limits and the seccomp filter
where libseccomp is there, with the host's files in view; such a result says `UNSANDBOXED` first
in its isolation and `unsandboxed` is true, and the verifiers say so in every verdict. Nothing is
remembered between calls: a call whose set-up fails or runs out of time is an error for that call
(`SandboxError`), never a reason to isolate later calls less.

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
import errno
import json
import os
import re
import resource
import select
import shutil
import signal
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

from verifiers.base import ToolUnavailable

NOBODY = 65534
NEW_ROOT = "/tmp"  # where C builds the guest's root before pivoting into it (hidden by it afterwards)
GUEST_WORK = "/tmp/work"  # the work directory as G sees it
DEVICES = ("null", "zero", "urandom")
STDOUT_FILE, STDERR_FILE = "stdout.txt", "stderr.txt"
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_OUTPUT_FILES = 64
SETUP_FAILED_EXIT = 125  # G's exit status when its own setup (before the driver) failed
# T waits this much longer than the wall-clock limit for S's answer (forks, mounts, copying).
SERVER_GRACE_S = 10.0
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
ALLOW_UNSANDBOXED_VARIABLE = "VERILOOP_ALLOW_UNSANDBOXED"
UNSANDBOXED = "UNSANDBOXED"

# Linux constants (linux/sched.h, linux/mount.h, linux/prctl.h, linux/capability.h).
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x04000000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET, CLONE_THREAD = 0x20000000, 0x40000000, 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 0x1, 0x2, 0x4, 0x8, 0x20, 0x1000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CAPABILITY_VERSION_3 = 0x20080522
# Refused by the seccomp filter (EPERM). Names unknown on this architecture are left out.
DENIED_SYSCALLS = (
    "socket", "socketpair", "fork", "vfork", "execve", "execveat",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "swapon",
    "swapoff", "reboot", "syslog", "quotactl", "iopl", "ioperm", "sethostname", "setdomainname",
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "tkill", "pidfd_open", "pidfd_send_signal",
)
# Signals go to the guest itself only (unsandboxed, kill(-1) would reach every process of the user).
SELF_SIGNAL_SYSCALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")


class SandboxError(Exception):
    """The sandbox itself failed (not the program in it): an infrastructure error."""


class SandboxUnavailable(SandboxError, ToolUnavailable):
    """This machine offers no isolation and the user did not allow running without it."""


class _ServerGone(SandboxError):
    """The server's pipe closed: if that happens before it took the request, a retry is safe."""


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # wall-clock limit; then the whole process tree is killed
    cpu_s: float = 10.0  # RLIMIT_CPU of the guest (one process)
    memory_mb: int = 1024  # RLIMIT_AS: the guest's address space, and so the sandbox's memory
    processes: int = 32  # RLIMIT_NPROC: threads (the guest cannot start processes)
    file_mb: int = 64  # RLIMIT_FSIZE: largest file G may write (its /tmp holds a few such files)
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
    cpu_s: float  # CPU time of G
    isolation: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # output files not copied back, and why
    setup_error: str | None = None  # G's own setup failed (a sandbox fault, not the program's)
    unavailable: str | None = None  # unsandboxed only: why no isolation was possible

    @property
    def unsandboxed(self) -> bool:
        return UNSANDBOXED in self.isolation

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


def allow_unsandboxed_from_environment() -> bool:
    return os.environ.get(ALLOW_UNSANDBOXED_VARIABLE, "") == "1"


class Sandbox:
    """Runs drivers in isolated children. One server per trusted process; calls are serialised.

    `allow_unsandboxed`: where the machine offers no isolation, run anyway (in a process group,
    every result marked UNSANDBOXED) instead of raising SandboxUnavailable; by default read from
    $VERILOOP_ALLOW_UNSANDBOXED (the CLI's `--allow-unsandboxed` sets it). `isolate=False` skips
    the isolation even where it is available (tests and benchmarks of that path; it needs
    `allow_unsandboxed`).
    """

    def __init__(self, allow_unsandboxed: bool | None = None, isolate: bool = True) -> None:
        self.allow_unsandboxed = allow_unsandboxed_from_environment() if allow_unsandboxed is None else allow_unsandboxed
        if not isolate and not self.allow_unsandboxed:
            raise ValueError("a sandbox without isolation must be allowed explicitly (allow_unsandboxed=True)")
        self.isolate = isolate
        self._checked = False
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def run(self, driver: str, inputs: dict[str, bytes | str], limits: Limits = Limits()) -> SandboxResult:
        """Run `driver` ("module:function", a trusted function of this repository) in G, with
        `inputs` as files in its work directory; return what G left there.

        Each call tries the full isolation first; where the kernel refuses it, the call raises
        SandboxUnavailable, or (only if allowed) runs unsandboxed and says so in its result."""
        for name in inputs:
            if not OUTPUT_NAME.match(name) or name in (STDOUT_FILE, STDERR_FILE):
                raise ValueError(f"bad input file name {name!r}")
        unavailable = None if self.isolate else "isolation switched off"
        if self.isolate:
            result = self._run_once(driver, inputs, limits, isolated=True)
            if result.unavailable is None:
                return result
            unavailable = result.unavailable
            if not self.allow_unsandboxed:
                raise SandboxUnavailable(
                    f"no sandbox on this machine ({unavailable}); model-written code is not run without one "
                    f"(pass --allow-unsandboxed, or set {ALLOW_UNSANDBOXED_VARIABLE}=1, to run it anyway)")
        result = self._run_once(driver, inputs, limits, isolated=False)
        return SandboxResult(**{**result.__dict__, "unavailable": unavailable})

    def check(self) -> None:
        """Raise SandboxUnavailable now (one line) if model-written code could not be run here.
        Other faults are left to the calls themselves (each one's verdict is then an error)."""
        if self._checked:
            return
        try:
            self.run("verifiers.sandbox:run_program", {"program.py": "pass\n"}, Limits(wall_s=5.0, cpu_s=5.0))
        except SandboxUnavailable:
            raise
        except SandboxError:
            return
        self._checked = True

    def _run_once(self, driver: str, inputs: dict[str, bytes | str], limits: Limits, isolated: bool) -> SandboxResult:
        exchange = Path(tempfile.mkdtemp(prefix="veriloop-sandbox-"))
        try:
            exchange.chmod(0o711)  # the unsandboxed work directory lies inside; nobody may pass through
            (exchange / "in").mkdir(mode=0o755)
            for name, content in inputs.items():
                data = content.encode() if isinstance(content, str) else content
                (exchange / "in" / name).write_bytes(data)
            request = {"driver": driver, "exchange": str(exchange), "inputs": sorted(inputs),
                       "limits": limits.as_dict(), "isolated": isolated}
            report = self._call(request, limits.wall_s + SERVER_GRACE_S)
            if "unavailable" in report:
                return SandboxResult({}, None, None, False, 0.0, 0.0, (), unavailable=str(report["unavailable"]))
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
_seccomp: Any = None  # the pyseccomp module, imported by S
_seccomp_missing: str | None = None  # why it could not be imported


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


def _import_seccomp() -> None:
    global _seccomp, _seccomp_missing
    try:
        _seccomp = import_module("pyseccomp")
    except (ImportError, RuntimeError, OSError) as error:  # RuntimeError: libseccomp not installed
        _seccomp_missing = f"libseccomp is not usable: {error}"


def serve() -> None:
    """S's loop: one JSON request per line on stdin, two JSON lines back per request."""
    os.chdir("/")
    _import_seccomp()
    _c_library()
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


@dataclass
class _Plan:
    """What C set up for G."""

    work: str
    isolated: bool
    user: int | None  # drop to this uid/gid (root only)
    drop_capabilities: bool  # G is root of its own user namespace: drop every capability
    seccomp: bool
    extra_processes: int  # RLIMIT_NPROC counts the invoking user's other processes too
    isolation: list[str]


def _supervise(request: dict[str, Any], driver: Callable[[], None]) -> dict[str, Any]:
    """C: isolate, fork G, enforce the wall clock, copy the outputs back, report."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(null, descriptor)
    os.close(null)
    limits = Limits(**request["limits"])
    exchange = os.open(request["exchange"], os.O_RDONLY | os.O_DIRECTORY)
    root = os.geteuid() == 0
    extra_processes = 0 if root else _processes_of(os.getuid())
    if request["isolated"]:
        if _seccomp is None:
            return {"unavailable": _seccomp_missing}
        try:
            plan = _isolate(limits, root, extra_processes)
        except OSError as error:  # the kernel refuses: no sandbox on this machine
            return {"unavailable": f"cannot isolate: {error}"}
    else:
        os.mkdir("work", 0o700, dir_fd=exchange)
        isolation = [UNSANDBOXED, "pgroup"] + (["user:nobody"] if root else [])
        plan = _Plan(os.path.join(request["exchange"], "work"), False, NOBODY if root else None, False,
                     _seccomp is not None, extra_processes, isolation + (["seccomp"] if _seccomp else []))
    if plan.user is not None:
        os.chown(plan.work, plan.user, plan.user)
    _copy_inputs(exchange, plan.work, request["inputs"], plan.user)

    status_read, status_write = os.pipe()  # G -> C: its setup's outcome
    alive_read, alive_write = os.pipe()  # held open by C; G sees it hang up if C dies
    started = time.monotonic()
    guest = os.fork()
    if guest == 0:
        os.close(status_read)
        os.close(alive_write)
        _guest(driver, plan, limits, status_write, alive_read)
    os.close(status_write)
    os.close(alive_read)
    deadline = started + limits.wall_s
    setup_error, finished, timed_out = _watch(guest, status_read, deadline)
    if not finished:
        _kill_guest(guest, plan.isolated)
        timed_out = True
    _, wait_status, usage = os.wait4(guest, 0)
    wall_s = time.monotonic() - started
    if not plan.isolated:
        _kill_group_from_supervisor(guest)  # what G left behind in its group
    os.close(alive_write)
    outputs, skipped = _copy_outputs(plan.work, exchange, limits, set(request["inputs"]))
    return {
        "exit_code": os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None,
        "signal": os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None,
        "timed_out": timed_out, "wall_s": round(wall_s, 6),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 6), "isolation": plan.isolation,
        "outputs": outputs, "skipped": skipped, "setup_error": setup_error,
    }


def _isolate(limits: Limits, root: bool, extra_processes: int) -> _Plan:
    """C: new namespaces (with a user namespace when not root) and a new root holding only /tmp
    and three devices; C pivots into it too (it keeps the exchange directory open)."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    isolation = []
    if not root:
        uid, gid = os.getuid(), os.getgid()
        _checked(_c_library().unshare(flags | CLONE_NEWUSER), "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        isolation.append("userns")
    else:
        _checked(_c_library().unshare(flags), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,nr_inodes=64,mode=755")
    for directory in ("tmp", "dev", "oldroot"):
        os.mkdir(os.path.join(NEW_ROOT, directory), 0o755)
    _mount("tmpfs", os.path.join(NEW_ROOT, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           f"size={4 * limits.file_mb + 16}m,nr_inodes={limits.files},mode=1777")
    for device in DEVICES:
        target = os.path.join(NEW_ROOT, "dev", device)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
        _mount(f"/dev/{device}", target, None, MS_BIND, None)
    pivot_root = _seccomp.resolve_syscall(_seccomp.Arch.NATIVE, "pivot_root")
    _checked(_c_library().syscall(pivot_root, NEW_ROOT.encode(), os.path.join(NEW_ROOT, "oldroot").encode()),
             "pivot_root")
    os.chdir("/")
    _checked(_c_library().umount2(b"/oldroot", MNT_DETACH), "umount /oldroot")
    os.rmdir("/oldroot")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    os.mkdir(GUEST_WORK, 0o700)
    isolation += ["pidns", "netns", "ipcns", "utsns", "mountns"]
    isolation += ["user:nobody"] if root else ["no capabilities"]
    isolation += ["seccomp", "one process"]
    return _Plan(GUEST_WORK, True, NOBODY if root else None, not root, True, extra_processes, isolation)


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


def _kill_guest(guest: int, isolated: bool) -> None:
    # G is PID 1 of its namespace: killing it kills the namespace. Without one, kill its group.
    try:
        os.kill(guest, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if not isolated:
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


def _guest(driver: Callable[[], None], plan: _Plan, limits: Limits, status_write: int, alive_read: int) -> None:
    """G: finish the isolation, then run the driver. Never returns."""
    try:
        if not plan.isolated:
            os.setpgid(0, 0)
        os.chdir(plan.work)
        _set_limits(limits, plan.extra_processes)
        if plan.user is not None:
            os.setgroups([])
            os.setgid(plan.user)
            os.setuid(plan.user)
        library = _c_library()
        if plan.drop_capabilities:
            _drop_capabilities()
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
        if plan.seccomp:
            _load_seccomp_filter()
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


def _set_limits(limits: Limits, extra_processes: int) -> None:
    cpu = max(1, int(limits.cpu_s + 0.999))
    for which, value in (
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, limits.memory_mb << 20),
        (resource.RLIMIT_FSIZE, limits.file_mb << 20),
        (resource.RLIMIT_NOFILE, 256),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, limits.processes + extra_processes),
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


class _CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapabilityData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (capset(2); no library in the venv wraps it)."""
    header = _CapabilityHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapabilityData * 2)()
    _checked(_c_library().capset(ctypes.byref(header), data), "capset")


def _load_seccomp_filter() -> None:
    seccomp = _seccomp
    refuse = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
        if number >= 0:  # negative: not a system call of this architecture
            rules.add_rule(refuse, number)
    # clone: threads only (they share the guest's address space, so RLIMIT_AS still bounds them).
    rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # its flags are out of the filter's reach
    for name in SELF_SIGNAL_SYSCALLS:
        rules.add_rule(refuse, name, seccomp.Arg(0, seccomp.NE, os.getpid(), 0))
    rules.load()
