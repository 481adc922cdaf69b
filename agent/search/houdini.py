"""Houdini: the largest inductive subset of a pool of candidate conjuncts.

The search runs on Z3 terms (`verifiers.invariant.largest_inductive_subset`): every atom is parsed
once, one solver per check holds the transition relation once and an indicator literal per atom, and
each round drops every atom a counterexample falsifies. What survives is inductive; it proves the
assertion exactly when some subset of the pool does (the largest inductive subset is the strongest
one). Only the survivors' conjunction goes to the session's verifier, which checks it in full
(postcondition, vacuity, cvc5) and traces it like any proposal; nothing is accepted on the search's
word.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.session import BudgetExhausted, Proposal, Session
from verifiers.base import Verdict
from verifiers.details import InvariantDetails
from verifiers.invariant import largest_inductive_subset

HOUDINI_SHARE = 1 / 3
# Dropping conjuncts from an accepted invariant only makes it shorter: it may use this share of the
# time left, at least MINIMIZE_MIN_S and at most MINIMIZE_MAX_S (on non-linear invariants each trial
# is seconds, cvc5's re-check included, and the task is solved already: its time is the user's wait).
MINIMIZE_SHARE = 1 / 4
MINIMIZE_MIN_S = 2.0
MINIMIZE_MAX_S = 6.0


@dataclass
class HoudiniResult:
    verdict: Verdict | None  # the verifier's verdict on the survivors (None when the search gave up)
    survivors: list[str]  # the inductive conjuncts (empty when none survive or Houdini stopped early)
    inductive: bool  # initiation and consecution hold for `survivors`
    rounds: int


def conjunction(conjuncts: list[str]) -> str:
    return " && ".join(f"({text})" for text in conjuncts) if len(conjuncts) > 1 else (conjuncts[0] if conjuncts else "true")


def houdini(session: Session, proposal: Proposal, pool: list[str]) -> HoudiniResult:
    """Refine `pool` (whose conjunction is `proposal.text`) to its largest inductive subset, then
    verify that subset (and, once accepted, drop the conjuncts it does not need). The proposal is
    already admitted, so only the time left can stop it."""
    session.check_time()
    # A search of many checks, not one check: it may take a share of the time left beyond the
    # verifier's per-call limit (over a thousand atoms, or non-linear ones, it needs it on a busy machine).
    timeout = max(0.05, min(session.time_left(), max(session.budget.verifier_timeout_s,
                                                     session.time_left() * HOUDINI_SHARE)))
    subset = largest_inductive_subset(session.task.vc_template, pool, timeout)
    if subset.status != "inductive":
        return HoudiniResult(None, [], False, subset.rounds)
    verdict = session.verify(proposal, conjunction(subset.survivors), round=subset.rounds)
    details = verdict.details if isinstance(verdict.details, InvariantDetails) else None
    if verdict.status == "accepted" and details is not None:
        verdict, kept = minimize(session, proposal, verdict, details.conjuncts, subset.rounds)
        return HoudiniResult(verdict, kept, True, subset.rounds)
    inductive = details is not None and details.checks is not None and details.checks.inductive
    return HoudiniResult(verdict, details.conjuncts if inductive else [], inductive, subset.rounds)


def minimize(session: Session, proposal: Proposal, accepted: Verdict, conjuncts: list[str],
             first_round: int) -> tuple[Verdict, list[str]]:
    """Drop conjuncts an accepted invariant does not need, keeping it accepted at every step.

    Chunks of halving size are tried for removal (as in delta debugging), so the many irrelevant
    atoms Houdini keeps go in a few calls. Only verified candidates are kept; when its share of the
    time (or the budget) runs out the best accepted invariant so far is returned.
    """
    stop_at = time.monotonic() + max(MINIMIZE_MIN_S, min(MINIMIZE_MAX_S, session.time_left() * MINIMIZE_SHARE))
    best, kept = accepted, list(conjuncts)
    round_number = first_round
    chunk = max(1, len(kept) // 2)
    try:
        while len(kept) > 1:
            start, removed_any = 0, False
            while start < len(kept) and len(kept) > 1:
                if time.monotonic() >= stop_at:
                    return best, kept
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
