"""The Lean trust checks: every known exploit is refused; an honest proof passes the source checks.

Source-level checks run without Lean. The decision on Lean's output (`judge`) is tested on Lean's own
recorded messages from the REPL's test suite where they exist (a kernel failure, self-referential
"proofs", `sorry`), and on the axioms report the compile would print.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from tests.conftest import shared_data_dir
from tests.lean_support import recorded
from verifiers.base import VerifyBudget
from verifiers.lean.repl import convert_message
from verifiers.lean.trust import (
    Assembled,
    SourceProblem,
    assemble,
    check_header,
    check_statement,
    extract_proof,
    judge,
    lex,
    scan_proof,
    without_comments,
)
from verifiers.lean.types import Message, Position
from verifiers.lean.verifier import LeanVerifier

HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n"
STATEMENT = "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10"
NAME = "mathd_algebra_10"
TASK = SimpleNamespace(header=HEADER, statement=STATEMENT, theorem_name=NAME, lean_project=None)

HONEST = [
    "norm_num [abs_of_nonneg]",
    "by\n  rw [abs_of_nonneg] <;> norm_num",
    "have h : (120 : ℝ) / 100 * 30 - 130 / 100 * 20 = 10 := by norm_num\nrw [h]\nnorm_num",
    f"{STATEMENT} := by\n  norm_num [abs_of_nonneg]",
    "nlinarith [sq_nonneg (3 : ℝ), sq_abs (10 : ℝ)]",
    "simp only [abs_eq_self.mpr (by norm_num : (0 : ℝ) ≤ 10)]\nnorm_num -- a closing comment",
    "-- Recall the lemma: for example, in the end no `sorry` is needed.\nnorm_num [abs_of_nonneg] /- where -/",
]

EXPLOITS = {
    "sorry": "sorry",
    "sorry inside a have": "have h : (1 : ℝ) = 1 := by sorry\nnorm_num",
    "admit": "admit",
    "sorryAx as a term": "exact sorryAx _ false",
    "a sorry in French quotes": "exact «sorry»",
    "stop": "stop\nnorm_num",
    "native_decide": "native_decide",
    "decide +native": "decide +native",
    "decide with native config": "decide (config := { native := true })",
    "ofReduceBool": "exact Lean.ofReduceBool _ _ rfl",
    "a new axiom": "axiom cheat : False\nexact cheat.elim",
    "skipKernelTC": "set_option debug.skipKernelTC true in\nnorm_num",
    "autoImplicit on": "set_option autoImplicit true in\nnorm_num",
    "implemented_by": "exact (by exact trivial : True).elim",  # replaced below: a term needing attributes
    "extern": "@[extern \"lean_cheat\"] opaque cheat : False\nexact cheat.elim",
    "unsafe definition": "unsafe def cheat : False := cheat\nexact cheat.elim",
    "partial definition": "partial def loop (n : Nat) : Nat := loop n\nnorm_num",
    "unsafeCast": "exact unsafeCast ()",
    "a second theorem": "norm_num\ntheorem mathd_algebra_10' : False := sorry",
    "#exit": "norm_num\n#exit",
    "a fake axioms report": "norm_num\n#eval IO.println \"'mathd_algebra_10' does not depend on any axioms\"",
    "run_tac meta-code": "run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| norm_num))",
    "a macro": "macro \"cheat\" : tactic => `(tactic| sorry)\ncheat",
    "closing the namespace": "norm_num\nend",
    "an attribute": "attribute [simp] mul_comm\nnorm_num",
}
EXPLOITS["implemented_by"] = "@[implemented_by id] def cheat : False := cheat\nexact cheat.elim"


@pytest.mark.parametrize("proof", HONEST)
def test_an_honest_proof_passes_the_source_checks(proof: str) -> None:
    body = extract_proof(proof, STATEMENT)
    assert scan_proof(body) == []
    assembled = assemble(HEADER, STATEMENT, NAME, body)
    lines = assembled.text.split("\n")
    # The header and statement are there unchanged, autoImplicit is off before the statement,
    # the proof is indented inside `:= (by` ... `)`, and the axioms are printed after it.
    assert assembled.text.startswith(HEADER.rstrip() + "\n")
    assert lines[assembled.statement_line - 1] == STATEMENT + " := (by"
    assert "set_option autoImplicit false" in lines[:assembled.statement_line - 1]
    assert all(line.startswith("  ") or not line for line in lines[assembled.proof_line - 1:assembled.axioms_line - 3])
    assert lines[assembled.axioms_line - 3:assembled.axioms_line - 1] == [")", ""]
    assert lines[assembled.axioms_line - 1] == f"#print axioms {NAME}"


@pytest.mark.parametrize("exploit", sorted(EXPLOITS))
def test_each_exploit_is_refused_before_lean(exploit: str) -> None:
    proof = extract_proof(EXPLOITS[exploit], STATEMENT)
    assert scan_proof(proof), f"{exploit} passed the source checks"
    verdict = LeanVerifier().verify(TASK, EXPLOITS[exploit], VerifyBudget(timeout_s=5))
    assert verdict.status == "rejected" and verdict.details.stage == "source"
    assert verdict.feedback.startswith("Rejected before Lean:")


@pytest.mark.parametrize("restated", [
    "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 11 := by norm_num",
    "theorem mathd_algebra_10 : True := trivial",
    "theorem other : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by norm_num",
    "lemma mathd_algebra_10 (h : False) : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := h.elim",
    "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10",
])
def test_a_changed_statement_is_refused(restated: str) -> None:
    with pytest.raises(SourceProblem):
        extract_proof(restated, STATEMENT)
    assert LeanVerifier().verify(TASK, restated, VerifyBudget(timeout_s=5)).status == "rejected"


def test_the_statement_may_be_restated_with_other_spacing() -> None:
    spaced = "theorem mathd_algebra_10 :\n    abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  norm_num"
    assert extract_proof(spaced, STATEMENT) == "norm_num"


def test_task_headers_and_statements_are_checked() -> None:
    check_header(HEADER)
    check_statement(STATEMENT, NAME)
    for header in ("import Mathlib\naxiom cheat : False", "import Mathlib\nset_option debug.skipKernelTC true",
                   "import Mathlib\n#exit"):
        with pytest.raises(SourceProblem):
            check_header(header)
    for statement, name in ((STATEMENT, "other"), (STATEMENT + " := by sorry", NAME),
                            ("theorem t : sorryAx False := by", "t"), ("def t : Nat", "t")):
        with pytest.raises(SourceProblem):
            check_statement(statement, name)


# --- Lean's output ------------------------------------------------------------------------------------

def assembled_for(lines_before: int = 0) -> Assembled:
    return assemble(HEADER, STATEMENT, NAME, "norm_num [abs_of_nonneg]")


def at(line: int, severity: str, text: str) -> Message:
    return Message(severity=severity, text=text, pos=Position(line, 0), end_pos=Position(line, 5))


def test_allowed_axioms_only_are_accepted() -> None:
    assembled = assembled_for()
    report = at(assembled.axioms_line, "info", f"'{NAME}' depends on axioms: [propext, Classical.choice, Quot.sound]")
    assert judge([report], assembled, NAME).status == "accepted"
    none = at(assembled.axioms_line, "info", f"'{NAME}' does not depend on any axioms")
    assert judge([none], assembled, NAME).status == "accepted"
    # A long list wraps over lines in Lean's output.
    wrapped = at(assembled.axioms_line, "info", f"'{NAME}' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]")
    assert judge([wrapped], assembled, NAME).axioms == ("propext", "Classical.choice", "Quot.sound")


@pytest.mark.parametrize("axioms, reason", [
    ("[propext, sorryAx, Classical.choice, Quot.sound]", "sorry"),
    ("[propext, Lean.ofReduceBool, Classical.choice, Quot.sound]", "Lean.ofReduceBool"),
    ("[propext, Lean.trustCompiler, Classical.choice, Quot.sound]", "Lean.trustCompiler"),
    ("[cheat, propext]", "cheat"),
])
def test_any_other_axiom_is_rejected(axioms: str, reason: str) -> None:
    assembled = assembled_for()
    report = at(assembled.axioms_line, "info", f"'{NAME}' depends on axioms: {axioms}")
    judgement = judge([report], assembled, NAME)
    assert judgement.status == "rejected" and reason in judgement.feedback


def test_an_axioms_report_must_come_from_the_appended_command() -> None:
    assembled = assembled_for()
    fake = at(assembled.proof_line, "info", f"'{NAME}' does not depend on any axioms")  # printed by the proof
    assert judge([fake], assembled, NAME).status == "rejected"
    assert judge([], assembled, NAME).status == "rejected"  # e.g. the file was cut short by `#exit`
    other = at(assembled.axioms_line, "info", "'other' does not depend on any axioms")
    assert judge([other], assembled, NAME).status == "rejected"
    twice = [at(assembled.axioms_line, "info", f"'{NAME}' does not depend on any axioms")] * 2
    assert judge(twice, assembled, NAME).status == "rejected"


def test_errors_are_fed_back_with_lines_counted_in_the_proof() -> None:
    assembled = assemble(HEADER, STATEMENT, NAME, "norm_num\nlinarith")
    error = at(assembled.proof_line + 1, "error", "linarith failed to find a contradiction")
    report = at(assembled.axioms_line, "info", f"'{NAME}' depends on axioms: [sorryAx]")
    judgement = judge([error, report], assembled, NAME)
    assert judgement.status == "rejected"
    assert "proof line 2:0: error: linarith failed to find a contradiction" in judgement.feedback
    header_error = at(1, "error", "unknown module prefix 'Mathlib'")
    assert judge([header_error], assembled, NAME).status == "error"


DATA = shared_data_dir()


def recorded_command_messages(transcript: str, index: int) -> list[Message]:
    _, replies = recorded(DATA / "lean_repl" / transcript)
    return [convert_message(message_of(raw)) for raw in json.loads(replies[index]).get("messages", [])]


def message_of(raw: dict):
    from lean_interact.interface import Message as ReplMessage

    return ReplMessage.model_validate(raw)


def recorded_assembly() -> Assembled:
    # REPL commands are numbered from their own first line: the statement and proof start on line 1.
    return Assembled(text="", statement_line=1, proof_line=1, axioms_line=1000)


@pytest.mark.skipif(DATA is None, reason="the shared benchmark data is not present")
@pytest.mark.parametrize("transcript, index, says", [
    ("app_type_mismatch.in", 0, "(kernel) declaration has metavariables"),  # the kernel refuses the term
    ("app_type_mismatch2.in", 0, "(kernel) application type mismatch"),
    ("self_proof_exact_check.in", 0, "ex"),  # `theorem ex : False := by exact ex`
    ("self_proof_apply_check.in", 0, "ex"),
    ("self_proof_rw.in", 0, "self_application"),
    ("self_proof_check.in", 0, "could not close the goal"),
    ("Mathlib/placeholder_synthesis.in", 1, "don't know how to synthesize placeholder"),
    ("line_breaks.in", 0, "unsolved goals"),
])
def test_recorded_lean_errors_are_rejections(transcript: str, index: int, says: str) -> None:
    messages = recorded_command_messages(transcript, index)
    judgement = judge(messages, recorded_assembly(), "ex")
    assert judgement.status == "rejected" and says in judgement.feedback


@pytest.mark.skipif(DATA is None, reason="the shared benchmark data is not present")
@pytest.mark.parametrize("transcript, index", [("term_sorry.in", 0), ("tactic_sorry.in", 0), ("dup_sorries.in", 0)])
def test_recorded_sorry_warnings_are_rejections(transcript: str, index: int) -> None:
    judgement = judge(recorded_command_messages(transcript, index), recorded_assembly(), "f")
    assert judgement.status == "rejected" and "sorry" in judgement.feedback


@pytest.mark.skipif(DATA is None, reason="the shared benchmark data is not present")
def test_a_clean_recorded_compile_without_an_axioms_report_is_not_accepted() -> None:
    # `theorem mathd_numbertheory_188 : Nat.gcd 180 168 = 12 := by norm_num` elaborated cleanly, but
    # no axioms were audited: that alone never accepts.
    messages = recorded_command_messages("Mathlib/H20231020.in", 1)
    assert messages == []
    assert judge(messages, recorded_assembly(), "mathd_numbertheory_188").status == "rejected"


def clean_recorded_theorems() -> list[tuple[str, str]]:
    """(statement, proposal) for every `theorem`/`example ... := by PROOF` command of the REPL's
    transcripts that Lean elaborated without an error or a `sorry`: real, honest proofs."""
    found = []
    for transcript in sorted((DATA / "lean_repl").rglob("*.in")):
        commands, replies = recorded(transcript)
        for command, reply in zip(commands, replies):
            text = command.get("cmd", "")
            answer = json.loads(reply)
            if not re.match(r"(theorem|example)\b", text.strip()) or ":= by" not in text or answer.get("sorries") \
                    or any(m["severity"] == "error" or "sorry" in m["data"] for m in answer.get("messages", [])):
                continue
            found.append((text[:text.index(":= by")], text))
    return found


@pytest.mark.skipif(DATA is None, reason="the shared benchmark data is not present")
def test_honest_proofs_lean_accepted_in_the_repl_transcripts_pass_the_screen() -> None:
    theorems = clean_recorded_theorems()
    assert len(theorems) >= 10
    refused = {}
    for statement, proposal in theorems:
        problems = scan_proof(extract_proof(proposal, statement))
        if problems:
            refused[proposal] = problems
    # Only `trace "!"` is refused: string literals never appear in a proof.
    assert all('trace "' in proposal for proposal in refused), refused


def test_the_proof_is_compiled_inside_parentheses_it_cannot_close() -> None:
    # Any command in the proof is then a parse error; a `)` that would close them is refused first.
    proof = "norm_num\n    unif_hint_like_command_no_list_names (n : Nat)"
    assembled = assemble(HEADER, STATEMENT, NAME, proof)
    statement_line, proof_end = assembled.statement_line - 1, assembled.axioms_line - 3
    lines = assembled.text.split("\n")
    assert lines[statement_line].endswith(":= (by") and lines[proof_end] == ")"
    assert "\n".join(lines[statement_line + 1:proof_end]) == "  norm_num\n      unif_hint_like_command_no_list_names (n : Nat)"
    for escape in ("norm_num)\n    reassoc_axiom cheat\n(exact trivial", "exact (trivial]", "exact ⟨1, 2"):
        assert any("closes no open" in p or "never closed" in p for p in scan_proof(escape)), escape


@pytest.mark.parametrize("text, kinds", [
    ("/-- doc -/ norm_num", ["doc", "name"]),
    ("/-! module -/", ["doc"]),
    ("/- a /- nested -/ comment -/ rfl", ["comment", "name"]),
    ("1.sorry", ["number", "symbol", "name"]),
    ("0x1F 1.5e3 2.x", ["number", "number", "number", "symbol", "name"]),
    ("h₀.1.le x'", ["name", "symbol", "number", "symbol", "name", "name"]),
])
def test_the_lexer_reads_tokens_as_lean_does(text: str, kinds: list[str]) -> None:
    assert [token.kind for token in lex(text, "t")] == kinds


def test_comments_never_reach_lean() -> None:
    # Whatever a comment holds (and wherever Lean would end it), the compiled file has only spaces there.
    proof = "norm_num /- /- -/ sorry -/ -- admit\n/- end\n theorem t : False := sorry -/ simp"
    assert scan_proof(proof) == []
    blanked = without_comments(proof)
    assert [line.strip() for line in blanked.split("\n")] == ["norm_num", "", "simp"]
    assert [len(line) for line in blanked.split("\n")] == [len(line) for line in proof.split("\n")]
    assert "sorry" not in assemble(HEADER, STATEMENT, NAME, proof).text
