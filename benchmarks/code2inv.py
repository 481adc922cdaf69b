"""Code2Inv benchmark: solved count and wall time per task for the proposal sources side by side,
plus the bundled model's load time and generation throughput. Writes its figures into BENCHMARKS.md.

    python benchmarks/code2inv.py                 # everything (about an hour on 2 cores, mostly model-only)
    python benchmarks/code2inv.py --tasks 10      # a quick look at the first 10 tasks
    python benchmarks/code2inv.py --skip-model    # only the settings that need no model

Settings: `model only` (--sources llm), `program only` (symbolic,dynamic), `both` (llm,symbolic,dynamic),
and, to show what each program source adds, `text atoms only` (symbolic). Every setting runs the same
tasks in the same process with the model loaded once beforehand, so per-task wall times exclude the
one-time model load, which is measured on its own in fresh processes.
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

from agent.eval import load_suite, percentile  # noqa: E402
from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)
from sections import markers, publish  # noqa: E402
from agent.loop import RunSettings, run_task  # noqa: E402

SETTINGS = {
    "model only": ("llm",),
    "program only": ("symbolic", "dynamic"),
    "both": ("llm", "symbolic", "dynamic"),
    "text atoms only": ("symbolic",),
}
START, END = markers("code2inv")

LOAD_PROBE = """
import time, json
t0 = time.perf_counter()
import torch, transformers
from agent.llm.hf import TransformersProposer
from agent.llm.models import prepare_bundled
t1 = time.perf_counter()
directory = str(prepare_bundled())
t2 = time.perf_counter()
TransformersProposer(directory, "bundled", None)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "cache_lookup_s": t2 - t1, "load_s": t3 - t2}))
"""


def machine() -> dict[str, str]:
    import os

    import psutil
    import torch

    return {"cpu": cpu_model(), "cores": str(os.cpu_count()), "memory_gib": f"{psutil.virtual_memory().total / 2**30:.0f}",
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}


def measure_load(repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", LOAD_PROBE], cwd=REPO, capture_output=True, text=True, timeout=600)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def measure_throughput(prompt, dtypes: list[str], batches: list[int], new_tokens: int) -> list[dict]:
    from agent.llm.base import GenerationSettings
    from agent.llm.hf import TransformersProposer
    from agent.llm.models import prepare_bundled

    rows = []
    directory = str(prepare_bundled())
    for dtype in dtypes:
        proposer = TransformersProposer(directory, "bundled", None, dtype=dtype)
        # No stop strings, so every sample runs its full length and the figure is pure decoding speed.
        settings = GenerationSettings(max_new_tokens=new_tokens, stop=(), seed=0, time_limit_s=600)
        proposer.propose(prompt, 1, settings)  # warm-up
        for batch in batches:
            started = time.perf_counter()
            completions = proposer.propose(prompt, batch, settings)
            elapsed = time.perf_counter() - started
            tokens = sum(completion.tokens for completion in completions)
            rows.append({"dtype": dtype, "samples": batch, "tokens": tokens, "seconds": elapsed,
                         "tokens_per_s": tokens / elapsed})
        del proposer
    return rows


def run_setting(name: str, sources: tuple[str, ...], entries, proposer, runs_dir: Path) -> dict:
    rows = []
    settings = RunSettings(sources=sources, seed=0)
    for entry in entries:
        trace = runs_dir / name.replace(" ", "-") / (entry.task.id.replace("/", "__") + ".jsonl")
        result = run_task(entry.task, settings, proposer if "llm" in sources else None, trace, f"bench-{name}", entry.path)
        rows.append({"task": entry.task.id, "status": result.status, "wall_s": result.wall_s,
                     "solved_by": result.solved_by, "proposals": result.proposals,
                     "verifier_calls": result.verifier_calls, "model_s": result.model_s})
        print(f"  [{name}] {entry.task.id:<16} {result.status:<9} {result.wall_s:7.2f} s  {result.solved_by or ''}", flush=True)
    walls = [row["wall_s"] for row in rows]
    solved_walls = [row["wall_s"] for row in rows if row["status"] == "solved"]
    by: dict[str, int] = {}
    for row in rows:
        if row["status"] == "solved":
            key = row["solved_by"] or "?"
            by[key] = by.get(key, 0) + 1
    return {
        "setting": name, "sources": list(sources), "tasks": len(rows),
        "solved": sum(row["status"] == "solved" for row in rows),
        "refuted": sum(row["status"] == "refuted" for row in rows),
        "unsolved": sum(row["status"] == "unsolved" for row in rows),
        "errors": sum(row["status"] == "error" for row in rows),
        "median_s": statistics.median(walls), "p95_s": percentile(walls, 0.95),
        "median_solved_s": statistics.median(solved_walls) if solved_walls else None,
        "proposals_mean": statistics.fmean(row["proposals"] for row in rows),
        "verifier_calls_mean": statistics.fmean(row["verifier_calls"] for row in rows),
        "solved_by": by, "rows": rows,
    }


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        START,
        f"Run {report['date']} with `python benchmarks/code2inv.py{report['arguments']}` "
        f"({report['elapsed_min']:.0f} min in all).",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), no GPU.",
        "",
        f"### Solved and time per task ({report['tasks']} tasks, seed 0, default budget: "
        f"{report['budget']['max_proposals']} proposals, {report['budget']['samples_per_step']} samples per step, "
        f"{report['budget']['timeout_s']:g} s)",
        "",
        "Wall time per task excludes the one-time model load (the model is loaded before the first task).",
        "",
        "| setting | sources | solved | refuted | unsolved | errors | median s | p95 s | proposals/task | verifier calls/task |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["settings"]:
        lines.append(
            f"| {row['setting']} | {','.join(row['sources'])} | {row['solved']} | {row['refuted']} | {row['unsolved']} | "
            f"{row['errors']} | {row['median_s']:.2f} | {row['p95_s']:.2f} | {row['proposals_mean']:.1f} | "
            f"{row['verifier_calls_mean']:.1f} |")
    lines.append("")
    for row in report["settings"]:
        if row["solved_by"]:
            lines.append(f"- {row['setting']}: solved by " + ", ".join(f"{k} {v}" for k, v in sorted(row["solved_by"].items())))
    if report.get("load"):
        load = report["load"]
        lines += ["", "### Model load (bundled SmolLM2-135M-Instruct, converted once to the cache)", "",
                  "| step | median s (3 fresh processes) |", "|---|---|",
                  f"| import torch + transformers | {load['import_s']:.2f} |",
                  f"| find the cached conversion | {load['cache_lookup_s']:.2f} |",
                  f"| load tokenizer + weights (float32) | {load['load_s']:.2f} |"]
    if report.get("throughput"):
        lines += ["", f"### Generation throughput ({report['throughput'][0]['tokens'] // report['throughput'][0]['samples']} "
                  "new tokens per sample, one batched `generate` call, invariant prompt)", "",
                  "| dtype | samples per batch | tokens/s | s per call |", "|---|---|---|---|"]
        for row in report["throughput"]:
            lines.append(f"| {row['dtype']} | {row['samples']} | {row['tokens_per_s']:.1f} | {row['seconds']:.2f} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="only the first N tasks of the suite")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of: " + ", ".join(SETTINGS))
    parser.add_argument("--skip-model", action="store_true", help="skip load/throughput and the settings that use the model")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    arguments = parser.parse_args()

    started = time.perf_counter()
    _, entries = load_suite(REPO / "tasks" / "code2inv")
    entries = entries[: arguments.tasks] if arguments.tasks else entries
    wanted = [name.strip() for name in arguments.settings.split(",") if name.strip()]
    if arguments.skip_model:
        wanted = [name for name in wanted if "llm" not in SETTINGS[name]]
    report: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "tasks": len(entries),
                    "budget": entries[0].task.budget.model_dump(), "settings": [],
                    "arguments": "".join(f" {a}" for a in sys.argv[1:])}
    proposer = None
    if not arguments.skip_model:
        from agent.llm import load_proposer
        from agent.prompts import render_prompt

        print("measuring model load ...", flush=True)
        report["load"] = measure_load(3)
        task = entries[0].task
        prompt = render_prompt("invariant", program=task.program, description="", variables=task.variables,
                               proved=[], attempts=[])
        print("measuring throughput ...", flush=True)
        report["throughput"] = measure_throughput(prompt, ["float32", "bfloat16", "int8"], [1, 8], 32)
        proposer = load_proposer("bundled")
        proposer.load()
    with tempfile.TemporaryDirectory(prefix="veriloop-bench-") as runs:
        for name in wanted:
            report["settings"].append(run_setting(name, SETTINGS[name], entries, proposer, Path(runs)))
    report["elapsed_min"] = (time.perf_counter() - started) / 60
    output = REPO / "benchmarks" / "results"
    output.mkdir(exist_ok=True)
    (output / "code2inv.json").write_text(json.dumps(report, indent=2))
    publish(markdown(report), "code2inv", write=not arguments.no_write)


if __name__ == "__main__":
    main()
