"""Lean tasks: the miniF2F conversion, task files, and the command line without Lean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from agent.convert_minif2f import convert_minif2f, split_theorem_file
from agent.tasks import LeanTask, TaskFileError, load_task, parse_task, task_schema
from verifiers.base import VerifyBudget
from verifiers.lean.project import find_project
from verifiers.lean.types import LeanUnavailable
from verifiers.lean.verifier import LeanVerifier

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "tasks" / "minif2f" / "valid"


def test_conversion_keeps_every_theorem_verbatim(shared_data: Path, tmp_path: Path) -> None:
    report = convert_minif2f(shared_data / "minif2f", tmp_path)
    sources = sorted((shared_data / "minif2f" / "valid").glob("*.lean"))
    assert len(report.written) == len(sources) == 244 and not report.failed
    for source in sources:
        task = load_task(tmp_path / f"{source.stem}.yaml")
        assert isinstance(task, LeanTask) and task.theorem_name == source.stem
        # Header and statement are the file's own text: together with `:= by sorry` they give it back.
        assert task.header + task.statement + " := by sorry" == source.read_text(encoding="utf-8").rstrip()
    suite = yaml.safe_load((tmp_path / "suite.yaml").read_text(encoding="utf-8"))
    assert len(suite["tasks"]) == 244 and suite["source"]["license"] == "MIT"
    # The informal statements come from the DeepSeek-Prover jsonl, by theorem name.
    assert "120" in load_task(tmp_path / "mathd_algebra_10.yaml").description


def test_the_committed_suite_is_what_the_converter_makes(shared_data: Path, tmp_path: Path) -> None:
    convert_minif2f(shared_data / "minif2f", tmp_path)
    committed = sorted(path.name for path in SUITE.glob("*.yaml"))
    assert committed == sorted(path.name for path in tmp_path.glob("*.yaml"))
    for name in committed:
        assert (SUITE / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(encoding="utf-8"), name


def test_a_file_that_is_not_one_sorry_theorem_is_refused() -> None:
    with pytest.raises(ValueError):
        split_theorem_file("import Mathlib\ntheorem a : True := by sorry\ntheorem b : True := by sorry")
    with pytest.raises(ValueError):
        split_theorem_file("import Mathlib\ntheorem a : True := by trivial")


def test_lean_task_files_are_validated(tmp_path: Path) -> None:
    good = yaml.safe_load((SUITE / "mathd_algebra_10.yaml").read_text(encoding="utf-8"))
    assert parse_task(good, "t").kind == "lean"
    for change, says in (
        ({"theorem_name": "other"}, "theorem_name"),
        ({"header": "import Mathlib\naxiom cheat : False\n"}, "header line 2"),
        ({"statement": good["statement"] + " := by sorry"}, ":= by"),
        ({"search": {"mode": "guess"}}, "search.mode"),
        ({"unknown_field": 1}, "unknown_field"),
    ):
        with pytest.raises(TaskFileError, match=says):
            parse_task({**good, **change}, "t")
    assert "lean" in str(task_schema())


def run_cli(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VERILOOP_LEAN")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "agent", *arguments], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=environment)


@pytest.mark.parametrize("command", [
    ["solve", "tasks/minif2f/valid/mathd_algebra_10.yaml"],
    ["solve", "tasks/minif2f/valid/mathd_algebra_10.yaml", "--search-mode", "whole_proof", "--sources", "symbolic"],
    ["eval", "tasks/minif2f/valid", "--limit", "2"],
])
def test_without_lean_a_lean_task_exits_2_with_one_line(command: list[str], tmp_path: Path) -> None:
    result = run_cli(*command, "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: no Lean toolchain found")
    assert "VERILOOP_LEAN_PROJECT" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_a_project_without_a_lakefile_is_named(tmp_path: Path) -> None:
    result = run_cli("solve", "tasks/minif2f/valid/mathd_algebra_10.yaml", env={"VERILOOP_LEAN_PROJECT": str(tmp_path)})
    assert result.returncode == 2 and "has no lakefile" in result.stderr and result.stderr.count("\n") == 1


def fake_project(tmp_path: Path, lake_script: str) -> Path:
    """A Lean project whose `lake` is a shell script (for the compile's failure paths, not a Lean)."""
    (tmp_path / "lakefile.toml").write_text('name = "p"\n')
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.33.0-rc2\n")
    lake = tmp_path / "lake"
    lake.write_text("#!/bin/sh\n" + lake_script)
    lake.chmod(0o755)
    return lake


HONEST_TASK = SimpleNamespace(header="", statement="theorem t (p : Prop) (hp : p) : p", theorem_name="t",
                              lean_project=None)


def test_without_lean_nothing_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERILOOP_LEAN_PROJECT", raising=False)
    verdict = LeanVerifier().verify(HONEST_TASK, "exact hp", VerifyBudget(timeout_s=5))
    assert verdict.status == "error" and not verdict.certified and "no Lean toolchain" in verdict.feedback
    with pytest.raises(LeanUnavailable):
        LeanVerifier().check_environment(HONEST_TASK)


def test_a_compile_that_overruns_its_time_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = fake_project(tmp_path, "sleep 60\n")
    monkeypatch.setenv("VERILOOP_LEAN_PROJECT", str(tmp_path))
    monkeypatch.setenv("VERILOOP_LAKE", str(lake))
    verdict = LeanVerifier().verify(HONEST_TASK, "exact hp", VerifyBudget(timeout_s=1))
    assert verdict.status == "unknown" and "not a proof" in verdict.feedback


def test_a_lake_that_fails_is_an_error_not_a_rejection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = fake_project(tmp_path, "echo 'error: unknown executable lean' >&2\nexit 1\n")
    monkeypatch.setenv("VERILOOP_LEAN_PROJECT", str(tmp_path))
    monkeypatch.setenv("VERILOOP_LAKE", str(lake))
    assert find_project().root == tmp_path.resolve()
    verdict = LeanVerifier().verify(HONEST_TASK, "exact hp", VerifyBudget(timeout_s=10))
    assert verdict.status == "error" and "unknown executable lean" in verdict.feedback
    # And a lake that prints nothing at all but exits 0 still proves nothing.
    lake.write_text("#!/bin/sh\nexit 0\n")
    verdict = LeanVerifier().verify(HONEST_TASK, "exact hp", VerifyBudget(timeout_s=10))
    assert verdict.status == "rejected" and "no axioms report" in verdict.feedback
