"""`eval --ray`: the same suite on a local Ray started by the run reaches the same statuses as the local
pool, with rows and traces written by the driver, and resumes a run the pool began."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from agent.__main__ import main
from agent.trace import read_trace
from tests.test_eval_cli import agent, suite_of

pytest.importorskip("ray", reason="Ray is an optional extra (veriloop[ray])")


def rows_of(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ray_resumes_a_pool_run_with_the_same_statuses(tmp_path: Path) -> None:
    suite = suite_of(tmp_path / "suite", "1", "93", "2")
    runs = tmp_path / "runs"
    pool = agent("eval", str(suite), "--sources", "symbolic", "--workers", "2", "--runs-dir", str(runs))
    assert pool.returncode == 0, pool.stderr
    run_dir = next(runs.iterdir())
    by_pool = {row["task_id"]: row["status"] for row in rows_of(run_dir)}
    assert set(by_pool.values()) >= {"solved", "unsolved"}, by_pool

    # As if the run had been interrupted after its first row: Ray runs the two missing tasks.
    lines = (run_dir / "results.csv").read_text().splitlines(keepends=True)
    (run_dir / "results.csv").write_text("".join(lines[:2]))
    for trace in (run_dir / "traces").iterdir():
        trace.unlink()
    on_ray = agent("eval", str(suite), "--sources", "symbolic", "--workers", "2", "--ray", "--resume", str(run_dir))
    assert on_ray.returncode == 0, on_ray.stderr
    assert "on Ray (local)" in on_ray.stdout and "resuming, 2 to run" in on_ray.stdout

    rows = rows_of(run_dir)
    assert sorted(row["task_id"] for row in rows) == sorted(by_pool)  # no task twice
    assert {row["task_id"]: row["status"] for row in rows} == by_pool
    for row in rows[1:]:  # the traces came back from the Ray workers and were written here
        trace = Path(row["trace"])
        assert trace.parent == run_dir / "traces"
        events = read_trace(trace)
        assert events[0].task_id == row["task_id"] and events[-1].status == row["status"]
    assert json.loads((run_dir / "run.json").read_text())["ray"] == "local"


def test_ray_refusals_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    suite = suite_of(tmp_path / "suite", "1")
    runs = tmp_path / "runs"
    assert main(["eval", str(suite), "--sources", "symbolic", "--ray", "127.0.0.1:9", "--runs-dir", str(runs)]) == 2
    assert "nothing answers there" in capsys.readouterr().err
    # A cluster that refuses the client (Ray only logs why): the line says what a token-authenticated cluster needs.
    import ray

    import agent.eval_ray

    def refused(**_: object) -> None:
        raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:9")

    monkeypatch.setattr(agent.eval_ray, "_probe", lambda address: None)
    monkeypatch.setattr(ray, "init", refused)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    assert main(["eval", str(suite), "--sources", "symbolic", "--ray", "127.0.0.1:9", "--runs-dir", str(runs)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot connect" in error and "RAY_AUTH_MODE=token" in error
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the extra is not installed
    assert main(["eval", str(suite), "--sources", "symbolic", "--ray", "--runs-dir", str(runs)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "veriloop[ray]" in error
    assert not runs.exists()


def test_a_ray_task_over_its_limit_is_cancelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    import agent.eval
    from agent.eval import load_suite, run_suite
    from agent.session import RunSettings

    _, entries = load_suite(suite_of(tmp_path / "suite", "1"))
    settings = RunSettings(sources=("symbolic",), timeout_s=5.0)
    monkeypatch.setattr(agent.eval, "WORKER_GRACE_S", -4.5)  # the driver allows the task half a second
    run_dir = tmp_path / "run"
    rows = list(run_suite(entries, settings, run_dir, "run", None, "float32", 1, ray_address="local"))

    assert [(row["task_id"], row["status"]) for row in rows] == [("code2inv/1", "error")]
    assert "overran its time limit" in rows[0]["message"]
    assert [row["status"] for row in rows_of(run_dir)] == ["error"]
    leftover = [process for process in psutil.process_iter(["name"]) if "raylet" in (process.info["name"] or "")]
    assert not leftover, "the local Ray was not stopped"
