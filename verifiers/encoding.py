"""Encodings written by the model, and the SAT encoding verifier.

An encoding task (`sat_encoding`, `smt_encoding`) names a problem family and an instance. A proposal
is a short Python program (API in `verifiers/encoding_runtime.py`) that reads the instance and emits
a formula and a variable map. It runs in the sandbox (`verifiers/sandbox.py`); only its files come
back, and they are read here with PySAT's DIMACS parser (or Z3's SMT-LIB parser, `verifiers/smt.py`).

The verdict:
- SAT: the solver's model is checked against every clause (by `solve_cnf`), read back through the
  variable map into a solution, and the solution is checked by the family's semantic checker
  (`verifiers/families/`), which knows nothing of encodings. A violated constraint is the feedback.
- UNSAT: accepted only when certified: the solver's DRAT proof checked (`solve_cnf`), or for SMT
  cvc5 agreeing; a proof check that ran out of time, or a second solver that cannot confirm, gives
  `unknown`. That certifies the *formula*. Whether the formula says what the problem says is tested,
  not proved: the program also runs on the family's small instances and, for each, the solutions its
  formula allows (projected on the variable map) are enumerated and compared with brute force over
  the family's candidates: an encoding that allows a non-solution (under-constrained) or excludes a
  solution (over-constrained) is rejected, and the feedback names the small instance. The verdict
  records this as its own field, `details["faithfulness"]` (`Faithfulness`: method, instances,
  `proved: false`). Every run, the real instance's and each small one's, is its own sandbox call with
  the same job layout and the same limits, in a random order, and the sandbox hides every host file
  (the task files with their `expected:` labels too), so a program cannot single out the real
  instance by how it is run; it can still behave differently on instances larger than the small
  ones, which is why this is a test and not a proof.
- A program that fails is rejected with its error and the line it happened on; a solver that runs
  out of time gives `unknown`; a fault of the sandbox or a solver gives `error`.
"""

from __future__ import annotations

import copy
import json
import random
import signal as signals
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.child import ChildFailure
from verifiers.details import EncodingDetails, Faithfulness
from verifiers.encoding_runtime import ERROR_FILE, VARIABLES_FILE, formula_file
from verifiers.families import FAMILIES, DecodeError, Family, Scheme
from verifiers.families.base import Key
from verifiers.sandbox import Limits, SandboxError, SandboxResult, default_sandbox
from verifiers.drat import check_drat
from verifiers.phases import ADVICE_SHARE, PhaseAdvisor, ask_advisor
from verifiers.sat import MAX_VARIABLES, DimacsError, enumerate_models, read_dimacs, solve_cnf

DRIVER = "verifiers.encoding_runtime:main"
PROGRAM_WALL_S = 20.0  # at most this long for one sandbox run (the verifier's budget may cut it shorter)
PROGRAM_SHARE = 0.6  # the share of the verifier's time that the program's runs may take together
MAX_FEEDBACK = 600


class EncodingProblem(Protocol):
    """What the encoding verifiers read from a task."""

    family: str
    instance: dict[str, Any]


class Rejection(Exception):
    """A proposal found wanting; the message is the feedback."""

    def __init__(self, feedback: str, stage: str, **details: Any) -> None:
        super().__init__(feedback)
        self.feedback = feedback
        self.stage = stage
        self.details = details


class Undecided(Exception):
    """Not enough time (or a solver's `unknown`): the verdict is `unknown`, never an acceptance."""


# --------------------------------------------------------------------------------------------
# Running a program in the sandbox.


@dataclass
class ProgramOutput:
    formula: str
    variables: Any  # parsed JSON, still untrusted


@dataclass
class ProgramRun:
    output: ProgramOutput | str  # the output, or why there is none
    sandbox: SandboxResult

    def summary(self) -> dict[str, Any]:
        return {"wall_s": round(self.sandbox.wall_s, 4), "cpu_s": round(self.sandbox.cpu_s, 4),
                "exit_code": self.sandbox.exit_code, "signal": self.sandbox.signal,
                "timed_out": self.sandbox.timed_out, "isolation": list(self.sandbox.isolation),
                "unsandboxed": self.sandbox.unsandboxed}


def program_limits(wall_s: float) -> Limits:
    return Limits(wall_s=wall_s, cpu_s=wall_s)


def run_program(program: str, mode: str, instance: dict[str, Any], limits: Limits) -> ProgramRun:
    """Run `program` on one instance in its own sandbox call. SandboxError if the sandbox failed.

    Every call has the same layout (the program, and a job file with the mode and the instance);
    callers give every run of one verdict the same limits."""
    job = json.dumps({"mode": mode, "instance": instance})
    result = default_sandbox().run(DRIVER, {"program.py": program, "job.json": job}, limits)
    if result.setup_error:
        raise SandboxError(result.setup_error)
    formula = result.files.get(formula_file(mode))
    variables = result.files.get(VARIABLES_FILE)
    error = result.files.get(ERROR_FILE)
    output: ProgramOutput | str
    if error is not None:
        output = _describe_failure(error, program.splitlines())
    elif formula is not None and variables is not None:
        try:
            output = ProgramOutput(formula.decode("utf-8"), json.loads(variables))
        except (UnicodeDecodeError, ValueError):
            output = "the program's output is not readable (not UTF-8 text and JSON)"
    else:
        output = _describe_missing(result)
    return ProgramRun(output, result)


def unsandboxed_note(runs: list[ProgramRun]) -> str:
    """The sentence every verdict carries when model-written code ran without isolation."""
    if any(run.sandbox.unsandboxed for run in runs):
        return (" WARNING: the program ran UNSANDBOXED (--allow-unsandboxed): this machine offers no isolation,"
                " and the user allowed model-written code to run without it.")
    return ""


def _describe_failure(error: bytes, lines: list[str]) -> str:
    """The program's error, with the line as the program has it (from our copy, not the child's)."""
    try:
        record = json.loads(error)
        kind, message, line = str(record.get("type"))[:60], str(record.get("message"))[:300], record.get("line")
    except (ValueError, AttributeError):
        return "the program failed (its error report is unreadable)"
    where = ""
    if isinstance(line, int) and 1 <= line <= len(lines):
        where = f"line {line} `{lines[line - 1].strip()[:120]}`: "
    return f"{where}{kind}: {message}"


def _describe_missing(result: SandboxResult) -> str:
    if result.timed_out:
        return f"the program ran past its time limit ({result.wall_s:.1f} s) and was stopped"
    if result.signal is not None:
        name = signals.Signals(result.signal).name if result.signal in signals.valid_signals() else str(result.signal)
        return f"the program was killed by {name} (a CPU, memory or process limit)"
    tail = result.stderr.strip().splitlines()[-1:] or result.stdout.strip().splitlines()[-1:]
    said = f"; its last words: {tail[0][:200]}" if tail else ""
    return f"the program stopped without emitting a formula (exit status {result.exit_code}){said}"


def key_of(raw: Any) -> Key:
    """A variable-map key from JSON: lists become tuples; scalars become one-element tuples."""
    if isinstance(raw, list):
        return tuple(raw)
    return (raw,)


# --------------------------------------------------------------------------------------------
# Formulas: what a verifier does with a program's output.


@dataclass
class Solved:
    status: str  # "sat" | "unsat"
    values: dict[Key, Any] | None = None  # sat: the scheme's keys and their values in the model
    certified: bool = False  # unsat: the independent check passed
    assurance: str = ""  # unsat: what backs the answer, in words
    details: dict[str, Any] = field(default_factory=dict)


class Formula(Protocol):
    keys: set[Key]

    def solve(self, scheme: Scheme, timeout_s: float) -> Solved: ...

    def enumerate(self, scheme: Scheme, limit: int, timeout_s: float) -> list[dict[Key, Any]]: ...


class CnfFormula:
    """A DIMACS formula and its variable map {key: variable}. With a `phase_advisor`, its solve asks
    the advisor for preferred phases first (bounded in size and time, `verifiers.phases.ask_advisor`);
    they steer the solver's search only, the answer is checked the same way."""

    def __init__(self, output: ProgramOutput, phase_advisor: PhaseAdvisor | None = None) -> None:
        self.phase_advisor = phase_advisor
        try:
            self.declared, self.clauses = read_dimacs(output.formula)
        except DimacsError as error:
            raise Rejection(f"the DIMACS text does not parse: {error}", "parse") from None
        self.variables: dict[Key, int] = {}
        if not isinstance(output.variables, list):
            raise Rejection("the variable map is not a list of [key, variable] pairs", "parse")
        for entry in output.variables:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int) and entry[1] > 0):
                raise Rejection(f"bad variable-map entry {str(entry)[:80]}", "parse")
            if entry[1] > MAX_VARIABLES:
                raise Rejection(f"the variable map names variable {entry[1]}; at most {MAX_VARIABLES} are allowed",
                                "parse")
            self.variables[key_of(entry[0])] = entry[1]
        self.keys = set(self.variables)

    def solve(self, scheme: Scheme, timeout_s: float) -> Solved:
        advised: dict[str, Any] = {}
        hint = None
        if self.phase_advisor is not None:
            advice = ask_advisor(self.phase_advisor, self.declared, self.clauses, timeout_s * ADVICE_SHARE)
            hint = advice.hint
            advised = {"phase_source": hint.source if hint else None, "phase_skipped": advice.skipped,
                       "phase_inference_s": round(advice.waited_s, 4)}
            timeout_s = max(0.05, timeout_s - advice.waited_s)
        try:
            outcome = solve_cnf(self.clauses, VerifyBudget(timeout_s=timeout_s), phases=hint)
        except ChildFailure as failure:
            raise SolverFault(f"the SAT solver {failure}") from None
        details: dict[str, Any] = {"solver": outcome.solver, "solve_s": round(outcome.solve_s, 4),
                                   "check_s": round(outcome.check_s, 4), "message": outcome.message,
                                   **{name: outcome.stats[name] for name in ("conflicts", "decisions", "propagations")
                                      if name in outcome.stats},
                                   "phases_given": outcome.stats.get("phases_given", 0), **advised}
        if outcome.status == "sat":
            true = {literal for literal in outcome.model or [] if literal > 0}
            return Solved("sat", {key: self.variables[key] in true for key in scheme.keys}, details=details)
        if outcome.status == "unsat":
            proof = outcome.proof
            if proof is not None:
                details["proof"] = {"valid": proof.valid, "derived_empty": proof.derived_empty,
                                    "lemmas": proof.lemmas, "deletions": proof.deletions,
                                    "checked_lemmas": proof.checked_lemmas, "elapsed_s": round(proof.elapsed_s, 4),
                                    "timed_out": proof.timed_out, "message": proof.message}
                if not proof.valid and not proof.timed_out:
                    raise SolverFault(f"the solver answered UNSAT but its DRAT proof does not check: {proof.message}")
            certified = outcome.certified
            if not certified:
                # Solvers return an empty proof when the formula's own unit clauses refute it; then the
                # one-line proof `0` (the empty clause, by unit propagation) is checked instead.
                by_propagation = check_drat(self.clauses, "0\n", max(0.1, timeout_s - outcome.solve_s))
                details["propagation_proof"] = by_propagation.message or "the empty clause follows by unit propagation"
                certified = by_propagation.certified
            assurance = "its DRAT proof was checked" if certified else f"not certified: {outcome.message}"
            return Solved("unsat", certified=certified, assurance=assurance, details=details)
        raise Undecided(f"the SAT solver could not decide in time ({outcome.message})")

    def enumerate(self, scheme: Scheme, limit: int, timeout_s: float) -> list[dict[Key, Any]]:
        """Up to `limit` models, distinct on the scheme's variables (blocking clauses, in a child process)."""
        try:
            models = enumerate_models(self.clauses, [self.variables[key] for key in scheme.keys], limit, timeout_s)
        except ChildFailure as failure:
            raise SolverFault(f"the SAT solver enumerating models {failure}") from None
        if models is None:
            raise Undecided("enumerating the small instance's models took too long")
        return [{key: self.variables[key] in true for key in scheme.keys} for true in models]


class SolverFault(Exception):
    """A solver or checker contradicted itself: an `error` verdict, never an acceptance."""


# --------------------------------------------------------------------------------------------
# The verifier.


class EncodingVerifier(Verifier):
    """Shared by the SAT and SMT encoding verifiers; subclasses set `mode` and `read_formula`."""

    mode: str
    details_model = EncodingDetails

    def read_formula(self, output: ProgramOutput) -> Formula:
        raise NotImplementedError

    def check_task(self, task: EncodingProblem) -> None:
        family = FAMILIES.get(task.family)
        if family is None:
            raise ValueError(f"family: unknown problem family {task.family!r} (known: {', '.join(FAMILIES)})")
        family.parse(task.instance)

    def check_environment(self, task: EncodingProblem) -> None:
        default_sandbox().check()  # SandboxUnavailable: no isolation here, and running without it not allowed

    def family_of(self, task: EncodingProblem) -> Family:
        """The task's family (for prompts: its problem statement and variable conventions)."""
        return FAMILIES[task.family]

    def brute_force_answer(self, task: EncodingProblem, limit: int) -> str | None:
        """"sat" or "unsat" by checking every candidate of the family, or None when there are more than
        `limit` (converters use it to label small instances; it knows nothing of encodings)."""
        family = FAMILIES[task.family]
        instance = family.parse(task.instance)
        if family.candidate_count(instance) > limit:
            return None
        return "sat" if any(not family.check(instance, candidate) for candidate in family.candidates(instance)) else "unsat"

    def verify(self, task: EncodingProblem, proposal: HasText | str, budget: VerifyBudget) -> Verdict:
        started = time.perf_counter()
        deadline = time.monotonic() + budget.timeout_s
        program = proposal_text(proposal)
        try:
            family = FAMILIES[task.family]
            instance = family.parse(task.instance)
        except (KeyError, ValueError) as error:
            return self.verdict("error", f"the task is broken: {error}", started)
        details: dict[str, Any] = {"family": family.name}
        runs: list[ProgramRun] = []
        try:
            return self._decide(family, instance, program, deadline, details, runs, started)
        except Rejection as rejection:
            details.update(stage=rejection.stage, **rejection.details)
            return self.verdict("rejected", rejection.feedback[:MAX_FEEDBACK] + unsandboxed_note(runs), started,
                                details=details, counterexample=rejection.details.get("counterexample"))
        except Undecided as undecided:
            return self.verdict("unknown", f"{undecided}; this is not an answer.{unsandboxed_note(runs)}", started,
                                details=details)
        except (SandboxError, SolverFault) as fault:
            return self.verdict("error", f"{type(fault).__name__}: {fault}{unsandboxed_note(runs)}", started,
                                details=details)

    def run_everywhere(self, family: Family, instance: Any, program: str, deadline: float,
                       runs: list[ProgramRun]) -> tuple[ProgramRun, list[tuple[Any, ProgramRun]]]:
        """Run the program on the task's instance and on each small instance of the faithfulness test,
        each in its own sandbox call with the same layout and the same limits, in a random order:
        nothing tells the program which run is the real one. Stops early only when the real run failed.
        Returns the real run and (small instance, run) pairs; `runs` collects every run."""
        smalls = family.small_instances()
        jobs: list[Any] = [None, *smalls]  # None stands for the task's own instance
        random.SystemRandom().shuffle(jobs)
        limits = program_limits(min(PROGRAM_WALL_S, _stage_time(deadline) * PROGRAM_SHARE / len(jobs)))
        real: ProgramRun | None = None
        small_runs: list[tuple[Any, ProgramRun]] = []
        for job in jobs:
            _stage_time(deadline)
            run = run_program(program, self.mode, task_instance_json(instance if job is None else job), limits)
            runs.append(run)
            if job is None:
                real = run
                if isinstance(run.output, str):
                    break
            else:
                small_runs.append((job, run))
        assert real is not None
        small_runs.sort(key=lambda pair: smalls.index(pair[0]))
        return real, small_runs

    def _decide(self, family: Family, instance: Any, program: str, deadline: float, details: dict[str, Any],
                runs: list[ProgramRun], started: float) -> Verdict:
        real, small_runs = self.run_everywhere(family, instance, program, deadline, runs)
        details["sandbox"] = real.summary()
        details["sandbox_calls"] = len(runs)
        output = real.output
        if isinstance(output, str):
            raise Rejection(f"The program failed: {output}", "program")
        formula = self.read_formula(output)
        try:
            scheme = family.scheme(instance, formula.keys, integers=self.mode == "smt")
        except DecodeError as error:
            raise Rejection(f"The variable map cannot be read: {error}.", "variables") from None
        solved = formula.solve(scheme, _stage_time(deadline) / 2)  # solving, then checking its answer
        details["solve"] = solved.details
        if solved.status == "sat":
            assert solved.values is not None
            solution = self._solution(family, instance, scheme, solved.values, "the instance")
            details.update(answer="sat", solution=family.show(instance, solution))
            return self.verdict("accepted", f"SAT: {family.show(instance, solution)}; the family's checker accepts"
                                f" this solution.{unsandboxed_note(runs)}", started, details=details, certified=True,
                                certificate={"solution": family.show(instance, solution)})
        if not solved.certified:
            raise Undecided(f"the formula is UNSAT by the solver, but {solved.assurance}")
        faithfulness = self.check_faithfulness(family, small_runs, deadline)
        details.update(answer="unsat", faithfulness=faithfulness.model_dump())
        return self.verdict("accepted", f"UNSAT: the emitted formula is unsatisfiable ({solved.assurance}). "
                            f"{faithfulness.sentence()}{unsandboxed_note(runs)}", started, details=details,
                            certified=True, certificate=solved.details.get("proof"))

    def _solution(self, family: Family, instance: Any, scheme: Scheme, values: Mapping[Key, Any], where: str) -> Any:
        try:
            solution = family.decode(instance, scheme, values)
        except DecodeError as error:
            raise Rejection(f"The model of {where} is not a solution: {error}.", "decode") from None
        violations = family.check(instance, solution)
        if violations:
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            raise Rejection(f"The decoded solution of {where} is wrong: {violations[0]}{more}.", "check",
                            counterexample={"solution": family.show(instance, solution), "violations": violations[:10]})
        return solution

    def check_faithfulness(self, family: Family, small_runs: list[tuple[Any, ProgramRun]],
                           deadline: float) -> Faithfulness:
        """Compare the program's formulas on the family's small instances with brute force.
        Raises Rejection on a disagreement, Undecided when out of time."""
        counts = []
        for small, run in small_runs:
            where = f"the small instance ({family.describe(small)})"
            if isinstance(run.output, str):
                raise Rejection(f"On {where} the program failed: {run.output}", "faithfulness",
                                counterexample={"instance": task_instance_json(small)})
            solutions = family.brute_force(small)
            formula = self.read_formula(run.output)
            try:
                scheme = family.scheme(small, formula.keys, integers=self.mode == "smt")
            except DecodeError as error:
                raise Rejection(f"On {where} the variable map cannot be read: {error}.", "faithfulness") from None
            models = formula.enumerate(scheme, len(solutions) + 1, _stage_time(deadline))
            decoded = []
            for values in models:
                try:
                    decoded.append(self._solution(family, small, scheme, values, where))
                except Rejection as rejection:
                    raise Rejection(f"Under-constrained: {rejection.feedback}", "faithfulness",
                                    counterexample={"instance": task_instance_json(small),
                                                    **rejection.details.get("counterexample", {})}) from None
            if len(decoded) < len(solutions):
                missing = next(solution for solution in solutions if solution not in decoded)
                raise Rejection(
                    f"Over-constrained: {where} has {len(solutions)} solution(s) but the encoding allows only "
                    f"{len(decoded)}; it excludes {family.show(small, missing)}.", "faithfulness",
                    counterexample={"instance": task_instance_json(small), "excluded": family.show(small, missing)})
            counts.append(len(solutions))
        return Faithfulness(instances=len(small_runs), solution_counts=counts)


def task_instance_json(instance: Any) -> dict[str, Any]:
    return instance.model_dump(mode="json")


def _stage_time(deadline: float, cap: float | None = None) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0.05:
        raise Undecided("the verifier's time ran out")
    return min(remaining, cap) if cap else remaining


@register
class SatEncodingVerifier(EncodingVerifier):
    name = "pysat-encoding"
    version = "1.0"
    kinds = ("sat_encoding",)
    mode = "sat"
    phase_advisor: PhaseAdvisor | None = None

    def with_phase_advisor(self, advisor: PhaseAdvisor) -> "SatEncodingVerifier":
        """A copy of this verifier whose formulas ask `advisor` for the solver's phases (`TakesPhaseAdvisor`)."""
        advised = copy.copy(self)
        advised.phase_advisor = advisor
        return advised

    def read_formula(self, output: ProgramOutput) -> Formula:
        return CnfFormula(output, self.phase_advisor)
