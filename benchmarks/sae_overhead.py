"""Generation time with the SAE hook (`--sae`) against without it, side by side in one run.

Each round samples the same invariant prompt (Code2Inv task 38) once without the hook and once with it (feature
recording and the random-SAE control, as `--sae` does), in alternating order, so the shared machine's load falls on
both alike. Figures: median seconds per batched call and the overhead of the medians. Target: at most 15%.

    python benchmarks/sae_overhead.py runs/sae --rounds 5 --samples 4
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu import cpu_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sae", nargs="?", default="bundled", help="an SAE folder, or bundled (the shipped one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=24, help="new tokens per sample")
    parser.add_argument("--task", type=Path, default=ROOT / "tasks" / "code2inv" / "38.yaml")
    arguments = parser.parse_args()
    import torch

    from agent.llm.base import GenerationSettings
    from agent.llm.hf import TransformersProposer
    from agent.llm.models import resolve
    from agent.prompts import render_prompt
    from agent.sae.hook import load_hook
    from agent.tasks import load_task

    task = load_task(arguments.task)
    prompt = render_prompt("invariant", program=task.program, description=task.description,
                           variables=task.variables, proved=[], attempts=[])
    resolved = resolve(None)
    proposer = TransformersProposer(resolved.location, resolved.name, resolved.revision)
    hook = load_hook(str(arguments.sae))
    # No stop strings and no time limit in reach: every call writes the same number of tokens.
    settings = GenerationSettings(seed=0, stop=(), max_new_tokens=arguments.tokens, time_limit_s=3600)
    times: dict[str, list[float]] = {"without hook": [], "with --sae hook": []}
    proposer.propose(prompt, arguments.samples, settings)  # warm-up
    for round_number in range(arguments.rounds):
        order = [None, hook] if round_number % 2 == 0 else [hook, None]
        for current in order:
            proposer.sae_hook = current
            started = time.perf_counter()
            completions = proposer.propose(prompt, arguments.samples, settings)
            assert all(c.finish_reason != "time" for c in completions)
            times["with --sae hook" if current else "without hook"].append(time.perf_counter() - started)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}, "
          f"Python {platform.python_version()}; {arguments.rounds} rounds, {arguments.samples} samples x "
          f"{settings.max_new_tokens} tokens per call")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:<16} median {medians[name]:.3f} s  (min {min(values):.3f}, max {max(values):.3f})")
    overhead = medians["with --sae hook"] / medians["without hook"] - 1
    print(f"overhead of the medians: {100 * overhead:+.1f}% (target <= 15%: {'met' if overhead <= 0.15 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
