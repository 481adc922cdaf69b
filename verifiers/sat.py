"""CNF solving with PySAT: SAT answers with a checked model, UNSAT answers with a checked DRAT proof.

`solve_cnf(clauses, budget, solver)` runs one PySAT solver with proof logging and a hard time limit,
then checks the answer independently of the solver:

- SAT: the model must satisfy every clause (checked here, clause by clause);
- UNSAT: the solver's DRAT proof is checked by `verifiers.drat.check_drat`; the answer is
  certified only when every needed lemma checks and the proof derives the empty clause.

Which PySAT solvers emit DRAT proofs (`with_proof=True`, python-sat 1.9): the three-valued table
below was measured on this project's machines. CaDiCaL and Lingeling cannot be interrupted through
PySAT (`interrupt()` raises), so they run in a child process that an alarm ends at the time limit; the
others are stopped in process by an interrupt timer (`solve_limited(expect_interrupt=True)`).

| solver (PySAT name) | DRAT proof | interruptible in process |
|---|---|---|
| cadical103, cadical153, cadical195, cadical300 | yes | no (child process) |
| lingeling | yes | no (child process) |
| glucose3, glucose4, glucose42, gluecard3, gluecard4 | yes | yes |
| maplechrono, ergo | yes | yes |
| maplecm | yes, sometimes without the final empty clause (then not certified) | yes |
| maplesat | yes, but not of the input (see below) | yes |
| minisat22, minisatgh, minisatep, minicard, mergesat3, kissat404 | no | (kissat: no) |
| cryptominisat (needs pycryptosat, not installed) | no | - |

The default is `maplechrono` (MapleLCMDistChronoBT): it emits proofs, can be interrupted in
process, and was the fastest of them on the shared SATLIB instances. A solver without proofs may
still be used: its SAT answers are certified by the model, its UNSAT answers are not.

maplesat's proofs mention one variable beyond the formula's (n+1) without the clauses that define
it: unit propagation on the formula plus all of their lemmas reaches no conflict, so the checker
rightly rejects them; veriloop runs maplesat without proof logging (its UNSAT is not certified).

Proofs for formulas that are refuted by their own unit clauses: glucose and maplechrono then return
an empty proof (no `0` line), so such an UNSAT answer is valid but not certified.

`read_dimacs` reads DIMACS text with PySAT's own reader after cutting the text at a `%` line
(SATLIB's uf/uuf files end with `%` and `0`, which would otherwise read as an empty clause).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pysat.formula import CNF
from pysat.solvers import Solver, SolverNames

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_payload, proposal_text, register
from verifiers.details import CnfDetails
from verifiers.drat import DratResult, check_drat
from verifiers.phases import PhaseHint

DEFAULT_SOLVER = "maplechrono"
# Solvers whose DRAT proofs (PySAT `with_proof=True`) check against the input formula.
PROOF_SOLVERS = ("cadical103", "cadical153", "cadical195", "cadical300", "lingeling", "glucose3", "glucose4",
                 "glucose42", "gluecard3", "gluecard4", "maplechrono", "maplecm", "ergo")
# Solvers that emit proofs the checker cannot accept for the input formula (see the docstring).
UNCHECKABLE_PROOF_SOLVERS = ("maplesat",)
# Solvers that take preferred phases (PySAT `set_phases`, python-sat 1.9); cadical103 and kissat404 do not.
PHASE_SOLVERS = ("cadical153", "cadical195", "cadical300", "lingeling", "glucose3", "glucose4", "glucose42",
                 "gluecard3", "gluecard4", "maplechrono", "maplecm", "maplesat", "ergo", "minisat22", "mergesat3")
NOT_INTERRUPTIBLE = ("cadical103", "cadical153", "cadical195", "cadical300", "lingeling", "kissat404")
# Extra seconds a child solver gets for starting Python and PySAT before the parent kills it
# (the child's own alarm stops it at the time limit itself, counted from the solver's start).
CHILD_STARTUP_S = 5.0


class DimacsError(ValueError):
    """DIMACS text that cannot be read; the message is one line."""


@dataclass(frozen=True)
class CnfOutcome:
    status: Literal["sat", "unsat", "unknown"]
    model: list[int] | None  # sat: checked against every clause
    proof: DratResult | None  # unsat: the DRAT check
    certified: bool  # sat: the model satisfies every clause; unsat: the proof is certified
    solver: str
    solve_s: float
    check_s: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    # The solver's statistics (conflicts, decisions, propagations, restarts) and `phases_given`: how
    # many preferred phases it was handed (0 without a hint, or on a solver that takes none).
    stats: dict[str, int] = field(default_factory=dict)


_HEADER = re.compile(r"^\s*p\s+cnf\s+(\d+)\s+(\d+)\s*$")


def read_dimacs(text: str) -> tuple[int, list[list[int]]]:
    """(variables, clauses) of DIMACS text, read by PySAT. The text ends at a line starting with
    `%` (SATLIB); the `p cnf` header is required and must agree with the clauses."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.lstrip().startswith("%"):
            lines = lines[:index]
            break
    headers = [match for match in map(_HEADER.match, lines) if match]
    if not headers:
        raise DimacsError("no `p cnf VARIABLES CLAUSES` header")
    if len(headers) > 1:
        raise DimacsError("more than one `p cnf` header")
    variables, declared = int(headers[0].group(1)), int(headers[0].group(2))
    try:
        clauses = CNF(from_string="\n".join(lines) + "\n").clauses
    except ValueError as error:
        raise DimacsError(f"PySAT cannot read the clauses: {error}") from None
    if len(clauses) != declared:
        raise DimacsError(f"the header declares {declared} clauses, the text has {len(clauses)}")
    largest = max((abs(literal) for clause in clauses for literal in clause), default=0)
    if largest > variables:
        raise DimacsError(f"variable {largest} is beyond the {variables} the header declares")
    return variables, clauses


def violated_clause(clauses: list[list[int]], model: list[int]) -> int | None:
    """Index of the first clause that `model` (a list of true literals) does not satisfy, or None."""
    true = set(model)
    if any(-literal in true for literal in true):
        return -1  # a contradictory model satisfies nothing
    for index, clause in enumerate(clauses):
        if not any(literal in true for literal in clause):
            return index
    return None


def _solve_in_process(clauses: list[list[int]], solver: str, timeout_s: float, with_proof: bool,
                      phases: list[int]) -> tuple[bool | None, list[int] | None, list[str] | None, dict[str, int]]:
    with Solver(name=solver, bootstrap_with=clauses, with_proof=with_proof) as engine:
        if phases:
            engine.set_phases(phases)
        timer = threading.Timer(timeout_s, engine.interrupt)
        timer.daemon = True
        timer.start()
        try:
            answer = engine.solve_limited(expect_interrupt=True)
        finally:
            timer.cancel()
        model = engine.get_model() if answer else None
        proof = engine.get_proof() if answer is False and with_proof else None
        stats = engine.accum_stats()
    return answer, model, proof, stats


_CHILD_PROGRAM = """
import json, signal, sys
from pysat.solvers import Solver
request = json.load(sys.stdin)
signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm ends the process, even inside the solver
signal.setitimer(signal.ITIMER_REAL, request["timeout_s"])
with Solver(name=request["solver"], bootstrap_with=request["clauses"], with_proof=request["with_proof"]) as engine:
    if request["phases"]:
        engine.set_phases(request["phases"])
    answer = engine.solve()
    json.dump({"answer": answer, "model": engine.get_model() if answer else None,
               "proof": engine.get_proof() if answer is False and request["with_proof"] else None,
               "stats": engine.accum_stats()}, sys.stdout)
"""


def _solve_in_child(clauses: list[list[int]], solver: str, timeout_s: float, with_proof: bool,
                    phases: list[int]) -> tuple[bool | None, list[int] | None, list[str] | None, dict[str, int]]:
    """For solvers PySAT cannot interrupt: a child Python process, killed at the time limit. Only
    data comes back; the answer is checked here like any other."""
    request = json.dumps({"solver": solver, "clauses": clauses, "with_proof": with_proof, "timeout_s": timeout_s,
                          "phases": phases})
    try:
        completed = subprocess.run([sys.executable, "-c", _CHILD_PROGRAM], input=request, capture_output=True,
                                   text=True, timeout=timeout_s + CHILD_STARTUP_S, check=False)
    except subprocess.TimeoutExpired:
        return None, None, None, {}
    if completed.returncode == -signal.SIGALRM:  # its own alarm: out of time
        return None, None, None, {}
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the {solver} child process failed: {last}")
    reply = json.loads(completed.stdout)
    return reply["answer"], reply["model"], reply["proof"], reply["stats"]


def supports_proof(solver: str) -> bool:
    return solver in PROOF_SOLVERS


def canonical_solver(name: str) -> str:
    """PySAT's canonical name for a solver name or alias ("cd15" -> "cadical153")."""
    for canonical, aliases in vars(SolverNames).items():
        if isinstance(aliases, tuple) and name in aliases:
            return canonical
    raise ValueError(f"unknown PySAT solver {name!r}")


def solve_cnf(clauses: list[list[int]], budget: VerifyBudget, solver: str = DEFAULT_SOLVER,
              phases: PhaseHint | None = None) -> CnfOutcome:
    """Solve with `solver` under `budget.timeout_s`, then check the answer (the DRAT check gets
    its own `budget.timeout_s`). `phases`: a hint for the solver's phase selection (ignored by a
    solver that takes none); it steers the search only, the answer is checked the same way. Raises
    ValueError for an unknown solver name."""
    solver = canonical_solver(solver)
    with_proof = supports_proof(solver)
    largest = max((abs(literal) for clause in clauses for literal in clause), default=0)
    preferred = phases.selected(largest) if phases is not None and solver in PHASE_SOLVERS else []
    started = time.perf_counter()
    if solver in NOT_INTERRUPTIBLE:
        answer, model, proof, stats = _solve_in_child(clauses, solver, budget.timeout_s, with_proof, preferred)
    else:
        answer, model, proof, stats = _solve_in_process(clauses, solver, budget.timeout_s, with_proof, preferred)
    solve_s = time.perf_counter() - started
    stats = {**stats, "phases_given": len(preferred)}

    def outcome(status: str, certified: bool, message: str, check_s: float = 0.0, **fields: Any) -> CnfOutcome:
        return CnfOutcome(status=status, certified=certified, solver=solver, solve_s=solve_s, check_s=check_s,
                          message=message, stats=stats, **{"model": None, "proof": None, **fields})

    if answer is None:
        return outcome("unknown", False, f"{solver} found no answer within {budget.timeout_s:g} s")
    if answer:
        check_started = time.perf_counter()
        violated = violated_clause(clauses, model)
        check_s = time.perf_counter() - check_started
        if violated is not None:
            where = "is contradictory" if violated < 0 else f"violates clause {violated + 1}: {clauses[violated]}"
            return outcome("unknown", False, f"{solver} answered SAT but its model {where}", check_s,
                           details={"wrong_model": model})
        return outcome("sat", True, f"SAT: the model satisfies all {len(clauses)} clauses", check_s, model=model)
    if not with_proof:
        why = "whose proofs are not proofs of the input" if solver in UNCHECKABLE_PROOF_SOLVERS else "which emits no DRAT proof"
        return outcome("unsat", False, f"UNSAT by {solver}, {why}: not certified")
    result = check_drat(clauses, proof, budget.timeout_s)
    if result.certified:
        message = (f"UNSAT: DRAT proof checked ({result.lemmas} lemmas, {result.checked_lemmas} needed"
                   f"{f', {result.rat_lemmas} by RAT' if result.rat_lemmas else ''}, {result.deletions} deletions)")
    else:
        message = f"UNSAT by {solver}, but the DRAT proof is not certified: {result.message}"
    return outcome("unsat", result.certified, message, result.elapsed_s, proof=result)


class CnfProblem(Protocol):
    """What the CNF verifier reads from a task."""

    dimacs: str  # DIMACS text (a `%` line ends it, as in SATLIB)
    solver: str | None  # optional: the PySAT solver a task asks for


@register
class CnfVerifier(Verifier):
    """A proposal names the PySAT solver to run (empty: the default), and may carry a `PhaseHint`
    payload, handed to the solver as preferred phases (search only). Accepted: a certified
    answer (SAT with a checked model, or UNSAT with a checked proof). Unknown: out of time, or an
    answer that could not be certified. Rejected: a solver answer that fails its check."""

    name = "pysat-cnf"
    version = "1.0"
    kinds = ("cnf",)
    details_model = CnfDetails

    def read_cnf(self, dimacs: str) -> tuple[int, list[list[int]]]:
        """(variables, clauses) of DIMACS text; raises DimacsError (a ValueError) with one line."""
        return read_dimacs(dimacs)

    def check_task(self, task: CnfProblem) -> None:
        try:
            read_dimacs(task.dimacs)
        except DimacsError as error:
            raise ValueError(f"dimacs: {error}") from None
        if getattr(task, "solver", None):
            try:
                canonical_solver(task.solver)
            except ValueError as error:
                raise ValueError(f"solver: {error}") from None

    def verify(self, task: CnfProblem, proposal: HasText | str, budget: VerifyBudget) -> Verdict:
        started = time.perf_counter()
        requested = proposal_text(proposal).strip() or DEFAULT_SOLVER
        try:
            _, clauses = read_dimacs(task.dimacs)
        except DimacsError as error:
            return self.verdict("error", f"the task's formula cannot be read: {error}", started)
        try:
            solver = canonical_solver(requested)
        except ValueError as error:
            return self.verdict("rejected", f"{error}; proof-emitting solvers: {', '.join(PROOF_SOLVERS)}", started)
        hint = proposal_payload(proposal, PhaseHint)
        try:
            outcome = solve_cnf(clauses, budget, solver, phases=hint)
        except (RuntimeError, OSError, json.JSONDecodeError) as error:
            return self.verdict("error", f"{solver} failed: {error}", started)
        details: dict[str, Any] = {
            "answer": outcome.status.upper(), "solver": outcome.solver, "solve_s": round(outcome.solve_s, 6),
            "check_s": round(outcome.check_s, 6), "clauses": len(clauses),
            **{name: outcome.stats[name] for name in ("conflicts", "decisions", "propagations") if name in outcome.stats},
            "phases_given": outcome.stats.get("phases_given", 0), "phase_source": hint.source if hint else None,
        }
        certificate: dict[str, Any] | None = None
        if outcome.model is not None:
            certificate = {"model": outcome.model}
        if outcome.proof is not None:
            proof = outcome.proof
            certificate = {"drat": {"valid": proof.valid, "derived_empty": proof.derived_empty,
                                    "lemmas": proof.lemmas, "deletions": proof.deletions,
                                    "checked_lemmas": proof.checked_lemmas, "rat_lemmas": proof.rat_lemmas,
                                    "ignored_deletions": proof.ignored_deletions, "timed_out": proof.timed_out}}
            details["proof"] = {**certificate["drat"], "elapsed_s": round(proof.elapsed_s, 6), "message": proof.message}
        if outcome.certified:
            status = "accepted"
        elif outcome.status == "unsat" and outcome.proof is not None and not outcome.proof.valid \
                and not outcome.proof.timed_out:
            status = "rejected"  # the solver's proof is wrong
        elif "wrong_model" in outcome.details:
            status = "rejected"  # the solver's model is wrong
        else:
            status = "unknown"
        return self.verdict(status, outcome.message, started, certified=outcome.certified, certificate=certificate,
                            details=details)
