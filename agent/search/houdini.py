"""Houdini: the largest inductive subset of a pool of candidate conjuncts.

The search runs on Z3 terms (`verifiers.invariant.largest_inductive_subset`): every atom is parsed
once, one solver per check holds the transition relation once and an indicator literal per atom, and
each round drops every atom a counterexample falsifies. What survives is inductive; it proves the
assertion exactly when some subset of the pool does (the largest inductive subset is the strongest
one). Only the survivors' conjunction goes to the session's verifier, which checks it with Z3
(postcondition and vacuity included) and traces it like any proposal; nothing is accepted on the
search's word. Once accepted it is minimised with Z3's checks, and the final invariant is verified in
full, cvc5's re-check included (what makes it `certified`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.session import BudgetExhausted, Proposal, Session
from verifiers.base import Verdict
from verifiers.details import InvariantDetails
from verifiers.invariant import largest_inductive_subset, needed_conjuncts

HOUDINI_SHARE = 1 / 3
# Dropping conjuncts from an accepted invariant only makes it shorter, and the task is solved already:
# its time is the user's wait. It may take this share of the time the task took to get there (so a
# task solved in a second is not made to wait seconds), at least MINIMIZE_MIN_S and at most
# MINIMIZE_MAX_S or a quarter of the time left (on non-linear invariants each trial is about a second).
MINIMIZE_SHARE_OF_SEARCH = 1 / 4
MINIMIZE_MIN_S = 0.5
MINIMIZE_MAX_S = 4.0
# The needed conjuncts (see `finish`) may take up to NEEDED_MAX_S or a quarter of the time left: a
# few non-linear checks of a second or two each, which turn an answer of hundreds of conjuncts into
# its few needed ones (and make cvc5's re-check of it feasible); on a linear task, milliseconds.
NEEDED_MAX_S = 6.0
# cvc5's re-check of the answer (what makes it `certified`) likewise: a share of the time the task
# took, at least CERTIFY_MIN_S and at most CERTIFY_MAX_S. cvc5 certifies in under a second or two
# when it can at all (BENCHMARKS.md); on a non-linear answer it cannot decide it would otherwise
# spend seconds, the user's wait, to end undecided.
CERTIFY_SHARE_OF_SEARCH = 1 / 4
CERTIFY_MIN_S = 1.5
CERTIFY_MAX_S = 4.0


@dataclass
class HoudiniResult:
    verdict: Verdict | None  # the verifier's verdict on the survivors (None when the search gave up)
    survivors: list[str]  # the inductive conjuncts (empty when none survive or Houdini stopped early)
    inductive: bool  # initiation and consecution hold for `survivors`
    rounds: int


def conjunction(conjuncts: list[str]) -> str:
    return " && ".join(f"({text})" for text in conjuncts) if len(conjuncts) > 1 else (conjuncts[0] if conjuncts else "true")


def houdini(session: Session, proposal: Proposal, pool: list[str], time_s: float | None = None,
            facts: list[str] | None = None) -> HoudiniResult:
    """Refine `pool` (whose conjunction is `proposal.text`) to its largest inductive subset, then
    verify that subset (and, once accepted, drop the conjuncts it does not need). The proposal is
    already admitted, so only the time left can stop it; `time_s` caps the search's time. `facts`,
    conjuncts already proved inductive, are verified together with the subset (the conjunction of
    two inductive conjunctions is inductive; the facts may be what the assertion needs besides)."""
    session.check_time()
    # A search of many checks, not one check: it may take a share of the time left beyond the
    # verifier's per-call limit (over a thousand atoms, or non-linear ones, it needs it on a busy machine).
    timeout = max(0.05, min(session.time_left(), max(session.budget.verifier_timeout_s,
                                                     session.time_left() * HOUDINI_SHARE)))
    if time_s is not None:
        timeout = max(0.05, min(timeout, time_s))
    subset = largest_inductive_subset(session.task.vc_template, pool, timeout)
    if subset.status != "inductive":
        return HoudiniResult(None, [], False, subset.rounds)
    # Z3's verdict alone until the invariant is final: the second solver's re-check (seconds on a
    # large non-linear candidate, and it often gives up) is spent once, on the invariant reported.
    candidate = list(dict.fromkeys((facts or []) + subset.survivors))
    with_facts = len(candidate) > len(subset.survivors)
    # With the facts, half the verifier's time: Z3 may not decide the larger non-linear conjunction,
    # where the subset alone may still be decided.
    verdict = session.verify(proposal, conjunction(candidate), round=subset.rounds, certify=False,
                             timeout_s=session.budget.verifier_timeout_s / 2 if with_facts else None)
    if verdict.status == "unknown" and with_facts:
        # Z3 could not decide the whole conjunction (a non-linear equality beside a hundred linear facts
        # outlasts it), but both parts are inductive, so their conjunction is: the few conjuncts the
        # assertion needs (read from Z3's unsat cores) make a candidate it may decide, verified in full.
        needed = _needed_candidate(session, candidate, None)
        if needed is not None:
            verdict = session.verify(proposal, conjunction(needed), round=subset.rounds, certify=False)
    if verdict.status == "unknown" and with_facts:
        verdict = session.verify(proposal, conjunction(subset.survivors), round=subset.rounds, certify=False)
    details = verdict.details if isinstance(verdict.details, InvariantDetails) else None
    if verdict.status == "accepted" and details is not None:
        verdict, kept = finish(session, proposal, verdict, details.conjuncts, subset.rounds)
        return HoudiniResult(verdict, kept, True, subset.rounds)
    inductive = details is not None and details.checks is not None and details.checks.inductive
    return HoudiniResult(verdict, details.conjuncts if inductive else [], inductive, subset.rounds)


def finish(session: Session, proposal: Proposal, accepted: Verdict, conjuncts: list[str],
           first_round: int, time_s: float | None = None) -> tuple[Verdict, list[str]]:
    """An invariant Z3 accepted (`accepted`, verified with `certify=False`), cut down, then verified
    in full (cvc5's re-check included, in its share of the time) as the answer.

    First the conjuncts the assertion and their own preservation need, read from Z3's unsat cores
    (`needed_conjuncts`: one pass of cheap checks, however many conjuncts Houdini kept), verified in
    full at once. Where that finds nothing shorter or is not decided, conjuncts are dropped by trial
    (`minimize`) and the result verified in full. Where that cannot be done (no time left, or Z3
    undecided the second time on a non-linear check), Z3's proof of the minimised invariant is the
    answer, not certified; a disagreement of cvc5 is an error verdict, never an acceptance."""
    rounds = first_round
    try:
        needed = _needed_candidate(session, conjuncts, time_s)
        if needed is not None:
            rounds += 1
            final = session.verify(proposal, conjunction(needed), round=rounds, certify_s=_certify_s(session))
            if final.status in ("accepted", "error"):
                return final, needed
    except BudgetExhausted:
        return accepted, conjuncts
    best, kept, rounds = minimize(session, proposal, accepted, conjuncts, rounds, time_s)
    try:
        final = session.verify(proposal, conjunction(kept), round=rounds + 1, certify_s=_certify_s(session))
    except BudgetExhausted:
        return best, kept
    return (best if final.status == "unknown" else final), kept


def _certify_s(session: Session) -> float:
    return max(CERTIFY_MIN_S, min(CERTIFY_MAX_S, session.elapsed() * CERTIFY_SHARE_OF_SEARCH))


def _needed_candidate(session: Session, conjuncts: list[str], time_s: float | None) -> list[str] | None:
    """The needed conjuncts (in `time_s`, by default up to NEEDED_MAX_S), when fewer than all."""
    if len(conjuncts) < 2:
        return None
    limit_s = time_s if time_s is not None else max(MINIMIZE_MIN_S, min(NEEDED_MAX_S, session.time_left() / 4))
    needed = needed_conjuncts(session.task.vc_template, conjuncts, limit_s)
    return needed if needed is not None and len(needed) < len(conjuncts) else None


def minimize(session: Session, proposal: Proposal, accepted: Verdict, conjuncts: list[str],
             first_round: int, time_s: float | None = None) -> tuple[Verdict, list[str], int]:
    """Drop conjuncts an accepted invariant does not need, keeping it accepted (by Z3; the caller
    verifies the result in full) at every step; returns the verdict on the conjuncts kept, them and
    the last round.

    Chunks of halving size are tried for removal (as in delta debugging), so the many irrelevant
    atoms Houdini keeps go in a few calls. Only verified candidates are kept; when its share of the
    time (`time_s`, by default a share of the search's) or the budget runs out the shortest accepted
    invariant so far is returned.
    """
    share = min(MINIMIZE_MAX_S, session.time_left() / 4, session.elapsed() * MINIMIZE_SHARE_OF_SEARCH)
    stop_at = time.monotonic() + (time_s if time_s is not None else max(MINIMIZE_MIN_S, share))
    best, kept = accepted, list(conjuncts)
    round_number = first_round
    chunk = max(1, len(kept) // 2)
    try:
        while len(kept) > 1:
            start, removed_any = 0, False
            while start < len(kept) and len(kept) > 1:
                if time.monotonic() >= stop_at:
                    return best, kept, round_number
                trial = kept[:start] + kept[start + chunk:]
                round_number += 1
                verdict = session.verify(proposal, conjunction(trial), round=round_number, certify=False,
                                         timeout_s=max(MINIMIZE_MIN_S, stop_at - time.monotonic()))
                if verdict.status == "accepted":
                    best, kept, removed_any = verdict, trial, True
                else:
                    start += chunk
            if chunk == 1 and not removed_any:
                break
            chunk = max(1, chunk // 2)
    except BudgetExhausted:
        pass
    return best, kept, round_number
