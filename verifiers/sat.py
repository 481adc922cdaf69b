"""CNF solving with PySAT: SAT answers with a checked model, UNSAT answers with a checked DRAT proof.

`solve_cnf(clauses, budget, solver)` runs one PySAT solver with proof logging and a hard time limit,
in a child process (`verifiers/child.py`: a solver that crashes on a hostile formula becomes an
`error` answer, not a dead loop), then checks the answer here, independently of the solver, within
the same budget:

- SAT: the model must satisfy every clause (checked here, clause by clause);
- UNSAT: the solver's DRAT proof is checked by `verifiers.drat.check_drat`; the answer is
  certified only when every needed lemma checks and the proof derives the empty clause.

Which PySAT solvers emit DRAT proofs (`with_proof=True`, python-sat 1.9): the three-valued table
below was measured on this project's machines. CaDiCaL and Lingeling cannot be interrupted through
PySAT (`interrupt()` raises); the others can (`solve_limited(expect_interrupt=True)`).

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
process, and was the fastest of them on the shared SATLIB instances (every solver now runs in a child
process that its own alarm ends at the time limit, so interruptibility no longer matters). A solver without proofs may
still be used: its SAT answers are certified by the model, its UNSAT answers are not.

maplesat's proofs mention one variable beyond the formula's (n+1) without the clauses that define
it: unit propagation on the formula plus all of their lemmas reaches no conflict, so the checker
rightly rejects them; veriloop runs maplesat without proof logging (its UNSAT is not certified).

Proofs for formulas that are refuted by their own unit clauses: glucose and maplechrono then return
an empty proof (no `0` line), so such an UNSAT answer is valid but not certified.

`read_dimacs` reads DIMACS as a token stream, not line by line: a clause may span lines (SATLIB's
hole9.cnf and hole10.cnf end with a clause whose `0` is on the next line, which PySAT's line reader
refuses). The text ends at a `%` line (SATLIB's uf/uuf files end with `%` and `0`, which would
otherwise read as an empty clause). Variables are bounded by the header, and the header by
`MAX_VARIABLES` (PySAT's solvers crash on variables near 2^31).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pysat.solvers import SolverNames

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.child import ChildFailure, ChildTimeout, call_in_child
from verifiers.details import CnfDetails
from verifiers.drat import DratResult, check_drat

DEFAULT_SOLVER = "maplechrono"
# Solvers whose DRAT proofs (PySAT `with_proof=True`) check against the input formula.
PROOF_SOLVERS = ("cadical103", "cadical153", "cadical195", "cadical300", "lingeling", "glucose3", "glucose4",
                 "glucose42", "gluecard3", "gluecard4", "maplechrono", "maplecm", "ergo")
# Solvers that emit proofs the checker cannot accept for the input formula (see the docstring).
UNCHECKABLE_PROOF_SOLVERS = ("maplesat",)


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


_HEADER = re.compile(r"^\s*p\s+cnf\s+(\d+)\s+(\d+)\s*$")
# The most variables a formula may declare: PySAT's solvers index arrays by variable and crash on
# variables near 2^31 (a clause `2147483647 0` is a segmentation fault).
MAX_VARIABLES = 10_000_000


def read_dimacs(text: str) -> tuple[int, list[list[int]]]:
    """(variables, clauses) of DIMACS text. Comment lines (`c ...`) and one `p cnf VARIABLES CLAUSES`
    header come first; then the clauses are a stream of integers, each clause ended by `0` wherever
    the line breaks fall. The text ends at a line starting with `%` (SATLIB). The header must agree
    with the clauses, and declare at most MAX_VARIABLES variables."""
    header: re.Match[str] | None = None
    literals: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("%"):
            break
        if not stripped or stripped.startswith("c"):
            continue
        if stripped.startswith("p"):
            if header is not None:
                raise DimacsError("more than one `p cnf` header")
            header = _HEADER.match(line)
            if header is None:
                raise DimacsError(f"line {number}: a bad header {stripped[:60]!r} (expected `p cnf VARIABLES CLAUSES`)")
            continue
        if header is None:
            raise DimacsError("no `p cnf VARIABLES CLAUSES` header before the clauses")
        try:
            literals.extend(int(token) for token in stripped.split())
        except ValueError:
            raise DimacsError(f"line {number}: {stripped[:60]!r} is not a list of integers") from None
    if header is None:
        raise DimacsError("no `p cnf VARIABLES CLAUSES` header")
    variables, declared = int(header.group(1)), int(header.group(2))
    if variables > MAX_VARIABLES:
        raise DimacsError(f"the header declares {variables} variables; at most {MAX_VARIABLES} are allowed")
    clauses: list[list[int]] = []
    clause: list[int] = []
    for literal in literals:
        if literal == 0:
            clauses.append(clause)
            clause = []
        elif abs(literal) > variables:
            raise DimacsError(f"variable {abs(literal)} is beyond the {variables} the header declares")
        else:
            clause.append(literal)
    if clause:
        raise DimacsError("the last clause has no terminating 0")
    if len(clauses) != declared:
        raise DimacsError(f"the header declares {declared} clauses, the text has {len(clauses)}")
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


def enumerate_models(clauses: list[list[int]], primary: list[int], limit: int,
                     timeout_s: float) -> list[set[int]] | None:
    """Up to `limit` models of `clauses` distinct on the variables `primary` (each model as its true
    variables among them), solved in a child process; None when time ran out. Raises ChildFailure
    when the solver crashed."""
    try:
        found = call_in_child("verifiers.solver_children:pysat_enumerate",
                              {"clauses": clauses, "primary": primary, "limit": limit}, timeout_s)
    except ChildTimeout:
        return None
    return [set(model) for model in found]


def supports_proof(solver: str) -> bool:
    return solver in PROOF_SOLVERS


def canonical_solver(name: str) -> str:
    """PySAT's canonical name for a solver name or alias ("cd15" -> "cadical153")."""
    for canonical, aliases in vars(SolverNames).items():
        if isinstance(aliases, tuple) and name in aliases:
            return canonical
    raise ValueError(f"unknown PySAT solver {name!r}")


def solve_cnf(clauses: list[list[int]], budget: VerifyBudget, solver: str = DEFAULT_SOLVER) -> CnfOutcome:
    """Solve with `solver` in a child process, then check the answer; solving and checking share
    `budget.timeout_s`. Raises ValueError for an unknown solver name and ChildFailure when the
    solver crashed. A new option for the solver is a keyword here carried in the child's request
    (a parameter of `verifiers.solver_children.pysat_solve`)."""
    solver = canonical_solver(solver)
    with_proof = supports_proof(solver)
    started = time.perf_counter()
    try:
        reply = call_in_child("verifiers.solver_children:pysat_solve",
                              {"clauses": clauses, "solver": solver, "with_proof": with_proof}, budget.timeout_s)
        answer, model, proof = reply["answer"], reply["model"], reply["proof"]
    except ChildTimeout:
        answer, model, proof = None, None, None
    solve_s = time.perf_counter() - started

    def outcome(status: str, certified: bool, message: str, check_s: float = 0.0, **fields: Any) -> CnfOutcome:
        return CnfOutcome(status=status, certified=certified, solver=solver, solve_s=solve_s, check_s=check_s,
                          message=message, **{"model": None, "proof": None, **fields})

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
    result = check_drat(clauses, proof, max(0.05, budget.timeout_s - solve_s))
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
    """A proposal names the PySAT solver to run (empty: the default). Accepted: a certified
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
        try:
            outcome = solve_cnf(clauses, budget, solver)
        except (ChildFailure, OSError) as error:
            return self.verdict("error", f"{solver} {error}", started)
        details: dict[str, Any] = {
            "answer": outcome.status.upper(), "solver": outcome.solver, "solve_s": round(outcome.solve_s, 6),
            "check_s": round(outcome.check_s, 6), "clauses": len(clauses),
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
