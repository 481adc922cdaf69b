"""Loop invariants checked with Z3 against a Code2Inv-style verification-condition template.

The template (`N.c.smt` in Code2Inv) declares the program variables, their primed copies (`x!`)
and SSA copies (`x_0`...), an `inv-f` whose body is left empty, `pre-f`, `trans-f` and `post-f`,
then three negated verification conditions. Sections are separated by the line
`SPLIT_HERE_asdfghjklzxcvbnmqwertyuiop`; the invariant's body goes after the first marker.

A proposal is parsed as a C boolean expression (see `verifiers.cexpr`), spliced into the template,
and each condition is checked separately:

- initiation:   pre  =>  inv
- consecution:  inv && trans  =>  inv'
- postcondition: inv  =>  post

The proposal is accepted only when all three negations are exactly `unsat`. A Z3 `unknown` or a
time-out makes the verdict `unknown`, never `accepted`. A failed check returns its counterexample
state, the conjuncts of the proposal it falsifies, and the full Z3 model so that it can be
re-checked independently. Each Z3 call has a solver time-out and a watchdog that interrupts the
context if the solver overruns it. The budget's `timeout_s` is one deadline for the whole verdict:
every solver call (three checks, the vacuity check, cvc5's three cross-checks) gets what is left
of it, and a call with nothing left is `unknown`.

The proposal is parsed by `verifiers.cexpr`, which bounds its length and nesting and translates it
without copying operands, so the solvers see a formula linear in the proposal's size. A proposal
outside linear arithmetic (`/` or `%` by a non-constant, `*` of two non-constants) is decided in a child
process (`verifiers/child.py`) killed at the budget: inside its preprocessing of such terms Z3 does not
always heed the interrupt, and a linear proposal needs no process of its own (Z3's linear
arithmetic stops when told, and the Code2Inv checks take milliseconds).
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Protocol

import z3

from verifiers import cexpr
from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.child import ChildFailure, ChildTimeout, call_in_child
from verifiers.details import CrossCheck, InvariantDetails
from verifiers.solvers import Cvc5InChild, cvc5_status, z3_check, z3_message

MARKER = "SPLIT_HERE_asdfghjklzxcvbnmqwertyuiop"
CHECKS = ("initiation", "consecution", "postcondition")
# A negated verification condition that is unsat means the condition holds.
_CHECK_STATUS = {"unsat": "holds", "sat": "fails"}


class InvariantProblem(Protocol):
    """What the invariant verifier reads from a task."""

    vc_template: str


class TemplateError(ValueError):
    """A verification-condition template that does not have the Code2Inv layout."""


@dataclass(frozen=True)
class VcTemplate:
    """A parsed Code2Inv verification-condition template."""

    definitions_head: str  # text up to the invariant's body
    definitions_tail: str  # from the end of the invariant's body to the end of post-f
    checks: dict[str, str]  # check name -> its `(assert (not ...))` text
    variables: tuple[str, ...]  # the parameters of inv-f, in order
    precondition_call: str  # the `(pre-f ...)` application used by the initiation check
    signatures: dict[str, tuple[str, ...]]  # pre-f, trans-f, post-f -> their parameter names

    def definitions(self, invariant_smt: str) -> str:
        return f"{self.definitions_head}\n{invariant_smt}\n{self.definitions_tail}"


_INV_SIGNATURE = re.compile(r"\(\s*define-fun\s+inv-f\s*\(((?:\s*\(\s*[^()\s]+\s+Int\s*\))*)\s*\)\s*Bool\s*$")
_PARAMETER = re.compile(r"\(\s*([^()\s]+)\s+Int\s*\)")
_PRE_CALL = re.compile(r"\(\s*pre-f\b[^()]*\)")


@lru_cache(maxsize=256)
def parse_template(text: str) -> VcTemplate:
    """Split and validate a template; raise TemplateError naming what is wrong."""
    sections = text.split(MARKER)
    if len(sections) != 5:
        raise TemplateError(f"expected 4 lines `{MARKER}` (5 sections), found {len(sections) - 1}")
    head = sections[0].rstrip()
    signature = _INV_SIGNATURE.search(head)
    if not signature:
        raise TemplateError("the first section does not end with `(define-fun inv-f (...) Bool` over Int parameters")
    variables = tuple(_PARAMETER.findall(signature.group(1)))
    if not variables:
        raise TemplateError("inv-f has no parameters")
    if len(set(variables)) != len(variables):
        raise TemplateError("inv-f has repeated parameters")
    signatures = {}
    for function in ("pre-f", "trans-f", "post-f"):
        found = re.search(r"\(\s*define-fun\s+" + re.escape(function) + r"\s*\(((?:\s*\(\s*[^()\s]+\s+Int\s*\))*)\s*\)\s*Bool",
                          sections[1])
        if not found:
            raise TemplateError(f"no `(define-fun {function} (...) Bool` over Int parameters")
        signatures[function] = tuple(_PARAMETER.findall(found.group(1)))
    pre_call = _PRE_CALL.search(sections[2])
    if not pre_call:
        raise TemplateError("the initiation check does not apply pre-f")
    template = VcTemplate(
        definitions_head=head,
        definitions_tail=sections[1],
        checks=dict(zip(CHECKS, sections[2:])),
        variables=variables,
        precondition_call=pre_call.group(0),
        signatures=signatures,
    )
    # Parse every check once with a trivial invariant so that a broken template fails here.
    context = z3.Context()
    for name, check in template.checks.items():
        try:
            assertions = z3.parse_smt2_string(template.definitions("true") + check, ctx=context)
        except z3.Z3Exception as error:
            raise TemplateError(f"the {name} check does not parse: {z3_message(error)}") from None
        if len(assertions) != 1:
            raise TemplateError(f"the {name} check should hold exactly one assertion, found {len(assertions)}")
    return template


@dataclass
class CheckOutcome:
    name: str
    status: str  # "holds" | "fails" | "unknown"
    model: dict[str, int] | None = None
    reason: str = ""
    failing_conjuncts: tuple[str, ...] = ()
    elapsed_s: float = 0.0


class Deadline:
    """One verdict's time: every solver call gets what is left."""

    def __init__(self, timeout_s: float) -> None:
        self.at = time.monotonic() + timeout_s

    def left(self) -> float:
        return self.at - time.monotonic()


OUT_OF_TIME = "the verifier's time ran out"
# Below this many seconds a solver call is not started (it would only report a time-out).
MIN_CALL_S = 0.01


# On a non-linear check, Z3's default solver often cannot see through the template's shape: `trans-f`
# is a disjunction of paths (the stutter step, each branch of the body) whose intermediate copies of
# the variables hide the polynomial identity each path preserves. Z3's own tactics can split those
# clauses into cases, substitute each path's equations and write the polynomials as sums of monomials.
# Each case is then linear over the monomials, and the SMT core decides it at once. Example: the sum of
# fifth powers `12*x == 2*y^6 + 6*y^5 + 5*y^4 - y^2` is preserved, decided in 0.02 s, where the default
# solver does not finish in 15 s. This is tried first, for a share of the time. Only its `unsat` is
# taken, or a `sat` whose model satisfies the check; anything else goes to the default solver.
BY_CASES_SHARE = 0.25
BY_CASES_MAX_S = 2.0
_CLAUSE_SPLITS = 4


def _by_cases(context: z3.Context) -> z3.Solver:
    def tactic(name: str) -> z3.Tactic:
        return z3.Tactic(name, ctx=context)
    splits = z3.Repeat(z3.OrElse(tactic("split-clause"), tactic("skip"), ctx=context), _CLAUSE_SPLITS, ctx=context)
    return z3.Then(tactic("simplify"), splits, tactic("propagate-values"), tactic("solve-eqs"),
                   z3.With(tactic("simplify"), som=True), tactic("smt"), ctx=context).solver()


def _solve(assertions: Any, context: z3.Context, deadline: Deadline,
           nonlinear: bool = False) -> tuple[str, z3.ModelRef | None, str]:
    """One Z3 call on a fresh solver, within what is left of the deadline (on a non-linear check,
    the case split above first)."""
    timeout_s = deadline.left()
    if timeout_s < MIN_CALL_S:
        return "unknown", None, OUT_OF_TIME
    if nonlinear:
        by_cases = _by_cases(context)
        by_cases.add(assertions)
        status, model, _ = _run_check(by_cases, context, min(BY_CASES_MAX_S, timeout_s * BY_CASES_SHARE))
        if status == "unsat" or (status == "sat" and all(
                z3.is_true(model.eval(assertion, model_completion=True)) for assertion in assertions)):
            return status, model, ""
        timeout_s = deadline.left()
        if timeout_s < MIN_CALL_S:
            return "unknown", None, OUT_OF_TIME
    solver = z3.Solver(ctx=context)
    solver.add(assertions)
    return _run_check(solver, context, timeout_s)


def _run_check(solver: z3.Solver, context: z3.Context, timeout_s: float) -> tuple[str, z3.ModelRef | None, str]:
    """("sat" | "unsat" | "unknown", the model when sat, the reason when unknown)."""
    status, reason = z3_check(solver, context, timeout_s)
    return status, (solver.model() if status == "sat" else None), reason


def _model_values(model: z3.ModelRef) -> dict[str, int]:
    values: dict[str, int] = {}
    for declaration in model.decls():
        if declaration.arity() != 0:
            continue
        value = model[declaration]
        if z3.is_int_value(value):
            values[declaration.name()] = value.as_long()
        elif z3.is_true(value) or z3.is_false(value):
            values[declaration.name()] = int(z3.is_true(value))
    return values


def _state(values: dict[str, int], variables: tuple[str, ...], suffix: str = "") -> dict[str, int]:
    # model_completion: a variable the formula leaves free may take any value; 0 is as good as any.
    return {name: values.get(name + suffix, 0) for name in variables}


def _smt_int(value: int) -> str:
    return str(value) if value >= 0 else f"(- {-value})"


def _format_state(state: dict[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in state.items())


@register
class InvariantVerifier(Verifier):
    name = "z3-invariant"
    version = f"1.0 (z3 {z3.get_version_string()})"
    kinds = ("invariant",)
    details_model = InvariantDetails

    def check_task(self, task: InvariantProblem) -> None:
        try:
            parse_template(task.vc_template)
        except TemplateError as error:
            raise ValueError(f"vc_template: {error}") from None

    def verify(self, task: InvariantProblem, proposal: HasText | str, budget: VerifyBudget) -> Verdict:
        started = time.perf_counter()
        deadline = Deadline(budget.timeout_s)  # the whole verdict's, parsing included
        text = proposal_text(proposal)
        try:
            template = parse_template(task.vc_template)
        except TemplateError as error:
            return self.verdict("error", f"the task's verification template is broken: {error}", started)
        try:
            expr = cexpr.parse_boolean(text, template.variables)
        except cexpr.ExprError as error:
            return self.verdict("rejected", f"Rejected before solving: {error}.", started,
                                details={"stage": "parse", "error": str(error)})
        if not cexpr.is_linear(expr):
            if not budget.certify:
                return self._decide_in_child(task.vc_template, text, budget, started)
            # cvc5's re-check starts beside Z3's decision: on a non-linear invariant each takes
            # seconds, and in child processes they need not take turns. It counts only if Z3 accepts.
            second_opinion = CrossCheckInChildren(template, template.definitions(cexpr.to_smtlib(expr)), deadline,
                                                  budget.certify_s)
            verdict = self._decide_in_child(task.vc_template, text, budget, started)
            if verdict.status != "accepted":
                second_opinion.cancel()
                return verdict
            return self._certified(verdict, second_opinion.result(), started)
        try:
            return self._decide(template, expr, deadline, started, budget.certify, budget.certify_s)
        except z3.Z3Exception as error:
            return self.verdict("error", f"Z3 failed: {z3_message(error)}", started)
        except RecursionError:  # the parser bounds nesting; this guards what the solvers' bindings do with it
            return self.verdict("rejected", "Rejected: the expression is nested too deeply to check.", started,
                                details={"stage": "parse", "error": "too deep"})

    def _decide_in_child(self, vc_template: str, text: str, budget: VerifyBudget, started: float) -> Verdict:
        """Z3's decision in a child process, killed at the budget: Z3 does not always stop when
        interrupted inside its preprocessing of nested non-linear terms (a nest of `%` by variables
        kept it busy six times past its time-out)."""
        try:
            verdict = call_in_child("verifiers.invariant:decide_in_child",
                                    {"vc_template": vc_template, "text": text, "timeout_s": budget.timeout_s},
                                    budget.timeout_s)
        except ChildTimeout as timeout:
            return self.verdict("unknown", f"Z3 could not decide: the check {timeout}; this is not a proof.", started,
                                details={"stage": "solve", "isolated": True})
        except ChildFailure as failure:
            return self.verdict("error", f"the checking process {failure}", started,
                                details={"stage": "solve", "isolated": True})
        return Verdict.model_validate({**verdict, "elapsed_s": time.perf_counter() - started})

    def _certified(self, accepted: Verdict, second_opinion: dict[str, str], started: float) -> Verdict:
        """A non-linear invariant Z3 accepted (in a child process), with cvc5's re-check of it."""
        details = accepted.details.model_copy(update={"cross_check": CrossCheck.model_validate(second_opinion)})
        elapsed = {"elapsed_s": time.perf_counter() - started}
        if second_opinion["status"] == "disagrees":
            return accepted.model_copy(update={
                "status": "error", "details": details, "certificate": None, "certified": False, **elapsed,
                "feedback": f"Z3 proved every check but cvc5 disagrees ({second_opinion['detail']}); not accepted."})
        return accepted.model_copy(update={"details": details, "certified": second_opinion["status"] == "agrees",
                                           **elapsed})

    def _decide(self, template: VcTemplate, expr: cexpr.Expr, deadline: Deadline, started: float,
                certify: bool = True, certify_s: float | None = None) -> Verdict:
        context = z3.Context()
        definitions = template.definitions(cexpr.to_smtlib(expr))
        parts = cexpr.conjuncts(expr)
        conjunct_texts = [cexpr.to_c(part) for part in parts]

        declarations = "".join(f"(declare-const {name} Int)" for name in template.variables)
        conjunct_smt = [cexpr.to_smtlib(part) for part in parts]

        def falsified(values: dict[str, int], suffix: str) -> tuple[str, ...]:
            # Evaluate each conjunct in the counterexample state (the primed copy for suffix "!").
            state = _state(values, template.variables, suffix)
            bindings = " ".join(f"({name} {_smt_int(value)})" for name, value in state.items())
            formulas = z3.parse_smt2_string(
                declarations + "".join(f"(assert (let ({bindings}) {smt}))" for smt in conjunct_smt), ctx=context)
            return tuple(shown for formula, shown in zip(formulas, conjunct_texts) if z3.is_false(z3.simplify(formula)))

        outcomes: dict[str, CheckOutcome] = {}
        for name in CHECKS:
            check_started = time.perf_counter()
            assertions = z3.parse_smt2_string(definitions + template.checks[name], ctx=context)
            result, model, reason = _solve(assertions, context, deadline, any(map(_nonlinear_term, assertions)))
            outcome = CheckOutcome(name, _CHECK_STATUS.get(result, "unknown"), reason=reason)
            if model is not None:
                outcome.model = _model_values(model)
                if name == "initiation":
                    outcome.failing_conjuncts = falsified(outcome.model, "")
                elif name == "consecution":
                    outcome.failing_conjuncts = falsified(outcome.model, "!")
            outcome.elapsed_s = time.perf_counter() - check_started
            outcomes[name] = outcome

        vacuous = self._vacuous(template, definitions, context, deadline)
        details: dict[str, Any] = {
            "stage": "solve",
            "invariant": cexpr.to_c(expr),
            "conjuncts": conjunct_texts,
            "vacuous": vacuous,
            "checks": {
                name: {
                    "status": outcome.status,
                    "failing_conjuncts": list(outcome.failing_conjuncts),
                    "reason": outcome.reason,
                    "elapsed_s": round(outcome.elapsed_s, 6),
                    "state": _state(outcome.model, template.variables) if outcome.model is not None else None,
                    "state_after": (_state(outcome.model, template.variables, "!")
                                    if outcome.model is not None and name == "consecution" else None),
                }
                for name, outcome in outcomes.items()
            },
        }
        failed = [outcome for outcome in outcomes.values() if outcome.status == "fails"]
        unknown = [outcome for outcome in outcomes.values() if outcome.status == "unknown"]
        if failed:
            feedback = " ".join(self._explain(outcome, template) for outcome in failed)
            if vacuous:
                feedback += " No state allowed by the pre-condition satisfies the invariant (vacuous)."
            counterexample = {
                outcome.name: self._counterexample(outcome, template) for outcome in failed
            }
            return self.verdict("rejected", feedback, started, counterexample=counterexample, details=details)
        if unknown:
            reasons = "; ".join(f"{outcome.name}: {outcome.reason}" for outcome in unknown)
            return self.verdict("unknown", f"Z3 could not decide ({reasons}); this is not a proof.", started,
                                details=details)
        feedback = "The invariant holds initially, is preserved by the loop body and implies the assertion."
        if vacuous:
            feedback += (" Warning: it is unsatisfiable together with the pre-condition, so the program's"
                         " pre-condition is itself contradictory (vacuous proof).")
        second_opinion = (cross_check(template, definitions, deadline, certify_s) if certify
                          else {"status": "undecided", "detail": "not asked (an intermediate candidate)"})
        details["cross_check"] = second_opinion
        if second_opinion["status"] == "disagrees":
            return self.verdict("error", f"Z3 proved every check but cvc5 disagrees ({second_opinion['detail']});"
                                " not accepted.", started, details=details)
        return self.verdict("accepted", feedback, started, details=details,
                            certificate={"invariant": cexpr.to_c(expr), "smtlib": cexpr.to_smtlib(expr)},
                            certified=second_opinion["status"] == "agrees")

    def _vacuous(self, template: VcTemplate, definitions: str, context: z3.Context, deadline: Deadline) -> bool | None:
        """True when pre && inv is unsatisfiable; None when Z3 cannot tell in time."""
        arguments = " ".join(template.variables)
        query = f"{definitions}(assert (and {template.precondition_call} (inv-f {arguments})))"
        result, _, _ = _solve(z3.parse_smt2_string(query, ctx=context), context, deadline)
        return {"unsat": True, "sat": False}.get(result)

    def refute(self, task: InvariantProblem, max_depth: int, budget: VerifyBudget) -> "Refutation | None":
        """Look for a run that violates the assertion (see `refute` below)."""
        return refute(task, max_depth, budget)

    @staticmethod
    def _counterexample(outcome: CheckOutcome, template: VcTemplate) -> dict[str, Any]:
        assert outcome.model is not None
        entry: dict[str, Any] = {"state": _state(outcome.model, template.variables), "model": outcome.model}
        if outcome.name == "consecution":
            entry["state_after"] = _state(outcome.model, template.variables, "!")
        entry["failing_conjuncts"] = list(outcome.failing_conjuncts)
        return entry

    @staticmethod
    def _explain(outcome: CheckOutcome, template: VcTemplate) -> str:
        assert outcome.model is not None
        before = _format_state(_state(outcome.model, template.variables))
        broken = ", ".join(f"`{text}`" for text in outcome.failing_conjuncts)
        if outcome.name == "initiation":
            which = f" (false: {broken})" if broken else ""
            return f"Initiation fails: with {before} on entry to the loop, the pre-condition holds but the invariant is false{which}."
        if outcome.name == "consecution":
            after = _format_state(_state(outcome.model, template.variables, "!"))
            which = f" (false after: {broken})" if broken else ""
            return (f"Consecution fails: with {before} before the loop body the invariant holds, "
                    f"but after it {after} breaks it{which}.")
        return (f"Postcondition fails: with {before} the invariant holds and the loop may exit, "
                f"but the assertion is false there; the invariant is too weak.")


# Seconds a child keeps between its work's deadline and its own alarm, to write its answer.
CHILD_ANSWER_S = 0.5


def _child_deadline(timeout_s: float) -> Deadline:
    """The deadline of work in a `verifiers.child` process: the time its alarm leaves (starting the
    process and importing Z3 have used some of `timeout_s`), less the time to answer; a deadline past
    the alarm would have the process killed with its answer (even Z3's proof) unwritten."""
    alarm_left = signal.getitimer(signal.ITIMER_REAL)[0]
    return Deadline(max(0.0, (alarm_left or timeout_s) - CHILD_ANSWER_S))


def decide_in_child(vc_template: str, text: str, timeout_s: float) -> dict[str, Any]:
    """Runs in the child process (`verifiers.child`): Z3's verdict on a non-linear proposal, as JSON
    (cvc5's re-check is the parent's, `InvariantVerifier._certified`)."""
    template = parse_template(vc_template)
    verifier = InvariantVerifier()
    started = time.perf_counter()
    expr = cexpr.parse_boolean(text, template.variables)
    return verifier._decide(template, expr, _child_deadline(timeout_s), started,
                            certify=False).model_dump(mode="json")


CVC5_SHARE = 0.5
CVC5_OVERRUN_S = 2.0


def cross_check(template: VcTemplate, definitions: str, deadline: Deadline,
                certify_s: float | None = None) -> dict[str, str]:
    """Re-check the three conditions with cvc5, a second solver with its own SMT-LIB parser, in
    `certify_s` seconds at most (when given).

    Returns {"status": "agrees" | "disagrees" | "undecided", "detail": ...}. Z3's `unsat` alone
    accepts an invariant; cvc5's agreement is what makes the acceptance `certified`.
    """
    own_time = Deadline(certify_s) if certify_s is not None else None
    answers: dict[str, tuple[str, str]] = {}
    for name in CHECKS:
        limit_s = _cvc5_limit(deadline, own_time.left() if own_time is not None else None)
        # cvc5_status sets the full logic: the templates declare LIA, an invariant may use * / %.
        answers[name] = cvc5_status(definitions + template.checks[name], limit_s) if limit_s >= MIN_CALL_S \
            else ("unknown", OUT_OF_TIME)
        if answers[name][0] != "unsat":
            break  # the rest cannot make it agree
    return _second_opinion(answers)


def _cvc5_limit(deadline: Deadline, certify_s: float | None) -> float:
    # cvc5 overruns its own limit on hard non-linear checks (by a third on a loaded machine); Z3's proof must
    # not be lost to that (in a child process the alarm would take the whole verdict with it).
    limit_s = deadline.left() * CVC5_SHARE - CVC5_OVERRUN_S
    return limit_s if certify_s is None else min(limit_s, certify_s)


def _second_opinion(answers: dict[str, tuple[str, str]]) -> dict[str, str]:
    """cvc5's answers (and details) to the checks it was asked as `cross_check`'s result: a check it
    finds satisfiable is a disagreement, whatever the others say; one it cannot decide leaves it undecided."""
    for name, (answer, _) in answers.items():
        if answer == "sat":
            return {"status": "disagrees", "detail": f"cvc5 finds the {name} check satisfiable"}
    for name, (answer, detail) in answers.items():
        if answer != "unsat":
            return {"status": "undecided", "detail": f"{name} check: {detail}"}
    return {"status": "agrees", "detail": "cvc5 proves all three checks"}


class CrossCheckInChildren:
    """`cross_check` with its three checks started at once, each in a child process of its own and
    killed shortly past its limit (cvc5 can overrun its limit by seconds on non-linear checks, and
    Z3's proof must not be lost with it). It runs beside Z3's decision: `result()` once Z3 has
    accepted, `cancel()` when it has not."""

    def __init__(self, template: VcTemplate, definitions: str, deadline: Deadline, certify_s: float | None) -> None:
        limit_s = _cvc5_limit(deadline, certify_s)
        self.checks = {name: Cvc5InChild(definitions + template.checks[name], limit_s)
                       for name in CHECKS} if limit_s >= MIN_CALL_S else {}

    def cancel(self) -> None:
        for check in self.checks.values():
            check.cancel()

    def result(self) -> dict[str, str]:
        """As `cross_check`'s."""
        if not self.checks:
            return _second_opinion({CHECKS[0]: ("unknown", OUT_OF_TIME)})
        return _second_opinion({name: check.answer() for name, check in self.checks.items()})


@dataclass(frozen=True)
class Refutation:
    """A run of the program that ends in a state violating the assertion: no invariant can exist."""

    depth: int  # loop iterations before the violating exit
    states: tuple[dict[str, int], ...]  # loop-head states, from entry to the violating state
    certified: bool  # the replay check passed (see `replay`); `refute` returns no other
    elapsed_s: float

    def describe(self) -> str:
        steps = " -> ".join("{" + _format_state(state) + "}" for state in self.states)
        return (f"the assertion fails after {self.depth} loop iteration(s) on the run {steps}; "
                "no invariant can prove it")


class _Unroller:
    """Builds SMT-LIB applications of pre-f/trans-f/post-f on per-step copies of the variables."""

    def __init__(self, template: VcTemplate) -> None:
        self.template = template
        self.declared: list[str] = []
        self._seen: set[str] = set()

    def _constant(self, name: str) -> str:
        if name not in self._seen:
            self._seen.add(name)
            self.declared.append(f"(declare-const |{name}| Int)")
        return f"|{name}|"

    def state(self, name: str, step: int) -> str:
        return self._constant(f"{name}@{step}")

    def apply(self, function: str, step: int) -> str:
        # Primed parameters read the next step's state; SSA parameters are fresh per application.
        arguments = []
        for parameter in self.template.signatures[function]:
            if parameter.endswith("!") and parameter[:-1] in self.template.variables:
                arguments.append(self.state(parameter[:-1], step + 1))
            elif parameter in self.template.variables:
                arguments.append(self.state(parameter, step))
            else:
                arguments.append(self._constant(f"{parameter}#{function}@{step}"))
        return f"({function} {' '.join(arguments)})"

    def script(self, assertions: list[str]) -> str:
        return (self.template.definitions("true") + "\n" + "\n".join(self.declared)
                + "".join(f"(assert {assertion})" for assertion in assertions))


# The replay of a refutation found at the end of the budget still gets this long.
MIN_REPLAY_S = 1.0


def refute(task: InvariantProblem, max_depth: int, budget: VerifyBudget) -> Refutation | None:
    """Bounded model checking of the template: look for a run of at most `max_depth` iterations that
    reaches the loop's exit with the assertion false, within one `budget.timeout_s`. A run is returned
    only when its replay (`replay`) confirms it; None when there is none, Z3 cannot tell, or the
    replay does not confirm it."""
    started = time.perf_counter()
    deadline = Deadline(budget.timeout_s)
    template = parse_template(task.vc_template)
    context = z3.Context()
    solver = z3.Solver(ctx=context)
    unroller = _Unroller(template)
    path = [unroller.apply("pre-f", 0)]
    for depth in range(max_depth + 1):
        if depth > 0:
            path.append(unroller.apply("trans-f", depth - 1))
        violation = f"(not {unroller.apply('post-f', depth)})"
        solver.push()
        solver.add(z3.parse_smt2_string(unroller.script(path + [violation]), ctx=context))
        if deadline.left() < MIN_CALL_S:
            return None
        result, model, _ = _run_check(solver, context, deadline.left())
        solver.pop()
        if model is not None:
            states = tuple(
                {name: model.eval(z3.Int(f"{name}@{step}", ctx=context), model_completion=True).as_long()
                 for name in template.variables}
                for step in range(depth + 1)
            )
            replay_budget = VerifyBudget(timeout_s=max(MIN_REPLAY_S, deadline.left()))
            if not replay(template, states, replay_budget):
                return None
            return Refutation(depth, states, True, time.perf_counter() - started)
        if result == "unknown":
            return None
    return None


def replay(template: VcTemplate, states: tuple[dict[str, int], ...], budget: VerifyBudget) -> bool:
    """Check a refutation anew: with every state pinned to its values, pre-f holds at the first,
    trans-f links each to the next and post-f fails at the last (the SSA copies stay existential)."""
    context = z3.Context()
    unroller = _Unroller(template)
    last = len(states) - 1
    assertions = [unroller.apply("pre-f", 0)]
    assertions += [unroller.apply("trans-f", step) for step in range(last)]
    assertions.append(f"(not {unroller.apply('post-f', last)})")
    for step, state in enumerate(states):
        assertions += [f"(= {unroller.state(name, step)} {_smt_int(value)})" for name, value in state.items()]
    result, _, _ = _solve(z3.parse_smt2_string(unroller.script(assertions), ctx=context), context,
                          Deadline(budget.timeout_s))
    return result == "sat"


# ---------------------------------------------------------------------------------------------
# Houdini on Z3 terms: the largest inductive subset of a pool of atoms, checked directly on terms.
# ---------------------------------------------------------------------------------------------

_TRANS_CALL = re.compile(r"\(\s*trans-f\b[^()]*\)")


@dataclass
class InductiveSubset:
    """What `largest_inductive_subset` found: `status` "inductive" (the survivors' conjunction holds
    initially and is preserved by the loop, possibly `true` when nothing survives) or "unknown" (a
    check ran out of time or Z3 could not decide: the survivors mean nothing)."""

    status: str
    survivors: list[str]
    rounds: int
    unreadable: int = 0  # atoms that do not parse as boolean conditions over the program's variables
    reason: str = ""


def subterms(term: z3.ExprRef):
    """Every distinct node of `term`, each once (an iterative walk: deep terms cannot exhaust the stack)."""
    pending, seen = [term], set()
    while pending:
        node = pending.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        yield node
        pending.extend(node.children())


def _nonlinear_term(term: z3.ExprRef) -> bool:
    """A product of two non-constants, a real division, or an integer division or remainder by
    anything but a non-zero number, anywhere in `term`."""
    for node in subterms(term):
        if z3.is_div(node):
            return True
        if (z3.is_idiv(node) or z3.is_mod(node)) and not (_is_number(node.arg(1))
                                                           and z3.simplify(node.arg(1)).as_long() != 0):
            return True
        if z3.is_mul(node) and sum(not _is_number(child) for child in node.children()) > 1:
            return True
    return False


def _is_number(term: z3.ExprRef) -> bool:
    """A numeral, or one written `(- 3)` (how Z3 prints a negative one: read back, it is an application)."""
    if z3.is_int_value(term) or z3.is_rational_value(term):
        return True
    return z3.is_app_of(term, z3.Z3_OP_UMINUS) and _is_number(term.arg(0))


def largest_inductive_subset(vc_template: str, atoms: list[str], timeout_s: float) -> InductiveSubset:
    """Houdini on Z3 terms: drop atoms until the conjunction of the rest is inductive.

    Each atom is parsed once into a term. One solver per check holds the template's relation once
    (`pre-f` for initiation, `trans-f` for consecution), `b_i => atom_i` for each atom's indicator
    `b_i`, and "some atom with its indicator on is false (after the step)"; each round is one
    `check(assumptions)` with the indicators of the atoms still in, and every atom the model falsifies
    is dropped in one pass. Only initiation and consecution are checked: the postcondition, vacuity
    and the cvc5 re-check are the invariant verifier's, on the final candidate.

    Linear atoms on a linear template run here (Z3's linear arithmetic heeds its time-out); anything
    non-linear runs in a child process killed at `timeout_s` (see `InvariantVerifier._decide_in_child`).
    On a linear template the linear atoms are refined here first; their survivors, inductive on
    their own, go to the child as facts assumed in every check of the non-linear atoms (a union of
    inductive conjunctions is inductive). If the child cannot decide in time, the linear survivors
    (an inductive subset, if not the largest) are the answer rather than nothing.
    """
    template = parse_template(vc_template)
    parsed: list[tuple[str, cexpr.Expr]] = []
    unreadable = 0
    for text in dict.fromkeys(atoms):
        try:
            parsed.append((text, cexpr.parse_boolean(text, template.variables)))
        except cexpr.ExprError:
            unreadable += 1
    deadline = Deadline(timeout_s)
    linear = [(text, expr) for text, expr in parsed if cexpr.is_linear(expr)]
    facts: list[str] = []  # inductive on their own: assumed, never dropped, by the non-linear search
    fallback = InductiveSubset("unknown", [], 0, unreadable)
    try:
        if not template_is_nonlinear(vc_template) and linear:
            fallback = _houdini_terms(template, linear, unreadable, deadline)
            if len(linear) == len(parsed) or fallback.status != "inductive":
                return fallback
            facts = fallback.survivors
            parsed = [(text, expr) for text, expr in parsed if not cexpr.is_linear(expr)]
    except (z3.Z3Exception, TemplateError) as error:
        message = z3_message(error) if isinstance(error, z3.Z3Exception) else str(error)
        return InductiveSubset("unknown", [], 0, unreadable, f"the search failed: {message}")
    if deadline.left() < MIN_CALL_S:
        return fallback
    try:
        answer = call_in_child("verifiers.invariant:houdini_in_child",
                               {"vc_template": vc_template, "atoms": [text for text, _ in parsed], "facts": facts,
                                "timeout_s": deadline.left()}, deadline.left())
    except ChildTimeout as timeout:
        fallback.reason = f"the non-linear search {timeout}"
        return fallback
    except ChildFailure as failure:
        fallback.reason = f"the non-linear search process {failure}"
        return fallback
    if answer["status"] != "inductive":
        fallback.reason = answer["reason"]
        return fallback
    return InductiveSubset(**{**answer, "survivors": facts + answer["survivors"],
                              "rounds": answer["rounds"] + fallback.rounds, "unreadable": unreadable})


def houdini_in_child(vc_template: str, atoms: list[str], timeout_s: float,
                     facts: tuple[str, ...] = ()) -> dict[str, Any]:
    """Runs in the child process (`verifiers.child`): `largest_inductive_subset` on non-linear terms."""
    template = parse_template(vc_template)
    parsed = [(text, cexpr.parse_boolean(text, template.variables)) for text in atoms]
    facts_parsed = [cexpr.parse_boolean(text, template.variables) for text in facts]
    answer = _houdini_one_by_one(template, parsed, facts_parsed, _child_deadline(timeout_s))
    return {"status": answer.status, "survivors": answer.survivors, "rounds": answer.rounds, "reason": answer.reason}


@lru_cache(maxsize=256)
def template_is_nonlinear(vc_template: str) -> bool:
    """Whether the template's `pre-f` or `trans-f` multiplies variables or divides by one."""
    template = parse_template(vc_template)
    context = z3.Context()
    pre, trans = _relations(template, context)
    return _nonlinear_term(pre) or _nonlinear_term(trans)


@lru_cache(maxsize=256)
def checks_are_nonlinear(vc_template: str) -> bool:
    """Whether any of the template's checks, the assertion's included, is non-linear (with the
    invariant `true`)."""
    template = parse_template(vc_template)
    context = z3.Context()
    return any(_nonlinear_term(term) for check in template.checks.values()
               for term in z3.parse_smt2_string(template.definitions("true") + check, ctx=context))


def _relations(template: VcTemplate, context: z3.Context) -> tuple[z3.BoolRef, z3.BoolRef]:
    """The template's `pre-f` and `trans-f` applications as terms over its declared constants."""
    trans_call = _TRANS_CALL.search(template.checks["consecution"])
    if not trans_call:
        raise TemplateError("the consecution check does not apply trans-f")
    pre, trans = z3.parse_smt2_string(
        template.definitions("true") + f"(assert {template.precondition_call})(assert {trans_call.group(0)})",
        ctx=context)
    return pre, trans


def _atoms_as_smtlib(template: VcTemplate, parsed: list[tuple[str, cexpr.Expr]]) -> tuple[re.Match, list[str], list[str]]:
    """The template's application of trans-f, and each atom as SMT-LIB over the current and the primed variables."""
    trans_call = _TRANS_CALL.search(template.checks["consecution"])
    if not trans_call:
        raise TemplateError("the consecution check does not apply trans-f")
    now = [cexpr.to_smtlib(expr) for _, expr in parsed]
    primed = [cexpr.to_smtlib(expr, lambda name: name + "!") for _, expr in parsed]
    return trans_call, now, primed


def _houdini_terms(template: VcTemplate, parsed: list[tuple[str, cexpr.Expr]], unreadable: int,
                   deadline: Deadline) -> InductiveSubset:
    # The solvers' assertions are written as SMT-LIB and parsed by Z3 in one call per script: building
    # thousands of terms through the Python API costs seconds, Z3's parser milliseconds.
    context = z3.Context()
    trans_call, now, primed = _atoms_as_smtlib(template, parsed)
    names = [f"|houdini indicator {index}|" for index in range(len(parsed))]
    header = template.definitions("true") + "".join(f"(declare-const {name} Bool)" for name in names)

    def script(relation: str, assumed: list[str], goal: list[str]) -> str:
        implications = "".join(f"(assert (=> {name} {term}))" for name, term in zip(names, assumed))
        violated = " ".join(f"(and {name} (not {term}))" for name, term in zip(names, goal))
        return f"{header}(assert {relation}){implications}(assert (or false {violated}))"

    def solver_for(text: str) -> z3.Solver:
        solver = z3.Solver(ctx=context)
        solver.add(z3.parse_smt2_string(text, ctx=context))
        return solver

    def terms(smt: list[str]) -> list[z3.BoolRef]:
        return list(z3.parse_smt2_string(header + "".join(f"(assert {term})" for term in smt), ctx=context)) \
            if smt else []

    def falsified_mask(smt: list[str]) -> z3.ArithRef | None:
        """One integer term whose bit i is set where atom i is false: a model evaluates it in one
        call (evaluating a thousand atoms one by one costs seconds of Python per round)."""
        if not smt:
            return None
        total = " ".join(f"(ite {term} 0 {1 << index})" for index, term in enumerate(smt))
        return z3.parse_smt2_string(f"{header}(assert (>= (+ 0 {total}) 0))", ctx=context)[0].arg(0)

    indicators = [z3.Bool(name[1:-1], ctx=context) for name in names]
    checks = ((solver_for(script(template.precondition_call, [], now)), now),
              (solver_for(script(trans_call.group(0), now, primed)), primed))
    alive = set(range(len(parsed)))
    rounds = 0
    # Initiation first (no atom is assumed there), then consecution; atoms dropped by consecution
    # cannot make initiation fail again, so one pass over each suffices. A dropped atom never comes
    # back: its indicator is asserted false in the solver, and only the living ones are assumed.
    for solver, goal_smt in checks:
        solver.add(*[z3.Not(indicators[index]) for index in range(len(parsed)) if index not in alive])
        mask = falsified_mask(goal_smt)
        while alive:
            rounds += 1
            if deadline.left() < MIN_CALL_S:
                return InductiveSubset("unknown", [], rounds, unreadable, OUT_OF_TIME)
            status, reason = z3_check(solver, context, deadline.left(),
                                      tuple(indicators[index] for index in sorted(alive)))
            if status == "unsat":
                break
            if status != "sat":
                return InductiveSubset("unknown", [], rounds, unreadable, reason)
            falsified = alive & _falsified(solver.model(), mask, lambda: terms(goal_smt))
            if not falsified:  # the model satisfies the goal through an atom Z3 cannot evaluate
                return InductiveSubset("unknown", [], rounds, unreadable, "a counterexample falsifies no atom")
            alive -= falsified
            solver.add(*[z3.Not(indicators[index]) for index in falsified])
    return InductiveSubset("inductive", [parsed[index][0] for index in sorted(alive)], rounds, unreadable)


def _falsified(model: z3.ModelRef, mask: z3.ArithRef | None, goal: Callable[[], list[z3.BoolRef]]) -> set[int]:
    """The indices of the atoms that `model` makes false, read from the mask's value."""
    value = model.eval(mask, model_completion=True) if mask is not None else None
    if value is not None and z3.is_int_value(value):
        bits = value.as_long()
        return {index for index in range(bits.bit_length()) if bits >> index & 1}
    # Some atom has no value in the model (a division by zero left open): one by one.
    return {index for index, term in enumerate(goal()) if z3.is_false(model.eval(term, model_completion=True))}


# Houdini over at most this many non-linear atoms checks each in a fresh solver (see below).
PLAIN_CHECK_ATOMS = 16


def _houdini_one_by_one(template: VcTemplate, parsed: list[tuple[str, cexpr.Expr]], facts: list[cexpr.Expr],
                        deadline: Deadline) -> InductiveSubset:
    """Houdini for non-linear atoms: each atom's check on its own (assuming the `facts`, inductive on
    their own, and every atom still in for consecution), in passes until one pass drops nothing.
    Z3's non-linear reasoning decides one polynomial at a time where the disjunction of all of them
    outlasts any budget. Over many atoms one solver per check holds them all, each guarded by an
    indicator literal (parsed once, checked under assumptions); over at most PLAIN_CHECK_ATOMS each
    check is a fresh solver with the atoms asserted as they are, checked once: guarded or checked
    incrementally they are out of reach of Z3's preprocessing, which eliminates variables with the
    equalities (the consecution of a basis of three cubic equalities, proved by a fresh solver in
    half a second, stayed undecided for 30 s under indicators). When a pass refutes nothing but
    leaves checks undecided within their slice of the time, the largest undecided atom is given up
    (the survivors' checks were all decided in the last pass, so they are inductive; only
    completeness is given up)."""
    context = z3.Context()
    trans_call, now, primed = _atoms_as_smtlib(template, parsed)
    kept = [f"|houdini kept {index}|" for index in range(len(parsed))]
    goals = [f"|houdini goal {index}|" for index in range(len(parsed))]
    definitions = template.definitions("true")
    header = definitions + "".join(f"(declare-const {name} Bool)" for name in kept + goals)
    known = "".join(f"(assert {cexpr.to_smtlib(fact)})" for fact in facts)

    def guarded_solver(relation: str, assumed: list[str], goal: list[str]) -> z3.Solver:
        implications = known + "".join(f"(assert (=> {name} {term}))" for name, term in zip(kept, assumed))
        violations = "".join(f"(assert (=> {name} (not {term})))" for name, term in zip(goals, goal))
        solver = z3.Solver(ctx=context)
        solver.add(z3.parse_smt2_string(f"{header}(assert {relation}){implications}{violations}", ctx=context))
        return solver

    def plain_check(relation: str, assumed: list[str], goal: str, slice_s: float) -> tuple[str, z3.Solver]:
        solver = z3.Solver(ctx=context)
        solver.add(z3.parse_smt2_string(f"{definitions}{known}(assert {relation})"
                                        + "".join(f"(assert {term})" for term in assumed)
                                        + f"(assert (not {goal}))", ctx=context))
        return z3_check(solver, context, slice_s)[0], solver

    kept_literals = [z3.Bool(name[1:-1], ctx=context) for name in kept]
    goal_literals = [z3.Bool(name[1:-1], ctx=context) for name in goals]
    alive = list(range(len(parsed)))
    rounds = 0
    for relation, assumes_atoms in ((template.precondition_call, False), (trans_call.group(0), True)):
        terms = primed if assumes_atoms else now
        guarded: z3.Solver | None = None  # built when first needed
        changed = True
        while changed and alive:
            changed = False
            undecided = []
            for index in list(alive):
                if index not in alive:
                    continue
                rounds += 1
                if deadline.left() < MIN_CALL_S:
                    return InductiveSubset("unknown", [], rounds, 0, OUT_OF_TIME)
                slice_s = min(deadline.left(), max(1.0, deadline.left() / len(alive)))
                if len(alive) <= PLAIN_CHECK_ATOMS:
                    status, solver = plain_check(relation, [now[other] for other in alive] if assumes_atoms else [],
                                                 terms[index], slice_s)
                else:
                    guarded = guarded or guarded_solver(relation, now if assumes_atoms else [], terms)
                    solver = guarded
                    assumptions = [kept_literals[other] for other in alive] if assumes_atoms else []
                    status, _ = z3_check(solver, context, slice_s, tuple(assumptions + [goal_literals[index]]))
                if status == "unsat":
                    continue
                if status != "sat":
                    undecided.append(index)
                    continue
                # Every atom the counterexample falsifies goes with this one.
                model = solver.model()
                dropped = {index} | {other for other in alive if z3.is_false(model.eval(
                    z3.parse_smt2_string(f"{header}(assert {terms[other]})", ctx=context)[0], model_completion=True))}
                alive = [other for other in alive if other not in dropped]
                changed = True
            if undecided and not changed:
                # Nothing was refuted: give up the largest undecided atom (with fewer atoms assumed,
                # the others' checks may be decided in the next pass).
                largest = max(undecided, key=lambda index: len(now[index]))
                alive = [other for other in alive if other != largest]
                changed = True
    return InductiveSubset("inductive", [parsed[index][0] for index in alive], rounds)


# Each trial removal from the assertion's core gets at most this long (the assertion's check is
# usually decided in milliseconds; a removal it cannot decide is not made).
NEEDED_REMOVAL_CHECK_S = 1.0


def needed_conjuncts(vc_template: str, conjuncts: list[str], timeout_s: float) -> list[str] | None:
    """Of the conjuncts of an invariant Z3 accepted, those the assertion needs and, in turn, those
    each needed conjunct needs to be preserved by the loop, read from Z3's unsat cores: their
    conjunction is inductive and implies the assertion (initiation holds for any subset of an
    invariant that holds initially). None when a check is not decided in time.

    What it returns is a candidate, not a verdict: the caller has the invariant verifier check it.
    A Houdini answer of hundreds of conjuncts comes down to its few needed ones in one pass of cheap
    checks (each check the accepted invariant passed, with one conjunct as its goal), where removing
    conjuncts by trial costs a verdict per trial. The cores are not minimal; the assertion's core is
    made so by trying each of its conjuncts' removal."""
    deadline = Deadline(timeout_s)
    try:
        template = parse_template(vc_template)
        parsed = [cexpr.parse_boolean(text, template.variables) for text in conjuncts]
    except (TemplateError, cexpr.ExprError):
        return None
    if template_is_nonlinear(vc_template) or not all(map(cexpr.is_linear, parsed)) \
            or checks_are_nonlinear(vc_template):
        try:
            return call_in_child("verifiers.invariant:needed_in_child",
                                 {"vc_template": vc_template, "conjuncts": conjuncts, "timeout_s": timeout_s},
                                 timeout_s)["needed"]
        except (ChildTimeout, ChildFailure):
            return None
    try:
        return _needed(template, conjuncts, parsed, deadline, nonlinear=False)
    except (z3.Z3Exception, TemplateError):
        return None


# The search-side checks of `_needed` (they find a candidate, never a verdict) first try Z3's nlsat
# procedure for this long: on the polynomial identities that non-linear loops preserve it decides
# in milliseconds what Z3's default solver takes seconds for (`x*u + y*v == a*b`: 0.05 s against
# 2 s). Over the integers nlsat has given wrong answers (Z3 issue 5502), which is why only the
# search uses it: what it finds is verified by the default solver like any candidate.
NLSAT_HINT_S = 0.5


def _unsat_hint(assertions: z3.AstVector, context: z3.Context, time_s: float, try_nlsat: bool = True) -> bool:
    """Whether Z3 finds `assertions` unsat in `time_s`: with `try_nlsat` (non-linear problems; the
    default solver decides linear ones in milliseconds), nlsat first, briefly, then the default solver."""
    nlsat_s = min(NLSAT_HINT_S, time_s / 2) if try_nlsat else 0.0
    if nlsat_s:
        nlsat = z3.Then(z3.With(z3.Tactic("simplify", ctx=context), som=True), z3.Tactic("qfnra-nlsat", ctx=context),
                        ctx=context).solver()
        nlsat.add(assertions)
        if z3_check(nlsat, context, nlsat_s)[0] == "unsat":
            return True
    plain = z3.Solver(ctx=context)
    plain.add(assertions)
    return z3_check(plain, context, time_s - nlsat_s)[0] == "unsat"


def needed_in_child(vc_template: str, conjuncts: list[str], timeout_s: float) -> dict[str, Any]:
    """Runs in the child process (`verifiers.child`): `needed_conjuncts` on non-linear terms."""
    template = parse_template(vc_template)
    parsed = [cexpr.parse_boolean(text, template.variables) for text in conjuncts]
    return {"needed": _needed(template, conjuncts, parsed, _child_deadline(timeout_s), nonlinear=True)}


def _needed(template: VcTemplate, conjuncts: list[str], parsed: list[cexpr.Expr], deadline: Deadline,
            nonlinear: bool) -> list[str] | None:
    context = z3.Context()
    count = len(parsed)
    # Each conjunct in inv-f's body is guarded by an indicator literal (`b_i => conjunct_i`); a check
    # under the indicators as assumptions names the conjuncts it used in its unsat core.
    indicator_names = [f"veriloop needed {index}" for index in range(count)]
    goal_names = [f"veriloop goal {index}" for index in range(count)]
    indicators = [z3.Bool(name, ctx=context) for name in indicator_names]
    goals = [z3.Bool(name, ctx=context) for name in goal_names]
    declared = dict(zip(indicator_names + goal_names, indicators + goals))
    guarded = " ".join(f"(=> |{name}| {cexpr.to_smtlib(expr)})" for name, expr in zip(indicator_names, parsed))
    definitions = template.definitions(f"(and true {guarded})")
    position = {literal.get_id(): index for index, literal in enumerate(indicators)}

    def core(solver: z3.Solver) -> set[int]:
        return {position[literal.get_id()] for literal in solver.unsat_core() if literal.get_id() in position}

    def under(solver: z3.Solver, kept: set[int], extra: tuple[z3.BoolRef, ...] = (), limit_s: float | None = None) -> str:
        if deadline.left() < MIN_CALL_S:
            return "unknown"
        time_s = deadline.left() if limit_s is None else min(limit_s, deadline.left())
        return z3_check(solver, context, time_s, tuple(indicators[index] for index in sorted(kept)) + extra)[0]

    assertion = z3.Solver(ctx=context)
    assertion.add(z3.parse_smt2_string(definitions + template.checks["postcondition"], decls=declared, ctx=context))
    if under(assertion, set(range(count))) != "unsat":
        return None
    needed = core(assertion)
    for index in sorted(needed, key=lambda index: -len(conjuncts[index])):
        if index in needed and under(assertion, needed - {index}, limit_s=NEEDED_REMOVAL_CHECK_S) == "unsat":
            needed = core(assertion)

    trans_call = _TRANS_CALL.search(template.checks["consecution"])
    if not trans_call:
        raise TemplateError("the consecution check does not apply trans-f")
    now = [cexpr.to_smtlib(expr) for expr in parsed]
    primed = [cexpr.to_smtlib(expr, lambda name: name + "!") for expr in parsed]
    arguments = " ".join(template.variables)
    preserved = z3.Solver(ctx=context)
    preserved.add(z3.parse_smt2_string(
        definitions + f"(assert (inv-f {arguments}))(assert {trans_call.group(0)})"
        + "".join(f"(assert (=> |{name}| (not {term})))" for name, term in zip(goal_names, primed)),
        decls=declared, ctx=context))
    pending = sorted(needed)
    while pending:
        index = pending.pop()
        # First whether the conjuncts needed so far preserve this one on their own (a fresh solver:
        # it decides non-linear checks that Z3 leaves undecided under assumptions).
        assertions = z3.parse_smt2_string(
            template.definitions("true") + f"(assert {trans_call.group(0)})"
            + "".join(f"(assert {now[other]})" for other in sorted(needed)) + f"(assert (not {primed[index]}))",
            ctx=context)
        # Half the time left: if it fails, the check under every conjunct (when it decides at all, in
        # milliseconds) has the other half.
        slice_s = deadline.left() / 2
        if slice_s >= MIN_CALL_S and _unsat_hint(assertions, context, slice_s, try_nlsat=nonlinear):
            continue
        # If not, under every conjunct: its core names the ones to add.
        if under(preserved, set(range(count)), (goals[index],)) != "unsat":
            return None
        added = core(preserved) - needed
        needed |= added
        pending += sorted(added)
    return [conjuncts[index] for index in sorted(needed)]
