"""Suite throughput by executor: the same Code2Inv tasks run by `python -m agent eval` with 1 and 2 local
workers and with 2 workers on Ray (`--ray`: a local Ray started by the eval, and a cluster already
running), side by side in one run, with the machine's load.

    python benchmarks/eval_workers.py [--tasks N] [--configs 1,2,ray2,cluster2] [--rounds R] [--sources symbolic,dynamic]

Each round runs every configuration once; round 2 runs them in the reverse order, round 3 in the first
order again, and so on, so that a load that drifts during the run weighs on every configuration alike.
Prints a Markdown table for BENCHMARKS.md: the median wall time of the whole eval over the rounds ("ray":
with starting and stopping the local Ray; "cluster": connecting to one already running), speed-up over one local worker, Ray against the local
pool with as many workers, the seconds the tasks took inside the command (without start-up), whether every configuration reached the same status on every task, and the
load average (`uptime`) before each configuration's runs."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def parse_config(text: str) -> tuple[int, str]:
    """"2" -> two local workers; "ray2" -> two workers on a local Ray that the eval starts and stops;
    "cluster2" -> two workers on a Ray cluster already running (`ray start --head`, started once by the
    benchmark, as a user with a cluster has one)."""
    for executor in ("cluster", "ray"):
        if text.startswith(executor):
            return int(text.removeprefix(executor) or 1), executor
    return int(text), "pool"


def label(workers: int, executor: str) -> str:
    return {"pool": "local pool", "ray": "Ray, started by the eval", "cluster": "Ray cluster, already running"}[
        executor] + f", {workers} worker(s)"


@contextlib.contextmanager
def running_cluster(cpus: int) -> Iterator[str]:
    """A local Ray cluster for the "cluster" configurations, started once: its address."""
    ray = [str(Path(sys.executable).parent / "ray")]
    port = "6391"
    subprocess.run([*ray, "start", "--head", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "RAY_worker_niceness": "0"})
    try:
        yield f"127.0.0.1:{port}"  # the eval connects with RAY_AUTH_MODE=token (Ray >= 2.59 default)
    finally:
        subprocess.run([*ray, "stop", "--force"], capture_output=True, timeout=300)


def run(suite: Path, workers: int, executor: str, sources: str, runs: Path,
        cluster: str | None) -> tuple[float, float, dict[str, str]]:
    """Wall seconds of the whole `agent eval` command (for Ray: with starting and stopping Ray), the seconds
    the tasks took within it (summary.json's `elapsed_s`: from the first task handed out to the last
    row), and the statuses."""
    before = set(runs.iterdir()) if runs.exists() else set()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "agent", "eval", str(suite), "--workers", str(workers), "--sources", sources,
                    "--runs-dir", str(runs), "--quiet",
                    *{"pool": [], "ray": ["--ray"], "cluster": ["--ray", str(cluster)]}[executor]], cwd=REPO, check=True,
                   capture_output=True, timeout=7200,
                   env={**os.environ, "PYTHONPATH": str(REPO), **({"RAY_AUTH_MODE": "token"} if cluster else {})})
    elapsed = time.perf_counter() - started
    run_dir = next(iter(set(runs.iterdir()) - before))
    with (run_dir / "results.csv").open(newline="") as handle:
        statuses = {row["task_id"]: row["status"] for row in csv.DictReader(handle)}
    in_run = json.loads((run_dir / "summary.json").read_text())["elapsed_s"]
    return elapsed, in_run, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=0, help="the first N Code2Inv tasks (default: all)")
    parser.add_argument("--configs", default="1,2,ray2,cluster2",
                        help="comma-separated: N local workers, rayN (a local Ray the eval starts), clusterN "
                             "(a Ray cluster already running)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every configuration, in alternating order")
    parser.add_argument("--sources", default="symbolic,dynamic", help="proposal sources (default: no model)")
    arguments = parser.parse_args()
    configs = [parse_config(part.strip()) for part in arguments.configs.split(",")]
    walls: dict[tuple[int, str], list[float]] = {config: [] for config in configs}
    task_walls: dict[tuple[int, str], list[float]] = {config: [] for config in configs}
    loads: dict[tuple[int, str], list[float]] = {config: [] for config in configs}
    statuses: dict[tuple[int, str], list[dict[str, str]]] = {config: [] for config in configs}
    cluster_cpus = max((workers for workers, executor in configs if executor == "cluster"), default=0)
    with tempfile.TemporaryDirectory() as work, \
            (running_cluster(cluster_cpus) if cluster_cpus else contextlib.nullcontext()) as cluster:
        suite = Path(work) / "suite"
        suite.mkdir()
        tasks = sorted((p for p in (REPO / "tasks" / "code2inv").glob("*.yaml") if p.stem.isdigit()),
                       key=lambda p: int(p.stem))[: arguments.tasks or None]
        for task in tasks:
            (suite / task.name).write_bytes(task.read_bytes())
        for number in range(arguments.rounds):
            for config in (configs if number % 2 == 0 else configs[::-1]):
                loads[config].append(os.getloadavg()[0])
                elapsed, in_run, reached = run(suite, *config, arguments.sources, Path(work) / "runs", cluster)
                walls[config].append(elapsed)
                task_walls[config].append(in_run)
                statuses[config].append(reached)
                print(f"round {number + 1}: {label(*config)}: {elapsed:.1f} s, load {loads[config][-1]:.1f}",
                      file=sys.stderr, flush=True)
    reference = statuses[configs[0]][0]
    median = {config: statistics.median(values) for config, values in walls.items()}
    task_median = {config: statistics.median(values) for config, values in task_walls.items()}
    baseline = median.get((1, "pool")) or median[configs[0]]
    print(f"{len(tasks)} Code2Inv tasks, sources {arguments.sources}, {arguments.rounds} round(s); {cpu_model()}, "
          f"{os.cpu_count()} CPUs")
    print("\n| executor | wall s (median) | runs | speed-up over 1 local worker | vs local pool, same workers "
          "| tasks' s (median; Ray: vs pool) | same statuses | load average before |\n|---|---|---|---|---|---|---|---|")
    for config in configs:
        workers, executor = config
        on_ray = executor != "pool"
        pool = median.get((workers, "pool"))
        versus = f"{median[config] / pool:.2f}x the time" if on_ray and pool else "-"
        pool_tasks = task_median.get((workers, "pool"))
        tasks_versus = f" ({task_median[config] / pool_tasks:.2f}x)" if on_ray and pool_tasks else ""
        same = all(reached == reference for reached in statuses[config])
        print(f"| {label(*config)} | {median[config]:.1f} | {', '.join(f'{v:.1f}' for v in walls[config])} "
              f"| {baseline / median[config]:.2f}x | {versus} | {task_median[config]:.1f}{tasks_versus} "
              f"| {'yes' if same else 'NO'} "
              f"| {', '.join(f'{v:.1f}' for v in loads[config])} |")


if __name__ == "__main__":
    main()
