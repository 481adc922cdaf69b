"""The Lean strategies: best-first tactic search over proof states, and whole proofs with repair.

Best-first (as ReProver does): every proof state is a node scored by the sum of the log-probabilities of
the tactics on its path; the best-scored node not yet expanded is expanded next. Expanding a node tries
the configured symbolic tactics (`omega`, `norm_num`, `linarith`, ...) and then the model's sampled
tactics (one batched call, prompted with the goals and the tactics that already failed there). Each
tactic goes through Lean (the REPL, or LeanDojo); a new proof state becomes a new node unless the same
goals were reached before: a proof state is never expanded twice. When a tactic closes the last goal,
the tactics on its path form a proof, which the verifier then compiles from scratch: only that can
solve the task. Budgets: expansions, proposals (tactics tried) and seconds.

Whole proof: the model writes complete tactic proofs; each is looked at in the REPL first (when there is
one) and then compiled from scratch by the verifier; Lean's error messages, with lines counted within
the proof, go back into the next prompt so the model can repair the proof. The symbolic tactics are
tried first, each as a one-line proof.

The driver's answers (a proof state, "no goals") are provisional; acceptance is always the verifier's.
Infrastructure failures (a Lean crash or time-out, raised as `verifiers.base.ToolError`) cost the
tactic they happened on, never the run: the driver restarts Lean and rebuilds the states it needs.
"""

from __future__ import annotations

import heapq
import itertools
import re
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.llm.base import Completion
from agent.prompts import render_prompt
from agent.search.registry import strategy
from agent.session import BudgetExhausted, Outcome, Session
from agent.trace import LeanCheckEvent, SearchEvent, TacticEvent
from verifiers.base import OpensTacticDriver, ToolError, Verdict

FEEDBACK_ATTEMPTS = 3  # failed attempts shown in a prompt (the bundled model's context is short)
MAX_FEEDBACK_CHARS = 400
DEFAULT_LOGPROB = -1.0  # for a completion without log-probabilities (some endpoints give none)
_FENCE = re.compile(r"`{3,}[a-zA-Z0-9]*")


class LeanSettings(BaseModel):
    """Options of the Lean search (`--search-mode`, `--expansions`); None keeps the task's own `search`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["best_first", "whole_proof"] | None = Field(
        default=None, description="Tactic-by-tactic best-first search, or whole proofs repaired with Lean's errors.")
    expansions: int | None = Field(default=None, ge=1, description="Proof states expanded per task (best_first).")


@dataclass
class Attempt:
    text: str
    feedback: str


@dataclass
class Node:
    id: int
    state: Any  # the driver's TacticState
    score: float  # cumulative log-probability of the tactics on the path
    path: tuple[str, ...]
    failed: list[Attempt] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.path)


def extract_tactic(completion: str) -> str:
    """The first line of a model's answer, without code fences or a trailing `;`."""
    text = _FENCE.sub("", completion)
    for line in text.split("\n"):
        if line.strip():
            return line.strip().rstrip(";").strip()
    return ""


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_FEEDBACK_CHARS else text[:MAX_FEEDBACK_CHARS] + "..."


def _driver_opener(session: Session) -> OpensTacticDriver:
    if not isinstance(session.verifier, OpensTacticDriver):
        raise ToolError(f"the verifier {session.verifier.name} cannot open a tactic driver")
    return session.verifier


@strategy(kinds=("lean",), needs_model=True, settings=LeanSettings)
def solve_lean(session: Session) -> Outcome:
    mode = session.options(LeanSettings).mode or session.task.search.mode
    stats = SearchEvent(mode=mode)  # filled in as the search goes, written when it ends
    try:
        if mode == "whole_proof":
            return whole_proof(session, stats)
        return best_first(session, stats)
    except BudgetExhausted as exhausted:
        stats.stopped = str(exhausted)
        raise
    finally:
        session.trace.write(stats.model_copy(update={"time": time.time()}))


def _solved(verdict: Verdict, proof: str, by: str) -> Outcome:
    return Outcome("solved", answer=proof, certified=verdict.certified, message=verdict.feedback, solved_by=by)


def start_timeout(session: Session) -> float:
    """Starting may elaborate the header's imports (Mathlib: a while on a cold machine): it gets the
    verifier's limit rather than a tactic's."""
    return max(0.1, min(max(session.task.search.tactic_timeout_s, session.budget.verifier_timeout_s),
                        session.time_left()))


def best_first(session: Session, stats: SearchEvent) -> Outcome:
    task, config = session.task, session.task.search
    max_expansions = session.options(LeanSettings).expansions or config.max_expansions
    sources = session.settings.sources
    symbolic = list(dict.fromkeys(config.symbolic_tactics)) if "symbolic" in sources else []
    uses_model = session.uses_model
    if not symbolic and not uses_model:
        stats.stopped = "no tactic source is enabled (sources: llm, symbolic)"
        return Outcome("unsolved", message=stats.stopped)
    driver = _driver_opener(session).open_driver(task, config.driver)
    stats.driver = driver.name

    def tactic_timeout() -> float:
        return max(0.1, min(config.tactic_timeout_s, session.time_left()))

    session.check_budget()
    root = Node(0, driver.start(task.header, task.statement, start_timeout(session)), 0.0, ())
    stats.nodes = 1
    seen = {root.state.pp: root.id}  # goals -> the node that has them
    expanded: set[str] = set()
    order = itertools.count()
    queue: list[tuple[float, int, Node]] = [(-root.score, next(order), root)]
    while queue:
        if stats.expansions >= max_expansions:
            stats.stopped = f"all {max_expansions} expansions used"
            return Outcome("unsolved", message=stats.stopped)
        session.check_budget()
        _, _, node = heapq.heappop(queue)
        if node.state.pp in expanded:
            continue
        expanded.add(node.state.pp)
        stats.expansions += 1
        step = stats.expansions
        tried: set[str] = set()

        def attempt(tactic: str, source: str, proposed: Completion | str, logprob: float) -> Outcome | None:
            proposal = session.propose(proposed, source=source, step=step, text=tactic,
                                       logprob=None if isinstance(proposed, Completion) else logprob)
            started = time.perf_counter()
            event = dict(proposal_id=proposal.id, node=node.id, depth=node.depth, tactic=tactic,
                         goals_before=list(node.state.goals))
            try:
                result = driver.run_tac(node.state, tactic, tactic_timeout())
            except ToolError as failure:
                stats.infrastructure_errors += 1
                outcome = "timeout" if "time" in type(failure).__name__.lower() else "crash"
                session.trace.write(TacticEvent(**event, outcome=outcome, messages=[str(failure)],
                                                elapsed_s=time.perf_counter() - started))
                node.failed.append(Attempt(tactic, short(str(failure))))
                return None
            elapsed = time.perf_counter() - started
            messages = [message.render() for message in getattr(result, "messages", ())]
            if result.kind == "error":
                stats.tactic_errors += 1
                node.failed.append(Attempt(tactic, short(result.message)))
                session.trace.write(TacticEvent(**event, outcome="error", messages=[result.message] + messages,
                                                elapsed_s=elapsed))
                return None
            if result.kind == "finished":
                session.trace.write(TacticEvent(**event, outcome="finished", messages=messages, elapsed_s=elapsed))
                proof = "\n".join(node.path + (tactic,))
                stats.proofs_checked += 1
                verdict = session.verify(proposal, candidate=proof)  # the from-scratch compile
                if verdict.status == "accepted":
                    stats.stopped = "proof found and accepted"
                    return _solved(verdict, proof, source)
                node.failed.append(Attempt(tactic, short(verdict.feedback)))
                return None
            if result.pp in seen:  # these goals were reached before: never a second node for them
                stats.duplicates += 1
                session.trace.write(TacticEvent(**event, outcome="duplicate", child=seen[result.pp],
                                                goals_after=list(result.goals), messages=messages, elapsed_s=elapsed))
                return None
            if node.depth + 1 > config.max_depth:
                session.trace.write(TacticEvent(**event, outcome="state", goals_after=list(result.goals),
                                                messages=messages + [f"not queued: deeper than {config.max_depth}"],
                                                elapsed_s=elapsed))
                return None
            child = Node(stats.nodes, result, node.score + logprob, node.path + (tactic,))
            stats.nodes += 1
            seen[result.pp] = child.id
            heapq.heappush(queue, (-child.score, next(order), child))
            session.trace.write(TacticEvent(**event, outcome="state", child=child.id, goals_after=list(result.goals),
                                            messages=messages, elapsed_s=elapsed))
            return None

        for tactic in symbolic:
            tried.add(tactic)
            found = attempt(tactic, "symbolic", tactic, config.symbolic_logprob)
            if found:
                return found
        if uses_model:
            prompt = render_prompt("lean", mode="tactic", statement=task.statement, description=task.description,
                                   goals=node.state.pp, failed=node.failed[-FEEDBACK_ATTEMPTS:], attempts=[])
            for completion in session.sample(prompt, session.budget.samples_per_step, step):
                tactic = extract_tactic(completion.text)
                if not tactic or tactic in tried:
                    continue
                tried.add(tactic)
                logprob = completion.logprob if completion.logprob is not None else DEFAULT_LOGPROB
                found = attempt(tactic, "llm", completion, logprob)
                if found:
                    return found
    stats.stopped = f"no proof state left to expand after {stats.expansions} expansion(s)"
    return Outcome("unsolved", message=stats.stopped)


def whole_proof(session: Session, stats: SearchEvent) -> Outcome:
    task, config = session.task, session.task.search
    sources = session.settings.sources
    try:
        driver = _driver_opener(session).open_driver(task, "repl")
        driver.start(task.header, task.statement, start_timeout(session))  # elaborates the header once
        stats.driver = driver.name
    except ToolError:
        driver = None  # no REPL: every proof goes straight to the from-scratch compile
    statement_lines = task.statement.count("\n") + 1
    attempts: list[Attempt] = []

    def check(proof: str, source: str, proposed: Completion | str, step: int) -> Outcome | None:
        proposal = session.propose(proposed, source=source, step=step, text=proof)
        if driver is not None:
            started = time.perf_counter()
            try:
                messages = driver.check_proof(task.header, task.statement, proof,
                                              max(0.1, min(config.tactic_timeout_s, session.time_left())))
            except ToolError as failure:
                stats.infrastructure_errors += 1
                messages = None
                session.trace.write(LeanCheckEvent(proposal_id=proposal.id, ok=False, messages=[str(failure)],
                                                   elapsed_s=time.perf_counter() - started))
            if messages is not None:
                problems = [m for m in messages if m.severity == "error" or "sorry" in m.text]
                shown = [m.render(line_offset=statement_lines).replace("line ", "proof line ", 1)
                         if m.pos and m.pos.line > statement_lines else m.render() for m in problems]
                session.trace.write(LeanCheckEvent(proposal_id=proposal.id, ok=not problems,
                                                   messages=[m.render() for m in messages],
                                                   elapsed_s=time.perf_counter() - started))
                if problems:
                    stats.tactic_errors += 1
                    attempts.append(Attempt(proof, short("; ".join(shown))))
                    return None
        stats.proofs_checked += 1
        verdict = session.verify(proposal)
        if verdict.status == "accepted":
            stats.stopped = "proof found and accepted"
            return _solved(verdict, proof, source)
        attempts.append(Attempt(proof, short(verdict.feedback)))
        return None

    if "symbolic" in sources:
        for tactic in dict.fromkeys(config.symbolic_tactics):
            found = check(tactic, "symbolic", tactic, 0)
            if found:
                return found
    if not session.uses_model:
        stats.stopped = "no proposal was accepted and the model source is off"
        return Outcome("unsolved", message=stats.stopped)
    step = 0
    while True:
        step += 1
        session.check_budget()
        shown = [attempt for attempt in attempts if attempt.text not in config.symbolic_tactics] or attempts
        prompt = render_prompt("lean", mode="proof", statement=task.statement, description=task.description,
                               goals="", failed=[], attempts=shown[-FEEDBACK_ATTEMPTS:])
        completions = session.sample(prompt, session.budget.samples_per_step, step, stop=("```",))
        if not completions:
            stats.stopped = "the model returned no proposals"
            return Outcome("unsolved", message=stats.stopped)
        for completion in completions:
            # The prompt ends inside the proof, two spaces in: give the first line its indentation back.
            proof = textwrap.dedent("  " + _FENCE.sub("", completion.text).rstrip()).strip("\n")
            if not proof.strip():
                continue
            source = "repair" if attempts else "llm"
            found = check(proof, source, completion, step)
            if found:
                return found
