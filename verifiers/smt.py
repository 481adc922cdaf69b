"""SMT encodings with Z3, and the solver helpers the logic verifier shares.

A proposal for an `smt_encoding` task is a program (API in `verifiers/encoding_runtime.py`) that
builds z3 constraints and a variable map {key: Int or Bool constant}. Its SMT-LIB text is untrusted:

- before any solver sees it, `check_script` reads it as a token stream (no recursion, no solver):
  only the commands an encoding needs (`ALLOWED_COMMANDS`: declarations, definitions, assertions,
  `set-info`/`set-logic`) are allowed, so `include` (which reads files) and every option or command
  that acts are refused, and the text's size and nesting are bounded;
- it is then parsed by Z3's own parser and solved in a child process (`verifiers/child.py`) under the
  verifier's time limit: a parse that runs long or a solver that crashes is `unknown` or `error`,
  never a dead loop.

The verdict follows `verifiers/encoding.py`:

- SAT: the model is evaluated on every assertion, read back through the variable map (Boolean or
  integer scheme of the family) and checked by the family's semantic checker.
- UNSAT: cvc5, a second solver with its own SMT-LIB parser, re-checks the formula as Z3 printed it
  (in a child process of its own); `certified` only when cvc5 also answers unsat (if cvc5 finds it
  satisfiable the verdict is an error). Faithfulness on small instances is checked as for SAT,
  enumerating models with Z3 (in a child process).
"""

from __future__ import annotations

import time
from typing import Any

import z3

from verifiers.base import register
from verifiers.child import ChildFailure, ChildTimeout, call_in_child
from verifiers.encoding import EncodingVerifier, Formula, ProgramOutput, Rejection, Solved, SolverFault, Undecided, key_of
from verifiers.families import Scheme
from verifiers.families.base import Key
from verifiers.solvers import ScriptProblem, check_script, cvc5_status_isolated

SORTS = ("Int", "Bool")


def check_smtlib(text: str) -> None:
    try:
        check_script(text)
    except ScriptProblem as problem:
        raise Rejection(str(problem), "parse") from None


def z3_child_reply(target: str, request: dict[str, Any], timeout_s: float, what: str) -> dict[str, Any]:
    """Run `target` (a function of `verifiers.solver_children`) on untrusted SMT-LIB in a child process killed at
    `timeout_s`, turning its time-out, crash, rejection or fault into this module's exceptions."""
    try:
        reply = call_in_child(target, {**request, "timeout_s": timeout_s}, timeout_s)
    except ChildTimeout:
        raise Undecided(f"{what} ran past the time limit (Z3's parse and solve, in a child process)") from None
    except ChildFailure as failure:
        raise SolverFault(f"Z3 {what}: the child process {failure}") from None
    if "rejection" in reply:
        raise Rejection(reply["rejection"], "parse")
    if "fault" in reply:
        raise SolverFault(reply["fault"])
    return reply


def _child_reply(target: str, request: dict[str, Any], timeout_s: float, what: str) -> dict[str, Any]:
    reply = z3_child_reply(target, request, timeout_s, what)
    if reply["status"] == "unknown":
        raise Undecided(f"Z3 could not decide {what} ({reply['reason']})")
    return reply


class SmtFormula:
    """An SMT-LIB formula (checked by `check_script`, solved by Z3 in a child process) and its
    variable map {key: [name, sort]}."""

    def __init__(self, output: ProgramOutput) -> None:
        check_smtlib(output.formula)
        self.script = output.formula
        self.constants: dict[Key, tuple[str, str]] = {}
        if not isinstance(output.variables, list):
            raise Rejection("the variable map is not a list of [key, name, sort] entries", "parse")
        for entry in output.variables:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[1], str) and entry[2] in SORTS):
                raise Rejection(f"bad variable-map entry {str(entry)[:80]}", "parse")
            self.constants[key_of(entry[0])] = (entry[1], entry[2])
        self.keys = set(self.constants)

    def _variables(self, scheme: Scheme) -> list[list[str]]:
        wanted = "Bool" if scheme.kind == "bool" else "Int"
        for key in scheme.keys:
            if self.constants[key][1] != wanted:
                raise Rejection(f"the variable {key!r} must be a {wanted} constant, not {self.constants[key][1]}",
                                "variables")
        return [list(self.constants[key]) for key in scheme.keys]

    def solve(self, scheme: Scheme, timeout_s: float) -> Solved:
        variables = self._variables(scheme)
        started = time.perf_counter()
        reply = _child_reply("verifiers.solver_children:z3_solve", {"script": self.script, "variables": variables},
                             timeout_s, "the instance")
        details: dict[str, Any] = {"solver": f"z3 {z3.get_version_string()}", "solve_s": round(time.perf_counter() - started, 4)}
        if reply["status"] == "sat":
            return Solved("sat", dict(zip(scheme.keys, reply["values"])), details=details)
        second, detail = cvc5_status_isolated(reply["script"], max(0.5, timeout_s - details["solve_s"]))
        details["cross_check"] = detail
        if second == "sat":
            raise SolverFault(f"Z3 answers unsat but {detail}")
        assurance = "cvc5 agrees" if second == "unsat" else f"not certified: {detail}"
        return Solved("unsat", certified=second == "unsat", assurance=assurance, details=details)

    def enumerate(self, scheme: Scheme, limit: int, timeout_s: float) -> list[dict[Key, Any]]:
        variables = self._variables(scheme)
        reply = _child_reply("verifiers.solver_children:z3_enumerate",
                             {"script": self.script, "variables": variables, "limit": limit}, timeout_s,
                             "the small instance's models")
        return [dict(zip(scheme.keys, values)) for values in reply["models"]]


@register
class SmtEncodingVerifier(EncodingVerifier):
    name = "z3-encoding"
    version = f"1.1 (z3 {z3.get_version_string()})"
    kinds = ("smt_encoding",)
    mode = "smt"

    def read_formula(self, output: ProgramOutput) -> Formula:
        return SmtFormula(output)
