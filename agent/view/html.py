"""A static, self-contained HTML page for a trace: header, every proposal with its verdicts, the result.

Multi-line candidates keep their layout, each verdict's feedback is shown without a click, long
candidates are folded, and a filter shows only accepted / rejected / unknown proposals (the filter is a
few lines of inline script: the page must work offline and make no request)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from agent.files import write_atomically
from agent.trace import Header, ProposalEvent, ResultEvent, VerdictEvent, read_trace
from agent.view.terminal import deciding_round

# Candidates longer than this (characters or lines) are folded behind a <details>.
FOLD_CHARS, FOLD_LINES = 400, 8

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ header.task_id if header else "trace" }} · veriloop</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.92em; }
pre { white-space: pre-wrap; margin: 0.2em 0; }
pre.candidate { background: #f6f6f6; padding: 0.4em; }
pre.feedback { color: #444; border-left: 3px solid #ccc; padding-left: 0.5em; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: 0.35em 0.5em; vertical-align: top; text-align: left; }
.accepted { color: #176317; font-weight: bold; } .rejected { color: #a31515; }
.unknown, .error { color: #9a6700; font-weight: bold; }
.meta { color: #555; }
</style></head><body>
{% if back %}<p><a href="{{ back }}">← run report</a></p>{% endif %}
{% if header %}
<h1>{{ header.task_id }} <small class="meta">({{ header.task_kind }})</small></h1>
<p class="meta">run {{ header.run_id }} · model {{ header.model }} {{ header.model_revision or "" }} · seed {{ header.seed }}
 · sources {{ header.sources | join(", ") }} · git {{ header.git_commit }} · started {{ header.started_at }}</p>
{% endif %}
{% if result %}
<h2>Result: <span class="{{ 'accepted' if result.status == 'solved' else 'rejected' }}">{{ result.status }}</span></h2>
{% if result.answer %}<pre class="candidate">{{ result.answer }}</pre>{% if result.certified %}<p>(certified)</p>{% endif %}{% endif %}
<p class="meta">{{ result.message }}</p>
<p class="meta">{{ result.proposals }} proposals, {{ result.verifier_calls }} verifier calls, {{ "%.2f" % result.wall_s }} s</p>
{% endif %}
<h2>Proposals</h2>
<p><label>show <select id="verdict-filter">
<option value="all">all</option><option value="accepted">accepted</option><option value="rejected">rejected</option>
<option value="unknown">unknown or error</option></select></label> <span id="shown" class="meta"></span></p>
<table id="proposals"><tr><th>#</th><th>step</th><th>source</th><th>candidate and verdicts</th></tr>
{% for row in rows %}
<tr class="proposal" data-verdict="{{ row.kind }}"><td>{{ row.proposal.id }}</td><td>{{ row.proposal.step }}</td>
<td>{{ row.proposal.source }}
{% if row.proposal.logprob is not none %}<br><span class="meta">logp {{ "%.2f" % row.proposal.logprob }}</span>{% endif %}</td>
<td>{% if row.folded %}<details><summary><code>{{ row.proposal.text | truncate(120) }}</code> ({{ row.proposal.text | length }} characters)</summary>
<pre class="candidate">{{ row.proposal.text }}</pre></details>
{% else %}<pre class="candidate">{{ row.proposal.text }}</pre>{% endif %}
{% if row.proposal.unverified %}<span class="meta">not verified: {{ row.proposal.unverified }}</span>{% endif %}
{% if row.proposal.raw != row.proposal.text %}<details><summary>raw output</summary><pre>{{ row.proposal.raw }}</pre></details>{% endif %}
{% for verdict in row.verdicts %}
<div class="verdict">{% if verdict.round is not none %}round {{ verdict.round }}: {% endif %}
<span class="{{ verdict.verdict.status }}">{{ verdict.verdict.status }}</span>{% if verdict.cached %} (cached){% endif %}
{% if verdict is sameas row.deciding and row.verdicts | length > 1 %} <b>(decides this proposal)</b>{% endif %}
{% if verdict.round is not none %}<pre class="candidate">{{ verdict.candidate }}</pre>{% endif %}
<pre class="feedback">{{ verdict.verdict.feedback }}</pre>
{% if verdict.verdict.counterexample %}<details><summary>counterexample</summary><pre>{{ verdict.verdict.counterexample | tojson(indent=2) }}</pre></details>{% endif %}
</div>
{% endfor %}</td></tr>
{% endfor %}
</table>
<h2>All events</h2>
<details><summary>{{ events | length }} events as JSON</summary><pre>{{ raw_events }}</pre></details>
<script>
// The filter lives in the address (#verdict=rejected), so a filtered view can be linked.
const filter = document.getElementById("verdict-filter");
function apply() {
  let shown = 0;
  for (const row of document.querySelectorAll("tr.proposal")) {
    const visible = filter.value === "all" || row.dataset.verdict === filter.value;
    row.hidden = !visible;
    shown += visible;
  }
  document.getElementById("shown").textContent = shown + " shown";
}
const wanted = new URLSearchParams(location.hash.slice(1)).get("verdict");
if (wanted) filter.value = wanted;
filter.addEventListener("change", () => { location.hash = "verdict=" + filter.value; apply(); });
apply();
</script>
</body></html>
"""


def _kind(verdict: VerdictEvent | None) -> str:
    """The filter's class for a proposal's deciding verdict: accepted, rejected, unknown (also error) or none."""
    if verdict is None:
        return "none"
    return verdict.verdict.status if verdict.verdict.status in ("accepted", "rejected") else "unknown"


def render_trace_page(trace: Path, back: str | None = None) -> str:
    events = read_trace(trace)
    verdicts: dict[int, list[VerdictEvent]] = {}
    for event in events:
        if isinstance(event, VerdictEvent):
            verdicts.setdefault(event.proposal_id, []).append(event)
    rows = []
    for proposal in (e for e in events if isinstance(e, ProposalEvent)):
        rounds = verdicts.get(proposal.id, [])
        deciding = deciding_round(rounds)
        folded = len(proposal.text) > FOLD_CHARS or proposal.text.count("\n") >= FOLD_LINES
        rows.append({"proposal": proposal, "verdicts": rounds, "deciding": deciding, "kind": _kind(deciding),
                     "folded": folded})
    environment = Environment(undefined=StrictUndefined, autoescape=True)
    return environment.from_string(PAGE).render(
        header=next((e for e in events if isinstance(e, Header)), None),
        result=next((e for e in reversed(events) if isinstance(e, ResultEvent)), None),
        rows=rows,
        events=events,
        back=back,
        raw_events="\n".join(json.dumps(e.model_dump(mode="json")) for e in events),
    )


def write_html(trace: Path, destination: Path, back: str | None = None) -> Path:
    write_atomically(destination, render_trace_page(trace, back))
    return destination
