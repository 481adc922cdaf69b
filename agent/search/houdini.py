"""Houdini: the largest inductive subset of a pool of candidate conjuncts.

Start from the conjunction of the whole pool; while the verifier finds a state where initiation
fails, or a step after which consecution fails, drop the conjuncts that state falsifies (the
verifier names them in its typed details, `InvariantDetails.checks`) and try again. What survives is
inductive; it proves the assertion exactly when some subset of the pool does (the largest inductive
subset is the strongest one). Every round is a verifier call on the session, so it is traced and
budgeted like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.session import BudgetExhausted, Proposal, Session
from verifiers.base import Verdict
from verifiers.details import InvariantDetails


@dataclass
class HoudiniResult:
    verdict: Verdict | None  # the last verdict
    survivors: list[str]  # the inductive conjuncts (empty when none survive or Houdini stopped early)
    inductive: bool  # initiation and consecution hold for `survivors`
    rounds: int


def conjunction(conjuncts: list[str]) -> str:
    return " && ".join(f"({text})" for text in conjuncts) if len(conjuncts) > 1 else (conjuncts[0] if conjuncts else "true")


def houdini(session: Session, proposal: Proposal, pool: list[str]) -> HoudiniResult:
    """Refine `pool` (whose conjunction is `proposal.text`) until it is inductive or empty."""
    current = list(pool)
    verdict: Verdict | None = None
    rounds = 0
    while current:
        rounds += 1
        verdict = session.verify(proposal, conjunction(current), round=rounds)
        details = verdict.details if isinstance(verdict.details, InvariantDetails) else None
        if verdict.status == "accepted" and details is not None:
            verdict, current = minimize(session, proposal, verdict, details.conjuncts, rounds)
            return HoudiniResult(verdict, current, True, rounds)
        if verdict.status != "rejected" or details is None or details.checks is None:
            return HoudiniResult(verdict, [], False, rounds)  # unknown, error or a parse failure: stop
        if details.checks.inductive:
            return HoudiniResult(verdict, details.conjuncts, True, rounds)
        failing = details.checks.failing_conjuncts()
        if not failing:  # a failure no single conjunct explains (an `unknown` check): cannot refine
            return HoudiniResult(verdict, [], False, rounds)
        current = [text for text in details.conjuncts if text not in failing]
    return HoudiniResult(verdict, [], False, rounds)


def minimize(session: Session, proposal: Proposal, accepted: Verdict, conjuncts: list[str],
             first_round: int) -> tuple[Verdict, list[str]]:
    """Drop conjuncts an accepted invariant does not need, keeping it accepted at every step.

    Chunks of halving size are tried for removal (as in delta debugging), so the many irrelevant
    atoms Houdini keeps go in a few calls. Only verified candidates are kept; if the budget runs
    out the best accepted invariant so far is returned.
    """
    best, kept = accepted, list(conjuncts)
    round_number = first_round
    chunk = max(1, len(kept) // 2)
    try:
        while len(kept) > 1:
            start, removed_any = 0, False
            while start < len(kept) and len(kept) > 1:
                trial = kept[:start] + kept[start + chunk:]
                round_number += 1
                verdict = session.verify(proposal, conjunction(trial), round=round_number)
                if verdict.status == "accepted":
                    best, kept, removed_any = verdict, trial, True
                else:
                    start += chunk
            if chunk == 1 and not removed_any:
                break
            chunk = max(1, chunk // 2)
    except BudgetExhausted:
        pass
    return best, kept
