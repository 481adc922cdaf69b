"""How much time the Lean REPL client itself adds to each request (no Lean involved).

A tactic search sends thousands of small requests, so the client's own cost per request matters. Both
clients below talk to the same recorded-transcript player (tests/lean_replay_server.py) standing in for
the REPL process, over the REPL's framing, for every transcript in ../shared/data/lean_repl:

- baseline: a bare pipe client (write the JSON and a blank line, read lines up to a blank line, json.loads);
- driver: `verifiers.lean.repl.ReplProcess` (LeanInteract's process start, framing with a reader thread per
  request and its typed models, plus the restart policy and the memory check after each request).

    python benchmarks/lean_repl_client.py [--rounds N] [--quick]

Prints per-request times (median, p95) and the process start times of both, for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.lean_support import recorded, replay_project, replies_of, transcripts  # noqa: E402
from tests.test_lean_repl_replay import typed_request  # noqa: E402
from verifiers.lean.repl import ReplProcess  # noqa: E402


def baseline(commands: Path, workdir: Path) -> tuple[float, list[float]]:
    project, repl_dir = replay_project(workdir, commands)
    started = time.perf_counter()
    process = subprocess.Popen([str(project.lake), "env", str(repl_dir / ".lake/build/bin/repl")], cwd=project.root,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    start_s = time.perf_counter() - started
    times = []
    for command in recorded(commands)[0]:
        begin = time.perf_counter()
        process.stdin.write(json.dumps(command, ensure_ascii=False) + "\n\n")
        process.stdin.flush()
        lines = []
        while True:
            line = process.stdout.readline()
            if not line.strip():
                break
            lines.append(line)
        json.loads("".join(lines))
        times.append(time.perf_counter() - begin)
    process.stdin.close()
    process.wait(timeout=10)
    return start_s, times


def driver(commands: Path, workdir: Path) -> tuple[float, list[float]]:
    project, repl_dir = replay_project(workdir, commands)
    process = ReplProcess(project, repl_dir, memory_limit_mb=1 << 20)
    requests = [typed_request(command) for command in recorded(commands)[0]]
    started = time.perf_counter()
    process._ensure_started()
    start_s = time.perf_counter() - started
    times = []
    for request in requests:
        begin = time.perf_counter()
        process.request(request, 30.0)
        times.append(time.perf_counter() - begin)
    process.close()
    return start_s, times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5, help="passes over all transcripts")
    parser.add_argument("--quick", action="store_true", help="one round over the first 10 transcripts")
    arguments = parser.parse_args()
    data = REPO.parent / "shared" / "data"
    files = [path for path in transcripts(data) if replies_of(path)]
    rounds = arguments.rounds
    if arguments.quick:
        files, rounds = files[:10], 1
    results: dict[str, tuple[list[float], list[float]]] = {"baseline (bare pipe)": ([], []), "driver": ([], [])}
    began = time.perf_counter()
    for _ in range(rounds):
        for path in files:
            for name, run in (("baseline (bare pipe)", baseline), ("driver", driver)):
                with tempfile.TemporaryDirectory() as folder:
                    start_s, times = run(path, Path(folder))
                results[name][0].append(start_s)
                results[name][1].extend(times)
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}; "
          f"{len(files)} transcripts x {rounds} round(s); {time.perf_counter() - began:.1f} s in all")
    print("| client | requests | per request median ms | p95 ms | process start median ms |")
    print("|---|---:|---:|---:|---:|")
    for name, (starts, times) in results.items():
        ordered = sorted(times)
        p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
        print(f"| {name} | {len(times)} | {statistics.median(times) * 1e3:.2f} | {p95 * 1e3:.2f} | "
              f"{statistics.median(starts) * 1e3:.1f} |")


if __name__ == "__main__":
    main()
