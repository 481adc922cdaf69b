"""C boolean expressions over integer program variables: parsing, type checking, SMT-LIB output.

The language is the expression part of C that loop invariants use:
`&& || !`, `== != < <= > >=`, `+ - * / %` (binary and unary minus), `?:`, parentheses,
decimal or hexadecimal integer literals and `true`/`false`.

Semantics. Variables are mathematical integers (the Code2Inv verification conditions use SMT-LIB
`Int`, not 32-bit machine words). `/` and `%` follow C99: division truncates toward zero and the
remainder takes the sign of the dividend, so `-7 / 2 == -3` and `-7 % 2 == -1`. SMT-LIB's `div` and
`mod` are Euclidean (the remainder is never negative), so `a / b` is written
`(ite (>= a 0) (div a b) (- (div (- a) b)))` and `a % b` is `(- a (* b <a / b>))`, with `a` and `b`
bound once by `let` (written out, each nested `%` would copy its operands: 35 characters of twelve
nested `%` used to become gigabytes of SMT-LIB). Division by zero is
undefined in C; SMT-LIB leaves `(div a 0)` unspecified, and a verification condition is proved only
when it holds for every value of it, so no proof can depend on it.

Typing is strict: `&&`, `||`, `!` and the condition of `?:` take booleans; arithmetic and `<`-style
comparisons take integers; `==`/`!=` compare two integers or two booleans. An integer used where a
boolean is needed (C's implicit `!= 0`) is a type error, so a proposal says what it means.

The grammar is written for Lark (a maintained parsing library) because it reports the exact column
and the expected tokens of a syntax error.

Proposals are untrusted: a text longer than MAX_CHARS or nested deeper than MAX_DEPTH (chains of
`&&` or `||` count as one level) is an ExprError, and every walk over a tree here is iterative
(`_fold`), so no expression can exhaust Python's stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal, Sequence, TypeVar, Union

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

GRAMMAR = r"""
?start: expr
?expr: or_expr
     | or_expr "?" expr ":" expr          -> cond
?or_expr: and_expr
        | or_expr OROP and_expr           -> binary
?and_expr: eq_expr
         | and_expr ANDOP eq_expr         -> binary
?eq_expr: rel_expr
        | eq_expr EQOP rel_expr           -> binary
?rel_expr: add_expr
         | rel_expr RELOP add_expr        -> binary
?add_expr: mul_expr
         | add_expr ADDOP mul_expr        -> binary
?mul_expr: unary
         | mul_expr MULOP unary           -> binary
?unary: atom
      | UNOP unary                        -> unary
      | ADDOP unary                       -> unary
?atom: NUMBER                             -> number
     | TRUE                               -> true
     | FALSE                              -> false
     | NAME                               -> name
     | "(" expr ")"

OROP: "||"
ANDOP: "&&"
EQOP: "==" | "!="
RELOP: "<=" | ">=" | "<" | ">"
ADDOP: "+" | "-"
MULOP: "*" | "/" | "%"
UNOP: "!"
TRUE.2: "true"
FALSE.2: "false"
NUMBER: /0[xX][0-9a-fA-F]+|[0-9]+/
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

Type = Literal["int", "bool"]
MAX_CHARS = 50_000
MAX_DEPTH = 1_000
MAX_DIGITS = 1_000


class ExprError(ValueError):
    """A proposal that is not a well-typed boolean expression over the program's variables."""


@dataclass(frozen=True)
class Num:
    value: int
    column: int = 0


@dataclass(frozen=True)
class BoolLit:
    value: bool
    column: int = 0


@dataclass(frozen=True)
class Var:
    name: str
    column: int = 0


@dataclass(frozen=True)
class Unary:
    op: str
    arg: "Expr"
    column: int = 0


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    column: int = 0


@dataclass(frozen=True)
class Cond:
    test: "Expr"
    then: "Expr"
    other: "Expr"
    column: int = 0


Expr = Union[Num, BoolLit, Var, Unary, Binary, Cond]


@v_args(inline=True)
class _ToAst(Transformer_NonRecursive):
    def number(self, token: Token) -> Num:
        if len(token) > MAX_DIGITS:
            raise ExprError(f"the number at column {token.column} has more than {MAX_DIGITS} digits")
        if len(token) > 1 and token[0] == "0" and token[1] not in "xX":
            raise ExprError(f"the number `{token}` at column {token.column} has a leading zero, which C reads as "
                            f"octal; write it without the zero")
        return Num(int(token, 0), token.column)

    def true(self, token: Token) -> BoolLit:
        return BoolLit(True, token.column)

    def false(self, token: Token) -> BoolLit:
        return BoolLit(False, token.column)

    def name(self, token: Token) -> Var:
        return Var(str(token), token.column)

    def unary(self, op: Token, arg: Expr) -> Expr:
        if op == "+":
            return arg
        if op == "-" and isinstance(arg, Num):
            return Num(-arg.value, op.column)
        return Unary(str(op), arg, op.column)

    def binary(self, left: Expr, op: Token, right: Expr) -> Binary:
        return Binary(str(op), left, right, op.column)

    def cond(self, test: Expr, then: Expr, other: Expr) -> Cond:
        return Cond(test, then, other, _column(test))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False, propagate_positions=False)


def _column(expr: Expr) -> int:
    return expr.column


def _describe_token(error: UnexpectedInput, text: str) -> str:
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        return "the expression ends too early"
    if isinstance(error, UnexpectedCharacters):
        return f"unexpected character {text[error.pos_in_stream]!r}"
    assert isinstance(error, UnexpectedToken)
    return f"unexpected `{error.token}`"


_TOKEN_WORDS = {
    "OROP": "`||`", "ANDOP": "`&&`", "EQOP": "`==`/`!=`", "RELOP": "a comparison", "ADDOP": "`+`/`-`",
    "MULOP": "`*`/`/`/`%`", "UNOP": "`!`", "NUMBER": "a number", "NAME": "a variable", "TRUE": "`true`",
    "FALSE": "`false`", "LPAR": "`(`", "RPAR": "`)`", "QMARK": "`?`", "COLON": "`:`",
}


def parse(text: str) -> Expr:
    """Parse without type checking. Raises ExprError with the column of a syntax error."""
    if not text.strip():
        raise ExprError("the proposal is empty")
    if len(text) > MAX_CHARS:
        raise ExprError(f"the proposal has {len(text)} characters; at most {MAX_CHARS} are allowed")
    if "\n" in text.strip():
        text = " ".join(text.split())
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        column = getattr(error, "column", None)
        where = f" at column {column}" if isinstance(column, int) and column > 0 else ""
        expected = sorted(
            {_TOKEN_WORDS.get(name, name) for name in (getattr(error, "expected", None) or ())}
            | {_TOKEN_WORDS.get(name, name) for name in (getattr(error, "allowed", None) or ())}
        )
        hint = ""
        if "=>" in text or "==>" in text or "->" in text:
            hint = "; C has no implication operator: write `!(a) || b`"
        elif "=" in text.replace("==", "").replace("<=", "").replace(">=", "").replace("!=", ""):
            hint = "; `=` is assignment in C: compare with `==`"
        listed = f"; expected {', '.join(expected)}" if expected and len(expected) <= 8 else ""
        raise ExprError(f"syntax error{where}: {_describe_token(error, text)}{listed}{hint}") from None
    try:
        expr = _ToAst().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ExprError):
            raise error.orig_exc from None
        raise
    if depth(expr) > MAX_DEPTH:
        raise ExprError(f"the expression nests deeper than {MAX_DEPTH} levels")
    return expr


T = TypeVar("T")


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Unary):
        return (expr.arg,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Cond):
        return (expr.test, expr.then, expr.other)
    return ()


def _operands(expr: Expr) -> tuple[Expr, ...]:
    """The children, with a chain of one `&&` or `||` flattened into its operands, left to right."""
    if not (isinstance(expr, Binary) and expr.op in _BOOL_OPS):
        return _children(expr)
    found: list[Expr] = []
    pending = [expr]
    while pending:
        current = pending.pop()
        if isinstance(current, Binary) and current.op == expr.op:
            pending += (current.right, current.left)
        else:
            found.append(current)
    return tuple(found)


def _fold(expr: Expr, combine: Callable[[Expr, list[T]], T],
          children: Callable[[Expr], Sequence[Expr]] = _children) -> T:
    """combine(node, [results of its children]) bottom-up, with an explicit stack (no recursion)."""
    results: list[T] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        below = children(node)
        if expanded or not below:
            taken = results[len(results) - len(below):] if below else []
            del results[len(results) - len(below):]
            results.append(combine(node, taken))
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(below))
    return results[0]


def depth(expr: Expr) -> int:
    """Nesting depth; a chain of one `&&` or `||` counts as one level."""
    return _fold(expr, lambda node, below: 1 + max(below, default=0), _operands)


_INT_OPS = {"+", "-", "*", "/", "%"}
_REL_OPS = {"<", "<=", ">", ">="}
_EQ_OPS = {"==", "!="}
_BOOL_OPS = {"&&", "||"}


def check_types(expr: Expr, variables: Iterable[str]) -> Type:
    """Return the type of `expr`; raise ExprError naming the first problem."""
    known = set(variables)

    def shown(e: Expr) -> str:
        return f"`{to_c(e)}`"

    def check(e: Expr, below: list[Type]) -> Type:
        if isinstance(e, Num):
            return "int"
        if isinstance(e, BoolLit):
            return "bool"
        if isinstance(e, Var):
            if e.name not in known:
                listing = ", ".join(sorted(known)) or "none"
                raise ExprError(
                    f"unknown variable `{e.name}` at column {e.column}; the program's variables are: {listing}"
                )
            return "int"
        if isinstance(e, Unary):
            inner = below[0]
            want: Type = "bool" if e.op == "!" else "int"
            if inner != want:
                raise ExprError(f"operand of `{e.op}` at column {e.column} must be {_a(want)}, but {shown(e.arg)} is {_a(inner)}")
            return want
        if isinstance(e, Cond):
            test, then, other = below
            if test != "bool":
                raise ExprError(f"the condition of `?:` must be a boolean, but {shown(e.test)} is an integer")
            if then != other:
                raise ExprError(f"the branches of `?:` differ in type: {shown(e.then)} is {_a(then)}, {shown(e.other)} is {_a(other)}")
            return then
        assert isinstance(e, Binary)
        left, right = below
        if e.op in _EQ_OPS:
            if left != right:
                raise ExprError(
                    f"`{e.op}` at column {e.column} compares {shown(e.left)} ({_a(left)}) with {shown(e.right)} ({_a(right)})"
                )
            return "bool"
        if e.op in _REL_OPS and isinstance(e.left, Binary) and e.left.op in _REL_OPS:
            middle = to_c(e.left.right)
            raise ExprError(f"`{to_c(e)}` chains comparisons, which in C compares a boolean with an integer;"
                            f" write `{to_c(e.left)} && {middle} {e.op} {to_c(e.right)}`")
        want = "bool" if e.op in _BOOL_OPS else "int"
        for side, got in ((e.left, left), (e.right, right)):
            if got != want:
                raise ExprError(f"operand of `{e.op}` at column {e.column} must be {_a(want)}, but {shown(side)} is {_a(got)}")
        return "bool" if e.op in _BOOL_OPS or e.op in _REL_OPS else "int"

    return _fold(expr, check)


def _a(kind: Type) -> str:
    return "a boolean" if kind == "bool" else "an integer"


# Texts up to this long are parsed once per process: Houdini reads the same atoms at every
# recombination (the trees are frozen, so sharing them is safe).
CACHED_TEXT_CHARS = 256


@lru_cache(maxsize=1 << 15)
def _parse_short(text: str) -> Expr:
    return parse(text)


def parse_boolean(text: str, variables: Iterable[str]) -> Expr:
    """Parse and type-check a proposed invariant: a boolean expression over `variables`."""
    expr = _parse_short(text) if len(text) <= CACHED_TEXT_CHARS else parse(text)
    if check_types(expr, variables) != "bool":
        raise ExprError(f"`{to_c(expr)}` is an integer expression; an invariant must be a boolean condition")
    return expr


def conjuncts(expr: Expr) -> list[Expr]:
    """The top-level conjuncts of `expr` (a && b && c gives [a, b, c])."""
    if isinstance(expr, Binary) and expr.op == "&&":
        return list(_operands(expr))
    return [expr]


def disjuncts(expr: Expr) -> list[Expr]:
    """The top-level disjuncts of `expr` (a || b || c gives [a, b, c])."""
    if isinstance(expr, Binary) and expr.op == "||":
        return list(_operands(expr))
    return [expr]


def is_linear(expr: Expr) -> bool:
    """Every `*` has a number on one side and every `/` and `%` divides by a non-zero number (linear
    integer arithmetic: division by a constant is a linear constraint with one more variable)."""
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, Binary) and (
                (node.op in ("/", "%") and not (isinstance(node.right, Num) and node.right.value != 0)) or (
                node.op == "*" and not isinstance(node.left, Num) and not isinstance(node.right, Num))):
            return False
        pending.extend(_children(node))
    return True


def variables_of(expr: Expr) -> set[str]:
    names: set[str] = set()
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, Var):
            names.add(node.name)
        pending.extend(_children(node))
    return names


class Undefined(ValueError):
    """An expression without a value on a state: a division by zero, or a variable the state lacks."""


def _truncated_quotient(a: int, b: int) -> int:
    if b == 0:
        raise Undefined("division by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


_VALUES: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": _truncated_quotient, "%": lambda a, b: a - b * _truncated_quotient(a, b),
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "&&": lambda a, b: a and b, "||": lambda a, b: a or b}


def evaluate(expr: Expr, values: dict[str, int]) -> int | bool:
    """The value of `expr` on one state, with the meaning `to_smtlib` gives it (mathematical
    integers, `/` and `%` truncating as in C99). Raises Undefined on a division by zero anywhere in
    it (both sides of `&&`, `||` and `?:` are evaluated) or a variable `values` lacks."""

    def value(e: Expr, below: list[Any]) -> Any:
        if isinstance(e, (Num, BoolLit)):
            return e.value
        if isinstance(e, Var):
            if e.name not in values:
                raise Undefined(f"no value for {e.name}")
            return values[e.name]
        if isinstance(e, Unary):
            return (not below[0]) if e.op == "!" else -below[0]
        if isinstance(e, Cond):
            return below[1] if below[0] else below[2]
        return _VALUES[e.op](*below)

    return _fold(expr, value)


# Deepest expression `evaluator` compiles into nested functions (calling them recurses: deeper ones
# are evaluated by the iterative `evaluate`).
COMPILED_DEPTH = 64


def evaluator(expr: Expr) -> Callable[[dict[str, int]], int | bool]:
    """`evaluate` with the tree walked once: a function of the state, with the same meaning (the same
    operations, every operand evaluated). Evaluating an atom on many states this way costs a fifth:
    Houdini's filter evaluates hundreds of atoms on dozens of reached states."""
    if depth(expr) > COMPILED_DEPTH:
        return lambda values: evaluate(expr, values)

    def build(e: Expr, below: list[Callable[[dict[str, int]], Any]]) -> Callable[[dict[str, int]], Any]:
        if isinstance(e, (Num, BoolLit)):
            constant = e.value
            return lambda values: constant
        if isinstance(e, Var):
            name = e.name

            def variable(values: dict[str, int]) -> int:
                if name not in values:
                    raise Undefined(f"no value for {name}")
                return values[name]
            return variable
        if isinstance(e, Unary):
            (argument,) = below
            return (lambda values: not argument(values)) if e.op == "!" else (lambda values: -argument(values))
        if isinstance(e, Cond):
            test, then, other = below

            def conditional(values: dict[str, int]) -> Any:
                condition, first, second = test(values), then(values), other(values)
                return first if condition else second
            return conditional
        operation, (left, right) = _VALUES[e.op], below
        return lambda values: operation(left(values), right(values))

    return _fold(expr, build)


# C precedence levels (higher binds tighter), used to print with only the needed parentheses.
_PRECEDENCE = {"?:": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "<": 5, "<=": 5, ">": 5, ">=": 5,
               "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}
_UNARY_PRECEDENCE = 8


def _level(e: Expr) -> int:
    if isinstance(e, Binary):
        return _PRECEDENCE[e.op]
    if isinstance(e, Cond):
        return _PRECEDENCE["?:"]
    if isinstance(e, Num) and e.value < 0:
        return _UNARY_PRECEDENCE
    return _UNARY_PRECEDENCE + 1 if not isinstance(e, Unary) else _UNARY_PRECEDENCE


def to_c(expr: Expr) -> str:
    """Canonical C text of `expr`: single spaces around binary operators, minimal parentheses."""

    def wrap(e: Expr, text: str, minimum: int) -> str:
        return f"({text})" if _level(e) < minimum else text

    def show(e: Expr, below: list[str]) -> str:
        if isinstance(e, Num):
            return str(e.value)
        if isinstance(e, BoolLit):
            return "true" if e.value else "false"
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Unary):
            return f"{e.op}{wrap(e.arg, below[0], _UNARY_PRECEDENCE)}"
        if isinstance(e, Cond):
            test, then, other = below
            return f"{wrap(e.test, test, 2)} ? {wrap(e.then, then, 1)} : {wrap(e.other, other, 1)}"
        assert isinstance(e, Binary)
        mine = _PRECEDENCE[e.op]
        # Left-associative: the right operand needs parentheses at equal precedence.
        return f"{wrap(e.left, below[0], mine)} {e.op} {wrap(e.right, below[1], mine + 1)}"

    return _fold(expr, show)


def _smt_symbol(name: str) -> str:
    return name


# The names `let` gives the operands of `/` and `%`: quoted symbols with a space, so no program
# variable or template symbol can be captured.
_DIVIDEND, _DIVISOR = "|c99 dividend|", "|c99 divisor|"


def to_smtlib(expr: Expr, rename: Callable[[str], str] = _smt_symbol) -> str:
    """SMT-LIB 2 text of `expr` with C99 integer division (see the module docstring). Its size is
    linear in the expression's: chains of `&&`/`||` become one n-ary `and`/`or`, and the operands of
    `/` and `%` are bound once by `let`."""

    def write(e: Expr, below: list[str]) -> str:
        if isinstance(e, Num):
            return str(e.value) if e.value >= 0 else f"(- {-e.value})"
        if isinstance(e, BoolLit):
            return "true" if e.value else "false"
        if isinstance(e, Var):
            return rename(e.name)
        if isinstance(e, Unary):
            return f"(not {below[0]})" if e.op == "!" else f"(- {below[0]})"
        if isinstance(e, Cond):
            return f"(ite {' '.join(below)})"
        assert isinstance(e, Binary)
        if e.op in _BOOL_OPS:
            return f"({'and' if e.op == '&&' else 'or'} {' '.join(below)})"
        a, b = below
        if e.op in ("/", "%"):
            quotient = _c_division(_DIVIDEND, _DIVISOR)
            body = quotient if e.op == "/" else f"(- {_DIVIDEND} (* {_DIVISOR} {quotient}))"
            return f"(let (({_DIVIDEND} {a}) ({_DIVISOR} {b})) {body})"
        if e.op == "!=":
            return f"(not (= {a} {b}))"
        operator = {"==": "="}.get(e.op, e.op)
        return f"({operator} {a} {b})"

    return _fold(expr, write, _operands)


def _c_division(a: str, b: str) -> str:
    return f"(ite (>= {a} 0) (div {a} {b}) (- (div (- {a}) {b})))"
