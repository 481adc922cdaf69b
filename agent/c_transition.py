"""C programs read directly: the transition system of a program, written as a Code2Inv-layout template.

A task needs a verification template; a C program in the supported dialect (`agent/cprogram.py`)
without one gets it from here, so `python -m agent solve loop.c` works on the program alone, and a
template that came with a program can be cross-checked against it (`cross_check_template`).

The program is executed symbolically with Z3 terms, once for the part before the loop and once for
the loop body, with the same semantics as the concrete interpreter (`agent/cprogram.py`):
- `int` is a mathematical integer (signed overflow is undefined in C and not modelled);
- `unsigned int` is a 32-bit machine integer: an unsigned variable starts in [0, 2^32), every value
  stored in it and every operation with an unsigned operand is reduced modulo 2^32;
- `/` truncates toward zero and `%` takes the sign of the dividend (C99); dividing by zero is
  undefined, so a run that does it is not a behaviour of the program (as for a false `assume`);
- each non-deterministic value (`unknown()`, `__VERIFIER_nondet_int()`...) is a fresh unconstrained
  integer, and a non-deterministic condition a fresh choice;
- `break` leaves the loop mid-body (the assertion must hold in the state it leaves with), `continue`
  starts the next iteration.

The template's functions take the loop-head variables (and their primed copies for `trans-f`) and the
auxiliary constants of one execution (initial values, non-deterministic values), which the checks
leave free, as in Code2Inv's own templates: existential in `pre-f`/`trans-f`, universal in `post-f`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import z3
from pycparser import c_ast

from agent.cprogram import (UNSIGNED_MODULUS, Assign, Assume, Break, Choices, Continue, If, Program, ProgramError,
                            Statement, _is_unknown, _line, _reads, _walk, _writes, expr_text, loop_head_states,
                            parse_program)
from verifiers.invariant import MARKER, TemplateError, _nonlinear_term, parse_template, subterms

_INIT = "init$"  # auxiliary names: `$` cannot occur in a C identifier, so they never meet a program variable
_NONDET = "nondet$"
_COMPARISONS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _all(context: z3.Context, *terms: z3.BoolRef) -> z3.BoolRef:
    """The conjunction of `terms` (`true` for none: z3.And() alone would use Z3's main context)."""
    return z3.And(*terms) if terms else z3.BoolVal(True, ctx=context)


class _Execution:
    """Symbolic execution of statements: the state, whether the current path is still running, whether
    it has left the loop by `break`, and what a run must satisfy to be a run at all (assumes)."""

    def __init__(self, context: z3.Context, program: Program, state: dict[str, z3.ArithRef],
                 auxiliary: list[z3.ArithRef]) -> None:
        self.context = context
        self.unsigned = program.unsigned
        self.state = state
        self.running: z3.BoolRef = z3.BoolVal(True, ctx=context)
        self.broke: z3.BoolRef = z3.BoolVal(False, ctx=context)
        self.allowed: list[z3.BoolRef] = []
        self.auxiliary = auxiliary

    def fresh(self) -> z3.ArithRef:
        constant = z3.Int(f"{_NONDET}{len(self.auxiliary)}", ctx=self.context)
        self.auxiliary.append(constant)
        return constant

    def _number(self, value: int) -> z3.ArithRef:
        return z3.IntVal(value, ctx=self.context)

    def _wrap(self, term: z3.ArithRef) -> z3.ArithRef:
        if z3.is_int_value(term):
            return self._number(term.as_long() % UNSIGNED_MODULUS)
        return term % self._number(UNSIGNED_MODULUS)

    def condition(self, node: c_ast.Node | None, reached: z3.BoolRef) -> z3.BoolRef:
        if node is None or _is_unknown(node):
            return self.fresh() != 0
        return self._truth(self.value(node, reached)[0])

    def _truth(self, term: z3.ExprRef) -> z3.BoolRef:
        return term if z3.is_bool(term) else term != 0

    def _integer(self, term: z3.ExprRef) -> z3.ArithRef:
        return z3.If(term, self._number(1), self._number(0)) if z3.is_bool(term) else term

    def value(self, node: c_ast.Node, reached: z3.BoolRef) -> tuple[z3.ExprRef, bool]:
        """The term of an expression and whether its C type is `unsigned int` (as `cprogram._typed`);
        `reached` is when it is evaluated (a division by zero rules out only the runs that reach it)."""
        if isinstance(node, c_ast.Constant):
            literal_unsigned = "u" in node.value.lower()
            number = int(node.value.rstrip("uUlL"), 0)
            return self._number(number % UNSIGNED_MODULUS if literal_unsigned else number), literal_unsigned
        if isinstance(node, c_ast.ID):
            return self.state[node.name], node.name in self.unsigned
        if isinstance(node, c_ast.FuncCall):
            return self.fresh(), False
        if isinstance(node, c_ast.UnaryOp):
            term, is_unsigned = self.value(node.expr, reached)
            if node.op == "!":
                return z3.Not(self._truth(term)), False
            term = -self._integer(term) if node.op == "-" else self._integer(term)
            return (self._wrap(term) if is_unsigned else term), is_unsigned
        if isinstance(node, c_ast.TernaryOp):
            test = self._truth(self.value(node.cond, reached)[0])
            then, then_unsigned = self.value(node.iftrue, z3.And(reached, test))
            otherwise, otherwise_unsigned = self.value(node.iffalse, z3.And(reached, z3.Not(test)))
            if z3.is_bool(then) != z3.is_bool(otherwise):
                then, otherwise = self._integer(then), self._integer(otherwise)
            return z3.If(test, then, otherwise), then_unsigned or otherwise_unsigned
        if not isinstance(node, c_ast.BinaryOp):
            raise ProgramError(f"{_line(node)}: cannot translate `{expr_text(node)}`")
        left, left_unsigned = self.value(node.left, reached)
        if node.op in ("&&", "||"):
            left = self._truth(left)
            # The right operand is evaluated only when the left one does not decide (short circuit).
            right_reached = z3.And(reached, left if node.op == "&&" else z3.Not(left))
            right = self._truth(self.value(node.right, right_reached)[0])
            return (z3.And(left, right) if node.op == "&&" else z3.Or(left, right)), False
        right, right_unsigned = self.value(node.right, reached)
        left, right = self._integer(left), self._integer(right)
        is_unsigned = left_unsigned or right_unsigned
        if is_unsigned:  # the usual arithmetic conversions (an unsigned operand is already in range)
            left = left if left_unsigned else self._wrap(left)
            right = right if right_unsigned else self._wrap(right)
        if node.op in _COMPARISONS:
            return _COMPARISONS[node.op](left, right), False
        if node.op in ("/", "%"):
            self.allowed.append(z3.Implies(reached, right != 0))  # undefined behaviour: no run goes on
            if is_unsigned:  # both operands in [0, 2^32): C's quotient is SMT-LIB's
                quotient = left / right
            else:
                quotient = z3.If(left >= 0, z3.If(right > 0, left / right, -(left / -right)),
                                 z3.If(right > 0, -((-left) / right), (-left) / (-right)))
            term = quotient if node.op == "/" else left - right * quotient
            return term, is_unsigned  # of unsigned operands: in range already
        if node.op not in _ARITHMETIC:
            raise ProgramError(f"{_line(node)}: unsupported operator `{node.op}`")
        term = _ARITHMETIC[node.op](left, right)
        return (self._wrap(term) if is_unsigned else term), is_unsigned

    def run(self, statements: list[Statement] | tuple[Statement, ...]) -> None:
        for statement in statements:
            if isinstance(statement, Assign):
                term, is_unsigned = self.value(statement.value, self.running)
                term = self._integer(term)
                if statement.target in self.unsigned and not is_unsigned:
                    term = self._wrap(term)
                self.state[statement.target] = z3.If(self.running, term, self.state[statement.target])
            elif isinstance(statement, Assume):
                self.allowed.append(z3.Implies(self.running, self.condition(statement.condition, self.running)))
            elif isinstance(statement, (Break, Continue)):
                if isinstance(statement, Break):
                    self.broke = z3.Or(self.broke, self.running)
                self.running = z3.BoolVal(False, ctx=self.context)
            elif isinstance(statement, If):
                test = self.condition(statement.condition, self.running)
                before, running, broke = dict(self.state), self.running, self.broke
                self.running = z3.And(running, test)
                self.run(statement.then)
                then_state, then_running, then_broke = self.state, self.running, self.broke
                self.state, self.running, self.broke = dict(before), z3.And(running, z3.Not(test)), broke
                self.run(statement.otherwise)
                self.state = {name: z3.If(test, then_state[name], self.state[name]) for name in before}
                self.running = z3.If(test, then_running, self.running)
                self.broke = z3.If(test, then_broke, self.broke)
            else:
                raise ProgramError(f"unsupported statement {statement!r}")


@dataclass
class CTransitionSystem:
    """The program's transition system as Z3 terms over `variables` (loop-head state), `primed` and
    `auxiliary` constants, all in `context`."""

    variables: list[str]
    pre: z3.BoolRef
    trans: z3.BoolRef
    post: z3.BoolRef
    auxiliary: list[z3.ArithRef]
    context: z3.Context = field(repr=False)


def transition_system(program: Program) -> CTransitionSystem:
    context = z3.Context()
    current = {name: z3.Int(name, ctx=context) for name in program.variables}
    primed = {name: z3.Int(name + "!", ctx=context) for name in program.variables}
    auxiliary: list[z3.ArithRef] = []
    zero, modulus = z3.IntVal(0, ctx=context), z3.IntVal(UNSIGNED_MODULUS, ctx=context)

    def in_range(name: str, term: z3.ArithRef) -> list[z3.BoolRef]:
        return [zero <= term, term < modulus] if name in program.unsigned else []

    # Before the loop: every variable starts with an arbitrary value of its type.
    initial = {name: z3.Int(_INIT + name, ctx=context) for name in program.variables}
    auxiliary.extend(initial.values())
    before = _Execution(context, program, dict(initial), auxiliary)
    before.run(program.pre)
    pre = _all(context, *[c for name, term in initial.items() for c in in_range(name, term)], *before.allowed,
                 *[current[name] == before.state[name] for name in program.variables])

    # One iteration from the loop head (whose unsigned variables are in range: the invariant may assume it).
    body = _Execution(context, program, dict(current), auxiliary)
    guard = body.condition(program.guard, z3.BoolVal(True, ctx=context))
    body.running = guard
    body.run(program.body)
    types = [c for name, term in current.items() for c in in_range(name, term)]
    trans = _all(context, *types, guard, *body.allowed, z3.Not(body.broke),
                   *[primed[name] == body.state[name] for name in program.variables])

    def assertions(state: dict[str, z3.ArithRef]) -> tuple[z3.BoolRef, list[z3.BoolRef]]:
        """The assertions in `state`, and what evaluating them requires (no division by zero)."""
        check = _Execution(context, program, state, auxiliary)
        reached = z3.BoolVal(True, ctx=context)
        holds = _all(context, *[z3.Implies(_all(context, *[check.condition(g, reached) for g in assertion.guards]),
                                    check.condition(assertion.condition, reached))
                         for assertion in program.assertions])
        return holds, check.allowed

    # The loop exits where its guard is false, or where the body breaks out of it.
    exit_check = _Execution(context, program, dict(current), auxiliary)
    exit_guard = exit_check.condition(program.guard, z3.BoolVal(True, ctx=context))
    on_exit, exit_allowed = assertions(dict(current))
    on_break, break_allowed = assertions(body.state)
    post = z3.And(z3.Implies(_all(context, *types, *exit_check.allowed, *exit_allowed, z3.Not(exit_guard)), on_exit),
                  z3.Implies(_all(context, *types, guard, *body.allowed, *break_allowed, body.broke), on_break))
    return CTransitionSystem(list(program.variables), pre, trans, post, auxiliary, context)


def _smt(term: z3.ExprRef) -> str:
    return z3.simplify(term).sexpr()


def c_template(source: str) -> str:
    """The Code2Inv-layout verification template of a C program (raises ProgramError)."""
    program = parse_program(source)
    system = transition_system(program)
    names = list(program.variables)
    auxiliary = [str(constant) for constant in system.auxiliary]
    nonlinear = any(_nonlinear_term(term) for term in (system.pre, system.trans, system.post))
    state = " ".join(f"({name} Int)" for name in names)
    primed = " ".join(f"({name}! Int)" for name in names)
    extra = " ".join(f"({name} Int)" for name in auxiliary)
    lines = [f"(set-logic {'NIA' if nonlinear else 'LIA'})"]
    lines += [f"(declare-const {name} Int)\n(declare-const {name}! Int)" for name in names]
    lines += [f"(declare-const {name} Int)" for name in auxiliary]
    lines.append(f"(define-fun inv-f ({state}) Bool")
    current_names = " ".join(names)
    primed_names = " ".join(name + "!" for name in names)
    auxiliary_names = " ".join(auxiliary)
    tail = (f")\n(define-fun pre-f ({state} {extra}) Bool {_smt(system.pre)})\n"
            f"(define-fun trans-f ({state} {primed} {extra}) Bool {_smt(system.trans)})\n"
            f"(define-fun post-f ({state} {extra}) Bool {_smt(system.post)})\n")
    checks = [f"(assert (not (=> (pre-f {current_names} {auxiliary_names}) (inv-f {current_names}))))\n",
              f"(assert (not (=> (and (inv-f {current_names}) (trans-f {current_names} {primed_names} {auxiliary_names}))"
              f" (inv-f {primed_names}))))\n",
              f"(assert (not (=> (inv-f {current_names}) (post-f {current_names} {auxiliary_names}))))\n"]
    return f"\n{MARKER}\n".join(["\n".join(lines), tail, *checks])


# --- Cross-checking a template against its program ------------------------------------------------

_APPLICATION = {name: re.compile(r"\(\s*" + name + r"\b[^()]*\)") for name in ("trans-f", "post-f")}


def _applications(template_text: str, context: z3.Context) -> tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef]:
    """The template's `pre-f`, `trans-f` and `post-f` applications (as its checks make them) as terms."""
    template = parse_template(template_text)
    trans = _APPLICATION["trans-f"].search(template.checks["consecution"])
    post = _APPLICATION["post-f"].search(template.checks["postcondition"])
    if not trans or not post:
        raise TemplateError("the checks do not apply trans-f and post-f")
    terms = z3.parse_smt2_string(template.definitions("true") + f"(assert {template.precondition_call})"
                                 f"(assert {trans.group(0)})(assert {post.group(0)})", ctx=context)
    return terms[0], terms[1], terms[2]


def _free_constants(term: z3.ExprRef, keep: set[str]) -> list[z3.ExprRef]:
    found = {str(node): node for node in subterms(term)
             if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED and str(node) not in keep}
    return list(found.values())


def _assertion_and_guard_nodes(program: Program) -> list[c_ast.ID]:
    roots = [program.guard] + [node for assertion in program.assertions for node in (*assertion.guards, assertion.condition)]
    return [child for root in roots if root is not None for child in _walk(root) if isinstance(child, c_ast.ID)]


def cross_check_template(source: str, template_text: str, seed: int = 0, runs: int = 20, max_iterations: int = 12,
                         timeout_s: float = 2.0) -> list[str]:
    """Where a task's template and its C program disagree, on states the program reaches: each item
    one line (an empty list when no disagreement was found; this is testing, not a proof).

    On loop-head states of random runs of the program (its own semantics), the template must allow
    each run's entry and each of its steps, allow no step from those states that the program cannot
    take, and ask the assertion exactly where the program does (at the loop's exit)."""
    program = parse_program(source)
    context = z3.Context()
    given_pre, given_trans, given_post = _applications(template_text, context)
    own_pre, own_trans, own_post = _applications(c_template(source), context)
    # A variable the program never reads or writes (Code2Inv's unused `z1`...) may do anything in a
    # template without changing what can be proved: it is left out of the comparison.
    used = [name for name in program.variables if name in _reads(program.pre) | _reads(program.body)
            | _writes(program.pre) | _writes(program.body) | {node.name for node in _assertion_and_guard_nodes(program)}]
    names = set(used) | {name + "!" for name in used}
    rng = random.Random(seed)
    found: list[str] = []

    def pinned(state: dict[str, int], suffix: str = "") -> list[z3.BoolRef]:
        return [z3.Int(name + suffix, ctx=context) == value for name, value in state.items()]

    def solver_for(*assertions: z3.BoolRef) -> z3.Solver:
        solver = z3.Solver(ctx=context)
        solver.set("timeout", max(1, int(timeout_s * 1000)))
        solver.add(*assertions)
        return solver

    def status(*assertions: z3.BoolRef) -> str:
        return str(solver_for(*assertions).check())

    def nowhere(term: z3.BoolRef) -> z3.BoolRef:
        """No choice of the program's auxiliary values (and unmentioned variables) makes `term` true."""
        hidden = _free_constants(term, names)
        return z3.ForAll(hidden, z3.Not(term)) if hidden else z3.Not(term)

    def show(state: dict[str, int]) -> str:
        return "{" + ", ".join(f"{name}={value}" for name, value in state.items()) + "}"

    visited: list[dict[str, int]] = []
    for _ in range(runs):
        spread = rng.choice((3, 10, 100))
        initial = {name: rng.randint(-spread, spread) for name in program.variables}
        bias = rng.random()
        choices = Choices(lambda: rng.random() < bias, lambda: rng.randint(-spread, spread))
        states = [{name: state[name] for name in used}
                  for state in loop_head_states(program, initial, choices, rng.randint(0, max_iterations))]
        if not states:
            continue
        if status(given_pre, *pinned(states[0])) == "unsat":
            found.append(f"the template's pre-condition rules out the program's entry state {show(states[0])}")
        for before, after in zip(states, states[1:]):
            if status(given_trans, *pinned(before), *pinned(after, "!")) == "unsat":
                found.append(f"the template has no step {show(before)} -> {show(after)}, which the program takes")
        visited.extend(state for state in states if state not in visited)
    for state in visited[:40]:
        # Code2Inv's templates let the state stay as it is (a stuttering step, harmless to an invariant).
        moves = z3.Or(*[z3.Int(name + "!", ctx=context) != value for name, value in state.items()])
        solver = solver_for(given_trans, *pinned(state), moves, nowhere(own_trans))
        if solver.check() == z3.sat:
            model = solver.model()
            after = {name: model.eval(z3.Int(name + "!", ctx=context), model_completion=True) for name in state}
            found.append(f"the template has a step {show(state)} -> {show(after)}, which the program cannot take")
        for post, other, who in ((given_post, own_post, "the template"), (own_post, given_post, "the program")):
            if status(z3.Not(post), *pinned(state)) == "sat" and status(z3.Not(other), *pinned(state)) == "unsat":
                found.append(f"in {show(state)} {who} requires the assertion where the other does not")
    return list(dict.fromkeys(found))
