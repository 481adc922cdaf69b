"""Transition systems: typed state variables and `pre`, `trans`, `post` as Z3 terms.

A transition system is what every loop-invariant front end reduces a problem to: state variables
`x` (and their next-state copies `x!`), a pre-condition over `x`, a transition relation over `x`
and `x!`, and a post-condition over `x` that must hold wherever the loop may exit. An invariant
`inv` proves the problem when `pre => inv`, `inv && trans => inv'` and `inv => post` are valid.
Constants other than the state variables (Code2Inv's SSA copies `x_0`...) are auxiliary: free in
the checks, so existential in `pre`/`trans` and universal in `post`, exactly as in the template's
own verification conditions.

Front ends and the semantics each gives (tests/test_transition.py checks each one):

- Code2Inv template (`from_template`, the `N.c.smt` files; also LaM4Inv and Clause2Inv): whatever
  the SMT-LIB says. Every variable is a mathematical integer, even where the C program says
  `unsigned int` (no wrap-around, no lower bound 0); there is no overflow. `div` and `mod` are
  SMT-LIB's Euclidean division (`(mod -7 2)` is 1, C's `-7 % 2` is -1); `/` on integers is real
  division (Z3 silently reads the integers as reals). Where this differs from the C program the
  template can disagree with it; refutations are therefore replayed on the C program
  (`agent/cprogram.py`, `replay_violation`) before a task is called refuted.
- SyGuS-Inv (`from_sygus`, SyGuS-Comp `.sl` files with `synth-inv`, `define-fun`, `inv-constraint`):
  the SyGuS LIA theory. Mathematical integers, no unsigned type, no overflow; `div`/`mod` Euclidean.
  `sygus_to_template` writes the same problem as a Code2Inv-layout template for the invariant
  verifier.
- C programs (`agent/cprogram.py`'s concrete interpreter): `int` as mathematical integers (signed
  overflow is undefined in C and not modelled), `unsigned int` as 32-bit machine integers (reduced
  modulo 2^32, C's usual arithmetic conversions), `/` truncating toward zero and `%` with the sign
  of the dividend (C99).

This module is on the trusted side: it never imports from `agent/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import z3

from verifiers.invariant import TemplateError, parse_template
from verifiers.solvers import z3_message

PRIME = "!"
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while""".split())


class SygusError(ValueError):
    """A `.sl` file outside the supported SyGuS-Inv subset; the message names the problem."""


@dataclass(frozen=True)
class StateVariable:
    name: str
    unsigned_bits: int | None = None  # None: a mathematical integer


@dataclass
class TransitionSystem:
    variables: tuple[StateVariable, ...]
    pre: z3.BoolRef
    trans: z3.BoolRef
    post: z3.BoolRef
    context: z3.Context = field(repr=False)
    semantics: str = ""

    def current(self, name: str) -> z3.ArithRef:
        return z3.Int(name, ctx=self.context)

    def primed(self, name: str) -> z3.ArithRef:
        return z3.Int(name + PRIME, ctx=self.context)

    def next_state(self, term: z3.ExprRef) -> z3.ExprRef:
        """`term` with every state variable replaced by its next-state copy."""
        return z3.substitute(term, *[(self.current(v.name), self.primed(v.name)) for v in self.variables])

    def check(self, invariant: z3.BoolRef, timeout_ms: int = 10_000) -> dict[str, str]:
        """Each verification condition: `holds`, `fails` or `unknown` (never more than Z3 says)."""
        conditions = {
            "initiation": z3.Implies(self.pre, invariant),
            "consecution": z3.Implies(z3.And(invariant, self.trans), self.next_state(invariant)),
            "postcondition": z3.Implies(invariant, self.post),
        }
        results = {}
        for name, condition in conditions.items():
            solver = z3.Solver(ctx=self.context)
            solver.set("timeout", timeout_ms)
            solver.add(z3.Not(condition))
            answer = solver.check()
            results[name] = "holds" if answer == z3.unsat else "fails" if answer == z3.sat else "unknown"
        return results


def from_template(text: str) -> TransitionSystem:
    """The transition system of a Code2Inv-layout template (raises TemplateError)."""
    template = parse_template(text)
    context = z3.Context()

    def term(function: str) -> z3.BoolRef:
        call = f"({function} {' '.join(template.signatures[function])})"
        try:
            return z3.parse_smt2_string(template.definitions("true") + f"(assert {call})", ctx=context)[0]
        except z3.Z3Exception as error:
            raise TemplateError(f"{function} cannot be applied to its parameters: {z3_message(error)}") from None

    return TransitionSystem(tuple(StateVariable(name) for name in template.variables),
                            term("pre-f"), term("trans-f"), term("post-f"), context,
                            "Code2Inv template: mathematical integers, SMT-LIB div/mod, `/` as real division")


# --- SyGuS-Inv -------------------------------------------------------------------------------------
# Z3's parser reads SMT-LIB, not SyGuS: `synth-inv` and `inv-constraint` are SyGuS commands. The
# reader below only splits the file into its top-level commands (a few lines, so hand-written); the
# `define-fun` bodies, which are SMT-LIB, are handed to Z3's own parser unchanged.

def _top_level_forms(text: str) -> list[str]:
    forms: list[str] = []
    depth, start, index = 0, 0, 0
    while index < len(text):
        char = text[index]
        if char == ";":  # a comment runs to the end of the line
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        if char in "|\"":  # a quoted symbol or a string: parentheses inside do not count
            end = text.find(char, index + 1)
            if end < 0:
                raise SygusError(f"unterminated {char} at character {index}")
            index = end + 1
            continue
        if char == "(":
            if depth == 0:
                start = index
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SygusError(f"unbalanced `)` at character {index}")
            if depth == 0:
                forms.append(text[start:index + 1])
        elif depth == 0 and not char.isspace():
            raise SygusError(f"text outside any command at character {index}")
        index += 1
    if depth:
        raise SygusError("unbalanced `(`: the file ends inside a command")
    return forms


_HEAD = re.compile(r"\(\s*([^()\s]+)")
_SORTED = re.compile(r"\(\s*([^()\s]+)\s+([^()\s]+)\s*\)")
_DEFINE = re.compile(r"\(\s*define-fun\s+([^()\s]+)\s*\(((?:\s*\([^()]*\))*)\s*\)\s*([^()\s]+)")


@dataclass(frozen=True)
class SygusProblem:
    variables: tuple[str, ...]
    logic: str
    definitions: dict[str, tuple[tuple[str, ...], str]]  # name -> (parameters, its define-fun text)
    roles: dict[str, str]  # "pre" / "trans" / "post" -> the function named by inv-constraint


def read_sygus(text: str) -> SygusProblem:
    """The commands of a SyGuS-Inv file; raise SygusError naming what is not supported."""
    logic, variables, roles = "LIA", None, None
    definitions: dict[str, tuple[tuple[str, ...], str]] = {}
    invariant_name = None
    for form in _top_level_forms(text):
        head = _HEAD.match(form)
        command = head.group(1) if head else ""
        if command == "set-logic":
            logic = form[head.end():-1].strip()
            if logic not in ("LIA", "NIA", "ALL"):
                raise SygusError(f"logic {logic} is not supported (integer arithmetic only)")
        elif command == "synth-inv":
            found = re.match(r"\(\s*synth-inv\s+([^()\s]+)\s*\(((?:\s*\([^()]*\))*)\s*\)\s*\)$", form)
            if not found:
                raise SygusError("`synth-inv` with a grammar is not supported")
            invariant_name = found.group(1)
            parameters = _SORTED.findall(found.group(2))
            for name, sort in parameters:
                if sort != "Int":
                    raise SygusError(f"variable `{name}` has sort {sort}; only Int is supported")
                if not _C_IDENTIFIER.fullmatch(name) or name in _C_KEYWORDS:
                    raise SygusError(f"variable `{name}` is not a C identifier (invariants are written in C syntax)")
            variables = tuple(name for name, _ in parameters)
        elif command == "define-fun":
            found = _DEFINE.match(form)
            if not found:
                raise SygusError(f"cannot read `{form[:60]}`")
            definitions[found.group(1)] = (tuple(name for name, _ in _SORTED.findall(found.group(2))), form)
        elif command == "inv-constraint":
            names = form[head.end():-1].split()
            if len(names) != 4:
                raise SygusError("`inv-constraint` needs four names: inv, pre, trans, post")
            if names[0] != invariant_name:
                raise SygusError(f"`inv-constraint` names `{names[0]}`, not the synth-inv function")
            roles = dict(zip(("pre", "trans", "post"), names[1:]))
        elif command in ("check-synth", "set-option", "set-info"):
            continue
        else:
            raise SygusError(f"command `{command}` is not supported")
    if variables is None:
        raise SygusError("no `synth-inv` command")
    if roles is None:
        raise SygusError("no `inv-constraint` command")
    for role, name in roles.items():
        if name not in definitions:
            raise SygusError(f"the {role}-condition `{name}` is not defined")
        expected = len(variables) * (2 if role == "trans" else 1)
        if len(definitions[name][0]) != expected:
            raise SygusError(f"`{name}` takes {len(definitions[name][0])} parameters, expected {expected}")
    return SygusProblem(variables, logic, definitions, roles)


def sygus_to_template(text: str) -> str:
    """The SyGuS-Inv problem as a Code2Inv-layout template (the invariant verifier's input)."""
    from verifiers.invariant import MARKER

    problem = read_sygus(text)
    current = " ".join(problem.variables)
    primed = " ".join(name + PRIME for name in problem.variables)
    signature = " ".join(f"({name} Int)" for name in problem.variables)
    primed_signature = " ".join(f"({name}{PRIME} Int)" for name in problem.variables)
    # The file's functions keep their bodies; the three the constraint names are renamed so that
    # the template's own pre-f/trans-f/post-f can call them whatever the file called them.
    renamed = {name: f"sygus-{role}" for role, name in problem.roles.items()}
    lines = [f"(set-logic {problem.logic})"]
    lines += [f"(declare-const {name} Int)\n(declare-const {name}{PRIME} Int)" for name in problem.variables]
    for name, (_, form) in problem.definitions.items():
        lines.append(re.sub(r"^\(\s*define-fun\s+" + re.escape(name), f"(define-fun {renamed.get(name, name)}", form)
                     if name in renamed else form)
    lines.append(f"(define-fun inv-f ({signature}) Bool")
    head = "\n".join(lines)
    tail = (f")\n(define-fun pre-f ({signature}) Bool (sygus-pre {current}))\n"
            f"(define-fun trans-f ({signature} {primed_signature}) Bool (sygus-trans {current} {primed}))\n"
            f"(define-fun post-f ({signature}) Bool (sygus-post {current}))\n")
    checks = [f"(assert (not (=> (pre-f {current}) (inv-f {current}))))\n",
              f"(assert (not (=> (and (inv-f {current}) (trans-f {current} {primed})) (inv-f {primed}))))\n",
              f"(assert (not (=> (inv-f {current}) (post-f {current}))))\n"]
    template = f"\n{MARKER}\n".join([head, tail, *checks])
    parse_template(template)  # Z3 parses every check: a body it cannot read fails here
    return template


def from_sygus(text: str) -> TransitionSystem:
    """The transition system of a SyGuS-Inv file, its bodies parsed by Z3 directly (not through a
    template), so that it can cross-check `sygus_to_template`."""
    problem = read_sygus(text)
    context = z3.Context()
    declarations = "".join(f"(declare-const {name} Int)(declare-const {name}{PRIME} Int)" for name in problem.variables)
    definitions = "".join(form for _, form in problem.definitions.values())
    current = " ".join(problem.variables)
    primed = " ".join(name + PRIME for name in problem.variables)
    arguments = {"pre": current, "trans": f"{current} {primed}", "post": current}
    terms = {}
    for role, name in problem.roles.items():
        try:
            terms[role] = z3.parse_smt2_string(f"(set-logic {problem.logic}){declarations}{definitions}"
                                               f"(assert ({name} {arguments[role]}))", ctx=context)[0]
        except z3.Z3Exception as error:
            raise SygusError(f"`{name}` does not parse: {z3_message(error)}") from None
    return TransitionSystem(tuple(StateVariable(name) for name in problem.variables),
                            terms["pre"], terms["trans"], terms["post"], context,
                            "SyGuS LIA: mathematical integers, Euclidean div/mod")
