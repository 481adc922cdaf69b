"""A terminal summary of a trace: header, each proposal with its verdict(s), the result.

Everything read from the trace is data, shown as plain text (`Text`, `escape`): a proposal that
contains rich markup such as `[/red]` must neither break the view nor change what it shows."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agent.trace import (
    Header,
    LeanCheckEvent,
    ProposalEvent,
    RefutationEvent,
    ResultEvent,
    SearchEvent,
    TacticEvent,
    VerdictEvent,
    read_trace,
)


def deciding_round(rounds: list[VerdictEvent]) -> VerdictEvent | None:
    """The round that stands for a proposal: its last accepted round (Houdini keeps probing smaller
    subsets after an accepted one, and a rejected probe does not undo it), else its last round."""
    accepted = [event for event in rounds if event.verdict.status == "accepted"]
    return accepted[-1] if accepted else (rounds[-1] if rounds else None)


def show_trace(path: Path, verbose: bool = False, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    events = read_trace(path)
    verdicts: dict[int, list[VerdictEvent]] = {}
    steps: dict[int, list[TacticEvent | LeanCheckEvent]] = {}  # Lean: what the driver said before any verdict
    for event in events:
        if isinstance(event, VerdictEvent):
            verdicts.setdefault(event.proposal_id, []).append(event)
        if isinstance(event, (TacticEvent, LeanCheckEvent)):
            steps.setdefault(event.proposal_id, []).append(event)
    for event in events:
        if isinstance(event, Header):
            console.print(f"[bold]{escape(event.task_id)}[/bold]", Text(
                f"({event.task_kind}) · run {event.run_id} · model {event.model} {event.model_revision or ''} · "
                f"seed {event.seed} · sources {','.join(event.sources)}"))
            console.print(Text(f"git {event.git_commit} · " + ", ".join(f"{k} {v}" for k, v in event.versions.items())))
    table = Table(show_lines=verbose)
    for column in ("#", "step", "source", "candidate", "verdict"):
        table.add_column(column, overflow="fold")
    for event in events:
        if not isinstance(event, ProposalEvent):
            continue
        rounds = verdicts.get(event.id, [])
        shown = deciding_round(rounds)
        last = shown.verdict if shown else None
        status = last.status if last else (f"not verified: {event.unverified}" if event.unverified else "-")
        if len(rounds) > 1:
            status += f" in round {rounds.index(shown) + 1} of {len(rounds)}"
        if verbose and last:
            status += "\n" + last.feedback
        for step in steps.get(event.id, []):
            said = step.outcome if isinstance(step, TacticEvent) else ("REPL: ok" if step.ok else "REPL: errors")
            if isinstance(step, TacticEvent) and verbose:
                said += f" at node {step.node}" + "".join(f"\n{goal}" for goal in step.goals_after)
            if verbose and step.messages:
                said += "\n" + "\n".join(step.messages)
            status = said if status == "-" else f"{said}; {status}"
        candidate = shown.candidate if shown else event.text
        if len(candidate) > 200 and not verbose:
            candidate = candidate[:200] + " ..."
        table.add_row(str(event.id), str(event.step), Text(event.source), Text(candidate), Text(status))
    console.print(table)
    for event in events:
        if isinstance(event, SearchEvent):
            console.print(Text(f"search ({event.mode}, {event.driver}): {event.expansions} expansions, {event.nodes} states, "
                               f"{event.duplicates} duplicates, {event.tactic_errors} tactic errors, "
                               f"{event.infrastructure_errors} Lean failures, {event.proofs_checked} proofs checked; "
                               f"{event.stopped}"))
        if isinstance(event, RefutationEvent):
            console.print(Text(f"refutation at depth {event.depth} (replayed: {event.certified}): {event.states}"))
        if isinstance(event, ResultEvent):
            unverified = f" ({event.unverified} not verified)" if event.unverified else ""
            console.print(f"result: [bold]{escape(event.status)}[/bold]", Text(
                f"{event.answer or ''} · proposals {event.proposals}{unverified}, verifier calls {event.verifier_calls}, "
                f"{event.wall_s:.2f} s"))
            if event.message:
                console.print(Text(event.message))
