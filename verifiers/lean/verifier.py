"""The Lean verifier: a proof is accepted only after the whole file is compiled from scratch.

`verify(task, proof)`:

1. source checks (`verifiers.lean.trust`): the proposal is a tactic block (or the task's theorem restated
   word for word) with no forbidden construct;
2. the file is assembled from the task's header and statement, unchanged, `set_option autoImplicit
   false`, the proof inside `:= (by` ... `)` (its brackets match, so a command in it is a parse error),
   and `#print axioms NAME`;
3. `lake env lean --json` compiles it in a fresh process in the user's Lean project, under a time limit;
4. Lean must report no error and no `sorry`, and the axioms report on the `#print axioms` line must name
   nothing beyond propext, Classical.choice and Quot.sound.

Statuses: `accepted` (and `certified`: the kernel checked the proof in a from-scratch compile and the
axioms were audited), `rejected` (with Lean's errors, lines counted within the proof, as feedback),
`unknown` (the compile overran its time), `error` (no Lean toolchain, a header the project cannot
compile, a crashed compiler). Without Lean nothing is ever accepted.

The search reaches Lean step by step through `open_driver` (the REPL, or LeanDojo for traced
repositories); the drivers' answers are only ever provisional.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from verifiers.base import HasText, Verdict, Verifier, VerifyBudget, proposal_text, register
from verifiers.details import LeanDetails
from verifiers.lean.project import find_project
from verifiers.lean.trust import (
    SourceProblem,
    assemble,
    check_header,
    check_statement,
    extract_proof,
    judge,
    scan_proof,
)
from verifiers.lean.types import LeanUnavailable


class LeanProblem(Protocol):
    """What the Lean verifier reads from a task."""

    header: str  # imports, options, opens: kept verbatim
    statement: str  # `theorem NAME ... : TYPE`, up to (not including) `:= by`
    theorem_name: str
    lean_project: str | None  # a Lean project folder; None: $VERILOOP_LEAN_PROJECT


def _lean_interact_version() -> str:
    try:
        return version("lean-interact")
    except PackageNotFoundError:
        return "absent"


@register
class LeanVerifier(Verifier):
    name = "lean"
    version = f"1.0 (lean-interact {_lean_interact_version()})"
    kinds = ("lean",)
    details_model = LeanDetails

    def check_task(self, task: LeanProblem) -> None:
        try:
            check_header(task.header)
            check_statement(task.statement, task.theorem_name)
        except SourceProblem as problem:
            raise ValueError(str(problem)) from None

    def check_environment(self, task: LeanProblem) -> None:
        """A Lean project and `lake` for the compile; for a task searched tactic by tactic through the
        REPL (its `search` settings, when it has them), the REPL too."""
        project = find_project(task.lean_project)
        search = getattr(task, "search", None)
        if search is not None and search.mode == "best_first" and search.driver == "repl":
            project.repl_dir()

    def verify(self, task: LeanProblem, proposal: HasText | str, budget: VerifyBudget) -> Verdict:
        started = time.perf_counter()
        try:
            proof = extract_proof(proposal_text(proposal), task.statement)
        except SourceProblem as problem:
            return self.verdict("rejected", f"Rejected before Lean: {problem}.", started,
                                details={"stage": "source", "problems": [str(problem)]})
        problems = scan_proof(proof)
        if problems:
            return self.verdict("rejected", "Rejected before Lean: " + "; ".join(problems) + ".", started,
                                details={"stage": "source", "problems": problems, "proof": proof})
        assembled = assemble(task.header, task.statement, task.theorem_name, proof)
        try:
            project = find_project(task.lean_project)
        except LeanUnavailable as missing:
            return self.verdict("error", str(missing), started, details={"stage": "toolchain", "proof": proof})
        from verifiers.lean.compile import compile_file

        try:
            output = compile_file(project, assembled.text, budget.timeout_s)
        except OSError as error:
            return self.verdict("error", f"could not run Lean: {error}", started, details={"stage": "compile"})
        details: dict[str, Any] = {
            "stage": "compile", "proof": proof, "file": assembled.text, "command": list(output.command),
            "returncode": output.returncode, "compile_s": round(output.elapsed_s, 3),
            "messages": [message.render() for message in output.messages],
        }
        if output.timed_out:
            return self.verdict("unknown", f"Lean did not finish compiling within {budget.timeout_s:g} s; "
                                "this is not a proof.", started, details=details)
        judgement = judge(output.messages, assembled, task.theorem_name)
        details["axioms"] = list(judgement.axioms) if judgement.axioms is not None else None
        if judgement.status == "accepted" and output.returncode != 0:
            return self.verdict("error", f"Lean exited with status {output.returncode} without an error message: "
                                f"{output.other_output[-300:]}", started, details=details)
        if judgement.status == "rejected" and not output.messages and output.returncode != 0:
            # No message at all and a failing exit: Lean did not run (lake, the toolchain, memory).
            return self.verdict("error", f"Lean failed (exit status {output.returncode}): {output.other_output[-300:]}",
                                started, details=details)
        if judgement.status == "accepted":
            return self.verdict("accepted", judgement.feedback, started, details=details, certified=True,
                                certificate={"file": assembled.text, "axioms": list(judgement.axioms or ())})
        return self.verdict(judgement.status, judgement.feedback, started, details=details)

    def tool_versions(self, task: LeanProblem) -> dict[str, str]:
        """The Lean toolchain of the project proofs are compiled in (read from its `lean-toolchain`)."""
        try:
            return {"lean-toolchain": find_project(task.lean_project).toolchain()}
        except (LeanUnavailable, OSError):
            return {}

    def open_driver(self, task: Any, driver: str = "repl") -> Any:
        """A tactic-level session with Lean for the search: "repl" (the Lean REPL, one process per
        worker) or "dojo" (LeanDojo, for a theorem of a traced repository). LeanUnavailable when
        the tools are missing."""
        if driver == "dojo":
            from verifiers.lean.dojo import DojoDriver

            if getattr(task, "repository", None) is None:
                raise LeanUnavailable("the LeanDojo driver needs the task's `repository` (url, commit, file_path)")
            return DojoDriver(task.repository.url, task.repository.commit, task.repository.file_path,
                              task.theorem_name)
        from verifiers.lean.repl import shared_driver

        return shared_driver(find_project(task.lean_project))
