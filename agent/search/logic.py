"""The logic-puzzle strategy: the model formalises the puzzle in z3; the verifier says what it entails.

Each step samples programs from a prompt with the puzzle, a worked example of the same style (an
invented puzzle, not one from the data sets) and the latest rejected program with its feedback
(a failing line, contradictory premises, no option or several options entailed). The first
accepted formalisation gives the answer. The data set's label (`expected`) is used only at the
end, to grade that answer: a wrong answer counts as unsolved. The label never reaches the prompt
or the verifier, so it cannot steer the search.
"""

from __future__ import annotations

from agent.loop import Outcome, Session
from agent.prompts import render_prompt
from agent.search.encoding import CODE_STOP, GENERATION_LIMIT_S, MAX_FEEDBACK_CHARS, Attempt, extract_program


def solve_logic(session: Session) -> Outcome:
    task = session.task
    if "llm" not in session.settings.sources or session.proposer is None:
        return Outcome("unsolved", message="formalisations come only from the model, and the model source is off")
    latest: Attempt | None = None
    step = 0
    while True:
        step += 1
        session.check_budget()
        prompt = render_prompt("logic", style=task.style, context=task.context, question=task.question,
                               options=task.options, description=task.description, attempt=latest)
        completions = session.sample(prompt, session.budget.samples_per_step, step, stop=CODE_STOP,
                                     time_limit_s=GENERATION_LIMIT_S)
        if not completions:
            return Outcome("unsolved", message="the model returned no proposals")
        for completion in completions:
            program = extract_program(completion.text)
            proposal = session.propose(step, "llm", raw=completion.text, text=program,
                                       logprob=completion.logprob, tokens=completion.tokens)
            verdict = session.verify(proposal)
            if verdict.accepted:
                answer = verdict.details["answer"]
                if task.expected and answer != task.expected:
                    return Outcome("unsolved", answer=answer, solved_by="llm",
                                   message=f"the formalisation entails {answer}, but the data set's answer is "
                                           f"{task.expected}")
                return Outcome("solved", answer=answer, certified=verdict.certified, message=verdict.feedback,
                               solved_by="llm")
            if verdict.status == "rejected":
                latest = Attempt(program, verdict.feedback[:MAX_FEEDBACK_CHARS])
