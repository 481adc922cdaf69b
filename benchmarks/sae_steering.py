"""Steering experiment: does adding an SAE feature's direction change how often proposals parse and are accepted?

1. Pick: on the "pick" tasks (from an eval run made with `--sae`), the feature whose mean activation over a
   proposal's tokens is most higher in proposals that parse than in those that do not (Hedges' g, `agent sae report`'s
   statistics) — chosen on those tasks only.
2. Steer, on the other tasks ("held-out"): one batched call of `--samples` proposals per task for the first prompt
   (no feedback yet) under each condition, with the same seed:
   - none: no steering;
   - chosen: the chosen feature's decoder direction added at every position (`F+=VALUE`);
   - random: as many random features, each scaled so the added vector has the chosen one's norm.
3. Every proposal goes to the real invariant verifier. Rates of parsing and of acceptance per condition, with a 95%
   CI from a bootstrap over tasks.

    python benchmarks/sae_steering.py runs/EVAL_RUN --sae runs/sae --value 4 --samples 6 --tasks 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu import cpu_model  # noqa: E402


def rate_with_ci(outcomes: dict[str, list[bool]], rng: np.random.Generator) -> tuple[float, float, float]:
    tasks = list(outcomes)
    values = [value for task in tasks for value in outcomes[task]]
    boots = []
    for _ in range(1000):
        drawn = rng.choice(len(tasks), size=len(tasks))
        sample = [value for index in drawn for value in outcomes[tasks[index]]]
        boots.append(np.mean(sample) if sample else 0.0)
    return float(np.mean(values)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an eval run folder made with --sae (features and verdicts)")
    parser.add_argument("--sae", default="bundled", help="an SAE folder, or bundled (the shipped one)")
    parser.add_argument("--suite", type=Path, default=ROOT / "tasks" / "code2inv")
    parser.add_argument("--value", type=float, default=4.0, help="how much of the feature's direction is added")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=10, help="held-out tasks steered")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generation-limit", type=float, default=600.0,
                        help="seconds per batched call (out of reach, so that no condition's proposals are cut)")
    arguments = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")

    from agent.eval import load_suite
    from agent.llm.base import GenerationSettings
    from agent.llm.hf import TransformersProposer
    from agent.llm.models import resolve
    from agent.prompts import render_prompt
    from agent.sae import report
    from agent.sae.hook import SAEHook, Steer, feature_direction, sae_folder
    from agent.sae.train import load_sae
    from agent.search.invariant import extract_candidate
    from verifiers.base import REGISTRY, VerifyBudget

    data = report.load_proposals([arguments.run])
    pick_tasks = sorted(set(data.task))
    kind = np.array(data.kind)
    parses = kind != "does not parse"
    matrix, columns = report.dense(data.sae)
    table = report.feature_table(matrix, columns, parses, np.array(data.task), arguments.seed)
    table = table[table.g > 0].sort_values("g", ascending=False)
    if not len(table):
        print("no feature is higher in parsing proposals on the pick tasks; nothing to steer")
        return 1
    chosen = int(table.iloc[0].feature)
    sae = load_sae(sae_folder(arguments.sae))
    rng = np.random.default_rng(arguments.seed)
    chosen_norm = float(feature_direction(sae, chosen).norm())
    random_features = [int(f) for f in rng.choice(sae.cfg.d_sae, size=1, replace=False) if f != chosen] or [0]
    random_steer = tuple(Steer(f, arguments.value * chosen_norm / float(feature_direction(sae, f).norm()), "add")
                         for f in random_features)
    conditions = {"none": (), f"chosen feature {chosen}": (Steer(chosen, arguments.value, "add"),),
                  f"random feature {random_features[0]} (same norm)": random_steer}

    _, entries = load_suite(arguments.suite)
    held_out = [entry for entry in entries if entry.task.id not in pick_tasks and entry.task.kind == "invariant"]
    held_out = held_out[: arguments.tasks]
    resolved = resolve(None)
    proposer = TransformersProposer(resolved.location, resolved.name, resolved.revision)
    verifier = REGISTRY.for_kind("invariant")
    results: dict[str, dict[str, dict[str, list[bool]]]] = {name: {"parse": {}, "accept": {}} for name in conditions}
    started = time.perf_counter()
    for entry in held_out:
        task = entry.task
        prompt = render_prompt("invariant", program=task.program, description=task.description,
                               variables=task.variables, proved=[], attempts=[])
        for name, steer in conditions.items():
            proposer.sae_hook = SAEHook(sae, str(sae_folder(arguments.sae)), steer=steer) if steer else None
            settings = GenerationSettings(seed=arguments.seed, max_new_tokens=task.budget.max_new_tokens,
                                          time_limit_s=arguments.generation_limit)
            completions = proposer.propose(prompt, arguments.samples, settings)
            cut = sum(completion.finish_reason == "time" for completion in completions)
            if cut:
                print(f"  {task.id} {name}: {cut} proposals cut by the time limit", flush=True)
            verdicts = [verifier.verify(task, extract_candidate(c.text), VerifyBudget(timeout_s=30)) for c in completions]
            results[name]["parse"][task.id] = [report.rejection_kind(v.model_dump(mode="json")) != "does not parse"
                                               for v in verdicts]
            results[name]["accept"][task.id] = [v.status == "accepted" for v in verdicts]
            print(f"  {task.id} {name}: parse {sum(results[name]['parse'][task.id])}/{len(verdicts)}, accepted "
                  f"{sum(results[name]['accept'][task.id])} ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores (shared), {time.perf_counter() - started:.0f} s")
    print(f"picked on {len(pick_tasks)} tasks of {arguments.run.name}: feature {chosen} "
          f"(g = {table.iloc[0].g:+.2f} for parses vs does not parse, q = {table.iloc[0].q:.3g}); steered on "
          f"{len(held_out)} other tasks x {arguments.samples} samples, value {arguments.value} "
          f"(added norm {arguments.value * chosen_norm:.2f})")
    print("| condition | proposals | parse rate [95% CI] | accept rate [95% CI] |")
    print("|---|---|---|---|")
    for name in conditions:
        parse = rate_with_ci(results[name]["parse"], rng)
        accept = rate_with_ci(results[name]["accept"], rng)
        count = sum(len(values) for values in results[name]["parse"].values())
        print(f"| {name} | {count} | {parse[0]:.2f} [{parse[1]:.2f}, {parse[2]:.2f}] | "
              f"{accept[0]:.2f} [{accept[1]:.2f}, {accept[2]:.2f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
