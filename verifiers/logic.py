"""Logic puzzles formalised in Z3: the answer is the option the formalisation entails.

A `logic` task holds a puzzle in words (context, question, lettered options) in one of two styles:
- `choice` (LogicalDeduction): exactly one option is true; the program gives premises and one
  formula per option, and the answer is the one option the premises entail;
- `truth` (ProofWriter, FOLIO, ProntoQA): the options are True / False / Unknown (or Uncertain);
  the program gives premises and the statement, and the answer is True if the premises entail it,
  False if they entail its negation, Unknown otherwise.

The program runs in the sandbox (API in `verifiers/encoding_runtime.py`, mode `logic`); its
SMT-LIB text is parsed by Z3's own parser. Each option's formula is attached by a definition
`veriloop_option_X = formula` with a fresh constant, which constrains nothing else. Every query
(are the premises consistent? does each option follow?) is decided by Z3 under a time limit and
re-checked by cvc5; `certified` only when cvc5 reproduces every answer, and an `error` if it
contradicts one. The verdict is `accepted` when the formalisation is consistent and decides the
question (exactly one option follows, or the truth value is determined among the offered
options); otherwise it is `rejected` with the reason (contradictory premises, no option follows,
several follow). Whether the formalisation is *faithful to the words* no solver can tell: the
answer is graded against the data set's label outside the verifier (see `agent/search/logic.py`).
"""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

import z3

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.details import LogicDetails
from verifiers.encoding import (PROGRAM_WALL_S, ProgramRun, Rejection, SolverFault, Undecided, program_limits,
                                run_program, unsandboxed_note)
from verifiers.encoding_runtime import OPTION_PREFIX, STATEMENT_NAME
from verifiers.sandbox import SandboxError, default_sandbox
from verifiers.smt import parse_smtlib
from verifiers.solvers import cvc5_status, z3_check

TRUTH_WORDS = {"true": "True", "false": "False", "unknown": "Unknown", "uncertain": "Unknown"}
MAX_FEEDBACK = 600


class LogicProblem(Protocol):
    """What the logic verifier reads from a task."""

    style: Literal["choice", "truth"]
    context: str
    question: str
    options: list[str]  # "A) ...", "B) ...", ...


def option_letters(options: list[str]) -> list[str]:
    return [option.split(")", 1)[0].strip() for option in options]


def truth_letters(options: list[str]) -> dict[str, str]:
    """For a truth-style question: {"True": "A", "False": "B", "Unknown": "C"} (as offered)."""
    found = {}
    for option in options:
        letter, _, text = option.partition(")")
        word = TRUTH_WORDS.get(text.strip().rstrip(".").lower())
        if word:
            found[word] = letter.strip()
    return found


class _Queries:
    """Satisfiability queries on one parsed formalisation, each checked by Z3 and then by cvc5."""

    def __init__(self, text: str, deadline: float) -> None:
        self.context, self.assertions = parse_smtlib(text)
        self.deadline = deadline
        self.agrees = True
        self.log: list[dict[str, str]] = []

    def satisfiable(self, label: str, extra: list[z3.ExprRef]) -> bool:
        solver = z3.Solver(ctx=self.context)
        solver.add(self.assertions)
        solver.add(extra)
        script = solver.sexpr()  # before check(), which appends Z3's model-converter commands
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.05:
            raise Undecided("the verifier's time ran out")
        status, reason = z3_check(solver, self.context, remaining)
        if status == "unknown":
            raise Undecided(f"Z3 could not decide whether {label} ({reason})")
        second, detail = cvc5_status(script, max(0.5, self.deadline - time.monotonic()))
        if second not in ("unknown", status):
            raise SolverFault(f"Z3 and cvc5 disagree on whether {label}: Z3 {status}, {detail}")
        self.agrees &= second == status
        self.log.append({"query": label, "z3": status, "cvc5": second})
        return status == "sat"


@register
class LogicVerifier(Verifier):
    name = "z3-logic"
    version = f"1.0 (z3 {z3.get_version_string()})"
    kinds = ("logic",)
    details_model = LogicDetails

    def check_task(self, task: LogicProblem) -> None:
        letters = option_letters(task.options)
        if len(letters) < 2 or len(set(letters)) != len(letters) or not all(len(l) == 1 and l.isalpha() for l in letters):
            raise ValueError("options: give at least two options written `A) ...`, `B) ...` with distinct letters")
        if task.style == "truth" and not {"True", "False"} <= set(truth_letters(task.options)):
            raise ValueError("options: a truth-style question offers `True` and `False` (and maybe `Unknown`)")

    def check_environment(self, task: LogicProblem) -> None:
        default_sandbox().check()  # SandboxUnavailable: no isolation here, and running without it not allowed

    def verify(self, task: LogicProblem, proposal: HasText | str, budget: VerifyBudget) -> Verdict:
        started = time.perf_counter()
        deadline = time.monotonic() + budget.timeout_s
        details: dict[str, Any] = {"style": task.style}
        runs: list[ProgramRun] = []
        try:
            return self._decide(task, proposal_text(proposal), deadline, details, runs, started)
        except Rejection as rejection:
            details["stage"] = rejection.stage
            return self.verdict("rejected", rejection.feedback[:MAX_FEEDBACK] + unsandboxed_note(runs), started,
                                details=details)
        except Undecided as undecided:
            return self.verdict("unknown", f"{undecided}; this is not an answer.{unsandboxed_note(runs)}", started,
                                details=details)
        except (SandboxError, SolverFault) as fault:
            return self.verdict("error", f"{type(fault).__name__}: {fault}{unsandboxed_note(runs)}", started,
                                details=details)

    def _decide(self, task: LogicProblem, program: str, deadline: float, details: dict[str, Any],
                runs: list[ProgramRun], started: float) -> Verdict:
        puzzle = {"context": task.context, "question": task.question, "options": list(task.options)}
        limits = program_limits(max(0.1, min(PROGRAM_WALL_S, deadline - time.monotonic())))
        run = run_program(program, "logic", puzzle, limits)
        runs.append(run)
        details["sandbox"] = run.summary()
        output = run.output
        if isinstance(output, str):
            raise Rejection(f"The program failed: {output}", "program")
        goals = output.variables if isinstance(output.variables, dict) else {}
        queries = _Queries(output.formula, deadline)
        details["queries"] = queries.log
        if task.style == "choice":
            answer, feedback = self._choice(task, goals, queries)
        else:
            answer, feedback = self._truth(task, goals, queries)
        details["answer"] = answer
        details["cross_check"] = "cvc5 agrees on every query" if queries.agrees else "cvc5 could not confirm every query"
        return self.verdict("accepted", feedback + unsandboxed_note(runs), started, details=details, certified=queries.agrees,
                            certificate={"smtlib": output.formula[:20000]})

    @staticmethod
    def _consistent(queries: _Queries) -> None:
        if not queries.satisfiable("the premises are consistent", []):
            raise Rejection("The premises contradict each other (they have no model); check each fact and rule.",
                            "inconsistent")

    def _choice(self, task: LogicProblem, goals: dict[str, Any], queries: _Queries) -> tuple[str, str]:
        letters = option_letters(task.options)
        named = goals.get("options")
        if not isinstance(named, dict) or sorted(named) != sorted(letters):
            raise Rejection(f"emit(...) must give options={{...}} with exactly the letters {', '.join(letters)}",
                            "options")
        self._consistent(queries)
        entailed = []
        for letter in letters:
            flag = z3.Bool(OPTION_PREFIX + letter, queries.context)
            if not queries.satisfiable(f"option {letter} can be false", [z3.Not(flag)]):
                entailed.append(letter)
        if len(entailed) == 1:
            return entailed[0], f"The premises entail option {entailed[0]} and no other option."
        if not entailed:
            raise Rejection("No option follows from the premises: each could be false. Some fact of the puzzle is"
                            " missing or too weak.", "undecided")
        raise Rejection(f"Options {' and '.join(entailed)} all follow from the premises, but exactly one should;"
                        " an option or a premise is formalised wrongly.", "ambiguous")

    def _truth(self, task: LogicProblem, goals: dict[str, Any], queries: _Queries) -> tuple[str, str]:
        if goals.get("statement") != STATEMENT_NAME:
            raise Rejection("emit(...) must give statement=...", "options")
        self._consistent(queries)
        statement = z3.Bool(STATEMENT_NAME, queries.context)
        if not queries.satisfiable("the statement can be false", [z3.Not(statement)]):
            value = "True"
        elif not queries.satisfiable("the statement can be true", [statement]):
            value = "False"
        else:
            value = "Unknown"
        offered = truth_letters(task.options)
        if value not in offered:
            raise Rejection(f"The premises neither prove nor refute the statement, but this question's answer is"
                            f" {' or '.join(offered)}; some fact or rule is missing.", "undecided")
        return offered[value], f"The premises make the statement {value} (option {offered[value]})."
