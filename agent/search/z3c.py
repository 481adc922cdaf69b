"""Z3 terms over integers written as C expressions: the one printer of the sources that read Z3 terms
(the `horn` source's Spacer invariants, the SyGuS atoms taken from pre/trans/post terms).

The text means over mathematical integers what the term means; the invariant verifier parses it
back (`verifiers.cexpr`) and decides it like any proposal, so a wrong translation can only make a
proposal fail, never make one accepted. SMT-LIB's `div` and `mod` are Euclidean and C's truncate:
they are written for a positive constant divisor only (`((a % k) + k) % k`) and refused otherwise,
as are real numbers and anything else C has no counterpart for. The walk is iterative: a deep term
cannot exhaust the stack.
"""

from __future__ import annotations

import z3


class Untranslatable(ValueError):
    """A Z3 term with no faithful C counterpart here."""


_INFIX = {z3.Z3_OP_LE: "<=", z3.Z3_OP_GE: ">=", z3.Z3_OP_LT: "<", z3.Z3_OP_GT: ">", z3.Z3_OP_EQ: "==",
          z3.Z3_OP_ADD: "+", z3.Z3_OP_SUB: "-", z3.Z3_OP_MUL: "*", z3.Z3_OP_AND: "&&", z3.Z3_OP_OR: "||"}


def to_c(term: z3.ExprRef) -> str:
    """`term` as a C expression; raises Untranslatable."""
    written: dict[int, str] = {}
    pending: list[tuple[z3.ExprRef, bool]] = [(term, False)]
    while pending:
        node, children_written = pending.pop()
        if node.get_id() in written:
            continue
        leaf = _leaf(node)
        if leaf is not None:
            written[node.get_id()] = leaf
        elif not children_written:
            pending.append((node, True))
            pending.extend((child, False) for child in node.children())
        else:
            written[node.get_id()] = _operation(node, written)
    return written[term.get_id()]


def _leaf(node: z3.ExprRef) -> str | None:
    if z3.is_true(node):
        return "1 == 1"
    if z3.is_false(node):
        return "1 == 0"
    if z3.is_int_value(node):
        value = node.as_long()
        return str(value) if value >= 0 else f"(-{-value})"
    if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED:
        if not z3.is_int(node):
            raise Untranslatable(f"`{node}` of sort {node.sort()}")
        return str(node)
    if not z3.is_app(node) or not node.children():
        raise Untranslatable(f"`{node}`")
    return None


def _negation(term: z3.ExprRef, written: dict[int, str]) -> str:
    """The C text of `term`'s negation; a negation's negation is its operand (`!!a` is `a`)."""
    if z3.is_not(term):
        return written[term.arg(0).get_id()]
    return f"!({written[term.get_id()]})"


def _operation(node: z3.ExprRef, written: dict[int, str]) -> str:
    """The C text of `node`, from the texts of its children (`written`, by term id)."""
    kind = node.decl().kind()
    children = node.children()
    parts = [written[child.get_id()] for child in children]
    if kind == z3.Z3_OP_NOT:
        return _negation(children[0], written)
    if kind == z3.Z3_OP_IMPLIES:
        return f"({_negation(children[0], written)} || ({parts[1]}))"
    if kind == z3.Z3_OP_ITE:
        return f"(({parts[0]}) ? ({parts[1]}) : ({parts[2]}))"
    if kind == z3.Z3_OP_UMINUS:
        return f"(-({parts[0]}))"
    if kind == z3.Z3_OP_DISTINCT and len(parts) == 2:
        return f"(({parts[0]}) != ({parts[1]}))"
    if kind in (z3.Z3_OP_MOD, z3.Z3_OP_IDIV):
        divisor = children[1]
        if not z3.is_int_value(divisor) or divisor.as_long() <= 0:
            raise Untranslatable(f"{node.decl().name()} by {divisor}")
        k = divisor.as_long()
        remainder = f"((({parts[0]}) % {k} + {k}) % {k})"
        return remainder if kind == z3.Z3_OP_MOD else f"((({parts[0]}) - {remainder}) / {k})"
    if kind == z3.Z3_OP_EQ and z3.is_bool(children[0]):
        left, right = parts
        return f"((({left}) && ({right})) || ({_negation(children[0], written)} && {_negation(children[1], written)}))"
    if kind in _INFIX:
        return "(" + f" {_INFIX[kind]} ".join(f"({part})" for part in parts) + ")"
    raise Untranslatable(f"operator {node.decl().name()}")
