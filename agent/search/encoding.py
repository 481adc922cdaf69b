"""The encoding strategy (`sat_encoding`, `smt_encoding`): the model writes a program, the verifier decides.

Each step samples programs from a prompt that carries the family's problem statement and variable
conventions, the instance, a worked example of another problem, and the latest rejected program
with its feedback (the failing line, the violated constraint, or the small instance on which the
encoding disagrees with brute force). Every program is verified; the first accepted one ends the
search. Only the model proposes: there is no library of encodings to fall back on.

A task's known answer (`expected`) is used only to grade the accepted answer at the end: an
accepted UNSAT on an instance known to be satisfiable means an unfaithful encoding slipped past the
small-instance tests, and the task counts as unsolved.

With `guide: gnn` (`--guide gnn`, `sat_encoding` only) the verifier asks the graph neural network of
`agent/gnn` for the SAT solver's phases on each formula a program emits (a `PhaseAdvisor`); the
verdict records the phases given and the solver's statistics, and is checked exactly as without.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.llm.base import Prompt
from agent.prompts import render_prompt
from agent.search.registry import strategy
from agent.session import Outcome, Session
from verifiers.base import DescribesFamily, Verdict
from verifiers.details import EncodingDetails
from verifiers.phases import TakesPhaseAdvisor

CODE_STOP = ("```",)
GENERATION_LIMIT_S = 150.0  # one batched call may write several programs of a few hundred tokens
MAX_INSTANCE_CHARS = 400
MAX_FEEDBACK_CHARS = 400
_OPENING_FENCE = re.compile(r"^\s*```(?:python|py)?\s*\n")


@dataclass
class Attempt:
    text: str
    feedback: str


def extract_program(completion: str) -> str:
    """The program in a completion: an opening fence the model repeated is dropped; the closing
    fence was already cut by the stop string."""
    return _OPENING_FENCE.sub("", completion, count=1).split("```", 1)[0].rstrip() + "\n"


def compact_instance(instance: dict[str, Any], limit: int = MAX_INSTANCE_CHARS) -> str:
    """The instance as a Python literal, long lists shortened (the program reads the real one)."""
    text = json.dumps(instance)
    if len(text) <= limit:
        return text
    shortened: dict[str, Any] = {}
    for key, value in instance.items():
        if isinstance(value, list) and len(value) > 6:
            shortened[key] = value[:6] + [f"... {len(value) - 6} more"]
        else:
            shortened[key] = value
    return json.dumps(shortened)


def _outcome(task: Any, verdict: Verdict) -> Outcome:
    details = verdict.details
    if not isinstance(details, EncodingDetails) or details.answer is None:
        return Outcome("error", message=f"the verifier accepted without an answer: {verdict.feedback}")
    answer = details.answer
    shown = f"SAT: {details.solution}" if answer == "sat" else "UNSAT"
    expected = getattr(task, "expected", None)
    if expected and answer != expected:
        return Outcome("unsolved", answer=shown, certified=False, solved_by="llm",
                       message=f"an encoding was accepted with answer {answer.upper()}, but the instance is known to "
                               f"be {expected.upper()}: the encoding is unfaithful in a way the small instances missed")
    return Outcome("solved", answer=shown, certified=verdict.certified, message=verdict.feedback, solved_by="llm")


def write_programs(session: Session, prompt_for: Callable[[Attempt | None], Prompt],
                   outcome_of: Callable[[Verdict], Outcome], source_needed: str) -> Outcome:
    """The loop both program-writing strategies share: sample programs in one batched call per step,
    verify each, stop at the first accepted one (`outcome_of` grades it), and show the model the
    latest rejected program with its feedback."""
    if not session.uses_model:
        return Outcome("unsolved", message=f"{source_needed} come only from the model, and the model source is off")
    latest: Attempt | None = None
    step = 0
    while True:
        step += 1
        session.check_budget()
        completions = session.sample(prompt_for(latest), session.budget.samples_per_step, step, stop=CODE_STOP,
                                     time_limit_s=GENERATION_LIMIT_S)
        if not completions:
            return Outcome("unsolved", message="the model returned no proposals")
        for completion in completions:
            program = extract_program(completion.text)
            proposal = session.propose(completion, source="llm", step=step, text=program)
            verdict = session.verify(proposal)
            if verdict.accepted:
                return outcome_of(verdict)
            if verdict.status == "rejected":
                latest = Attempt(program, verdict.feedback[:MAX_FEEDBACK_CHARS])


class EncodingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guide: Literal["none", "gnn"] = Field(default="none", description="what proposes phases to the SAT solver "
                                                                     "(sat_encoding; SMT tasks ignore it)")
    guide_threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                          description="hand over only phases at least this confident")


@strategy(kinds=("sat_encoding", "smt_encoding"), needs_model=True, settings=EncodingSettings)
def solve_encoding(session: Session) -> Outcome:
    task = session.task
    settings = session.options(EncodingSettings)
    if settings.guide == "gnn" and isinstance(session.verifier, TakesPhaseAdvisor):
        from agent.gnn.guide import phase_advisor
        from agent.gnn.predict import WeightsError

        try:
            advisor = phase_advisor(settings.guide_threshold)
        except WeightsError as error:
            return Outcome("error", message=str(error))
        # This task's verifier asks the GNN for the phases of every formula a program emits.
        session.verifier = session.verifier.with_phase_advisor(advisor)
    if not isinstance(session.verifier, DescribesFamily):
        return Outcome("error", message=f"the verifier {session.verifier.name} names no problem family for prompts")
    family = session.verifier.family_of(task)
    instance = compact_instance(task.instance)
    return write_programs(
        session,
        lambda latest: render_prompt(task.kind, family=family, instance=instance, description=task.description,
                                     attempt=latest),
        lambda verdict: _outcome(task, verdict),
        "encodings",
    )
