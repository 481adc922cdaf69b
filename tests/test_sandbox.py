"""The sandbox on real child processes: limits, isolation, what comes back, recovery."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from verifiers.sandbox import Limits, Sandbox, SandboxError

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
    box = Sandbox(namespaces=False)
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


@pytest.mark.skipif(not ROOT, reason="namespaces and the drop to `nobody` need root on this machine")
def test_all_isolation_layers_apply_here(sandbox):
    result = run(sandbox, "import os\nopen('ids.txt', 'w').write(f'{os.getpid()} {os.getuid()} {os.getgroups()}')\n")
    assert {"pidns", "netns", "mountns", "user:nobody"} <= set(result.isolation)
    assert result.files["ids.txt"] == b"1 65534 []"  # PID 1 of its own namespace


def test_the_environment_is_scrubbed(sandbox, monkeypatch):
    monkeypatch.setenv("VERILOOP_SECRET", "do-not-leak")
    result = run(sandbox, "import os, json\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))\n")
    import json

    environment = json.loads(result.files["env.json"])
    assert set(environment) == {"PATH", "HOME", "TMPDIR", "LANG"}


def test_the_wall_clock_kills_the_whole_tree_even_a_new_session(sandbox):
    program = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n" + "    " + RENAME.format(name="vl-escapee").replace("\n", "\n    ").rstrip() + "\n"
        "    time.sleep(600)\n"
        "while True:\n    pass\n"
    )
    started = time.monotonic()
    result = run(sandbox, program, wall_s=1.5)
    assert result.timed_out and result.signal == signal.SIGKILL
    assert time.monotonic() - started < 1.5 + 5
    if "pidns" in result.isolation:
        assert processes_named("vl-escapee") == []


def test_the_fallback_kills_the_process_group(fallback):
    program = ("import os, time\n" "if os.fork() == 0:\n    " + RENAME.format(name="vl-child").replace("\n", "\n    ")
               + "time.sleep(600)\n" "while True:\n    pass\n")
    result = run(fallback, program, wall_s=1.0)
    assert result.timed_out
    assert "pgroup" in result.isolation and "socket-block (defence in depth)" in result.isolation
    deadline = time.monotonic() + 2
    while processes_named("vl-child") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_named("vl-child") == []


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
    program = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hello')\n"
               "    print('connected')\nexcept OSError as error:\n    print('refused', error)\n")
    result = run(sandbox, program)
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


def test_when_namespaces_cannot_be_set_up_the_sandbox_falls_back_and_says_so(monkeypatch):
    box = Sandbox()
    real_call = box._call

    def mount_refused(request, grace_limit_s):  # as on a machine that allows unshare but not mount
        if request["namespaces"]:
            return {"setup_error": "namespace setup failed: [Errno 1] mount /: Operation not permitted",
                    "isolation": ["pidns", "netns"]}
        return real_call(request, grace_limit_s)

    monkeypatch.setattr(box, "_call", mount_refused)
    try:
        result = box.run(PLAIN, {"program.py": "print('ran')\n"})
        assert result.stdout == "ran\n" and "pgroup" in result.isolation and result.setup_error is None
        assert not box.namespaces and "mount" in box.fallback_reason
    finally:
        box.close()
