"""A static, self-contained HTML page for a trace: header, every proposal with its verdicts, the result."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from agent.trace import Header, ProposalEvent, ResultEvent, VerdictEvent, read_trace

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ header.task_id if header else "trace" }} · veriloop</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.92em; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: 0.35em 0.5em; vertical-align: top; text-align: left; }
.accepted { color: #176317; font-weight: bold; } .rejected { color: #a31515; }
.unknown, .error { color: #9a6700; font-weight: bold; }
details pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }
.meta { color: #555; }
</style></head><body>
{% if header %}
<h1>{{ header.task_id }} <small class="meta">({{ header.task_kind }})</small></h1>
<p class="meta">run {{ header.run_id }} · model {{ header.model }} {{ header.model_revision or "" }} · seed {{ header.seed }}
 · sources {{ header.sources | join(", ") }} · git {{ header.git_commit }} · started {{ header.started_at }}</p>
{% endif %}
{% if result %}
<h2>Result: <span class="{{ 'accepted' if result.status == 'solved' else 'rejected' }}">{{ result.status }}</span></h2>
{% if result.answer %}<p><code>{{ result.answer }}</code>{% if result.certified %} (certified){% endif %}</p>{% endif %}
<p class="meta">{{ result.message }}</p>
<p class="meta">{{ result.proposals }} proposals, {{ result.verifier_calls }} verifier calls, {{ "%.2f" % result.wall_s }} s</p>
{% endif %}
<h2>Proposals</h2>
<table><tr><th>#</th><th>step</th><th>source</th><th>candidate and verdicts</th></tr>
{% for proposal in proposals %}
<tr><td>{{ proposal.id }}</td><td>{{ proposal.step }}</td><td>{{ proposal.source }}
{% if proposal.logprob is not none %}<br><span class="meta">logp {{ "%.2f" % proposal.logprob }}</span>{% endif %}</td>
<td><code>{{ proposal.text }}</code>
{% if proposal.unverified %}<br><span class="meta">not verified: {{ proposal.unverified }}</span>{% endif %}
{% if proposal.raw != proposal.text %}<details><summary>raw output</summary><pre>{{ proposal.raw }}</pre></details>{% endif %}
{% for verdict in verdicts.get(proposal.id, []) %}
<details><summary>{% if verdict.round is not none %}round {{ verdict.round }}: {% endif %}
<span class="{{ verdict.verdict.status }}">{{ verdict.verdict.status }}</span>{% if verdict.cached %} (cached){% endif %}
{% if verdict.round is not none %} <code>{{ verdict.candidate | truncate(160) }}</code>{% endif %}</summary>
<pre>{{ verdict.verdict.feedback }}</pre>
{% if verdict.verdict.counterexample %}<pre>{{ verdict.verdict.counterexample | tojson(indent=2) }}</pre>{% endif %}
</details>
{% endfor %}</td></tr>
{% endfor %}
</table>
<h2>All events</h2>
<details><summary>{{ events | length }} events as JSON</summary><pre>{{ raw_events }}</pre></details>
</body></html>
"""


def write_html(trace: Path, destination: Path) -> Path:
    events = read_trace(trace)
    verdicts: dict[int, list[VerdictEvent]] = {}
    for event in events:
        if isinstance(event, VerdictEvent):
            verdicts.setdefault(event.proposal_id, []).append(event)
    environment = Environment(undefined=StrictUndefined, autoescape=True)
    page = environment.from_string(PAGE).render(
        header=next((e for e in events if isinstance(e, Header)), None),
        result=next((e for e in reversed(events) if isinstance(e, ResultEvent)), None),
        proposals=[e for e in events if isinstance(e, ProposalEvent)],
        verdicts=verdicts,
        events=events,
        raw_events="\n".join(json.dumps(e.model_dump(mode="json")) for e in events),
    )
    from agent.convert import write_atomically

    write_atomically(destination, page)
    return destination
