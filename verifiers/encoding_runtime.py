"""The API of encoding programs, and the driver that runs them inside the sandbox.

`main` is the sandbox driver (`verifiers.encoding_runtime:main`, see `verifiers/sandbox.py`): it
runs in the guest process, after the sandbox's isolation is in place. Nothing it
writes is trusted: the verifiers read its files back with PySAT's and Z3's own parsers and check
what they mean. The modules a program may import are imported here, before the guest drops its
privileges (the guest sees no file of the host, the interpreter's library included).

A program is plain Python. It reads the instance from `instance` (a dict, as in the task file) and
calls `emit` once. What it finds in its namespace depends on the task kind:

SAT (`sat_encoding`):
    IDPool, CNF, CardEnc, EncType from PySAT; itertools, math.
    emit(formula, variables)
        formula: a PySAT CNF (anything with `.clauses`) or a list of clauses (lists of non-zero ints)
        variables: the IDPool whose named variables the family reads (e.g. pool.id(("color", v, c))),
            or a dict {key: variable}; keys are tuples of strings and integers
SMT (`smt_encoding`):
    z3 and every public name of `from z3 import *`; itertools, math.
    emit(formula, variables)
        formula: a z3 Solver, or a list of z3 Boolean expressions
        variables: a dict {key: z3 Int or Bool constant}, e.g. {("color", v): Int(f"c{v}")}
logic (`logic`):
    the same names as SMT.
    emit(constraints, options=None, statement=None)
        constraints: a z3 Solver or a list of z3 Boolean expressions (the premises)
        options: {"A": expression, ...} for a multiple-choice question, or
        statement: one expression, for a true/false/unknown question

A job (`job.json`) is one instance: `{"mode": ..., "instance": ...}`. Every run of a verdict, the
task's own instance and each small instance of the faithfulness test alike, is its own sandbox call
with this same layout, so a program cannot tell which instance is the real one by how it is run.
Files written: `formula.cnf` (DIMACS) or `formula.smt2` (SMT-LIB), `variables.json`, and
`error.json` when the program failed.
"""

from __future__ import annotations

import builtins
import importlib
import json
import traceback
from typing import Any

import z3
from pysat.card import CardEnc, EncType
from pysat.formula import CNF, IDPool

JOB_FILE = "job.json"
PROGRAM_FILE = "program.py"
MODES = ("sat", "smt", "logic")
OPTION_PREFIX = "veriloop_option_"
STATEMENT_NAME = "veriloop_statement"
# Modules a program may import (imported now, in the sandbox server: the guest cannot read the library).
PRELOADED = ("itertools", "math", "collections", "functools", "operator", "string", "re", "random", "typing",
             "dataclasses", "fractions", "decimal", "statistics", "datetime", "enum", "copy", "heapq", "bisect", "json",
             "pysat", "pysat.formula", "pysat.card", "pysat.solvers", "z3",
             "encodings.idna")  # socket's name lookups need it: a refused connection is then an OSError
for _module in PRELOADED:
    importlib.import_module(_module)
_Z3_NAMES = {name: getattr(z3, name) for name in dir(z3) if not name.startswith("_")}


class EmitError(Exception):
    """A call of `emit` with arguments it cannot use; shown to the model."""


VARIABLES_FILE = "variables.json"
ERROR_FILE = "error.json"


def formula_file(mode: str) -> str:
    return f"formula.{'cnf' if mode == 'sat' else 'smt2'}"


def _key(key: Any) -> Any:
    """A variable-map key as JSON: tuples of strings and integers become lists."""
    if isinstance(key, bool):
        raise EmitError(f"a variable key must be a tuple of strings and integers, not {key!r}")
    if isinstance(key, (str, int)):
        return key
    if isinstance(key, tuple) and all(isinstance(part, (str, int)) and not isinstance(part, bool) for part in key):
        return list(key)
    raise EmitError(f"a variable key must be a tuple of strings and integers, not {key!r}")


def _clauses(formula: Any) -> list[list[int]]:
    clauses = getattr(formula, "clauses", formula)
    try:
        clauses = [list(clause) for clause in clauses]
    except TypeError:
        raise EmitError("emit(formula, ...): formula must be a CNF or a list of clauses (lists of integers)") from None
    for number, clause in enumerate(clauses, start=1):
        for literal in clause:
            if isinstance(literal, bool) or not isinstance(literal, int) or literal == 0 or abs(literal) >= 2**31:
                raise EmitError(f"clause {number} {clause!r}: literals must be non-zero integers")
    return clauses


def _sat_variables(variables: Any) -> list[list[Any]]:
    items = variables.obj2id.items() if isinstance(variables, IDPool) else getattr(variables, "items", lambda: None)()
    if items is None:
        raise EmitError("emit(..., variables): variables must be an IDPool or a dict {key: variable number}")
    mapping = []
    for key, variable in items:
        if isinstance(variable, bool) or not isinstance(variable, int) or variable <= 0:
            raise EmitError(f"variable {key!r} must be a positive integer, not {variable!r}")
        mapping.append([_key(key), variable])
    return mapping


def _assertions(formula: Any, what: str) -> list[Any]:
    if isinstance(formula, (z3.Solver, z3.Optimize, z3.Goal)):
        formula = list(formula.assertions()) if not isinstance(formula, z3.Goal) else list(formula)
    elif z3.is_expr(formula):
        formula = [formula]
    try:
        formula = list(formula)
    except TypeError:
        raise EmitError(f"emit({what}): give a z3 Solver or a list of z3 Boolean expressions") from None
    for item in formula:
        if not z3.is_bool(item):
            raise EmitError(f"emit({what}): {item!r} is not a z3 Boolean expression")
    return formula


def _smt_text(assertions: list[Any]) -> str:
    solver = z3.Solver()
    solver.add(*assertions)
    return solver.sexpr()


def _smt_variables(variables: Any) -> list[list[Any]]:
    items = getattr(variables, "items", lambda: None)()
    if items is None:
        raise EmitError("emit(..., variables): variables must be a dict {key: z3 constant}")
    mapping = []
    for key, constant in items:
        if not (z3.is_const(constant) and constant.decl().kind() == z3.Z3_OP_UNINTERPRETED):
            raise EmitError(f"variable {key!r} must be a z3 constant such as Int('x'), not {constant!r}")
        sort = constant.sort().name()
        if sort not in ("Int", "Bool"):
            raise EmitError(f"variable {key!r} must be an Int or a Bool constant, not of sort {sort}")
        mapping.append([_key(key), constant.decl().name(), sort])
    return mapping


class _Emitter:
    """The `emit` function of one program run: writes the formula and the variable map once."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.called = False

    def _write(self, formula_text: str, variables: Any) -> None:
        with open(formula_file(self.mode), "w", encoding="utf-8") as handle:
            handle.write(formula_text)
        with open(VARIABLES_FILE, "w", encoding="utf-8") as handle:
            json.dump(variables, handle)

    def _once(self) -> None:
        if self.called:
            raise EmitError("emit() may be called only once")
        self.called = True

    def sat(self, formula: Any, variables: Any) -> None:
        self._once()
        clauses = _clauses(formula)
        mapping = _sat_variables(variables)
        self._write(CNF(from_clauses=clauses).to_dimacs() + "\n", mapping)

    def smt(self, formula: Any, variables: Any) -> None:
        self._once()
        assertions = _assertions(formula, "formula, ...")
        mapping = _smt_variables(variables)
        self._write(_smt_text(assertions), mapping)

    def logic(self, constraints: Any, options: Any = None, statement: Any = None) -> None:
        self._once()
        premises = _assertions(constraints, "constraints, ...")
        if (options is None) == (statement is None):
            raise EmitError("emit(constraints, ...): give either options={'A': ..., ...} or statement=...")
        named: dict[str, str] = {}
        if statement is not None:
            goals = {STATEMENT_NAME: statement}
        else:
            if not hasattr(options, "items"):
                raise EmitError("emit(..., options): options must be a dict {'A': expression, ...}")
            goals = {}
            for letter, expression in options.items():
                if not (isinstance(letter, str) and letter.isalpha() and len(letter) == 1):
                    raise EmitError(f"option names are single letters such as 'A', not {letter!r}")
                goals[OPTION_PREFIX + letter.upper()] = expression
                named[letter.upper()] = OPTION_PREFIX + letter.upper()
        definitions = []
        for name, expression in goals.items():
            if not z3.is_bool(expression):
                raise EmitError(f"{name.removeprefix(OPTION_PREFIX)} must be a z3 Boolean expression, not {expression!r}")
            definitions.append(z3.Bool(name) == expression)
        self._write(_smt_text(premises + definitions), {"options": named} if options is not None else {"statement": STATEMENT_NAME})


def namespace(mode: str, instance: Any, emitter: _Emitter) -> dict[str, Any]:
    """The globals a program starts with."""
    import itertools
    import math

    names: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "instance": instance,
                             "itertools": itertools, "math": math}
    if mode == "sat":
        names.update(IDPool=IDPool, CNF=CNF, CardEnc=CardEnc, EncType=EncType, emit=emitter.sat)
    else:
        names.update(_Z3_NAMES)
        names.update(z3=z3, emit=emitter.smt if mode == "smt" else emitter.logic)
    return names


def _failure(error: BaseException) -> dict[str, Any]:
    """Where a program failed: the error and the line of program.py it happened on."""
    line = None
    if isinstance(error, SyntaxError) and error.filename == PROGRAM_FILE:
        line = error.lineno
    else:
        for frame in traceback.extract_tb(error.__traceback__):
            if frame.filename == PROGRAM_FILE:
                line = frame.lineno
    message = str(error) if not isinstance(error, SyntaxError) else error.msg
    return {"type": type(error).__name__, "message": message[:500], "line": line}


def main() -> None:
    """The sandbox driver: run program.py on the instance of job.json."""
    with open(JOB_FILE, encoding="utf-8") as handle:
        job = json.load(handle)
    with open(PROGRAM_FILE, encoding="utf-8") as handle:
        source = handle.read()
    emitter = _Emitter(job["mode"])
    try:
        code = compile(source, PROGRAM_FILE, "exec")
        exec(code, namespace(job["mode"], job["instance"], emitter))
        if not emitter.called:
            raise EmitError("the program ended without calling emit(...)")
    except BaseException as error:  # noqa: BLE001 - any failure of the program is reported
        if isinstance(error, SystemExit) and emitter.called:
            return
        with open(ERROR_FILE, "w", encoding="utf-8") as handle:
            json.dump(_failure(error), handle)
