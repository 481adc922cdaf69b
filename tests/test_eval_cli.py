"""The rough edges a new user hits: --help/--version/--limit, flag names in errors, file modes,
package data in a wheel, missing tools, terminal escaping, and `eval --resume` (checks, lock, no
duplicate rows, workers that die with the parent)."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from agent.__main__ import build_parser, main

REPO = Path(__file__).resolve().parent.parent
CODE2INV = REPO / "tasks" / "code2inv"


def agent(*arguments: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "agent", *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment)


def suite_of(folder: Path, *numbers: str) -> Path:
    folder.mkdir(parents=True)
    for number in numbers:
        shutil.copy(CODE2INV / f"{number}.yaml", folder)
    return folder


def test_every_option_has_help_and_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: 0)" in shown and "(default: 0.8)" in shown and "(default: 1)" in shown


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("veriloop ")


@pytest.mark.parametrize("limit", ["0", "-1", "x"])
def test_limit_below_one_is_refused(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(CODE2INV), "--limit", limit]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--limit" in error


def test_errors_name_the_option_the_user_typed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(CODE2INV / "1.yaml"), "--timeout", "-1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --timeout:") and "timeout-s" not in error and error.count("\n") == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_respect_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    from agent.files import write_atomically

    previous = os.umask(umask)
    try:
        write_atomically(tmp_path / "run.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == mode


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built with `pip wheel .` and installed (without dependencies) into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "runs", ".venv", "*.egg-info", "build",
                                                              "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(source)], check=True, timeout=300)
    wheel = next((work / "dist").glob("veriloop-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "prompts/invariant/system.j2" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(work / "site"),
                    str(wheel)], check=True, timeout=300)
    return work / "site"


def test_an_installed_wheel_finds_its_prompt_templates(installed_wheel: Path, tmp_path: Path) -> None:
    probe = ("import agent.prompts as p; from agent.prompts import _environment, prompts_dir; "
             "print(p.__file__); _environment(str(prompts_dir())).get_template('invariant/system.j2'); print('ok')")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(installed_wheel)})
    assert done.returncode == 0, done.stderr
    location, answer = done.stdout.split()
    assert location.startswith(str(installed_wheel)) and answer == "ok"


@pytest.mark.model
def test_an_installed_wheel_runs_a_model_task(installed_wheel: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "solve", str(CODE2INV / "38.yaml"), "--sources", "llm",
                           "--max-proposals", "2", "--runs-dir", str(tmp_path / "runs")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(installed_wheel)})
    assert done.returncode in (0, 1), done.stderr  # solved or not: the model ran on the installed templates
    # Two model proposals, as allowed; Houdini's recombination of their conjuncts is not counted against them.
    assert "verdict:" in done.stdout and re.search(r"proposals (2|3) \(llm 2(, houdini 1)?\)", done.stdout)


def test_a_task_whose_tool_is_missing_is_marked_and_the_others_run(tmp_path: Path) -> None:
    from agent.tasks import load_task
    from verifiers.base import REGISTRY, ToolUnavailable

    lean_task = next((REPO / "tasks" / "minif2f" / "valid").glob("*.yaml"))
    try:
        REGISTRY.for_kind("lean").check_environment(load_task(lean_task))
        pytest.skip("Lean is installed here; this test needs a machine without it")
    except ToolUnavailable:
        pass
    suite = suite_of(tmp_path / "mixed", "1")
    shutil.copy(lean_task, suite)
    runs = tmp_path / "runs"
    done = agent("eval", str(suite), "--sources", "symbolic", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    run_dir = next(runs.iterdir())
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    assert [(row["task_id"], row["status"]) for row in rows] == [("code2inv/1", "solved")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert list(summary["not_run"]) == [load_task(lean_task).id]
    assert "not run:" in done.stdout


def test_resume_checks_settings_locks_and_never_duplicates(tmp_path: Path) -> None:
    suite = suite_of(tmp_path / "[bold]suite", "1", "93")  # a name with rich markup: shown as it is
    runs = tmp_path / "runs"
    first = agent("eval", str(suite), "--sources", "symbolic", "--runs-dir", str(runs), "--limit", "1")
    assert first.returncode == 0, first.stderr
    assert "[bold]suite" in first.stdout
    run_dir = next(runs.iterdir())
    assert (run_dir / "run.json").stat().st_mode & 0o777 == 0o644

    for changed, named in ((["--seed", "1"], "seed"), (["--timeout", "5"], "timeout_s"),
                           (["--sources", "symbolic,dynamic"], "sources"), ([], "tasks")):
        sources = [] if "--sources" in changed else ["--sources", "symbolic"]
        limit = [] if not changed else ["--limit", "1"]
        refused = agent("eval", str(suite), *sources, *changed, *limit, "--resume", str(run_dir))
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and named in refused.stderr, refused.stderr

    with (run_dir / ".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        locked = agent("eval", str(suite), "--sources", "symbolic", "--limit", "1", "--resume", str(run_dir))
    assert locked.returncode == 2 and "another process" in locked.stderr

    again = agent("eval", str(suite), "--sources", "symbolic", "--limit", "1", "--resume", run_dir.name,
                  "--runs-dir", str(runs))
    assert again.returncode == 0, again.stderr
    assert "resuming, 0 to run" in again.stdout
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    assert [row["task_id"] for row in rows] == ["code2inv/1"]


def test_killing_the_parent_kills_its_workers(tmp_path: Path) -> None:
    suite = suite_of(tmp_path / "suite", "1", "2", "3", "6", "11", "93")
    parent = subprocess.Popen([sys.executable, "-m", "agent", "eval", str(suite), "--workers", "2", "--sources",
                               "symbolic,dynamic", "--runs-dir", str(tmp_path / "runs")], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
        workers = psutil.Process(parent.pid).children(recursive=True)
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool's workers never started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"still running after the parent was killed: {[p.pid for p in alive]}"


def test_solve_shows_data_as_written(tmp_path: Path) -> None:
    """A runs folder with rich markup in its name is printed as it is (task ids cannot hold brackets)."""
    done = agent("solve", str(CODE2INV / "1.yaml"), "--sources", "symbolic", "--runs-dir", str(tmp_path / "[b]runs"))
    assert done.returncode == 0, done.stderr
    assert f"trace: {tmp_path / '[b]runs'}" in done.stdout


def test_the_summary_counts_a_template_that_misreads_its_program(tmp_path: Path) -> None:
    import yaml

    from agent.c_transition import c_template

    program = "int main() { int x; x = 0; while (x < 10) { x = x + 1; } assert(x <= 10); }"
    suite = tmp_path / "misread"
    suite.mkdir()
    # The template steps by two and asserts `x <= 11`: `x <= 11` proves it, not the program.
    misread = c_template(program.replace("x + 1", "x + 2").replace("x <= 10", "x <= 11"))
    (suite / "misread.yaml").write_text(yaml.safe_dump({"id": "misread", "kind": "invariant", "program": program,
                                                        "vc_template": misread}))
    runs = tmp_path / "runs"
    done = agent("eval", str(suite), "--sources", "symbolic,dynamic", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    summary = json.loads((next(runs.iterdir()) / "summary.json").read_text())
    assert (summary["solved"], summary["template_wrong"]) == (0, 1)
    table = done.stdout[done.stdout.index("┏"):]
    assert "template" in table  # its own column (rich wraps the header on a narrow terminal)
