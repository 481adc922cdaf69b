"""The logic-puzzle strategy: the model formalises the puzzle in z3; the verifier says what it entails.

Each step samples programs from a prompt with the puzzle, a worked example of the same style (an
invented puzzle, not one from the data sets) and the latest rejected program with its feedback
(a failing line, contradictory premises, no option or several options entailed). The first
accepted formalisation gives the answer. The data set's label (`expected`) is used only at the
end, to grade that answer: a wrong answer counts as unsolved. The label never reaches the prompt
or the verifier, so it cannot steer the search.
"""

from __future__ import annotations

from agent.prompts import render_prompt
from agent.search.encoding import write_programs
from agent.search.registry import strategy
from agent.session import Outcome, Session
from verifiers.base import Verdict
from verifiers.details import LogicDetails


@strategy(kinds=("logic",), needs_model=True)
def solve_logic(session: Session) -> Outcome:
    task = session.task

    def graded(verdict: Verdict) -> Outcome:
        if not isinstance(verdict.details, LogicDetails) or verdict.details.answer is None:
            return Outcome("error", message=f"the verifier accepted without an answer: {verdict.feedback}")
        answer = verdict.details.answer
        if task.expected and answer != task.expected:
            return Outcome("unsolved", answer=answer, solved_by="llm",
                           message=f"the formalisation entails {answer}, but the data set's answer is {task.expected}")
        return Outcome("solved", answer=answer, certified=verdict.certified, message=verdict.feedback, solved_by="llm")

    return write_programs(
        session,
        lambda latest: render_prompt("logic", style=task.style, context=task.context, question=task.question,
                                     options=task.options, description=task.description, attempt=latest),
        graded,
        "formalisations",
    )
