"""Grammar-constrained decoding side by side: the bundled model alone (`--sources llm`) with and without
`--constrained`, on the same tasks in one run, A/B interleaved (the order alternates task by task).

    python benchmarks/constrained.py                        # 4 Code2Inv + 4 LaM4Inv programs, 8 proposals each
    python benchmarks/constrained.py --per-suite 2 --no-write
    python benchmarks/constrained.py --report-only          # rewrite the BENCHMARKS.md section from the JSON

Per arm: share of the model's proposals that parse (the verifier's parse stage passed: the text is a
well-typed boolean expression over the program's variables), share accepted, tasks solved, proposals
per solved task, and generation throughput (tokens written / seconds in the model). The load average
is read before and after every task: the machine may be shared. Tasks are evenly spaced picks from
each suite (every k-th file), none of which the bundled model was trained on. Figures go to
benchmarks/results/constrained.json (rewritten after every task) and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.eval import load_suite  # noqa: E402
from agent.loop import RunSettings, run_task  # noqa: E402
from agent.trace import ProposalEvent, VerdictEvent, read_trace  # noqa: E402
from cpu import cpu_model  # noqa: E402  (benchmarks/, the script's own folder)
from sections import markers, publish  # noqa: E402

ARMS = {"free": False, "constrained": True}
START, END = markers("constrained")
RESULTS = REPO / "benchmarks" / "results" / "constrained.json"


class GenerousClock:
    """The proposer with each call's time limit raised to `limit_s` (the loop's own is 60 s): on a shared,
    loaded machine the prefill alone can take most of a minute, and a call cut after a token or two
    measures the load, not the decoding. The task's own time limit still bounds everything."""

    def __init__(self, proposer, limit_s: float) -> None:
        self.proposer, self.limit_s = proposer, limit_s
        self.info = proposer.info

    def propose(self, prompt, n, settings):
        return self.proposer.propose(prompt, n, settings.model_copy(update={"time_limit_s": self.limit_s}))

    def grammar_backend(self):
        return self.proposer.grammar_backend()


def pick(entries: list, count: int) -> list:
    """`count` entries evenly spaced over the sorted suite."""
    if count >= len(entries):
        return entries
    step = len(entries) / count
    return [entries[int(index * step)] for index in range(count)]


def trace_figures(path: Path) -> dict:
    """The model's proposals in one trace and what the verifier said of each (its first verdict)."""
    events = read_trace(path)
    llm = {event.id: event for event in events if isinstance(event, ProposalEvent) and event.source == "llm"}
    first: dict[int, VerdictEvent] = {}
    for event in events:
        if isinstance(event, VerdictEvent) and event.proposal_id in llm and event.round is None:
            first.setdefault(event.proposal_id, event)
    verified = [first[key] for key in llm if key in first]
    parse_rejected = [v for v in verified if getattr(v.verdict.details, "stage", None) == "parse"]
    return {"proposals": len(llm), "verified": len(verified), "parsed": len(verified) - len(parse_rejected),
            "accepted": sum(v.verdict.status == "accepted" for v in verified),
            "tokens": sum(event.tokens or 0 for event in llm.values()),
            "examples": [llm[v.proposal_id].raw for v in parse_rejected[:2]]}


def run(arguments: argparse.Namespace) -> dict:
    from agent.llm import load_proposer

    tasks = []
    for suite in arguments.suites:
        _, entries = load_suite(REPO / "tasks" / suite)
        tasks += pick(entries, arguments.per_suite)
    loaded = load_proposer("bundled", threads=arguments.threads)
    loaded.load()
    proposer = GenerousClock(loaded, arguments.call_limit)
    runs_dir = Path(tempfile.mkdtemp(prefix="constrained-bench-"))
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "arguments": " ".join(sys.argv[1:]),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                          "torch_threads": arguments.threads},
              "budget": {"max_proposals": arguments.max_proposals, "timeout_s": arguments.timeout,
                         "call_limit_s": arguments.call_limit},
              "rows": []}
    started = time.perf_counter()
    for index, entry in enumerate(tasks):
        order = list(ARMS) if index % 2 == 0 else list(reversed(ARMS))
        for arm in order:
            settings = RunSettings(sources=("llm",), seed=arguments.seed, max_proposals=arguments.max_proposals,
                                   timeout_s=arguments.timeout,
                                   strategies={"invariant": {"constrained": ARMS[arm]}})
            trace = runs_dir / arm / (entry.task.id.replace("/", "__") + ".jsonl")
            load_before = os.getloadavg()[0]
            result = run_task(entry.task, settings, proposer, trace, f"bench-{arm}", entry.path)
            row = {"task": entry.task.id, "arm": arm, "status": result.status, "solved_by": result.solved_by,
                   "wall_s": result.wall_s, "model_s": result.model_s,
                   "load": [round(load_before, 2), round(os.getloadavg()[0], 2)], **trace_figures(trace)}
            report["rows"].append(row)
            print(f"  {entry.task.id:<16} {arm:<12} {result.status:<9} {row['parsed']}/{row['verified']} parsed "
                  f"{row['accepted']} accepted  {result.wall_s:7.1f} s  load {row['load']}", flush=True)
        report["elapsed_min"] = (time.perf_counter() - started) / 60
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2))
    return report


def processor_overhead(repeats: int = 5) -> dict:
    """Milliseconds the grammar processor adds to one decoding step of a batch of 4 (its masks and their
    application on the bundled model's 49,152-token vocabulary), fed a real invariant token by token."""
    import torch

    from agent.llm.constrained import GrammarLogitsProcessor, grammar_tokenizer, invariant_grammar
    from agent.llm.models import prepare_bundled
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(prepare_bundled()), local_files_only=True)
    grammar_tokens = grammar_tokenizer(tokenizer, len(tokenizer))
    grammar = invariant_grammar(["x", "y", "n"])
    tokens = tokenizer("x <= n && y >= 0 && x + y == n", add_special_tokens=False)["input_ids"]
    scores = torch.randn(4, len(tokenizer))
    per_step = []
    for _ in range(repeats):
        processor = GrammarLogitsProcessor(grammar_tokens, grammar, 4, 1)
        ids = torch.zeros(4, 1, dtype=torch.long)
        started = time.perf_counter()
        for token in tokens:
            processor(ids, scores.clone())
            ids = torch.cat([ids, torch.full((4, 1), token)], dim=1)
        per_step.append((time.perf_counter() - started) / len(tokens) * 1000)
    return {"median_ms": sorted(per_step)[len(per_step) // 2], "load": round(os.getloadavg()[0], 2)}


def summary(rows: list[dict]) -> dict:
    verified = sum(row["verified"] for row in rows)
    solved = sum(row["status"] == "solved" for row in rows)
    proposals = sum(row["proposals"] for row in rows)
    model_s = sum(row["model_s"] for row in rows)
    return {"tasks": len(rows), "solved": solved, "proposals": proposals, "verified": verified,
            "parsed": sum(row["parsed"] for row in rows), "accepted": sum(row["accepted"] for row in rows),
            "per_solved": proposals / solved if solved else None,
            "tokens_per_s": sum(row["tokens"] for row in rows) / model_s if model_s else 0.0}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def markdown(report: dict) -> str:
    m = report["machine"]
    rows = report["rows"]
    tasks = sorted({row["task"] for row in rows})
    loads = [value for row in rows for value in row["load"]]
    lines = [START,
             f"Run {report['date']} with `python benchmarks/constrained.py {report['arguments']}`".rstrip() +
             f" ({report.get('elapsed_min', 0):.0f} min). Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
             f"torch with {m['torch_threads']} thread(s), no GPU. **The machine was shared** with other jobs: the load "
             f"average (1 min) read around each task ranged {min(loads):.1f}-{max(loads):.1f} (median "
             f"{sorted(loads)[len(loads) // 2]:.1f}), so throughput is comparable only between the two arms of this run.",
             "",
             f"The bundled model alone (`--sources llm`, seed 0) on {len(tasks)} programs it was never trained on "
             f"({', '.join(tasks)}), {report['budget']['max_proposals']} proposals and {report['budget']['timeout_s']:g} s "
             f"per task, {report['budget']['call_limit_s']:g} s per batched model call (generous for the load), "
             "A/B interleaved task by task.",
             "",
             "| arm | solved | proposals | parse (of verified) | accepted (of verified) | proposals per solved task | tokens/s |",
             "|---|---|---|---|---|---|---|"]
    figures = {}
    for arm in ARMS:
        s = summary([row for row in rows if row["arm"] == arm])
        figures[arm] = s
        per = f"{s['per_solved']:.1f}" if s["per_solved"] else "-"
        lines.append(f"| {'`--constrained`' if ARMS[arm] else 'unconstrained'} | {s['solved']}/{s['tasks']} | "
                     f"{s['proposals']} | {_share(s['parsed'], s['verified'])} | {_share(s['accepted'], s['verified'])} "
                     f"| {per} | {s['tokens_per_s']:.1f} |")
    lines += ["", "`parse`: the verifier's parse stage passed, so the text is a well-typed boolean expression over the "
              "program's variables (the issue's baseline: 79% of the bundled model's Code2Inv proposals failed it). "
              "`proposals per solved task`: all the arm's proposals over its solved tasks. `tokens/s`: tokens written "
              "over seconds in the model, prompt prefill included, so the load dominates it."]
    lines += ["", "Per task (status, parsed/verified, accepted):", "",
              "| task | " + " | ".join(ARMS) + " |", "|---|" + "---|" * len(ARMS)]
    for task in tasks:
        cells = []
        for arm in ARMS:
            row = next((r for r in rows if r["task"] == task and r["arm"] == arm), None)
            cells.append(f"{row['status']} {row['parsed']}/{row['verified']}, {row['accepted']}" if row else "-")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    if report.get("overhead"):
        overhead = report["overhead"]
        lines += ["", f"The grammar's cost per decoding step (llguidance masks for a batch of 4 on the 49,152-token "
                  f"vocabulary, and their application), measured apart: {overhead['median_ms']:.1f} ms "
                  f"(median of 5, load {overhead['load']:.1f}), small beside a step of the model on this machine."]
    cut = [text for row in rows if row["arm"] == "constrained" for text in row["examples"]]
    if cut:
        lines += ["", "Constrained proposals that did not parse, for example: "
                  + "; ".join(f"`{' '.join(text.split())[:50]}`" for text in cut[:2]) + "."]
    examples = [text for row in rows if row["arm"] == "free" for text in row["examples"]][:3]
    if examples:
        lines += ["", "Unconstrained proposals the parser rejected, for example: "
                  + "; ".join(f"`{' '.join(text.split())[:60]}`" for text in examples) + "."]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", nargs="+", default=["code2inv", "lam4inv"])
    parser.add_argument("--per-suite", type=int, default=4)
    parser.add_argument("--max-proposals", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--call-limit", type=float, default=300.0, help="seconds one batched model call may take")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 suits a shared machine)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    parser.add_argument("--report-only", action="store_true", help="the section from the saved JSON, no new run")
    arguments = parser.parse_args()
    report = json.loads(RESULTS.read_text()) if arguments.report_only else run(arguments)
    if "overhead" not in report:
        report["overhead"] = processor_overhead()
        RESULTS.write_text(json.dumps(report, indent=2))
    publish(markdown(report), "constrained", write=not arguments.no_write,
            heading="## Grammar-constrained decoding (`--constrained`)")


if __name__ == "__main__":
    main()
