"""The Code2Inv C dialect: parsing with pycparser into a small structured program.

A program is `int main() { declarations; pre-conditions; while (guard) body; post-condition }`:
integer declarations (optionally initialised), assignments and `assume(...)` before the loop, exactly
one `while` loop whose guard may be `unknown()`, a body of assignments (`=`, `+=`, `-=`, `*=`, `++`,
`--`) and `if`/`else`, and after the loop a final `assert(...)` possibly guarded by `if`s.
`unknown()` is a non-deterministic choice. Comments are stripped before parsing (pycparser expects
preprocessed input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from pycparser import c_ast, c_generator, c_parser
from pycparser.c_parser import ParseError

UNKNOWN_CALL = "unknown"


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


Statement = Union[Assign, Assume, If]


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
    return isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID) and node.name.name == UNKNOWN_CALL


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

    def expression(self, node: c_ast.Node, allow_unknown: bool = False) -> c_ast.Node:
        """Validate an expression: integer variables, literals, C operators, no calls but unknown()."""
        for child in _walk(node):
            if isinstance(child, c_ast.ID) and child.name not in self.variables:
                raise ProgramError(f"{_line(child)}: undeclared variable `{child.name}`")
            if isinstance(child, c_ast.Constant):
                if child.type not in ("int", "long int", "unsigned int"):
                    raise ProgramError(f"{_line(child)}: only integer constants are supported, not `{child.value}`")
                self.constants.add(int(child.value.rstrip("uUlL"), 0))
            if isinstance(child, c_ast.FuncCall):
                if not (allow_unknown and _is_unknown(child) and child is node):
                    raise ProgramError(f"{_line(child)}: function calls other than `unknown()` as a whole condition are not supported")
            if isinstance(child, (c_ast.Assignment, c_ast.Cast, c_ast.ArrayRef, c_ast.StructRef)):
                raise ProgramError(f"{_line(child)}: unsupported expression `{_generator.visit(child)}`")
            if isinstance(child, c_ast.UnaryOp) and child.op not in ("-", "!", "+"):
                raise ProgramError(f"{_line(child)}: unsupported operator `{child.op}` in an expression")
        return node

    def declaration(self, node: c_ast.Decl) -> list[Statement]:
        type_node = node.type
        if not (isinstance(type_node, c_ast.TypeDecl) and isinstance(type_node.type, c_ast.IdentifierType)
                and type_node.type.names == ["int"]):
            raise ProgramError(f"{_line(node)}: only `int` variables are supported (`{node.name}`)")
        if node.name in self.variables:
            raise ProgramError(f"{_line(node)}: `{node.name}` is declared twice")
        self.variables.append(node.name)
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
        if _call_name(node) == "assume":
            return [Assume(self.expression(_single_argument(node)))]
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
        if _call_name(node) == "assert":
            return [Assertion(guards, self.expression(_single_argument(node)))]
        if isinstance(node, c_ast.If) and node.iffalse is None and not _is_unknown(node.cond):
            inner = guards + (self.expression(node.cond),)
            return [a for child in _flatten(node.iftrue) for a in self.post(child, inner)]
        if isinstance(node, c_ast.Return):
            return []
        raise ProgramError(f"{_line(node)}: after the loop only `assert(...)`, possibly inside `if` without `else`, is supported")


def _walk(node: c_ast.Node):
    yield node
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
    return Program(reader.variables, pre, guard, body, assertions, reader.constants)


# Runs stop once a value outgrows this: Python integers never overflow, they only get slower.
MAX_MAGNITUDE = 1 << 62


class AssumeFailed(Exception):
    """An `assume(...)` was false: the run is not a behaviour of the program."""


def c_divide(a: int, b: int) -> int:
    """C99 integer division: truncates toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": c_divide, "%": lambda a, b: a - b * c_divide(a, b),
    "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b), ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b), "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
}


def evaluate(node: c_ast.Node, state: dict[str, int], choose: Callable[[], bool]) -> int:
    """Value of an expression in `state` with C semantics on unbounded integers; `unknown()` asks `choose`."""
    if isinstance(node, c_ast.Constant):
        return int(node.value.rstrip("uUlL"), 0)
    if isinstance(node, c_ast.ID):
        return state[node.name]
    if isinstance(node, c_ast.FuncCall):
        return int(choose())
    if isinstance(node, c_ast.UnaryOp):
        value = evaluate(node.expr, state, choose)
        return {"-": -value, "+": value, "!": int(not value)}[node.op]
    if isinstance(node, c_ast.BinaryOp):
        left = evaluate(node.left, state, choose)
        if node.op == "&&":
            return int(bool(left) and bool(evaluate(node.right, state, choose)))
        if node.op == "||":
            return int(bool(left) or bool(evaluate(node.right, state, choose)))
        return _BINARY[node.op](left, evaluate(node.right, state, choose))
    if isinstance(node, c_ast.TernaryOp):
        branch = node.iftrue if evaluate(node.cond, state, choose) else node.iffalse
        return evaluate(branch, state, choose)
    raise ProgramError(f"cannot evaluate `{_generator.visit(node)}`")


def execute(statements: Iterable[Statement], state: dict[str, int], choose: Callable[[], bool]) -> None:
    """Run statements on `state` in place; raise AssumeFailed when an assume is false."""
    for statement in statements:
        if isinstance(statement, Assign):
            state[statement.target] = evaluate(statement.value, state, choose)
        elif isinstance(statement, Assume):
            if not evaluate(statement.condition, state, choose):
                raise AssumeFailed
        else:
            taken = choose() if statement.condition is None else evaluate(statement.condition, state, choose)
            execute(statement.then if taken else statement.otherwise, state, choose)


def loop_head_states(
    program: Program, initial: dict[str, int], choose: Callable[[], bool], max_iterations: int
) -> list[dict[str, int]]:
    """The states at the loop head of one run from `initial` (values of all variables before `pre`),
    at most `max_iterations + 1` of them; empty when an assume rules the run out."""
    state = dict(initial)
    try:
        execute(program.pre, state, choose)
    except AssumeFailed:
        return []
    states = [dict(state)]
    for _ in range(max_iterations):
        if any(abs(value) > MAX_MAGNITUDE for value in state.values()):
            break  # a run whose numbers explode (x = x * x) says nothing more about linear invariants
        entered = choose() if program.guard is None else evaluate(program.guard, state, choose)
        if not entered:
            break
        try:
            execute(program.body, state, choose)
        except AssumeFailed:  # the run stops here; the states before it were reached
            break
        states.append(dict(state))
    return states
