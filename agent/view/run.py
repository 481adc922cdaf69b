"""The report of an eval run (`python -m agent view RUN_DIR`): settings, counts and rates, plots, and a
table of tasks; in the terminal, or as one offline HTML page with a page per task beside it.

The plots are matplotlib PNGs embedded as base64 and the table's sorting and filtering is a few lines
of inline script, so the page opens offline and makes no request."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, StrictUndefined
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.files import write_atomically
from agent.trace import ProposalEvent, TraceError, VerdictEvent, read_trace
from agent.view.terminal import deciding_round

STATUSES = ("solved", "refuted", "template_wrong", "unsolved", "error")


def is_eval_run(path: Path) -> bool:
    return path.is_dir() and (path / "run.json").is_file() and (path / "results.csv").is_file()


def load_run(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """run.json and results.csv (one row per finished task)."""
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TraceError(f"{run_dir / 'run.json'}: not a readable run record ({error})") from None
    results = pd.read_csv(run_dir / "results.csv", dtype={"task_id": str, "answer": str, "solved_by": str,
                                                          "message": str}, keep_default_na=False)
    results = results[results["status"].isin(STATUSES)]
    for column in ("proposals", "verifier_calls", "wall_s"):
        results[column] = pd.to_numeric(results[column], errors="coerce")
    results["certified"] = results["certified"].astype(str) == "True"
    results["source"] = [solved_by if status == "solved" and solved_by else "-"
                         for status, solved_by in zip(results["status"], results["solved_by"])]
    return record, results.reset_index(drop=True)


def counts(results: pd.DataFrame) -> dict[str, Any]:
    tasks = len(results)
    by_status = {status: int((results["status"] == status).sum()) for status in STATUSES}
    certified = int((results["certified"] & (results["status"] == "solved")).sum())
    return {"tasks": tasks, **by_status, "certified": certified,
            "rates": {status: (count / tasks if tasks else 0.0) for status, count in by_status.items()}}


def verdict_kinds(run_dir: Path, results: pd.DataFrame) -> dict[str, int]:
    """Over every proposal of every task: the deciding verdict's status, or why none was given."""
    kinds: dict[str, int] = {}
    for trace in results["trace"]:
        path = row_trace_path(run_dir, str(trace))
        if path is None:
            continue
        try:
            events = read_trace(path)
        except TraceError:
            continue
        rounds: dict[int, list[VerdictEvent]] = {}
        for event in events:
            if isinstance(event, VerdictEvent):
                rounds.setdefault(event.proposal_id, []).append(event)
        for event in events:
            if isinstance(event, ProposalEvent):
                deciding = deciding_round(rounds.get(event.id, []))
                kind = deciding.verdict.status if deciding else ("unverified" if event.unverified else "no verdict")
                kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def row_trace_path(run_dir: Path, recorded: str) -> Path | None:
    """A row's trace: where it was written, or (for a run folder that was moved) its name under traces/."""
    for candidate in (Path(recorded), run_dir / "traces" / Path(recorded).name):
        if recorded and candidate.is_file():
            return candidate
    return None


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(results: pd.DataFrame, kinds: dict[str, int]) -> dict[str, str]:
    """Titled base64 PNGs: solve rate by source, wall time (histogram and CDF), proposals and verifier
    calls per task, verdict kinds over proposals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown: dict[str, str] = {}
    tasks = max(1, len(results))
    solved = results[results["status"] == "solved"]
    figure, axes = plt.subplots(figsize=(6, 3))
    rates = (solved["source"].value_counts() / tasks).sort_index()
    axes.bar(rates.index.tolist() or ["(none solved)"], rates.tolist() or [0.0], color="#3a7d44")
    axes.set_ylabel("share of tasks solved")
    axes.set_ylim(0, 1)
    shown["Solve rate by source"] = _png(figure)

    walls = np.sort(results["wall_s"].dropna().to_numpy())
    figure, (histogram, cdf) = plt.subplots(1, 2, figsize=(9, 3))
    histogram.hist(walls, bins=min(30, max(1, len(walls))), color="#4a6fa5")
    histogram.set_xlabel("wall time per task (s)")
    histogram.set_ylabel("tasks")
    cdf.step(walls, np.arange(1, len(walls) + 1) / max(1, len(walls)), where="post", color="#4a6fa5")
    cdf.set_xlabel("wall time (s)")
    cdf.set_ylabel("share of tasks finished")
    shown["Wall time per task: distribution and CDF"] = _png(figure)

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    left.hist(results["proposals"].dropna(), bins=20, color="#8a5a9e")
    left.set_xlabel("proposals per task")
    left.set_ylabel("tasks")
    right.hist(results["verifier_calls"].dropna(), bins=20, color="#b5651d")
    right.set_xlabel("verifier calls per task")
    shown["Proposals and verifier calls per task"] = _png(figure)

    figure, axes = plt.subplots(figsize=(6, 3))
    axes.bar(list(kinds) or ["(no proposals)"], list(kinds.values()) or [0], color="#777")
    axes.set_ylabel("proposals")
    shown["Verdicts over proposals"] = _png(figure)
    return shown


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ record.suite_name }} · run {{ record.run_id }} · veriloop</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }
th.sortable { cursor: pointer; text-decoration: underline dotted; }
.solved { color: #176317; font-weight: bold; } .refuted { color: #9a6700; } .unsolved, .error { color: #a31515; }
.meta { color: #555; } figure { display: inline-block; margin: 0.5em; } code { font-size: 0.9em; }
</style></head><body>
<h1>{{ record.suite_name }} <small class="meta">run {{ record.run_id }}</small></h1>
<p class="meta">suite {{ record.suite }} · model {{ record.model or "none" }} {{ record.model_revision or "" }}
 · dtype {{ record.dtype }} · workers {{ record.workers }}</p>
<h2>Settings</h2><pre id="settings">{{ settings }}</pre>
<h2>Outcome</h2>
<table id="counts"><tr><th></th>{% for status in statuses %}<th>{{ status }}</th>{% endfor %}<th>certified</th><th>tasks</th></tr>
<tr><td>count</td>{% for status in statuses %}<td>{{ counts[status] }}</td>{% endfor %}<td>{{ counts.certified }}</td><td>{{ counts.tasks }}</td></tr>
<tr><td>rate</td>{% for status in statuses %}<td>{{ "%.1f%%" % (100 * counts.rates[status]) }}</td>{% endfor %}<td></td><td></td></tr>
</table>
{% if record.get("tasks") and record.tasks != counts.tasks %}<p class="meta">{{ record.tasks - counts.tasks }} of the suite's {{ record.tasks }} tasks have no result (not run, or the run was interrupted).</p>{% endif %}
<h2>Plots</h2>
{% for title, png in plots.items() %}<figure class="plot"><img alt="{{ title }}" src="data:image/png;base64,{{ png }}"><figcaption>{{ title }}</figcaption></figure>
{% endfor %}
<h2>Tasks</h2>
<p><label>filter <input id="task-filter" placeholder="task id, answer, source"></label>
<label>status <select id="status-filter"><option value="all">all</option>
{% for status in statuses %}<option value="{{ status }}">{{ status }}</option>{% endfor %}</select></label>
<span id="task-count" class="meta"></span></p>
<table id="tasks"><thead><tr>
{% for column, label in columns %}<th class="sortable" data-column="{{ loop.index0 }}">{{ label }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr class="task" data-status="{{ row.status }}">
<td>{% if row.page %}<a href="{{ row.page }}">{{ row.task_id }}</a>{% else %}{{ row.task_id }}{% endif %}</td>
<td class="{{ row.status }}">{{ row.status }}</td><td>{{ "yes" if row.certified else "" }}</td><td>{{ row.solved_by }}</td>
<td data-value="{{ row.proposals }}">{{ row.proposals }}</td><td data-value="{{ row.verifier_calls }}">{{ row.verifier_calls }}</td>
<td data-value="{{ row.wall_s }}">{{ "%.2f" % row.wall_s }}</td><td><code>{{ row.answer | truncate(120) }}</code></td></tr>
{% endfor %}</tbody></table>
<script>
// Sorting by a column header and filtering by text and status; the filter lives in the address
// (#status=solved&q=...), so a filtered view can be linked.
const body = document.querySelector("#tasks tbody");
const text = document.getElementById("task-filter"), status = document.getElementById("status-filter");
function apply() {
  let shown = 0;
  for (const row of body.rows) {
    const visible = (status.value === "all" || row.dataset.status === status.value)
      && row.textContent.toLowerCase().includes(text.value.toLowerCase());
    row.hidden = !visible;
    shown += visible;
  }
  document.getElementById("task-count").textContent = shown + " of " + body.rows.length + " tasks";
}
function remember() {
  location.hash = new URLSearchParams({status: status.value, q: text.value}).toString();
  apply();
}
const wanted = new URLSearchParams(location.hash.slice(1));
if (wanted.get("status")) status.value = wanted.get("status");
if (wanted.get("q")) text.value = wanted.get("q");
text.addEventListener("input", remember);
status.addEventListener("change", remember);
for (const header of document.querySelectorAll("th.sortable")) {
  header.addEventListener("click", () => {
    const column = Number(header.dataset.column), ascending = header.dataset.order !== "asc";
    header.dataset.order = ascending ? "asc" : "desc";
    const key = row => row.cells[column].dataset.value ?? row.cells[column].textContent;
    const rows = [...body.rows].sort((a, b) => {
      const x = key(a), y = key(b), numeric = !isNaN(parseFloat(x)) && !isNaN(parseFloat(y));
      const order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    body.append(...rows);
  });
}
apply();
</script>
</body></html>
"""
COLUMNS = [("task_id", "task"), ("status", "status"), ("certified", "certified"), ("solved_by", "solved by"),
           ("proposals", "proposals"), ("verifier_calls", "verifier calls"), ("wall_s", "wall s"), ("answer", "answer")]


def write_run_report(run_dir: Path, destination: Path) -> Path:
    """destination (the run's page) and, beside it, `<stem>_tasks/` with a page per task's trace."""
    from agent.eval import trace_name
    from agent.view.html import write_html

    record, results = load_run(run_dir)
    pages = destination.parent / f"{destination.stem}_tasks"
    rows = []
    for row in results.to_dict("records"):
        trace = row_trace_path(run_dir, str(row["trace"]))
        row["page"] = None
        if trace is not None:
            page = pages / (trace_name(row["task_id"]).removesuffix(".jsonl") + ".html")
            try:
                write_html(trace, page, back=f"../{destination.name}")
                row["page"] = f"{pages.name}/{page.name}"
            except TraceError:
                pass  # an unreadable trace: the row stays, without a link
        rows.append(row)
    environment = Environment(undefined=StrictUndefined, autoescape=True)
    page = environment.from_string(PAGE).render(
        record=record, settings=json.dumps(record.get("settings", {}), indent=2), statuses=STATUSES,
        counts=counts(results), plots=plots(results, verdict_kinds(run_dir, results)), rows=rows, columns=COLUMNS)
    write_atomically(destination, page)
    return destination


def show_run(run_dir: Path, console: Console | None = None) -> None:
    """The run in the terminal: settings, counts and rates, and a line per task (all of it data, not markup)."""
    console = console or Console(highlight=False)
    record, results = load_run(run_dir)
    console.print(Text(f"{record.get('suite_name')} · run {record.get('run_id')} · model {record.get('model') or 'none'}"
                       f" · workers {record.get('workers')}", style="bold"))
    console.print(Text("settings " + json.dumps(record.get("settings", {}), sort_keys=True)))
    summary = counts(results)
    table = Table()
    for column in (*STATUSES, "certified", "tasks"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{summary[s]} ({100 * summary['rates'][s]:.0f}%)" for s in STATUSES), str(summary["certified"]),
                  str(summary["tasks"]))
    console.print(table)
    tasks = Table()
    for column in ("task", "status", "solved by", "proposals", "wall s", "answer"):
        tasks.add_column(column, overflow="fold")
    for row in results.to_dict("records"):
        tasks.add_row(Text(row["task_id"]), Text(row["status"]), Text(row["solved_by"]), str(row["proposals"]),
                      f"{row['wall_s']:.2f}", Text(str(row["answer"])))
    console.print(tasks)
