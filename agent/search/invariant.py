"""The loop-invariant strategy: program atoms, counterexample-guided sampling, Houdini recombination.

1. Step 0, if enabled: the `symbolic` source (atoms from the program text) and the `dynamic` source
   (linear equalities seen on concrete runs) each propose the conjunction of their atoms; Houdini
   then refines the pooled atoms to their largest inductive subset.
2. If nothing is proved yet, bounded model checking looks for a run that violates the assertion:
   if one exists no invariant can prove it. The run (found on the SMT-LIB template) is replayed on the
   C program with the program's own semantics: when the program runs it too the task is `refuted`
   (with the run as evidence); when no run of the program matches, the template is wrong and the
   task ends `template_wrong`; when the replay cannot tell, the search goes on.
3. The `polynomial` source: equalities of degree up to 3 fitted to runs that start from models of
   the pre-condition join the pool, and Houdini recombines it.
4. The `horn` source: Spacer solves the template posed as Horn clauses, in a child process started
   with the search and running beside the other sources under a share of the task's time; its
   invariant, written in C, is verified like any proposal when it comes (between the other stages,
   and waited for before the task ends unsolved), and its conjuncts join the pool.
5. Then, while the budget lasts, the `llm` source samples proposals from a prompt that carries the
   program, the facts proved inductive so far and the latest counterexamples. Each proposal is
   verified (a candidate sampled again is passed over, not verified or counted twice); the conjuncts
   of rejected proposals join the pool, and Houdini recombines the pool whenever it grows.

The task is solved by the first accepted candidate; acceptance is always the verifier's. A task with
a C program has its answer verified again on the program's own template (`on_program`): when the
program's semantics reject it, the task's template is wrong (`template_wrong`), and the search goes
on on the program's own template for an invariant of the program.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agent.c_transition import c_template
from agent.cprogram import ProgramError, replay_violation
from agent.llm.base import Completion
from agent.llm.constrained import invariant_grammar
from agent.prompts import render_prompt
from agent.search.atoms import program_atoms, template_atoms
from agent.search.dynamic import equalities, fitted_equalities, sample_states, states_from_precondition
from agent.search.horn import SpacerRun
from agent.search.houdini import conjunction, finish, houdini
from agent.search.registry import strategy
from agent.session import BudgetExhausted, Outcome, Proposal, Session
from agent.tasks import InvariantTask
from agent.trace import ErrorEvent, ProgramCheckEvent, RefutationEvent
from verifiers import cexpr, child
from verifiers.base import Refutes, Verdict, VerifyBudget
from verifiers.child import ChildCall, ChildFailure, call_in_child, preload
from verifiers.details import InvariantDetails
from verifiers.invariant import checks_are_nonlinear
from verifiers.transition import from_template

FEEDBACK_ATTEMPTS = 3  # failed attempts shown in the prompt (the model's context is short)
MAX_REPEATED_STEPS = 3  # model steps in a row that bring no new candidate before the model is given up on
MAX_FEEDBACK_CHARS = 400
# cvc5's re-check, on the task's template, of an answer first proved on the program's own template.
CERTIFY_ON_TASK_S = 4.0
# A fitted equality with at most this many `+` (four monomials, `3 * n*n + 3 * n + 1 == y`) is simple.
SIMPLE_EQUALITY_PLUSES = 3
# Seconds of runs from the pre-condition that filter the atoms of a non-linear task (and that the
# polynomial fits read): on a busy machine a shorter sampling gives too few distinct states.
REACHED_TIME_S = 5.0
FILTER_STATES = 200
# Seconds for splitting the fitted equalities into a basis and what it implies (Gröbner bases).
GROEBNER_TIME_S = 10.0
# Seconds the fits of a non-linear task may take in their child process (they take 0.1-4 s).
FIT_TIME_S = 30.0

# The modules this strategy's child processes run (fitting's Gröbner bases, Spacer) start loaded.
preload("agent.search.dynamic", "agent.search.horn")

_FENCE = re.compile(r"`+(?:c|C)?")
_LABEL = re.compile(r"^\s*(?:loop\s+)?invariant\s*[:=]\s*", re.IGNORECASE)
_WRAPPER = re.compile(r"^\s*(?:assert|assume|__VERIFIER_assert)\s*\((.*)\)\s*$", re.DOTALL)


def extract_candidate(completion: str) -> str:
    """The expression in a model's answer: fences, an `invariant:` label, trailing semicolons and an
    enclosing `assert(...)` are removed; anything else is left for the verifier to judge."""
    text = _FENCE.sub("", completion).strip()
    text = _LABEL.sub("", text).strip().rstrip(";").strip()
    wrapped = _WRAPPER.match(text)
    return wrapped.group(1).strip() if wrapped else text


def without_repeats(candidate: str) -> str:
    """`candidate` with a conjunct, or a disjunct within a conjunct, that it repeats written once (`a || a`
    is `a`): the same invariant, in the form that is verified and reported (a small model often repeats
    itself: `c >= 40 || c >= 40 || c >= 0`). A candidate without repeats, or that does not parse, is left
    as it is."""
    try:
        expr = cexpr.parse(candidate)
    except cexpr.ExprError:
        return candidate
    disjuncts = [cexpr.disjuncts(conjunct) for conjunct in cexpr.conjuncts(expr)]
    unique = [list(dict.fromkeys(cexpr.to_c(part) for part in parts)) for parts in disjuncts]
    conjuncts = list(dict.fromkeys(" || ".join(f"({part})" for part in parts) for parts in unique))
    if len(conjuncts) == len(disjuncts) and sum(map(len, unique)) == sum(map(len, disjuncts)):
        return candidate
    return cexpr.to_c(cexpr.parse(" && ".join(f"({conjunct})" for conjunct in conjuncts)))


def _same_text(candidate: str) -> str:
    """The candidate with its runs of white space made one space: two samples that differ only there are one."""
    return " ".join(candidate.split())


class InvariantSettings(BaseModel):
    """Options of the invariant search (`--no-refute`, `--refute-depth` on the command line)."""

    model_config = ConfigDict(extra="forbid")

    refute: bool = Field(default=True, description="Look for a run that violates the assertion (bounded model checking).")
    refute_depth: int = Field(default=10, ge=0, description="Loop iterations the refutation search unrolls.")
    horn_share: float = Field(default=0.5, gt=0, le=1,
                              description="Share of the task's time the `horn` source (Spacer, running beside the "
                                          "other sources from the start) may use; alone it has all of it.")
    horn_start_s: float = Field(default=1.0, ge=0, description="Seconds into the task before the `horn` source "
                                "starts Spacer's process, so that tasks the quick sources settle at once do not pay "
                                "for it (alone, it starts at once).")
    constrained: bool = Field(default=True, description="Sample the model under the task's invariant grammar "
                              "(agent.llm.constrained), so every proposal parses and names only its variables; on by "
                              "default since it measured better (BENCHMARKS.md), `--no-constrained` turns it off.")


@dataclass
class Attempt:
    text: str
    feedback: str


class AtomPool:
    """Distinct candidate conjuncts in the order they arrived, with the source that first gave each."""

    def __init__(self) -> None:
        self.origin: dict[str, str] = {}

    def add(self, conjuncts: list[str], source: str) -> int:
        added = 0
        for text in conjuncts:
            if text not in self.origin:
                self.origin[text] = source
                added += 1
        return added

    @property
    def atoms(self) -> list[str]:
        return list(self.origin)


def _details(verdict: Verdict) -> InvariantDetails | None:
    return verdict.details if isinstance(verdict.details, InvariantDetails) else None


def _solved(verdict: Verdict, by: str) -> Outcome:
    details = _details(verdict)
    return Outcome("solved", answer=details.invariant if details else None, certified=verdict.certified,
                   message=verdict.feedback, solved_by=by)


def on_program(session: Session, outcome: Outcome) -> tuple[Outcome, InvariantTask | None]:
    """A solved task's invariant checked again on the task's C program with the program's own semantics
    (`agent.c_transition`): a template that reads the program differently (SMT-LIB's real `/` for
    C's integer division, unbounded for `unsigned`) may accept an invariant the program breaks. Then
    the template is wrong, and that is the result, returned with the task on the program's own
    template (for `_search_program`); where the check cannot decide, the task stays solved against
    its template and the message says so."""
    task = session.task
    if outcome.status != "solved" or outcome.answer is None or task.program is None:
        return outcome, None
    try:
        own = c_template(task.program)
    except ProgramError as error:
        return dataclasses.replace(outcome, message=f"{outcome.message} Not checked on the C program ({error})."), None
    if own == task.vc_template:  # the task's template is the program's own
        return outcome, None
    timeout = min(session.budget.verifier_timeout_s, session.time_left())
    if timeout <= 0:
        return dataclasses.replace(outcome, message=f"{outcome.message} Not checked on the C program "
                                   "(no time left)."), None
    own_task = type(task).model_validate({**task.model_dump(), "vc_template": own})
    # Z3's verdict: whether the program's semantics admit the invariant (cvc5 certified the answer already).
    started = time.perf_counter()
    verdict = session.verifier.verify(own_task, outcome.answer, VerifyBudget(timeout_s=timeout, certify=False))
    session.verifier_s += time.perf_counter() - started
    session.verifier_calls += 1
    session.trace.write(ProgramCheckEvent(candidate=outcome.answer, verdict=verdict))
    if verdict.status == "accepted":
        return dataclasses.replace(outcome, message=f"{outcome.message} It holds for the C program too "
                                   "(checked with the program's own semantics)."), None
    if verdict.status == "rejected":
        return Outcome("template_wrong", answer=outcome.answer, solved_by=outcome.solved_by,
                       message=f"the template and the program disagree: `{outcome.answer}` proves the task's "
                               f"template, but on the C program with its own semantics: {verdict.feedback}"), own_task
    return dataclasses.replace(outcome, message=f"{outcome.message} Not confirmed on the C program "
                               f"({verdict.status}: {verdict.feedback[:MAX_FEEDBACK_CHARS]})"), None


def _search_program(session: Session, settings: InvariantSettings, wrong: Outcome, own_task: InvariantTask) -> Outcome:
    """After a template was found to misread its program: the same search (without Spacer) on the
    program's own template (`own_task`), in the time left. Its answer, when one is found, is an
    invariant proved on the C program's semantics, and it is verified on the task's template too:
    where both accept it the task is solved (the two read the program differently only where no run
    goes, such as C's `/` on a negative number, and the template also accepts a weaker invariant,
    which the message names). Otherwise the result stays `template_wrong`."""
    task = session.task
    # Verdicts are cached by text: those on the task's template say nothing about the program's.
    template_verdicts, session.verdict_cache = session.verdict_cache, {}
    session.task, session.verdicts_on = own_task, "program"
    try:
        found = _search(session, settings, None)
    except BudgetExhausted:
        found = Outcome("unsolved", message="the time ran out")
    finally:
        session.task, session.verdict_cache, session.verdicts_on = task, template_verdicts, "task"
    if found.status != "solved":
        return dataclasses.replace(wrong, answer=None, message=f"{wrong.message} On the program's own template: "
                                   f"{found.status} ({found.message[:MAX_FEEDBACK_CHARS]}).")
    try:
        on_task = session.verify(session.propose(found.answer, source="program", step=0, counted=False),
                                 certify_s=CERTIFY_ON_TASK_S)
    except BudgetExhausted:
        on_task = None
    if on_task is not None and on_task.status == "accepted":
        return Outcome("solved", answer=found.answer, certified=on_task.certified, solved_by=found.solved_by,
                       message=f"{on_task.feedback} It holds for the C program too (proved on the program's own "
                               f"template first). The task's template also accepts `{wrong.answer}`, which the "
                               "program's semantics reject.")
    return Outcome("template_wrong", answer=found.answer, certified=found.certified, solved_by=found.solved_by,
                   message=f"{wrong.message} On the program's own template (its C semantics) `{found.answer}` is "
                           f"proved: {found.message}")


def _linear(atoms: list[str], variables: list[str]) -> bool:
    for atom in atoms:
        try:
            if not cexpr.is_linear(cexpr.parse_boolean(atom, variables)):
                return False
        except cexpr.ExprError:
            continue  # the verifier says what is wrong with it
    return True


def _variables_of(atom: str, variables: list[str]) -> set[str]:
    try:
        return cexpr.variables_of(cexpr.parse_boolean(atom, variables))
    except cexpr.ExprError:
        return set(variables)


def _holds_on(atom: str, states: list[dict[str, int]], variables: list[str]) -> bool:
    """False only when the atom is false on one of the states (a run's state: the atom is not invariant)."""
    try:
        value = cexpr.evaluator(cexpr.parse_boolean(atom, variables))
    except cexpr.ExprError:
        return True  # the verifier says what is wrong with it
    for state in states:
        try:
            if not value(state):
                return False
        except cexpr.Undefined:
            continue
    return True


def _independent(atoms: list[str], variables: list[str]) -> tuple[list[str], list[str]]:
    """`agent.search.dynamic.independent_equalities` in a child process under GROEBNER_TIME_S; when
    it cannot finish, every atom is in the basis."""
    if len(atoms) < 2 or _linear(atoms, variables):
        return atoms, []
    try:
        answer = call_in_child("agent.search.dynamic:independent_equalities",
                               {"atoms": atoms, "variables": variables}, GROEBNER_TIME_S)
    except ChildFailure:
        return atoms, []
    return answer["basis"], answer["implied"]


def _contributors(pool: AtomPool, conjuncts: list[str]) -> str:
    sources = sorted({pool.origin.get(text, "houdini") for text in conjuncts})
    return "houdini(" + "+".join(sources) + ")" if sources else "houdini"  # `true` needs no atom


@strategy(kinds=("invariant",), needs_model=True, settings=InvariantSettings)
def solve_invariant(session: Session) -> Outcome:
    settings = session.options(InvariantSettings)
    # Spacer works in the background from early on; its answer is collected between the other stages.
    # Alone, it has the whole budget (the baseline a user would otherwise run).
    alone = set(session.settings.sources) == {"horn"}
    share = 1.0 if alone else settings.horn_share
    spacer = (SpacerRun(session.task.vc_template, session.time_left() * share,
                        start_after_s=0.0 if alone else settings.horn_start_s)
              if "horn" in session.settings.sources else None)
    try:
        outcome, own_task = on_program(session, _search(session, settings, spacer))
        if own_task is not None and session.time_left() > 0:
            return _search_program(session, settings, outcome, own_task)
        return outcome
    finally:
        if spacer is not None:
            spacer.cancel()


def _search(session: Session, settings: InvariantSettings, spacer: SpacerRun | None) -> Outcome:
    background: list[ChildCall] = []  # child processes the steps start: they end with the search
    try:
        return _search_steps(session, settings, spacer, background)
    finally:
        for call in background:
            call.cancel()


def _search_steps(session: Session, settings: InvariantSettings, spacer: SpacerRun | None,
                  background: list[ChildCall]) -> Outcome:
    task = session.task
    sources = session.settings.sources
    pool = AtomPool()
    proved: list[str] = []
    # Pools Houdini already refined, and single conjuncts already verified: running Houdini on
    # either again would learn nothing.
    refined_pools: set[frozenset[str]] = set()
    variables = task.program_variables
    # Where the loop or its assertion is non-linear, every check is costly: atoms false on a state
    # that a run of the program reaches are dropped before Houdini sees them (they cannot be
    # invariant; the verifier still decides what is left), and the fitted equalities come before
    # bounded model checking, which rarely decides such a loop within its time.
    fitted_first = checks_are_nonlinear(task.vc_template)
    if fitted_first:
        child.start()  # its checks run in child processes: the fork server imports while the runs are sampled
    reachable: list[dict[str, int]] | None = None
    filter_states: list[dict[str, int]] | None = None
    postponed = False  # the first Houdini over the program's atoms ran out of its slice
    fit: ChildCall | None = None  # the polynomial fits of a non-linear task, started early

    def reached() -> list[dict[str, int]]:
        nonlocal reachable
        if reachable is None:
            reachable = states_from_precondition(task.parsed_program, task.vc_template, variables,
                                                 seed=session.settings.seed, time_limit_s=REACHED_TIME_S) \
                if task.parsed_program else []
        return reachable

    def candidates(atoms: list[str]) -> list[str]:
        nonlocal filter_states
        if not fitted_first or task.parsed_program is None:
            return atoms
        if filter_states is None:
            # Distinct states only, and at most FILTER_STATES of them spread over the runs (picked
            # once per task): each is one evaluation per atom in Python.
            distinct = list({tuple(sorted(state.items())): state for state in reached()}.values())
            filter_states = distinct[::max(1, len(distinct) // FILTER_STATES)]
        return [atom for atom in atoms if _holds_on(atom, filter_states, variables)]

    def recombine(step: int, first_slice: bool = False) -> Outcome | None:
        """Houdini over the whole pool; remembers what is proved inductive for the prompt. With
        `first_slice` on a non-linear task it has the verifier's per-call time only: a pool that
        cannot be sorted in it is refined again with a full share after the other sources
        (`postponed`), so that a slow pool does not hold up the fitted equalities."""
        nonlocal proved, postponed
        if not pool.atoms or frozenset(pool.atoms) in refined_pools:
            return None
        refined_pools.add(frozenset(pool.atoms))
        atoms = candidates(pool.atoms)
        if not atoms:
            return None
        # Not counted against max_proposals: it recombines conjuncts of proposals already counted.
        proposal = session.propose("\n".join(atoms), source="houdini", step=step, text=conjunction(atoms),
                                   counted=False)
        capped = first_slice and fitted_first
        result = houdini(session, proposal, atoms,
                         time_s=session.budget.verifier_timeout_s if capped else None)
        if result.verdict is not None and result.verdict.status == "accepted":
            return _solved(result.verdict, _contributors(pool, result.survivors))
        if result.inductive:
            proved = result.survivors
        elif capped and result.verdict is None:
            refined_pools.discard(frozenset(pool.atoms))
            postponed = True
        return None

    def try_proposal(proposal: Proposal, source: str) -> Verdict:
        verdict = session.verify(proposal)
        details = _details(verdict)
        conjuncts = details.conjuncts if details else []
        pool.add(conjuncts, source)
        if len(conjuncts) == 1:
            refined_pools.add(frozenset(conjuncts))
        return verdict

    def harvest_spacer(wait: bool) -> Outcome | None:
        """Spacer's invariant, once it has one (waiting for it when `wait`), verified like any
        proposal; its conjuncts join the pool for Houdini."""
        text = spacer.invariant(wait) if spacer is not None else None
        if text is None:
            return None
        before = len(pool.atoms)
        verdict = try_proposal(session.propose(text, source="horn", step=0, text=text), "horn")
        if verdict.status == "accepted":
            return _solved(verdict, "horn")
        return recombine(0) if len(pool.atoms) > before else None

    # Polynomial equalities fitted to runs from the pre-condition's models (and the linear ones those
    # runs show), for loops whose invariant is not linear.
    def fitted() -> list[str]:
        if fit is not None:
            try:
                return fit.result()
            except ChildFailure as error:
                # The search goes on without fitted equalities; the trace says why there are none.
                session.trace.write(ErrorEvent(message=f"polynomial fit: {error}"))
                return []
        seed = session.settings.seed
        states = states_from_precondition(task.parsed_program, task.vc_template, variables, seed=seed)
        held_out = states_from_precondition(task.parsed_program, task.vc_template, variables, seed=seed + 1)
        return fitted_equalities(states, variables, held_out)

    def fit_polynomials() -> Outcome | None:
        if "polynomial" not in sources or task.parsed_program is None:
            return None
        atoms = fitted()
        if any(atom not in pool.origin for atom in atoms):
            # Houdini on the fitted atoms alone, the equalities over at most two variables and with few
            # terms first: Z3's non-linear checks over many cubic equalities (or a hundred linear facts
            # besides) at once outlast any budget, and the simplest equalities are the likeliest to be invariant. The
            # inductive ones are then verified together with what is already proved inductive (two
            # inductive conjunctions make an inductive conjunction; only the assertion is in question).
            pool.add(atoms, "polynomial")
            # Houdini checks an independent basis of them; the equalities it implies are added back
            # once the whole basis is proved (they add no strength, but spell out consequences such
            # as `6*q == x*w*w*w + ...` that Z3 may not find for the assertion).
            basis, implied = _independent(atoms, variables)
            simplest = [atom for atom in basis if len(_variables_of(atom, variables)) <= 2
                        and atom.count("+") <= SIMPLE_EQUALITY_PLUSES]
            for tier in ([simplest] if 0 < len(simplest) < len(basis) else []) + [basis]:
                proposal = session.propose("\n".join(tier), source="polynomial", step=0, text=conjunction(tier))
                # Verified together with what is proved inductive already: the fitted equalities
                # rarely prove the assertion alone (minimisation drops the facts they do not need).
                result = houdini(session, proposal, tier, facts=proved)
                if result.verdict is not None and result.verdict.status == "accepted":
                    return _solved(result.verdict, _contributors(pool, result.survivors))
                consequences = implied if result.inductive and set(basis) <= set(result.survivors) else []
                if result.inductive and consequences:
                    combined = list(dict.fromkeys(result.survivors + consequences))
                    verdict = session.verify(proposal, conjunction(combined), certify=False)
                    details = _details(verdict)
                    if verdict.status == "accepted" and details is not None:
                        verdict, kept = finish(session, proposal, verdict, details.conjuncts, 0)
                        if verdict.status == "accepted":
                            return _solved(verdict, _contributors(pool, kept))
                session.check_budget()
            return recombine(0)
        return None

    if fitted_first and "polynomial" in sources and task.parsed_program is not None:
        # The fits (seconds of exact linear algebra) run in a child process beside the Houdini over
        # the program's atoms, which on a non-linear task rarely proves the assertion alone.
        fit = ChildCall("agent.search.dynamic:fitted_in_child",
                        {"program": task.program, "vc_template": task.vc_template, "variables": variables,
                         "states": reached(), "seed": session.settings.seed},
                        min(FIT_TIME_S, max(0.05, session.time_left())))
        background.append(fit)

    # Step 0: atoms from the program.
    program_sources = []
    if task.parsed_program is None:  # a SyGuS-Inv task: no program to run; its atoms come from the terms
        if "symbolic" in sources:
            program_sources.append(("symbolic", template_atoms(from_template(task.vc_template), variables)))
        sources = [source for source in sources if source not in ("dynamic", "symbolic")]
    if "dynamic" in sources:
        states = sample_states(task.parsed_program, variables, seed=session.settings.seed)
        program_sources.append(("dynamic", equalities(states, variables)))
    if "symbolic" in sources:
        program_sources.append(("symbolic", program_atoms(task.parsed_program, variables)))
    for source, atoms in program_sources:
        if not atoms:
            continue
        pool.add(atoms, source)
        if not _linear(atoms, variables):
            continue  # a non-linear conjunction of every atom is rarely decided in time: Houdini sorts them
        proposal = session.propose("\n".join(atoms), source=source, step=0, text=conjunction(atoms))
        verdict = try_proposal(proposal, source)
        if verdict.status == "accepted":
            return _solved(verdict, source)
    if program_sources:
        outcome = recombine(0, first_slice=True)
        if outcome:
            return outcome
    outcome = harvest_spacer(wait=False)
    if outcome:
        return outcome

    if fitted_first:
        outcome = fit_polynomials()
        if outcome:
            return outcome

    # No invariant can prove an assertion that some run violates: look for such a run.
    if settings.refute and isinstance(session.verifier, Refutes):
        budget = VerifyBudget(timeout_s=max(0.05, min(session.budget.verifier_timeout_s, session.time_left())))
        refutation = session.verifier.refute(task, settings.refute_depth, budget)
        if refutation is not None:
            session.trace.write(RefutationEvent(depth=refutation.depth, states=list(refutation.states),
                                                certified=refutation.certified, elapsed_s=refutation.elapsed_s))
            # The run comes from the template; it refutes the program only if the program can run it.
            # Without a C program (SyGuS) the template is the problem itself: its run is the refutation.
            replay = replay_violation(task.parsed_program, list(refutation.states)) if task.parsed_program else None
            if replay is None:
                return Outcome("refuted", certified=refutation.certified, message=refutation.describe(),
                               solved_by="refutation")
            if replay.verdict == "impossible":
                return Outcome("template_wrong", message=f"the template and the program disagree: the template's "
                               f"run {refutation.describe()}, but {replay.reason} ({replay.verdict})",
                               solved_by="refutation")
            if replay.verdict == "reproduced":
                return Outcome("refuted", certified=refutation.certified, message=refutation.describe()
                               + "; the C program runs it too", solved_by="refutation")
            # inconclusive: the program's own run could not be confirmed, so nothing is claimed.

    outcome = harvest_spacer(wait=False)
    if outcome:
        return outcome

    if not fitted_first:
        outcome = fit_polynomials()
        if outcome:
            return outcome

    if postponed:
        outcome = recombine(0)
        if outcome:
            return outcome

    outcome = harvest_spacer(wait=not session.uses_model)
    if outcome:
        return outcome

    if not session.uses_model:
        return Outcome("unsolved", message="no proposal was accepted and no model source is enabled")

    attempts: list[Attempt] = []
    sampled: set[str] = set()  # a candidate sampled again is passed over: no proposal is spent on it twice
    repeated_steps = 0
    grammar = invariant_grammar(task.variables) if settings.constrained else None
    step = 0
    while True:
        step += 1
        session.check_budget()
        prompt = render_prompt(
            "invariant", program=task.program or task.vc_template, description=task.description, variables=task.variables,
            proved=proved, attempts=attempts[-FEEDBACK_ATTEMPTS:],
        )
        completions = session.sample(prompt, session.budget.samples_per_step, step, grammar=grammar)
        if not completions:
            return Outcome("unsolved", message="the model returned no proposals")
        fresh: dict[str, tuple[str, Completion]] = {}  # new candidates of the batch, by their text up to white space
        for completion in completions:
            candidate = without_repeats(extract_candidate(completion.text))
            key = _same_text(candidate)
            if key not in sampled:
                fresh.setdefault(key, (candidate, completion))
        sampled.update(fresh)
        repeated_steps = 0 if fresh else repeated_steps + 1
        if repeated_steps >= MAX_REPEATED_STEPS:
            return Outcome("unsolved", message=f"the model sampled only candidates already verified, "
                                               f"{MAX_REPEATED_STEPS} steps in a row")
        grew = 0
        for candidate, completion in fresh.values():
            proposal = session.propose(completion, source="llm", step=step, text=candidate)
            before = len(pool.atoms)
            verdict = try_proposal(proposal, "llm")
            if verdict.status == "accepted":
                return _solved(verdict, "llm")
            grew += len(pool.atoms) - before
            attempts.append(Attempt(candidate, verdict.feedback[:MAX_FEEDBACK_CHARS]))
        if grew:
            outcome = recombine(step)
            if outcome:
                return outcome
        outcome = harvest_spacer(wait=False)
        if outcome:
            return outcome
