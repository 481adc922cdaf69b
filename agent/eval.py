"""Suites: run many tasks in parallel worker processes (or as Ray tasks), resumably, and summarise the results.

A run writes `runs/<run_id>/`: `run.json` (settings and suite), `traces/<task>.jsonl` and
`results.csv`, one row appended and flushed per finished task, so an interrupted run loses nothing
and `--resume RUN_ID` runs only the tasks that have no row yet. Each worker process loads the model
once (lazily) and serves many tasks; pebble kills a worker whose task overruns its wall-clock limit.
Ray tasks (agent/eval_ray.py) return their rows and traces to this process, which writes them the same way.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import fcntl
import json
import os
import signal
import statistics
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from agent.files import write_atomically
from agent.loop import RunSettings, run_task
from agent.tasks import TaskFileError, load_task
from agent.trace import ResultEvent, new_run_id, open_append

RESULT_COLUMNS = [
    "task_id", "status", "certified", "answer", "solved_by", "proposals", "verifier_calls", "wall_s",
    "model_s", "verifier_s", "proposals_by_source", "message", "trace",
]
# Extra seconds a worker gets beyond the task's own limit (model load, trace writing) before it is killed.
WORKER_GRACE_S = 120.0


@dataclass(frozen=True)
class SuiteEntry:
    path: Path
    task: Any


def load_suite(location: Path) -> tuple[str, list[SuiteEntry]]:
    """A suite file (`tasks:` list of paths) or a folder (its `suite.yaml`, else every `*.yaml`)."""
    if location.is_dir():
        suite_file = location / "suite.yaml"
        if suite_file.is_file():
            return load_suite(suite_file)
        paths = sorted(p for p in location.glob("*.yaml") if p.name != "suite.yaml")
        name = location.name
    elif location.is_file():
        try:
            data = yaml.safe_load(location.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise TaskFileError(f"{location}: YAML error: {getattr(error, 'problem', error)}") from None
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            raise TaskFileError(f"{location}: a suite file needs a `tasks:` list")
        paths = [location.parent / str(entry) for entry in data["tasks"]]
        name = str(data.get("name") or location.parent.name)
    else:
        raise TaskFileError(f"{location}: no such suite (a folder of task files or a suite.yaml)")
    if not paths:
        raise TaskFileError(f"{location}: the suite has no tasks")
    entries = [SuiteEntry(path, load_task(path)) for path in paths]
    seen: set[str] = set()
    for entry in entries:
        if entry.task.id in seen:
            raise TaskFileError(f"{entry.path}: task id {entry.task.id!r} appears twice in the suite")
        seen.add(entry.task.id)
    return name, entries


def trace_name(task_id: str) -> str:
    return task_id.replace("/", "__") + ".jsonl"


def result_row(result: ResultEvent, task_id: str, trace: Path) -> dict[str, Any]:
    return {
        "task_id": task_id, "status": result.status, "certified": result.certified, "answer": result.answer or "",
        "solved_by": result.solved_by or "", "proposals": result.proposals, "verifier_calls": result.verifier_calls,
        "wall_s": result.wall_s, "model_s": result.model_s, "verifier_s": result.verifier_s,
        "proposals_by_source": json.dumps(result.proposals_by_source, sort_keys=True),
        "message": result.message, "trace": str(trace),
    }


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs to build its proposer (once, for the many tasks it serves)."""
    model: str | None
    dtype: str
    threads: int
    uses_model: bool
    sae: str | None = None
    steer: str | None = None

    def proposer(self) -> Any:
        import torch

        torch.set_num_threads(self.threads)
        if not self.uses_model:
            return None
        from agent.llm import load_proposer

        proposer = load_proposer(self.model, dtype=self.dtype, threads=self.threads, sae=self.sae, steer=self.steer)
        proposer.load()  # now, while the driver says so, rather than inside the first task
        return proposer


def run_one(task_path: str, settings_json: str, trace_path: str, run_id: str, proposer: Any) -> dict[str, Any]:
    """One task in a worker: its trace written to trace_path, its results row returned."""
    task = load_task(task_path)
    settings = RunSettings.model_validate_json(settings_json)
    trace = Path(trace_path)
    trace.unlink(missing_ok=True)  # a task re-run after an interruption starts its trace afresh
    result = run_task(task, settings, proposer, trace, run_id, Path(task_path))
    return result_row(result, task.id, trace)


# Worker-process state of the local pool: the proposer is created once per worker by `_init_worker`.
_worker_proposer: Any = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """The kernel kills this worker when the process that started it dies, even by SIGKILL."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _init_worker(setup: WorkerSetup, parent: int) -> None:
    global _worker_proposer
    _die_with_parent(parent)
    _worker_proposer = setup.proposer()


def _run_in_worker(task_path: str, settings_json: str, trace_path: str, run_id: str) -> dict[str, Any]:
    return run_one(task_path, settings_json, trace_path, run_id, _worker_proposer)


class ResultsFile:
    """results.csv, appended one flushed row at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self._handle = open_append(path, newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=RESULT_COLUMNS)
        if new:
            self._writer.writeheader()
            self._handle.flush()

    def append(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def read_results(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("status")]


class RunLocked(Exception):
    """Another process holds the run folder's lock."""


def lock_run(run_dir: Path) -> Any:
    """Hold `run_dir/.lock` (flock) while this process runs tasks into the folder; the kernel lets go when
    the process ends, however it ends. Returns the open file, to be kept open."""
    handle = open(run_dir / ".lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunLocked(f"{run_dir}: another process is running this run (it holds {run_dir / '.lock'})") from None
    return handle


def pending_entries(entries: list[SuiteEntry], run_dir: Path) -> list[SuiteEntry]:
    """The entries with no row in run_dir/results.csv yet."""
    done = {row["task_id"] for row in read_results(run_dir / "results.csv")}
    return [entry for entry in entries if entry.task.id not in done]


def run_suite(entries: list[SuiteEntry], settings: RunSettings, run_dir: Path, run_id: str, model: str | None,
              dtype: str, workers: int, sae: str | None = None, steer: str | None = None,
              ray_address: str | None = None) -> Iterator[dict[str, Any]]:
    """Run the entries that have no row in run_dir/results.csv yet, in a local pool of `workers` processes,
    or as Ray tasks when `ray_address` is given ("local": a Ray started here); yield each row as it lands,
    in completion order, after writing it to results.csv. The caller holds the run's lock (`lock_run`)."""
    pending = pending_entries(entries, run_dir)
    (run_dir / "traces").mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // workers)
    setup = WorkerSetup(model, dtype, threads, "llm" in settings.sources, sae, steer)
    if ray_address is None:
        rows = _pool_rows(pending, settings, run_dir, run_id, setup, workers)
    else:
        from agent.eval_ray import ray_rows

        rows = ray_rows(pending, settings, run_dir, run_id, setup, workers, ray_address)
    results = ResultsFile(run_dir / "results.csv")
    try:
        for row in rows:
            results.append(row)
            yield row
    finally:
        rows.close()  # stops the workers when the caller stops early (Ctrl-C)
        results.close()


def task_limit_s(entry: SuiteEntry, settings: RunSettings) -> float:
    """Wall-clock seconds a worker gets for the task before it is killed."""
    return settings.budget_for(entry.task.budget).timeout_s + WORKER_GRACE_S


def _pool_rows(pending: list[SuiteEntry], settings: RunSettings, run_dir: Path, run_id: str, setup: WorkerSetup,
               workers: int) -> Iterator[dict[str, Any]]:
    """The local pool: pebble kills a worker whose task overruns its limit; rows in completion order."""
    from pebble import ProcessPool

    with ProcessPool(max_workers=workers, initializer=_init_worker, initargs=(setup, os.getpid())) as pool:
        futures = {}
        for entry in pending:
            trace = run_dir / "traces" / trace_name(entry.task.id)
            future = pool.schedule(_run_in_worker, args=(str(entry.path), settings.model_dump_json(), str(trace), run_id),
                                   timeout=task_limit_s(entry, settings))
            futures[future] = (entry, trace)
        try:
            for future in as_completed(futures):
                entry, trace = futures[future]
                try:
                    row = future.result()
                except FutureTimeout:
                    row = failed_row(entry, trace, "the worker overran its time limit and was killed")
                except Exception as error:  # a crashed worker costs its task, not the run
                    row = failed_row(entry, trace, f"{type(error).__name__}: {error}")
                yield row
        except BaseException:  # Ctrl-C, or the caller stopped early: kill the workers rather than wait for them
            pool.stop()
            raise


def failed_row(entry: SuiteEntry, trace: Path, message: str) -> dict[str, Any]:
    row = {column: "" for column in RESULT_COLUMNS}
    row.update(task_id=entry.task.id, status="error", certified=False, proposals=0, verifier_calls=0,
               message=message, trace=str(trace))
    return row


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def numbers(column: str) -> list[float]:
        return [float(row[column]) for row in rows if str(row.get(column, "")) not in ("", "None")]

    walls = numbers("wall_s")
    statuses = [row["status"] for row in rows]
    solved_by: dict[str, int] = {}
    for row in rows:
        if row["status"] == "solved":
            solved_by[row["solved_by"]] = solved_by.get(row["solved_by"], 0) + 1
    return {
        "tasks": len(rows),
        "solved": statuses.count("solved"),
        "refuted": statuses.count("refuted"),
        "template_wrong": statuses.count("template_wrong"),
        "unsolved": statuses.count("unsolved"),
        "errors": statuses.count("error"),
        "certified": sum(1 for row in rows if str(row.get("certified")) == "True" and row["status"] == "solved"),
        "proposals_mean": statistics.fmean(numbers("proposals")) if rows else 0.0,
        "verifier_calls_mean": statistics.fmean(numbers("verifier_calls")) if rows else 0.0,
        "wall_median_s": statistics.median(walls) if walls else float("nan"),
        "wall_p95_s": percentile(walls, 0.95),
        "solved_by": dict(sorted(solved_by.items())),
    }


def new_run_dir(runs_dir: Path, suite_name: str) -> tuple[str, Path]:
    run_id = new_run_id(suite_name)
    return run_id, runs_dir / run_id


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    write_atomically(run_dir / "run.json", json.dumps(record, indent=2, default=str))


# What must match between a run's run.json and a command that resumes it (workers may differ).
RESUME_KEYS = ("suite", "task_ids", "settings", "model", "model_revision", "dtype")


def record_difference(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first setting in which `current` differs from the run's record, in words; None when all match."""
    for key in RESUME_KEYS:
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for field in sorted(set(old) | set(new)):
                if old.get(field) != new.get(field):
                    return f"{key}.{field} was {old.get(field)!r}, now {new.get(field)!r}"
        elif old != new:
            if key == "task_ids":
                return f"the tasks differ ({len(old or [])} in the run, {len(new or [])} now)"
            return f"{key} was {old!r}, now {new!r}"
    return None
