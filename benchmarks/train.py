"""The model alone on tasks never trained on: the bundled model against fine-tuned ones, side by side.

    python benchmarks/train.py --models bundled,models/c2i-symbolic --suite tasks/lam4inv --limit 10
    python benchmarks/train.py --runs runs/train-bench/RUN_A,runs/train-bench/RUN_B   # figures of finished runs

Without `--runs` it starts one `python -m agent eval SUITE --sources llm` per model, all at the same time
(so each meets the same load on a shared machine), waits for them, and compares. The comparison is
over the tasks every run finished (a run stopped early still counts on the tasks it did): solved,
share of the model's proposals that parse, share accepted, proposals per solved task, tokens/s.
With `--write` the table replaces the `train` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.train.iterate import finished_tasks, run_figures  # noqa: E402

START, END = "<!-- train:start -->", "<!-- train:end -->"


def run_evals(models: list[str], suite: Path, limit: int, max_proposals: int, samples: int, timeout: float, dtype: str,
              runs_dir: Path) -> list[Path]:
    """One eval per model, started together; each writes into its own folder under `runs_dir`."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folders, processes = [], []
    for index, model in enumerate(models):
        folder = runs_dir / f"{stamp}-{index}"
        command = [sys.executable, "-m", "agent", "eval", str(suite), "--sources", "llm", "--limit", str(limit),
                   "--max-proposals", str(max_proposals), "--samples", str(samples), "--timeout", str(timeout),
                   "--dtype", dtype, "--model", model,
                   "--runs-dir", str(folder), "--quiet"]
        processes.append(subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}))
        folders.append(folder)
    for process in processes:
        process.wait()
    return [next(folder.iterdir()) for folder in folders]


def table(runs: list[Path]) -> tuple[str, set[str]]:
    common = set.intersection(*(finished_tasks(run) for run in runs))
    lines = ["| model | tasks | solved | parse share | accepted share | proposals per solved task | tokens/s | median s/task | solved by |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        record = json.loads((run / "run.json").read_text())
        figures = run_figures(run, common)
        solved_by = ", ".join(f"{name} {count}" for name, count in figures["solved_by"].items()) or "-"
        lines.append(f"| {record['model']} | {figures['tasks']} | **{figures['solved']}** | {figures['parse_share']} | "
                     f"{figures['accepted_share']} | {figures['proposals_per_solved'] or '-'} | {figures['tokens_per_s']} | "
                     f"{figures['wall_median_s']} | {solved_by} |")
    return "\n".join(lines), common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bundled", help="comma-separated --model values")
    parser.add_argument("--runs", default=None, help="comma-separated finished eval run folders to compare instead")
    parser.add_argument("--suite", type=Path, default=REPO / "tasks" / "lam4inv")
    parser.add_argument("--limit", type=int, default=10, help="the suite's first N tasks")
    parser.add_argument("--max-proposals", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2, help="model samples per step")
    parser.add_argument("--dtype", default="int8", help="the models' --dtype (int8: fastest on a CPU)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per task (generous: a loaded machine)")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "train-bench")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    arguments = parser.parse_args()
    if arguments.runs:
        runs = [Path(part) for part in arguments.runs.split(",")]
    else:
        runs = run_evals(arguments.models.split(","), arguments.suite, arguments.limit, arguments.max_proposals,
                         arguments.samples, arguments.timeout, arguments.dtype, arguments.runs_dir)
    text, common = table(runs)
    load = os.getloadavg()
    settings = json.loads((runs[0] / "run.json").read_text())["settings"]
    header = (f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/train.py` on {platform.machine()}, "
              f"{os.cpu_count()} cores (load average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}); "
              f"{len(common)} tasks every run finished; sources llm only, {settings['max_proposals']} proposals "
              f"({settings['samples']} samples per step) and {settings['timeout_s']:g} s per task, seed {settings['seed']}, "
              f"dtype {json.loads((runs[0] / 'run.json').read_text())['dtype']}. Runs: "
              + ", ".join(f"`{run.name}`" for run in runs) + ".")
    print(header + "\n\n" + text)
    if arguments.write:
        path = REPO / "BENCHMARKS.md"
        content = path.read_text()
        block = f"{START}\n{header}\n\n{text}\n{END}"
        if START in content:
            content = content[: content.index(START)] + block + content[content.index(END) + len(END):]
        else:
            content += "\n" + block + "\n"
        path.write_text(content)


if __name__ == "__main__":
    main()
