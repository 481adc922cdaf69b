"""Solver calls the verifiers share: Z3 under a hard time limit, and cvc5 as a second opinion.

Every Z3 call gets the solver's own time-out and a watchdog thread that interrupts the context
if the solver overruns it; cvc5 gets its per-call time limit (`tlimit-per`).
"""

from __future__ import annotations

import re
import threading

import z3

# Grace on top of the solver's own time-out before the watchdog interrupts the context.
WATCHDOG_GRACE_S = 0.5


def z3_message(error: z3.Z3Exception) -> str:
    message = error.value.decode() if isinstance(error.value, bytes) else str(error.value)
    return " ".join(message.split())


def z3_check(solver: z3.Solver, context: z3.Context, timeout_s: float) -> tuple[str, str]:
    """`solver.check()` under a solver time-out and a watchdog; ("sat"|"unsat"|"unknown", reason)."""
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    watchdog = threading.Timer(timeout_s + WATCHDOG_GRACE_S, context.interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
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
