"""The `cnf` strategy: decide a given formula with a certified answer.

No model is involved: the one proposal is the PySAT solver to run (the task's `solver`, else the
verifier's default), from the `symbolic` source. The verifier solves, checks the model (SAT) or the
DRAT proof (UNSAT), and only a certified answer solves the task. The task's `expected` answer is
compared afterwards for the report; it never decides anything.

With `guide: gnn` (`--guide gnn`) the graph neural network of `agent/gnn` proposes instead: its
proposal (source `gnn`) carries a `PhaseHint` payload (phases, confidences, inference time; with
`guide_threshold`, only the confident phases reach the solver) beside the solver's name. The
verifier hands the phases to the solver and checks the answer exactly as without them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.search.registry import strategy
from agent.session import Outcome, Session
from verifiers.details import CnfDetails


class CnfSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guide: Literal["none", "gnn"] = Field(default="none", description="what proposes phases to the solver")
    guide_threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                          description="hand over only phases at least this confident")


@strategy(kinds=("cnf",), needs_model=False, settings=CnfSettings)
def solve_cnf_task(session: Session) -> Outcome:
    task = session.task
    settings = session.options(CnfSettings)
    solver = task.solver or ""
    if settings.guide == "gnn":
        from agent.gnn.guide import phase_hint
        from verifiers.sat import read_dimacs

        variables, clauses = read_dimacs(task.dimacs)  # the task was checked when loaded
        hint = phase_hint(variables, clauses, settings.guide_threshold)
        proposal = session.propose(hint, source="gnn", step=0, text=solver)
    else:
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
