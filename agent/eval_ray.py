"""Suites on Ray (`python -m agent eval SUITE --ray [ADDRESS]`, the optional extra `veriloop[ray]`).

Each task is one Ray task. It runs the task in a Ray worker process (which builds its proposer once and
keeps it for the tasks it serves after), writes the trace into a scratch folder there, and returns the
results row and the trace's text; this process writes both into the run folder, through the same
results writer as the local pool, so a Ray run reads, resumes and reports like any other.

At most `workers` tasks are in flight at once, so a task's clock starts when it is handed out; one that
overruns its limit (its budget plus WORKER_GRACE_S) is cancelled with its worker process killed, and
its row says so. Ctrl-C cancels every task in flight and stops a Ray that was started here.

Ray workers load task files by path: on a cluster of several machines, the suite and its task files
must be at the same path on every node (a shared file system), and veriloop installed there.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.eval import SuiteEntry, WorkerSetup, failed_row, run_one, task_limit_s, trace_name
from agent.files import write_atomically
from agent.loop import RunSettings

# The object store only carries rows and trace texts: keep its shared-memory share small.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0
WORKER_NICENESS_VARIABLE = "RAY_worker_niceness"


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached (a one-line error for the user)."""


@contextmanager
def ray_session(address: str, workers: int) -> Iterator[None]:
    """Ray, connected: `address` "local" starts one here with `workers` CPUs (stopped again afterwards),
    anything else is a cluster's address ("auto", "host:6379", "ray://host:10001"). Nothing is done
    when this process is already connected."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--ray needs Ray: pip install 'veriloop[ray]'") from None
    if ray.is_initialized():
        yield
        return
    if address not in ("local", "auto"):
        _probe(address)
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address == "local":
            # Ray's workers would run 15 nice levels below this process; the local pool's run at its level.
            os.environ.setdefault(WORKER_NICENESS_VARIABLE, "0")
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as error:
        hint = ""
        if address not in ("local", "auto") and not os.environ.get("RAY_AUTH_MODE"):
            # Ray >= 2.59 starts clusters with token authentication; a client given a bare address does
            # not know that, and Ray only logs the refusal.
            hint = " (a cluster with token authentication needs RAY_AUTH_MODE=token, and its token in " \
                   "RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        raise RayUnavailable(f"--ray {address}: cannot connect: {_first_line(error)}{hint}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _probe(address: str) -> None:
    """Refuse an address where nothing answers, at once: ray.init itself keeps retrying for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray {address}: not an address (auto, host:port or ray://host:port)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayUnavailable(f"--ray {address}: nothing answers there ({error.strerror or error})") from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# Ray-worker state: proposers built in this worker process, by setup.
_proposers: dict[WorkerSetup, Any] = {}


def _ray_task(task_path: str, settings_json: str, trace_file: str, run_id: str,
              setup: WorkerSetup) -> tuple[dict[str, Any], str]:
    """Runs in a Ray worker: the task's results row and its trace's text."""
    if setup not in _proposers:
        _proposers[setup] = setup.proposer()
    with tempfile.TemporaryDirectory(prefix="veriloop-ray-") as scratch:
        trace = Path(scratch) / trace_file
        row = run_one(task_path, settings_json, str(trace), run_id, _proposers[setup])
        return row, trace.read_text(encoding="utf-8")


def ray_rows(pending: list[SuiteEntry], settings: RunSettings, run_dir: Path, run_id: str, setup: WorkerSetup,
             workers: int, address: str) -> Iterator[dict[str, Any]]:
    """The pending entries as Ray tasks, `workers` at a time; each row (its trace written into run_dir)
    in completion order."""
    with ray_session(address, workers):
        import ray

        from verifiers.sandbox import ALLOW_UNSANDBOXED_VARIABLE

        # The sandbox's opt-out reaches workers on other machines too.
        forwarded = {name: os.environ[name] for name in (ALLOW_UNSANDBOXED_VARIABLE,) if name in os.environ}
        remote = ray.remote(_ray_task).options(num_cpus=1, max_retries=0,
                                               runtime_env={"env_vars": forwarded} if forwarded else None)
        waiting = list(pending)
        # Each worker has one more task queued behind the one it runs, so that it never waits for a round trip
        # to the driver between tasks. A task's deadline starts when it is taken to run: at submission for the
        # first `workers`, later for a queued one, when a task ahead of it ends (Ray runs them first come, first
        # served).
        in_flight: dict[Any, tuple[SuiteEntry, Path]] = {}
        deadlines: dict[Any, float] = {}
        try:
            while waiting or in_flight:
                while waiting and len(in_flight) < 2 * workers:
                    entry = waiting.pop(0)
                    trace = run_dir / "traces" / trace_name(entry.task.id)
                    reference = remote.remote(str(entry.path), settings.model_dump_json(), trace.name, run_id, setup)
                    in_flight[reference] = (entry, trace)
                for reference, (entry, _) in in_flight.items():
                    if len(deadlines) < workers and reference not in deadlines:
                        deadlines[reference] = time.monotonic() + task_limit_s(entry, settings)
                soonest = min(deadlines.values())
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=max(0.0, soonest - time.monotonic()))
                for reference in done:
                    entry, trace = in_flight.pop(reference)
                    deadlines.pop(reference, None)
                    try:
                        row, trace_text = ray.get(reference)
                    except Exception as error:  # a crashed task costs itself, not the run
                        yield failed_row(entry, trace, f"{type(error).__name__}: {_first_line(error)}")
                        continue
                    write_atomically(trace, trace_text)
                    yield {**row, "trace": str(trace)}
                now = time.monotonic()
                for reference, deadline in list(deadlines.items()):
                    if deadline <= now:
                        entry, trace = in_flight.pop(reference)
                        del deadlines[reference]
                        ray.cancel(reference, force=True)
                        yield failed_row(entry, trace, "the Ray task overran its time limit and was cancelled")
        finally:  # Ctrl-C, or the caller stopped early
            for reference in in_flight:
                ray.cancel(reference, force=True)
