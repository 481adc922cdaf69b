"""The sandbox on real child processes: limits, isolation, what comes back, recovery.

Tests of what differs between root and an ordinary user run in both ways (`tests/ordinary_user.py`);
the hostile programs are in `tests/test_hostile_sandbox.py`."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.ordinary_user import WHO, as_ordinary_user, in_child
from verifiers.sandbox import Limits, Sandbox, SandboxError, SandboxUnavailable

ROOT = os.geteuid() == 0
PLAIN = "verifiers.sandbox:run_program"
# Renames the calling process so that tests can look for it in /proc afterwards.
RENAME = "import ctypes\nctypes.CDLL(None).prctl(15, {name!r}.encode(), 0, 0, 0)\n"


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def fallback():
    box = Sandbox(allow_unsandboxed=True, isolate=False)
    yield box
    box.close()


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run(box: Sandbox, program: str, **limits) -> object:
    return box.run(PLAIN, {"program.py": program}, Limits(**limits))


def test_a_program_runs_and_only_its_files_come_back(sandbox):
    result = run(sandbox, "import os\nprint('hi')\nopen('answer.txt', 'w').write(str(os.getuid()))\n")
    assert result.exit_code == 0 and not result.timed_out and result.setup_error is None
    assert result.stdout == "hi\n"
    assert set(result.files) == {"answer.txt", "stdout.txt", "stderr.txt"}  # the input is not sent back
    if ROOT:
        assert result.files["answer.txt"] == b"65534"


ISOLATED = {"pidns", "netns", "ipcns", "utsns", "mountns", "seccomp", "one process"}


def outcome(program: str, limits: dict | None = None) -> dict:
    """One call of a fresh sandbox, as plain data (so that an ordinary user's child can send it back)."""
    box = Sandbox()
    try:
        result = run(box, program, **(limits or {}))
    finally:
        box.close()
    return {"isolation": list(result.isolation), "stdout": result.stdout, "stderr": result.stderr,
            "exit_code": result.exit_code, "timed_out": result.timed_out,
            "files": {name: data.decode("utf-8", "replace") for name, data in result.files.items()}}


def run_as(who: str, program: str, **limits) -> dict:
    return outcome(program, limits) if who == "root" else as_ordinary_user(outcome, program, limits)


@pytest.mark.parametrize("who", WHO)
def test_all_isolation_layers_apply(who):
    result = run_as(who, "import os\nopen('ids.txt', 'w').write(f'{os.getpid()} {os.getuid()} {os.getgroups()}')\n"
                         "print(sorted(os.listdir('/')), sorted(os.listdir('/dev')))\n")
    assert ISOLATED <= set(result["isolation"]) and "UNSANDBOXED" not in result["isolation"]
    if who == "root":
        assert "user:nobody" in result["isolation"] and result["files"]["ids.txt"] == "1 65534 []"
    else:  # root of its own user namespace, without any capability
        assert {"userns", "no capabilities"} <= set(result["isolation"]) and result["files"]["ids.txt"].startswith("1 0 ")
    assert result["stdout"] == "['dev', 'tmp'] ['null', 'urandom', 'zero']\n"  # nothing of the host's files


def test_the_environment_is_scrubbed(sandbox, monkeypatch):
    monkeypatch.setenv("VERILOOP_SECRET", "do-not-leak")
    result = run(sandbox, "import os, json\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))\n")
    import json

    environment = json.loads(result.files["env.json"])
    assert set(environment) == {"PATH", "HOME", "TMPDIR", "LANG"}


def test_the_wall_clock_kills_the_guest(sandbox):
    started = time.monotonic()
    result = run(sandbox, "while True:\n    pass\n", wall_s=1.5)
    assert result.timed_out and result.signal == signal.SIGKILL
    assert time.monotonic() - started < 1.5 + 5


@pytest.mark.parametrize("who", WHO)
def test_the_guest_cannot_start_a_process(who):
    program = ("import os, subprocess\n"
               "for name, attempt in [('fork', os.fork), ('spawn', lambda: os.posix_spawn('/bin/true', ['true'], {})),\n"
               "                      ('subprocess', lambda: subprocess.Popen(['/bin/true']))]:\n"
               "    try:\n        attempt()\n        print(name, 'started')\n"
               "    except OSError as error:\n        print(name, 'refused', error.errno)\n")
    result = run_as(who, program)
    assert "started" not in result["stdout"] and result["stdout"].count("refused") == 3, result


def test_unsandboxed_the_process_group_is_killed_and_no_process_can_start(fallback):
    program = ("import os\ntry:\n    os.fork()\nexcept OSError as error:\n    print('refused', error.errno, flush=True)\n"
               "while True:\n    pass\n")
    result = run(fallback, program, wall_s=1.0)
    assert result.timed_out and result.stdout == "refused 1\n"  # EPERM from the seccomp filter
    assert result.isolation[0] == "UNSANDBOXED" and result.unsandboxed
    assert {"pgroup", "seccomp"} <= set(result.isolation)


def test_a_fork_bomb_is_capped_and_cleaned_up(sandbox):
    program = RENAME.format(name="vl-bomb") + (
        "import os\n"
        "forks = 0\n"
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            forks = 0\n"
        "        else:\n"
        "            forks += 1\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = run(sandbox, program, wall_s=2.0, processes=16)
    assert result.timed_out
    assert processes_named("vl-bomb") == []


def test_memory_cpu_and_file_size_limits(sandbox):
    memory = run(sandbox, "x = bytearray(10 * 2**30)\n", memory_mb=512)
    assert memory.exit_code == 1 and "MemoryError" in memory.stderr
    cpu = run(sandbox, "while True:\n    pass\n", cpu_s=1, wall_s=10)
    assert cpu.signal == signal.SIGKILL and not cpu.timed_out and cpu.wall_s < 5  # RLIMIT_CPU, not the wall
    big = run(sandbox, "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (40 << 20))\n", file_mb=8)
    assert big.exit_code == 1 and "File too large" in big.stderr
    assert len(big.files.get("big.bin", b"")) <= 8 << 20


def test_links_special_files_and_oversized_outputs_do_not_come_back(sandbox):
    program = ("import os\nos.symlink('/etc/passwd', 'formula0.cnf')\nos.mkfifo('pipe')\n"
               "open('huge.txt', 'wb').write(b'y' * (3 << 20))\nopen('ok.txt', 'w').write('fine')\n")
    result = sandbox.run(PLAIN, {"program.py": program}, Limits(output_mb=2))
    assert result.files["ok.txt"] == b"fine"
    assert "formula0.cnf" not in result.files and result.skipped["formula0.cnf"] == "cannot open: Too many levels of symbolic links"
    assert result.skipped["pipe"] == "not a plain file"
    assert "larger than" in result.skipped["huge.txt"]


def test_writes_outside_the_work_directory_fail(sandbox, tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a directory anyone may write to stays out of reach
    program = (f"import os\nfor path in [{str(target)!r}, '/tmp/vl-escaped.txt', {str(Path.cwd() / 'vl-escaped.txt')!r}]:\n"
               "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
               "    except OSError as error:\n        print('refused', path, error.errno)\n")
    result = run(sandbox, program)
    assert not target.exists() and not Path("/tmp/vl-escaped.txt").exists() and not (Path.cwd() / "vl-escaped.txt").exists()
    if "mountns" in result.isolation:  # its /tmp is private: the write lands there and vanishes with it
        assert "wrote /tmp/vl-escaped.txt" in result.stdout


def test_no_network(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    program = (f"import socket\ntry:\n    socket.socket().connect(('127.0.0.1', {port}))\n"
               "    print('connected')\nexcept OSError as error:\n    print('refused', error)\n")
    # The encoding driver preloads the socket module (the plain driver does not: the guest could not import it).
    result = sandbox.run("verifiers.encoding_runtime:main", {"program.py": program, "job.json": '{"mode": "sat", "instance": {}}'})
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    assert "refused" in result.stdout


def test_the_server_is_restarted_after_it_dies(sandbox):
    run(sandbox, "pass\n")
    sandbox._server.process.kill()
    result = run(sandbox, "print('again')\n")
    assert result.stdout == "again\n"


def test_a_driver_outside_the_verifiers_package_is_refused(sandbox):
    with pytest.raises(SandboxError, match="driver"):
        sandbox.run("os:system", {"program.py": ""})
    assert run(sandbox, "print('still fine')\n").stdout == "still fine\n"


def refuse_namespaces() -> None:
    """As in a container that forbids namespaces: unshare(2) fails with EPERM from now on (this
    process and its children, the sandbox server among them)."""
    import errno

    import pyseccomp

    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    rules.add_rule(pyseccomp.ERRNO(errno.EPERM), "unshare")
    rules.set_attr(pyseccomp.Attr.CTL_NNP, 1)  # libseccomp sets no_new_privs when it loads the filter
    rules.load()


def without_namespaces(allow: bool) -> dict:
    refuse_namespaces()
    box = Sandbox(allow_unsandboxed=allow)
    try:
        result = run(box, "print('ran')\n")
        return {"stdout": result.stdout, "isolation": list(result.isolation), "unavailable": result.unavailable}
    except SandboxUnavailable as refusal:
        return {"refused": str(refusal)}
    finally:
        box.close()


@pytest.mark.parametrize("who", WHO)
def test_without_isolation_model_written_code_is_refused_unless_allowed(who):
    runner = (lambda *args: in_child(*args)) if who == "root" else as_ordinary_user
    refused = runner(without_namespaces, False)
    assert "no sandbox on this machine" in refused["refused"] and "--allow-unsandboxed" in refused["refused"]
    allowed = runner(without_namespaces, True)
    assert allowed["stdout"] == "ran\n" and allowed["isolation"][0] == "UNSANDBOXED"
    assert "unshare" in allowed["unavailable"]


def test_a_set_up_that_runs_out_of_time_does_not_weaken_later_calls(sandbox):
    try:  # G can hardly finish its set-up in half a millisecond
        result = run(sandbox, "print('never')\n", wall_s=0.0005)
        assert result.setup_error or result.timed_out
    except SandboxError:
        pass
    result = run(sandbox, "print('again')\n")
    assert result.stdout == "again\n" and ISOLATED <= set(result.isolation) and not result.unsandboxed


def cli_and_verdict_without_namespaces() -> dict:
    import contextlib
    import io

    from agent.__main__ import main
    from agent.tasks import load_task
    from tests.encoding_references import SAT
    from verifiers.base import REGISTRY, VerifyBudget
    from verifiers.sandbox import ALLOW_UNSANDBOXED_VARIABLE

    refuse_namespaces()
    task_file = Path(__file__).resolve().parent.parent / "tasks" / "sat" / "queens-8.yaml"
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(["solve", str(task_file), "--runs-dir", os.devnull])
    task = load_task(task_file)
    refused = REGISTRY.for_kind(task.kind).verify(task, SAT["queens"], VerifyBudget(timeout_s=30))
    os.environ[ALLOW_UNSANDBOXED_VARIABLE] = "1"  # what --allow-unsandboxed sets
    import verifiers.sandbox

    verifiers.sandbox._default = None
    allowed = REGISTRY.for_kind(task.kind).verify(task, SAT["queens"], VerifyBudget(timeout_s=30))
    return {"code": code, "stderr": errors.getvalue(), "refused": [refused.status, refused.feedback],
            "allowed": [allowed.status, allowed.feedback, allowed.details.sandbox]}


@pytest.mark.parametrize("who", WHO)
def test_the_cli_refuses_without_a_sandbox_and_every_unsandboxed_verdict_says_so(who):
    runner = (lambda *args: in_child(*args)) if who == "root" else as_ordinary_user
    seen = runner(cli_and_verdict_without_namespaces)
    assert seen["code"] == 2 and seen["stderr"].startswith("error: no sandbox on this machine"), seen
    assert seen["stderr"].count("\n") == 1  # one line
    assert seen["refused"][0] == "error" and "--allow-unsandboxed" in seen["refused"][1]
    status, feedback, sandbox = seen["allowed"]
    assert status == "accepted" and "UNSANDBOXED (--allow-unsandboxed)" in feedback
    assert sandbox["unsandboxed"] and sandbox["isolation"][0] == "UNSANDBOXED"
