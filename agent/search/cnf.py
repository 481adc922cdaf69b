"""The `cnf` strategy: decide a given formula with a certified answer.

No model is involved: the one proposal is the PySAT solver to run (the task's `solver`, else the
verifier's default), from the `symbolic` source. The verifier solves, checks the model (SAT) or the
DRAT proof (UNSAT), and only a certified answer solves the task. The task's `expected` answer is
compared afterwards for the report; it never decides anything.
"""

from __future__ import annotations

from agent.search.registry import strategy
from agent.session import Outcome, Session
from verifiers.details import CnfDetails


@strategy(kinds=("cnf",), needs_model=False)
def solve_cnf_task(session: Session) -> Outcome:
    task = session.task
    solver = task.solver or ""
    proposal = session.propose(solver, source="symbolic", step=0)
    verdict = session.verify(proposal)
    details = verdict.details if isinstance(verdict.details, CnfDetails) else CnfDetails()
    answer = details.answer
    agreement = ""
    if task.expected and answer in ("SAT", "UNSAT"):
        agreement = f" (the task expects {task.expected}: {'agrees' if answer == task.expected else 'DISAGREES'})"
    by = f"pysat:{details.solver or solver}"
    if verdict.status == "accepted":
        model = (verdict.certificate or {}).get("model")
        shown = f"\nv {' '.join(map(str, model))} 0" if model is not None else ""
        return Outcome("solved", answer=answer, certified=verdict.certified,
                       message=verdict.feedback + agreement + shown, solved_by=by)
    if verdict.status == "error":
        return Outcome("error", message=verdict.feedback)
    return Outcome("unsolved", answer=answer if answer in ("SAT", "UNSAT") else None,
                   message=f"{verdict.status}: {verdict.feedback}{agreement}")
