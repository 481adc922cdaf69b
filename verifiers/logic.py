"""Logic puzzles formalised in Z3: the answer is the option the formalisation entails.

A `logic` task holds a puzzle in words (context, question, lettered options) in one of two styles:
- `choice` (LogicalDeduction): exactly one option is true; the program gives premises and one
  formula per option, and the answer is the one option the premises entail;
- `truth` (ProofWriter, FOLIO, ProntoQA): the options are True / False / Unknown (or Uncertain);
  the program gives premises and the statement, and the answer is True if the premises entail it,
  False if they entail its negation, Unknown otherwise.

The program runs in the sandbox (API in `verifiers/encoding_runtime.py`, mode `logic`); its
SMT-LIB text is untrusted: it passes `check_script` (allowed commands, size, depth), then Z3 parses
it and answers every query in one child process (`verifiers/child.py`), and cvc5 re-checks the
answers the verdict used in another, all under the verdict's one deadline: a parse or a solve that
overruns is `unknown`, a crash an `error`, never a dead loop. Each option's formula is attached by a
definition `veriloop_option_X = formula` with a fresh constant, which constrains nothing else. The
queries: are the premises consistent? can each option (the statement) be false (true)? `certified`
only when cvc5 reproduces every answer used; an `error` if it contradicts one. When cvc5 cannot
answer (time, a formula it cannot read, a crash), the verdict rests on Z3 alone: still `accepted`
(Z3 decided every query), with `certified: false` and the reason in the feedback; when Z3 cannot
decide a query the verdict is `unknown`. The verdict is `accepted` when the formalisation is
consistent and decides the question (exactly one option follows, or the truth value is determined among the offered
options); otherwise it is `rejected` with the reason (contradictory premises, no option follows,
several follow). Whether the formalisation is *faithful to the words* no solver can tell: the
answer is graded against the data set's label outside the verifier (see `agent/search/logic.py`).
"""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

import z3

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.child import ChildFailure, call_in_child
from verifiers.details import LogicDetails
from verifiers.encoding import (PROGRAM_WALL_S, ProgramRun, Rejection, SolverFault, Undecided, program_limits,
                                run_program, unsandboxed_note)
from verifiers.encoding_runtime import OPTION_PREFIX, STATEMENT_NAME
from verifiers.sandbox import SandboxError, default_sandbox
from verifiers.smt import z3_child_reply

TRUTH_WORDS = {"true": "True", "false": "False", "unknown": "Unknown", "uncertain": "Unknown"}
MAX_FEEDBACK = 600
CONSISTENT = "the premises are consistent"


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
    """Satisfiability queries on one formalisation, all under one deadline: Z3 parses and answers
    them in one child process (`verifiers/solver_children.py`), then cvc5 re-checks the answers the
    verdict used in another. Each query is the premises plus assumptions [[constant, value]]."""

    def __init__(self, script: str, deadline: float) -> None:
        self.script = script  # checked (`check_script`) and parsed in the child, under the deadline
        self.deadline = deadline
        self.answers: dict[str, dict[str, str]] = {}
        self.assumptions: dict[str, list[tuple[str, bool]]] = {}
        self.used: list[str] = []
        self.printed = ""
        self.log: list[dict[str, str]] = []
        self.cross_check = "not run"

    def ask(self, queries: dict[str, list[tuple[str, bool]]]) -> None:
        """Z3's answers, in order (the first query is the premises alone)."""
        self.assumptions = queries
        request = {"script": self.script, "queries": [{"label": label, "assume": assume} for label, assume in queries.items()]}
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.05:
            raise Undecided("the verifier's time ran out")
        reply = z3_child_reply("verifiers.solver_children:z3_queries", request, remaining, "on the formalisation")
        self.answers = {answer["label"]: answer for answer in reply["answers"]}
        self.log[:] = [{"query": answer["label"], "z3": answer["status"], "cvc5": "not run"} for answer in reply["answers"]]
        self.printed = reply["script"]

    def satisfiable(self, label: str) -> bool:
        answer = self.answers.get(label)
        if answer is None or answer["status"] == "unknown":
            reason = answer["reason"] if answer else "an earlier query was undecided"
            raise Undecided(f"Z3 could not decide whether {label} ({reason})")
        self.used.append(label)
        return answer["status"] == "sat"

    def cross_check_used(self) -> bool:
        """cvc5 on every query the verdict used; True when it reproduced them all. A contradiction is
        a SolverFault; cvc5 unable to answer (time, a crash, a script it cannot read) is False."""
        self.log[:] = [{"query": label, "z3": self.answers[label]["status"], "cvc5": "unknown"} for label in self.used]
        remaining = self.deadline - time.monotonic()
        if not self.used:
            return True
        if remaining <= 0.05:
            self.cross_check = "cvc5 did not run: the verifier's time ran out"
            return False
        asserted = ["\n" + "".join(f"(assert {name})" if value else f"(assert (not {name}))"
                                   for name, value in self.assumptions[label]) for label in self.used]
        try:
            second = call_in_child("verifiers.solver_children:cvc5_queries",
                                   {"script": self.printed, "assumptions": asserted, "timeout_s": remaining}, remaining)
        except ChildFailure as failure:  # ChildTimeout included
            self.cross_check = f"cvc5 (in a child process) {failure}"
            return False
        details = []
        for entry, (status, detail) in zip(self.log, second):
            if status not in ("unknown", entry["z3"]):
                raise SolverFault(f"Z3 and cvc5 disagree on whether {entry['query']}: Z3 {entry['z3']}, {detail}")
            entry["cvc5"] = status
            if status == "unknown":
                details.append(f"{entry['query']}: {detail}")
        self.cross_check = ("cvc5 agrees on every query" if not details
                            else "cvc5 could not confirm " + "; ".join(details)[:300])
        return not details


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
        try:
            if task.style == "choice":
                answer, feedback = self._choice(task, goals, queries)
            else:
                answer, feedback = self._truth(task, goals, queries)
        except Rejection:  # a rejection's queries are re-checked too: solvers that contradict each other are an error
            queries.cross_check_used()
            details["cross_check"] = queries.cross_check
            raise
        certified = queries.cross_check_used()
        details["cross_check"] = queries.cross_check
        details["answer"] = answer
        if not certified:
            feedback += f" Decided by Z3 alone, not cross-checked ({queries.cross_check})."
        return self.verdict("accepted", feedback + unsandboxed_note(runs), started, details=details, certified=certified,
                            certificate={"smtlib": output.formula[:20000]})

    @staticmethod
    def _consistent(queries: _Queries) -> None:
        if not queries.satisfiable(CONSISTENT):
            raise Rejection("The premises contradict each other (they have no model); check each fact and rule.",
                            "inconsistent")

    def _choice(self, task: LogicProblem, goals: dict[str, Any], queries: _Queries) -> tuple[str, str]:
        letters = option_letters(task.options)
        named = goals.get("options")
        if not isinstance(named, dict) or sorted(named) != sorted(letters):
            raise Rejection(f"emit(...) must give options={{...}} with exactly the letters {', '.join(letters)}",
                            "options")
        queries.ask({CONSISTENT: [], **{f"option {letter} can be false": [(OPTION_PREFIX + letter, False)]
                                        for letter in letters}})
        self._consistent(queries)
        entailed = [letter for letter in letters if not queries.satisfiable(f"option {letter} can be false")]
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
        queries.ask({CONSISTENT: [], "the statement can be false": [(STATEMENT_NAME, False)],
                     "the statement can be true": [(STATEMENT_NAME, True)]})
        self._consistent(queries)
        if not queries.satisfiable("the statement can be false"):
            value = "True"
        elif not queries.satisfiable("the statement can be true"):
            value = "False"
        else:
            value = "Unknown"
        offered = truth_letters(task.options)
        if value not in offered:
            raise Rejection(f"The premises neither prove nor refute the statement, but this question's answer is"
                            f" {' or '.join(offered)}; some fact or rule is missing.", "undecided")
        return offered[value], f"The premises make the statement {value} (option {offered[value]})."
