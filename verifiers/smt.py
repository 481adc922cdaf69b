"""SMT encodings with Z3, and the solver helpers the logic verifier shares.

A proposal for an `smt_encoding` task is a program (API in `verifiers/encoding_runtime.py`) that
builds z3 constraints and a variable map {key: Int or Bool constant}. Its SMT-LIB text is parsed
here by Z3's own parser in a fresh context and solved under a hard time limit (a solver time-out
and a watchdog that interrupts the context). The verdict follows `verifiers/encoding.py`:

- SAT: the model is evaluated on every assertion, read back through the variable map (Boolean or
  integer scheme of the family) and checked by the family's semantic checker.
- UNSAT: cvc5, a second solver with its own SMT-LIB parser, re-checks the formula as Z3 printed it;
  `certified` only when cvc5 also answers unsat (if cvc5 finds it satisfiable the verdict is an
  error). Faithfulness on small instances is checked as for SAT, enumerating models with Z3.
"""

from __future__ import annotations

import time
from typing import Any

import z3

from verifiers.base import register
from verifiers.encoding import EncodingVerifier, Formula, ProgramOutput, Rejection, Solved, SolverFault, Undecided, key_of
from verifiers.families import Scheme
from verifiers.families.base import Key
from verifiers.solvers import cvc5_status, z3_check, z3_message

SORTS = ("Int", "Bool")


def parse_smtlib(text: str) -> tuple[z3.Context, z3.AstVector]:
    context = z3.Context()
    try:
        return context, z3.parse_smt2_string(text, ctx=context)
    except z3.Z3Exception as error:
        raise Rejection(f"the SMT-LIB text does not parse: {z3_message(error)[:300]}", "parse") from None


def model_value(model: z3.ModelRef, constant: z3.ExprRef) -> Any:
    value = model.eval(constant, model_completion=True)
    if z3.is_int_value(value):
        return value.as_long()
    if z3.is_true(value) or z3.is_false(value):
        return z3.is_true(value)
    raise SolverFault(f"Z3's model gives {constant} the value {value}, which is not a number or a truth value")


class SmtFormula:
    """An SMT-LIB formula (parsed by Z3) and its variable map {key: constant}."""

    def __init__(self, output: ProgramOutput) -> None:
        self.context, self.assertions = parse_smtlib(output.formula)
        self.constants: dict[Key, z3.ExprRef] = {}
        if not isinstance(output.variables, list):
            raise Rejection("the variable map is not a list of [key, name, sort] entries", "parse")
        for entry in output.variables:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[1], str) and entry[2] in SORTS):
                raise Rejection(f"bad variable-map entry {str(entry)[:80]}", "parse")
            make = z3.Int if entry[2] == "Int" else z3.Bool
            self.constants[key_of(entry[0])] = make(entry[1], self.context)
        self.keys = set(self.constants)

    def _check_sorts(self, scheme: Scheme) -> None:
        wanted = z3.BoolSort(self.context) if scheme.kind == "bool" else z3.IntSort(self.context)
        for key in scheme.keys:
            if self.constants[key].sort() != wanted:
                raise Rejection(f"the variable {key!r} must be a {wanted} constant, not {self.constants[key].sort()}",
                                "variables")

    def _solver(self) -> z3.Solver:
        solver = z3.Solver(ctx=self.context)
        solver.add(self.assertions)
        return solver

    def solve(self, scheme: Scheme, timeout_s: float) -> Solved:
        self._check_sorts(scheme)
        solver = self._solver()
        script = solver.sexpr()  # before check(), which appends Z3's model-converter commands
        started = time.perf_counter()
        status, reason = z3_check(solver, self.context, timeout_s)
        details: dict[str, Any] = {"solver": f"z3 {z3.get_version_string()}", "solve_s": round(time.perf_counter() - started, 4)}
        if status == "unknown":
            raise Undecided(f"Z3 could not decide ({reason})")
        if status == "sat":
            model = solver.model()
            falsified = [index for index, assertion in enumerate(self.assertions)
                         if z3.is_false(model.eval(assertion, model_completion=True))]
            if falsified:
                raise SolverFault(f"Z3's model falsifies assertion {falsified[0] + 1} of its own formula")
            return Solved("sat", {key: model_value(model, self.constants[key]) for key in scheme.keys}, details=details)
        second, detail = cvc5_status(script, max(0.5, timeout_s - details["solve_s"]))
        details["cross_check"] = detail
        if second == "sat":
            raise SolverFault(f"Z3 answers unsat but {detail}")
        assurance = "cvc5 agrees" if second == "unsat" else f"not certified: {detail}"
        return Solved("unsat", certified=second == "unsat", assurance=assurance, details=details)

    def enumerate(self, scheme: Scheme, limit: int, timeout_s: float) -> list[dict[Key, Any]]:
        self._check_sorts(scheme)
        solver = self._solver()
        constants = [self.constants[key] for key in scheme.keys]
        deadline = time.monotonic() + timeout_s
        found: list[dict[Key, Any]] = []
        while len(found) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Undecided("enumerating the small instance's models took too long")
            status, reason = z3_check(solver, self.context, remaining)
            if status == "unknown":
                raise Undecided(f"Z3 could not enumerate the small instance's models ({reason})")
            if status == "unsat":
                break
            model = solver.model()
            values = {key: model_value(model, self.constants[key]) for key in scheme.keys}
            found.append(values)
            solver.add(z3.Or([constant != model.eval(constant, model_completion=True) for constant in constants]))
        return found


@register
class SmtEncodingVerifier(EncodingVerifier):
    name = "z3-encoding"
    version = f"1.0 (z3 {z3.get_version_string()})"
    kinds = ("smt_encoding",)
    mode = "smt"

    def read_formula(self, output: ProgramOutput) -> Formula:
        return SmtFormula(output)
