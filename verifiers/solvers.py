"""Solver calls the verifiers share: Z3 under a hard time limit, cvc5 as a second opinion, and the
allow-list check of SMT-LIB text a proposal wrote (`check_script`).

Every Z3 call gets the solver's own time-out and a watchdog thread that interrupts the context
if the solver overruns it; cvc5 gets its per-call time limit (`tlimit-per`). On a script whose
shape a proposal chose (an SMT encoding, a formalisation), cvc5 runs in a child process
(`cvc5_status_isolated`): a stack overflow in its parser then costs the cross-check, not the run.
"""

from __future__ import annotations

import re
import threading

import z3

from verifiers.child import ChildCall, ChildFailure, ChildTimeout

# Grace on top of the solver's own time-out before the watchdog interrupts the context.
WATCHDOG_GRACE_S = 0.5


class ScriptProblem(ValueError):
    """SMT-LIB text refused before any solver reads it; the message is one line."""


# The top-level commands an encoding's SMT-LIB may hold: what Z3 prints for constraints over
# declared constants, functions, sorts and datatypes.
ALLOWED_COMMANDS = frozenset({"set-info", "set-logic", "declare-fun", "declare-const", "define-fun", "declare-sort",
                              "define-sort", "declare-datatypes", "declare-datatype", "assert"})
MAX_SCRIPT_CHARS = 20_000_000
# Deeper terms crash cvc5 (a stack overflow near 400,000 levels) and slow Z3's printer down.
MAX_DEPTH = 10_000
# Hand-written (no library reads SMT-LIB without building terms): the lexical classes of SMT-LIB 2.6.
_TOKEN = re.compile(r'\s+|;[^\n]*|"(?:[^"]|"")*"|\|[^|\\]*\||[()]|[^\s()";|]+|.', re.DOTALL)


def check_script(text: str) -> None:
    """Refuse SMT-LIB text outside the allowed subset, too long or too deep (ScriptProblem, one line).
    Reads tokens iteratively; nothing is parsed into terms."""
    if len(text) > MAX_SCRIPT_CHARS:
        raise ScriptProblem(f"the SMT-LIB text has {len(text)} characters; at most {MAX_SCRIPT_CHARS} are allowed")
    depth = 0
    expect_command = False
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        first = token[0]
        if first.isspace() or first == ";":
            continue
        if token == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ScriptProblem(f"the SMT-LIB text nests deeper than {MAX_DEPTH} levels")
            expect_command = depth == 1
            continue
        if token == ")":
            depth -= 1
            if depth < 0:
                raise ScriptProblem(f"unbalanced `)` at character {match.start()} of the SMT-LIB text")
            expect_command = False
            continue
        if len(token) == 1 and first in '"|':
            raise ScriptProblem(f"an unterminated string or quoted symbol at character {match.start()}")
        if depth == 0:
            raise ScriptProblem(f"`{token[:40]}` outside any command in the SMT-LIB text")
        if expect_command:
            if token not in ALLOWED_COMMANDS:
                raise ScriptProblem(f"the SMT-LIB command `{token[:40]}` is not allowed (allowed: "
                                    f"{', '.join(sorted(ALLOWED_COMMANDS))})")
            expect_command = False
    if depth != 0:
        raise ScriptProblem("the SMT-LIB text ends inside an unclosed `(`")


def parse_script(text: str) -> tuple[z3.Context, z3.AstVector]:
    """Z3's parse, in a fresh context, of SMT-LIB text that passes `check_script` (ScriptProblem
    otherwise)."""
    check_script(text)
    context = z3.Context()
    try:
        return context, z3.parse_smt2_string(text, ctx=context)
    except z3.Z3Exception as error:
        raise ScriptProblem(f"the SMT-LIB text does not parse: {z3_message(error)[:300]}") from None



def z3_message(error: z3.Z3Exception) -> str:
    message = error.value.decode() if isinstance(error.value, bytes) else str(error.value)
    return " ".join(message.split())


def z3_check(solver: z3.Solver, context: z3.Context, timeout_s: float,
             assumptions: tuple[z3.BoolRef, ...] = ()) -> tuple[str, str]:
    """`solver.check(*assumptions)` under a solver time-out and a watchdog; ("sat"|"unsat"|"unknown", reason)."""
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    watchdog = threading.Timer(timeout_s + WATCHDOG_GRACE_S, context.interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
        if assumptions:
            # Z3's `check(*assumptions)` re-casts every literal through Python (a millisecond each
            # on a loaded machine: seconds per Houdini round over a thousand atoms); these are
            # already Boolean terms of the solver's context, so they go to the C API as they are.
            array = (z3.Ast * len(assumptions))(*[literal.as_ast() for literal in assumptions])
            result = z3.CheckSatResult(z3.Z3_solver_check_assumptions(context.ref(), solver.solver,
                                                                       len(assumptions), array))
        else:
            result = solver.check()
    except z3.Z3Exception as error:
        return "unknown", f"interrupted: {z3_message(error)}"
    finally:
        watchdog.cancel()
    if result == z3.unknown:
        return "unknown", solver.reason_unknown() or "unknown"
    return str(result), ""


def cvc5_status(script: str, timeout_s: float) -> tuple[str, str]:
    """cvc5's answer on an SMT-LIB script (declarations and assertions, no check-sat):
    ("sat" | "unsat" | "unknown", detail). A script cvc5 cannot read is "unknown"."""
    import cvc5

    script = re.sub(r"\(\s*set-logic\s+[A-Za-z_]+\s*\)", "", script)
    manager = cvc5.TermManager()
    solver = cvc5.Solver(manager)
    solver.setOption("tlimit-per", str(max(1, int(timeout_s * 1000))))
    solver.setLogic("ALL")
    if "declare-sort" in script:  # finite model finding lets cvc5 answer sat over uninterpreted sorts
        solver.setOption("finite-model-find", "true")
    symbols = cvc5.SymbolManager(manager)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, script + "\n(check-sat)\n", "formula")
    answers = []
    try:
        while True:
            command = parser.nextCommand()
            if command.isNull():
                break
            answer = command.invoke(solver, symbols).strip()
            if answer:
                answers.append(answer)
    except RuntimeError as error:
        return "unknown", f"cvc5 cannot read it: {' '.join(str(error).split())[:200]}"
    last = answers[-1] if answers else "nothing"
    if last in ("sat", "unsat"):
        return last, f"cvc5 {cvc5.__version__} answers {last}"
    return "unknown", f"cvc5 answered {last}"


def cvc5_status_isolated(script: str, timeout_s: float) -> tuple[str, str]:
    """`cvc5_status` in a child process; a crash or an overrun is "unknown"."""
    return Cvc5InChild(script, timeout_s).answer()


class Cvc5InChild:
    """`cvc5_status` started in a child process: the caller goes on with other work (Z3's own
    decision, say), then collects `answer()` or `cancel()`s it."""

    def __init__(self, script: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.call = ChildCall("verifiers.solver_children:cvc5_check", {"script": script, "timeout_s": timeout_s},
                              timeout_s + 1.0)

    def cancel(self) -> None:
        self.call.cancel()

    def answer(self) -> tuple[str, str]:
        """cvc5's answer and its detail; a crash or an overrun is "unknown"."""
        try:
            answer, detail = self.call.result()
        except ChildTimeout:
            return "unknown", f"cvc5 ran past its {self.timeout_s:.3g} s limit"
        except ChildFailure as failure:
            return "unknown", f"cvc5 {failure}"
        return answer, detail
