"""The Code2Inv C dialect and its SV-COMP / LaM4Inv extensions: parsing with pycparser into a small
structured program, and a concrete interpreter with the program's own semantics.

A program is `int main() { declarations; pre-conditions; while (guard) body; post-condition }`:
`int` or `unsigned int` declarations (optionally initialised), assignments and `assume(...)` before
the loop, exactly one `while` loop, a body of assignments (`=`, `+=`, `-=`, `*=`, `++`, `--`),
`if`/`else`, `assume(...)`, `break` and `continue`, and after the loop `assert(...)`s possibly guarded
by `if`s. Non-determinism: `unknown()`, `unknownN()`, `nondet...()` and `__VERIFIER_nondet_...()`
(no arguments) are fresh arbitrary values, or arbitrary choices where they are a whole condition.
`__VERIFIER_assume`/`__VERIFIER_assert` are `assume`/`assert`. Comments are stripped before parsing
(pycparser expects preprocessed input), so every comment-marker style is accepted.

Semantics of the interpreter (what "the program's own semantics" means for refutation replay):
- `int`: mathematical integers (signed overflow is undefined behaviour in C; like Code2Inv's
  templates, the interpreter does not model it).
- `unsigned int`: 32-bit machine integers. A value stored in an unsigned variable is reduced modulo
  2^32; C's usual arithmetic conversions apply: an operation with an unsigned operand (an unsigned
  variable or a `u`-suffixed literal) converts the other operand to unsigned and wraps its result.
- `/` truncates toward zero and `%` takes the sign of the dividend (C99); on unsigned operands both
  are the non-negative quotient and remainder. Division by zero stops the run (undefined in C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from pycparser import c_ast, c_generator, c_parser
from pycparser.c_parser import ParseError

UNSIGNED_BITS = 32
UNSIGNED_MODULUS = 1 << UNSIGNED_BITS
_NONDET_CALL = re.compile(r"unknown\d*|nondet\w*|__VERIFIER_nondet_\w+")
_ASSUME_CALLS = ("assume", "__VERIFIER_assume")
_ASSERT_CALLS = ("assert", "__VERIFIER_assert")


class ProgramError(ValueError):
    """A program outside the supported dialect; the message names the line."""


@dataclass(frozen=True)
class Assign:
    target: str
    value: c_ast.Node  # the right-hand side, compound operators already expanded


@dataclass(frozen=True)
class Assume:
    condition: c_ast.Node


@dataclass(frozen=True)
class If:
    condition: c_ast.Node | None  # None: unknown()
    then: tuple["Statement", ...]
    otherwise: tuple["Statement", ...]


@dataclass(frozen=True)
class Break:
    """`break` inside the loop body: the loop ends here."""


@dataclass(frozen=True)
class Continue:
    """`continue` inside the loop body: the next iteration starts here."""


Statement = Union[Assign, Assume, If, Break, Continue]


@dataclass(frozen=True)
class Assertion:
    guards: tuple[c_ast.Node, ...]  # enclosing `if` conditions, outermost first
    condition: c_ast.Node


@dataclass
class Program:
    variables: list[str]
    pre: list[Statement]
    guard: c_ast.Node | None  # None: while (unknown())
    body: list[Statement]
    assertions: list[Assertion]
    constants: set[int] = field(default_factory=set)
    unsigned: set[str] = field(default_factory=set)  # variables declared `unsigned int`


_generator = c_generator.CGenerator()


def expr_text(node: c_ast.Node) -> str:
    """C text of an expression node, with the outer parentheses pycparser adds removed."""
    text = _generator.visit(node)
    while _wrapped_in_parentheses(text):
        text = text[1:-1]
    return text


def _wrapped_in_parentheses(text: str) -> bool:
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(text) - 1:
            return False
    return True


def _strip_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), source, flags=re.S)
    return re.sub(r"//[^\n]*", "", source)


def _line(node: c_ast.Node) -> str:
    return f"line {node.coord.line}" if node is not None and node.coord else "somewhere"


def _is_unknown(node: c_ast.Node) -> bool:
    """A call of a non-deterministic function without arguments (`unknown()`, `__VERIFIER_nondet_int()`...)."""
    name = _call_name(node)
    return name is not None and _NONDET_CALL.fullmatch(name) is not None and not (node.args and node.args.exprs)


def _call_name(node: c_ast.Node) -> str | None:
    if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID):
        return node.name.name
    return None


def _single_argument(node: c_ast.FuncCall) -> c_ast.Node:
    arguments = node.args.exprs if node.args else []
    if len(arguments) != 1:
        raise ProgramError(f"{_line(node)}: `{node.name.name}` takes one argument")
    return arguments[0]


def _flatten(node: c_ast.Node | None) -> list[c_ast.Node]:
    if node is None:
        return []
    if isinstance(node, c_ast.Compound):
        items: list[c_ast.Node] = []
        for item in node.block_items or []:
            items.extend(_flatten(item))
        return items
    if isinstance(node, c_ast.EmptyStatement):
        return []
    return [node]


class _Reader:
    def __init__(self) -> None:
        self.variables: list[str] = []
        self.constants: set[int] = set()
        self.unsigned: set[str] = set()

    def expression(self, node: c_ast.Node) -> c_ast.Node:
        """Validate an expression: integer variables, literals, C operators, no calls but non-deterministic values."""
        for child in _walk(node):
            if isinstance(child, c_ast.ID) and child.name not in self.variables:
                raise ProgramError(f"{_line(child)}: undeclared variable `{child.name}`")
            if isinstance(child, c_ast.Constant):
                if child.type not in ("int", "long int", "unsigned int"):
                    raise ProgramError(f"{_line(child)}: only integer constants are supported, not `{child.value}`")
                self.constants.add(int(child.value.rstrip("uUlL"), 0))
            if isinstance(child, c_ast.FuncCall) and not _is_unknown(child):
                raise ProgramError(f"{_line(child)}: unsupported call `{_generator.visit(child)}` "
                                   "(only non-deterministic values such as `unknown()` are)")
            if isinstance(child, (c_ast.Assignment, c_ast.Cast, c_ast.ArrayRef, c_ast.StructRef)):
                raise ProgramError(f"{_line(child)}: unsupported expression `{_generator.visit(child)}`")
            if isinstance(child, c_ast.UnaryOp) and child.op not in ("-", "!", "+"):
                raise ProgramError(f"{_line(child)}: unsupported operator `{child.op}` in an expression")
        return node

    def declaration(self, node: c_ast.Decl) -> list[Statement]:
        type_node = node.type
        names = type_node.type.names if (isinstance(type_node, c_ast.TypeDecl)
                                         and isinstance(type_node.type, c_ast.IdentifierType)) else None
        if names not in (["int"], ["signed", "int"], ["signed"], ["unsigned", "int"], ["unsigned"]):
            declared = " ".join(names) if names else _generator.visit(type_node).strip() or "this type"
            raise ProgramError(f"{_line(node)}: only `int` and `unsigned int` variables are supported, "
                               f"not `{declared} {node.name}`")
        if node.name in self.variables:
            raise ProgramError(f"{_line(node)}: `{node.name}` is declared twice")
        self.variables.append(node.name)
        if names[0] == "unsigned":
            self.unsigned.add(node.name)
        if node.init is None:
            return []
        return [Assign(node.name, self.expression(node.init))]

    def statement(self, node: c_ast.Node, in_loop: bool) -> list[Statement]:
        if isinstance(node, c_ast.Assignment):
            if not isinstance(node.lvalue, c_ast.ID) or node.lvalue.name not in self.variables:
                raise ProgramError(f"{_line(node)}: assignment to something other than a declared variable")
            value = self.expression(node.rvalue)
            if node.op != "=":
                operator = node.op[:-1]
                if operator not in ("+", "-", "*"):
                    raise ProgramError(f"{_line(node)}: unsupported assignment operator `{node.op}`")
                value = c_ast.BinaryOp(operator, c_ast.ID(node.lvalue.name), value)
            return [Assign(node.lvalue.name, value)]
        if isinstance(node, c_ast.UnaryOp) and node.op in ("p++", "++", "p--", "--"):
            if not isinstance(node.expr, c_ast.ID) or node.expr.name not in self.variables:
                raise ProgramError(f"{_line(node)}: `{node.op}` on something other than a declared variable")
            operator = "+" if "++" in node.op else "-"
            return [Assign(node.expr.name, c_ast.BinaryOp(operator, c_ast.ID(node.expr.name), c_ast.Constant("int", "1")))]
        if _call_name(node) in _ASSUME_CALLS:
            return [Assume(self.expression(_single_argument(node)))]
        if isinstance(node, (c_ast.Break, c_ast.Continue)):
            if not in_loop:
                raise ProgramError(f"{_line(node)}: `{_generator.visit(node).strip()}` outside the loop")
            return [Break() if isinstance(node, c_ast.Break) else Continue()]
        if isinstance(node, c_ast.If):
            condition = None if _is_unknown(node.cond) else self.expression(node.cond)
            then = tuple(s for child in _flatten(node.iftrue) for s in self.statement(child, in_loop))
            otherwise = tuple(s for child in _flatten(node.iffalse) for s in self.statement(child, in_loop))
            return [If(condition, then, otherwise)]
        if isinstance(node, c_ast.Decl):
            raise ProgramError(f"{_line(node)}: declarations must come before the loop")
        if isinstance(node, c_ast.While):
            raise ProgramError(f"{_line(node)}: nested loops are not supported")
        raise ProgramError(f"{_line(node)}: unsupported statement `{_generator.visit(node).strip()}`")

    def post(self, node: c_ast.Node, guards: tuple[c_ast.Node, ...]) -> list[Assertion]:
        if _call_name(node) in _ASSERT_CALLS:
            return [Assertion(guards, self.expression(_single_argument(node)))]
        if isinstance(node, c_ast.If) and node.iffalse is None and not _is_unknown(node.cond):
            inner = guards + (self.expression(node.cond),)
            return [a for child in _flatten(node.iftrue) for a in self.post(child, inner)]
        if isinstance(node, c_ast.Return):
            return []
        raise ProgramError(f"{_line(node)}: after the loop only `assert(...)`, possibly inside `if` without `else`, is supported")


def _walk(node: c_ast.Node):
    """The nodes of an expression; a call's name and arguments are the call's business, not visited."""
    yield node
    if not isinstance(node, c_ast.FuncCall):
        for _, child in node.children():
            yield from _walk(child)


def parse_program(source: str) -> Program:
    """Parse a Code2Inv-style program; raise ProgramError with a one-line reason."""
    try:
        ast = c_parser.CParser().parse(_strip_comments(source), filename="program")
    except ParseError as error:
        raise ProgramError(f"C syntax error: {error}") from None
    functions = [node for node in ast.ext if isinstance(node, c_ast.FuncDef)]
    mains = [node for node in functions if node.decl.name == "main"]
    if len(mains) != 1 or len(ast.ext) != 1:
        raise ProgramError("the program must consist of exactly one function, `main`")
    reader = _Reader()
    items = _flatten(mains[0].body)
    loops = [index for index, item in enumerate(items) if isinstance(item, c_ast.While)]
    if len(loops) != 1:
        raise ProgramError(f"the program must have exactly one top-level `while` loop, found {len(loops)}")
    loop_index = loops[0]
    pre: list[Statement] = []
    for item in items[:loop_index]:
        if isinstance(item, c_ast.Decl):
            pre.extend(reader.declaration(item))
        elif isinstance(item, c_ast.DeclList):
            for declaration in item.decls:
                pre.extend(reader.declaration(declaration))
        else:
            pre.extend(reader.statement(item, in_loop=False))
    loop: c_ast.While = items[loop_index]
    guard = None if _is_unknown(loop.cond) else reader.expression(loop.cond)
    body = [s for child in _flatten(loop.stmt) for s in reader.statement(child, in_loop=True)]
    assertions = [a for item in items[loop_index + 1:] for a in reader.post(item, ())]
    if not assertions:
        raise ProgramError("the program has no `assert(...)` after the loop")
    return Program(reader.variables, pre, guard, body, assertions, reader.constants, reader.unsigned)


# Runs stop once a value outgrows this: Python integers never overflow, they only get slower.
MAX_MAGNITUDE = 1 << 62


class AssumeFailed(Exception):
    """An `assume(...)` was false, or the run hit undefined behaviour: the run is not a behaviour of the program."""


class _LeaveLoop(Exception):
    """`break` was executed."""


class _NextIteration(Exception):
    """`continue` was executed."""


def c_divide(a: int, b: int) -> int:
    """C99 integer division: truncates toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _c_remainder(a: int, b: int) -> int:
    return a - b * c_divide(a, b)


_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
               "/": c_divide, "%": _c_remainder}
_COMPARISON = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
               ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@dataclass
class Choices:
    """Where a run's non-determinism comes from: `condition()` for a non-deterministic condition,
    `value()` for a non-deterministic value."""

    condition: Callable[[], bool]
    value: Callable[[], int]


def _choices(choose: Callable[[], bool] | Choices) -> Choices:
    return choose if isinstance(choose, Choices) else Choices(choose, lambda: int(choose()))


def _typed(node: c_ast.Node, state: dict[str, int], choices: Choices, unsigned: set[str]) -> tuple[int, bool]:
    """Value of an expression and whether its C type is `unsigned int`."""
    if isinstance(node, c_ast.Constant):
        literal_unsigned = "u" in node.value.lower()
        value = int(node.value.rstrip("uUlL"), 0)
        return (value % UNSIGNED_MODULUS if literal_unsigned else value), literal_unsigned
    if isinstance(node, c_ast.ID):
        return state[node.name], node.name in unsigned
    if isinstance(node, c_ast.FuncCall):
        return choices.value(), False
    if isinstance(node, c_ast.UnaryOp):
        value, is_unsigned = _typed(node.expr, state, choices, unsigned)
        if node.op == "!":
            return int(not value), False
        value = -value if node.op == "-" else value
        return (value % UNSIGNED_MODULUS if is_unsigned else value), is_unsigned
    if isinstance(node, c_ast.BinaryOp):
        left, left_unsigned = _typed(node.left, state, choices, unsigned)
        if node.op in ("&&", "||"):
            if bool(left) == (node.op == "||"):  # short circuit
                return int(bool(left)), False
            return int(bool(_typed(node.right, state, choices, unsigned)[0])), False
        right, right_unsigned = _typed(node.right, state, choices, unsigned)
        is_unsigned = left_unsigned or right_unsigned
        if is_unsigned:  # the usual arithmetic conversions
            left, right = left % UNSIGNED_MODULUS, right % UNSIGNED_MODULUS
        if node.op in _COMPARISON:
            return int(_COMPARISON[node.op](left, right)), False
        if node.op in ("/", "%") and right == 0:
            raise AssumeFailed  # undefined behaviour: no run continues past it
        value = _ARITHMETIC[node.op](left, right)
        return (value % UNSIGNED_MODULUS if is_unsigned else value), is_unsigned
    if isinstance(node, c_ast.TernaryOp):
        branch = node.iftrue if _typed(node.cond, state, choices, unsigned)[0] else node.iffalse
        return _typed(branch, state, choices, unsigned)
    raise ProgramError(f"cannot evaluate `{_generator.visit(node)}`")


def evaluate(node: c_ast.Node, state: dict[str, int], choose: Callable[[], bool] | Choices,
             unsigned: set[str] = frozenset()) -> int:
    """Value of an expression in `state` with the program's C semantics (see the module docstring);
    non-determinism comes from `choose` (a `Choices`, or one function used for both kinds)."""
    return _typed(node, state, _choices(choose), unsigned)[0]


def _condition(node: c_ast.Node | None, state: dict[str, int], choices: Choices, unsigned: set[str]) -> bool:
    if node is None or _is_unknown(node):
        return choices.condition()
    return bool(_typed(node, state, choices, unsigned)[0])


def execute(statements: Iterable[Statement], state: dict[str, int], choose: Callable[[], bool] | Choices,
            unsigned: set[str] = frozenset()) -> None:
    """Run statements on `state` in place; raise AssumeFailed when an assume is false (and the loop
    control exceptions on `break`/`continue`)."""
    choices = _choices(choose)
    for statement in statements:
        if isinstance(statement, Assign):
            value = _typed(statement.value, state, choices, unsigned)[0]
            state[statement.target] = value % UNSIGNED_MODULUS if statement.target in unsigned else value
        elif isinstance(statement, Assume):
            if not _condition(statement.condition, state, choices, unsigned):
                raise AssumeFailed
        elif isinstance(statement, Break):
            raise _LeaveLoop
        elif isinstance(statement, Continue):
            raise _NextIteration
        else:
            taken = _condition(statement.condition, state, choices, unsigned)
            execute(statement.then if taken else statement.otherwise, state, choices, unsigned)


def initial_state(program: Program, values: dict[str, int]) -> dict[str, int]:
    """Values of all variables before `pre`, reduced to their C types (unsigned modulo 2^32)."""
    return {name: values[name] % UNSIGNED_MODULUS if name in program.unsigned else values[name]
            for name in program.variables}


def loop_head_states(
    program: Program, initial: dict[str, int], choose: Callable[[], bool] | Choices, max_iterations: int
) -> list[dict[str, int]]:
    """The states at the loop head of one run from `initial` (values of all variables before `pre`),
    at most `max_iterations + 1` of them; empty when an assume rules the run out."""
    choices, unsigned = _choices(choose), program.unsigned
    state = initial_state(program, initial)
    try:
        execute(program.pre, state, choices, unsigned)
    except AssumeFailed:
        return []
    states = [dict(state)]
    for _ in range(max_iterations):
        if any(abs(value) > MAX_MAGNITUDE for value in state.values()):
            break  # a run whose numbers explode (x = x * x) says nothing more about linear invariants
        if not _condition(program.guard, state, choices, unsigned):
            break
        try:
            execute(program.body, state, choices, unsigned)
        except _NextIteration:
            pass
        except (AssumeFailed, _LeaveLoop):  # the run stops here (or leaves the loop); earlier states were reached
            break
        states.append(dict(state))
    return states


class _ValueChoice(Exception):
    """A non-deterministic value was asked for: the replay cannot enumerate those."""


# Replays explore every combination of non-deterministic conditions, up to this many runs per step.
MAX_REPLAY_BRANCHES = 4096


def _all_outcomes(run: Callable[[Choices], object]) -> tuple[list[object], bool]:
    """Results of `run` under every sequence of non-deterministic conditions (depth first), and
    whether the enumeration was complete (no value choice met, no branch cap hit)."""
    outcomes: list[object] = []
    complete = True
    pending: list[list[bool]] = [[]]
    explored = 0
    while pending:
        if explored == MAX_REPLAY_BRANCHES:
            return outcomes, False
        explored += 1
        forced = pending.pop()
        taken: list[bool] = []

        def condition() -> bool:
            if len(taken) < len(forced):
                taken.append(forced[len(taken)])
            else:  # a new branching point: take False now, come back for True
                pending.append(taken + [True])
                taken.append(False)
            return taken[-1]

        def value() -> int:
            raise _ValueChoice

        try:
            outcomes.append(run(Choices(condition, value)))
        except _ValueChoice:
            complete = False
    return outcomes, complete


def _reads(statements: Iterable[Statement]) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        nodes = [statement.value] if isinstance(statement, Assign) else \
            [statement.condition] if isinstance(statement, (Assume, If)) and statement.condition is not None else []
        for node in nodes:
            names |= {child.name for child in _walk(node) if isinstance(child, c_ast.ID)}
        if isinstance(statement, If):
            names |= _reads(statement.then) | _reads(statement.otherwise)
    return names


def _writes(statements: Iterable[Statement]) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, Assign):
            names.add(statement.target)
        elif isinstance(statement, If):
            names |= _writes(statement.then) | _writes(statement.otherwise)
    return names


def _has_break(statements: Iterable[Statement]) -> bool:
    return any(isinstance(statement, Break) or (isinstance(statement, If) and
                                                (_has_break(statement.then) or _has_break(statement.otherwise)))
               for statement in statements)


@dataclass(frozen=True)
class ReplayResult:
    """Whether a run of loop-head states, ending in a violating exit, is a run of the C program:
    `reproduced`, `impossible` (no choice of the program's non-determinism gives it: whoever produced
    the run modelled another program) or `inconclusive` (the replay could not enumerate every choice)."""

    verdict: str
    reason: str = ""


def replay_violation(program: Program, states: list[dict[str, int]]) -> ReplayResult:
    """Re-run a claimed violating run (`states[0]` at loop entry, ..., the last state where the loop
    exits with an assertion false) on the program with its own C semantics (module docstring)."""
    missing = {name for name in program.variables if any(name not in state for state in states)}
    read = _reads(program.pre) | _reads(program.body) | {
        child.name for node in [program.guard] + [c for a in program.assertions for c in (*a.guards, a.condition)]
        if node is not None for child in _walk(node) if isinstance(child, c_ast.ID)}
    if missing & read:
        return ReplayResult("inconclusive", f"the run does not give `{sorted(missing & read)[0]}`")
    # A variable the program never reads cannot change its runs: any value will do.
    states = [{**{name: 0 for name in missing}, **state} for state in states]
    unsigned = program.unsigned
    for index, state in enumerate(states):
        for name in unsigned:
            if not 0 <= state[name] < UNSIGNED_MODULUS:
                return ReplayResult("impossible", f"`{name}` is `unsigned int` but is {state[name]} in state {index}")
    # Only the program's variables are compared: a template may declare more (Code2Inv's `tmp`).
    states = [{name: state[name] for name in program.variables} for state in states]
    undecided = False

    def settle(outcomes: list[object], complete: bool, wanted: dict[str, int], what: str) -> ReplayResult | None:
        nonlocal undecided
        if any(outcome == wanted for outcome in outcomes):
            return None
        if complete:
            return ReplayResult("impossible", f"no run of the program {what}")
        undecided = True
        return None

    def run_pre(choices: Choices) -> dict[str, int] | None:
        state = initial_state(program, states[0])
        try:
            execute(program.pre, state, choices, unsigned)
        except AssumeFailed:
            return None
        return state

    outcomes, complete = _all_outcomes(run_pre)
    # Uninitialised variables may start with any value, so the entry state itself is a start; a
    # pre-condition that reads a variable it also writes (`x = x + 1`) could start elsewhere.
    complete = complete and not (_reads(program.pre) & _writes(program.pre))
    found = settle(outcomes, complete, states[0], "enters the loop in the first state")
    if found:
        return found
    for index in range(len(states) - 1):
        def run_step(choices: Choices, before: dict[str, int] = states[index]) -> dict[str, int] | None:
            state = dict(before)
            try:
                if not _condition(program.guard, state, choices, unsigned):
                    return None
                execute(program.body, state, choices, unsigned)
            except _NextIteration:
                pass
            except (AssumeFailed, _LeaveLoop):
                return None
            return state

        found = settle(*_all_outcomes(run_step), states[index + 1], f"goes from state {index} to state {index + 1}")
        if found:
            return found

    def run_exit(choices: Choices) -> bool:
        state = states[-1]
        try:
            if _condition(program.guard, state, choices, unsigned):
                return False
            return any(all(_condition(guard, state, choices, unsigned) for guard in assertion.guards)
                       and not _condition(assertion.condition, state, choices, unsigned)
                       for assertion in program.assertions)
        except AssumeFailed:
            return False

    outcomes, complete = _all_outcomes(run_exit)
    # A run that leaves the loop by `break` exits mid-body, which this exit check does not follow.
    complete = complete and not _has_break(program.body)
    found = settle(outcomes, complete, True, "leaves the loop in the last state with an assertion false")
    if found:
        return found
    if undecided:
        return ReplayResult("inconclusive", "the program's non-deterministic values cannot be enumerated")
    return ReplayResult("reproduced")
