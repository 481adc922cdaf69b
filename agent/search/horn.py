"""The `horn` source: the task's template posed as constrained Horn clauses to Z3's Spacer.

    pre(x, s)                        =>  inv(x)
    inv(x) && trans(x, x', s)        =>  inv(x')
    inv(x) && !post(x, s)            =>  false

Spacer runs in a background child process (`verifiers.child.ChildCall`), started shortly after the
search starts (`InvariantSettings.horn_start_s`) at a lower scheduling priority and killed at its
share of the budget, so that it works while the other sources do, on the time they leave. It tries
its configurations in turn (`CONFIGURATIONS`), each with an equal slice of that share. When it
answers `sat`, the interpretation it found for `inv` is written as a C expression (`agent.search.z3c`)
and goes to the invariant verifier like any other proposal: Spacer's word is never taken as a proof.
Its `unsat` (no invariant exists) is not used either; bounded model checking finds such runs.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import z3

from agent.search.z3c import Untranslatable, to_c
from verifiers.child import ChildCall, ChildFailure
from verifiers.invariant import parse_template, subterms

# Spacer works beside the other sources, which get the processor first: it has what they leave idle.
SPACER_NICENESS = 5
_CALL = {name: re.compile(r"\(\s*" + name + r"\b[^()]*\)") for name in ("trans-f", "post-f")}


# Spacer's configurations, tried in turn. Its global guidance (`fp.spacer.global`) proves loops whose
# invariant relates several variables (`i - j == x - y`) where its default lemma generalisation
# diverges; the default proves others that global guidance does not finish in its slice.
CONFIGURATIONS: tuple[dict[str, bool], ...] = ({"fp.spacer.global": True}, {})


class SpacerRun:
    """Spacer on a template, running in the background: `invariant()` collects its answer once.

    The child starts `start_after_s` into the run (at once when that is 0, or when `invariant(wait=True)`
    asks first), so that a task the quick sources settle within that time never pays for its process."""

    def __init__(self, vc_template: str, timeout_s: float, start_after_s: float = 0.0) -> None:
        self._vc_template = vc_template
        self._deadline = time.monotonic() + timeout_s
        self._lock = threading.Lock()
        self._call: ChildCall | None = None
        self._over = False  # collected or cancelled: never start again
        self._timer: threading.Timer | None = None
        if start_after_s <= 0:
            self._start()
        else:
            self._timer = threading.Timer(start_after_s, self._start)
            self._timer.daemon = True
            self._timer.start()

    def _start(self) -> None:
        with self._lock:
            remaining = self._deadline - time.monotonic()
            if self._over or self._call is not None or remaining <= 0.05:
                return
            self._call = ChildCall("agent.search.horn:spacer_in_child",
                                   {"vc_template": self._vc_template, "timeout_s": remaining}, remaining,
                                   niceness=SPACER_NICENESS)

    def running(self) -> bool:
        return self._call is not None and not self._call.done()

    def invariant(self, wait: bool) -> str | None:
        """Spacer's invariant as C text, the first time it is asked once Spacer has finished (after
        waiting for it when `wait`); None while it runs, when it found none, and ever after."""
        if wait:
            self._stop_timer()
            self._start()
        with self._lock:
            if self._over or self._call is None or not (wait or self._call.done()):
                return None
            call, self._over = self._call, True
        try:
            return call.result().get("invariant")
        except ChildFailure:
            return None

    def cancel(self) -> None:
        self._stop_timer()
        with self._lock:
            self._over = True
            call, self._call = self._call, None
        if call is not None:
            call.cancel()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def spacer_in_child(vc_template: str, timeout_s: float) -> dict[str, Any]:
    """Runs in the child process: {"status": Spacer's last answer, "invariant": C text or None}."""
    deadline = time.monotonic() + timeout_s
    status = "unknown"
    for number, configuration in enumerate(CONFIGURATIONS):
        slice_s = (deadline - time.monotonic()) / (len(CONFIGURATIONS) - number)
        status, invariant = _spacer(vc_template, slice_s, configuration)
        if status == "sat" and invariant is not None:
            return {"status": status, "invariant": invariant}
        if status == "unsat":  # no invariant exists: no other configuration can find one
            break
    return {"status": status, "invariant": None}


def _spacer(vc_template: str, timeout_s: float, configuration: dict[str, bool]) -> tuple[str, str | None]:
    template = parse_template(vc_template)
    context = z3.Context()
    calls = [template.precondition_call] + [_CALL[name].search(template.checks[check]).group(0)
                                            for name, check in (("trans-f", "consecution"), ("post-f", "postcondition"))]
    pre, trans, post = z3.parse_smt2_string(
        template.definitions("true") + "".join(f"(assert {call})" for call in calls), ctx=context)
    current = [z3.Int(name, ctx=context) for name in template.variables]
    after = [z3.Int(name + "!", ctx=context) for name in template.variables]
    invariant = z3.Function("inv", *[z3.IntSort(ctx=context)] * len(current), z3.BoolSort(ctx=context))
    solver = z3.SolverFor("HORN", ctx=context)
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    for option, value in configuration.items():
        solver.set(option, value)
    for clause in (z3.Implies(pre, invariant(*current)),
                   z3.Implies(z3.And(invariant(*current), trans), invariant(*after)),
                   z3.Implies(z3.And(invariant(*current), z3.Not(post)), z3.BoolVal(False, ctx=context))):
        constants = _constants(clause)
        solver.add(z3.ForAll(constants, clause) if constants else clause)
    status = str(solver.check())
    if status != "sat":
        return status, None
    body = z3.substitute_vars(solver.model()[invariant].else_value(), *current)
    try:
        return status, to_c(body)
    except Untranslatable:
        return status, None


def _constants(term: z3.ExprRef) -> list[z3.ExprRef]:
    """The uninterpreted integer constants of `term`."""
    found = {str(node): node for node in subterms(term)
             if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED}
    return list(found.values())
