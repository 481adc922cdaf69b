"""Running a test's function as an ordinary user, for the behaviour that differs from root's.

As root, `as_ordinary_user(function, ...)` forks; the child gives itself a private mount namespace
in which everything on the way to this interpreter is traversable (here it lives under /root,
which an ordinary user cannot enter: a tmpfs over each such directory holds only the next step,
bound from the original), then drops to an unprivileged uid and gid for good, runs the function and
sends back what it returned (JSON). Not root: the function runs in a plain child.

The child is a real unprivileged process: no capabilities, no supplementary groups, its own home
directory. Only what it can reach on the way to the interpreter differs from an ordinary login.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest

ORDINARY_UID = ORDINARY_GID = 4321


def _user_namespaces_refused() -> str | None:
    """Why an ordinary user cannot create a user namespace here (then there is no sandbox for one)."""
    for setting, refused in (("/proc/sys/kernel/unprivileged_userns_clone", "0"), ("/proc/sys/user/max_user_namespaces", "0")):
        try:
            if Path(setting).read_text().strip() == refused:
                return f"{setting} is {refused}: this kernel gives ordinary users no namespaces (no sandbox without root)"
        except OSError:
            continue
    return None


_ORDINARY = pytest.param("an ordinary user", marks=pytest.mark.skipif(_user_namespaces_refused() is not None,
                                                                        reason=str(_user_namespaces_refused())))
WHO = ("root", _ORDINARY) if os.geteuid() == 0 else (_ORDINARY,)  # who runs a test (pytest parameters)
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 0x1000, 0x4000, 0x40000


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _reachable_interpreter() -> None:
    """In the child's own mount namespace: cover each directory on the way to the interpreter that
    others may not enter with a tmpfs holding only the next step."""
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    target = Path(os.path.realpath(sys.executable))
    for directory in reversed(target.parents):
        if directory == Path("/") or os.stat(directory).st_mode & 0o005 == 0o005:
            continue
        step = target.relative_to(directory).parts[0]
        keep = os.open(directory / step, os.O_PATH)
        _mount("tmpfs", str(directory), "tmpfs", 0, "mode=755,size=64k")
        (directory / step).mkdir()
        _mount(f"/proc/self/fd/{keep}", str(directory / step), None, MS_BIND | MS_REC, None)
        os.close(keep)


def as_ordinary_user(function: Callable[..., Any], *arguments: Any, home: Path | None = None,
                     timeout_s: float = 120.0) -> Any:
    if os.geteuid() != 0:
        return in_child(function, *arguments, timeout_s=timeout_s)
    own_home = home is None
    if own_home:  # like a login: a home of its own (numba, say, caches compiled code there)
        home = Path(tempfile.mkdtemp(prefix="veriloop-home-"))
        os.chown(home, ORDINARY_UID, ORDINARY_GID)
    try:
        return in_child(function, *arguments, timeout_s=timeout_s, drop=True, home=home)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def in_child(function: Callable[..., Any], *arguments: Any, timeout_s: float = 120.0, drop: bool = False,
             home: Path | None = None) -> Any:
    """Run `function` in a forked child (as an ordinary user if `drop`); return what it returned."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        try:
            if drop:
                _reachable_interpreter()
                os.setgroups([])
                os.setgid(ORDINARY_GID)
                os.setuid(ORDINARY_UID)
            if home is not None:
                os.environ["HOME"] = str(home)
            import verifiers.sandbox as sandbox_module

            sandbox_module._default = None  # the parent's server belongs to the parent
            message = {"value": function(*arguments)}
        except BaseException:  # noqa: BLE001 - sent to the parent, which raises it
            message = {"error": traceback.format_exc()}
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(json.dumps(message, default=str).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if not select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))[0]:
                os.kill(child, signal.SIGKILL)
                raise TimeoutError(f"the ordinary user's test ran past {timeout_s} s")
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(child, 0)
    message = json.loads(b"".join(chunks))
    if "error" in message:
        raise AssertionError(f"as an ordinary user:\n{message['error']}")
    return message["value"]
