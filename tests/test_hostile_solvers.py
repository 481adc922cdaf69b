"""Hostile formulas, expressions and proofs against the solvers and checkers (issue 14, items 5-10 and
"Smaller"): each class has a test that failed before its fix, and the corpus in tests/hostile/solvers/
runs through the public verifier entry points, where every entry must end in `rejected`, `unknown`
or `error` within its budget, with this process alive."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from rich.console import Console

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from agent.trace import TraceError, TraceWriter
from agent.view.terminal import show_trace
from tests.ordinary_user import in_child
from verifiers import cexpr, invariant
from verifiers.base import REGISTRY, VerifyBudget
from verifiers.child import ChildFailure, call_in_child
from verifiers.encoding import ProgramOutput, Rejection
from verifiers.encoding_runtime import VARIABLES_FILE, formula_file
from verifiers.lean.trust import SourceProblem, check_header, scan_proof
from verifiers.lean.verifier import LeanVerifier
from verifiers.sat import MAX_VARIABLES, DimacsError, read_dimacs, solve_cnf
from verifiers.smt import SmtEncodingVerifier
from verifiers.solvers import cvc5_status_isolated

CORPUS = Path(__file__).resolve().parent / "hostile" / "solvers"
TASKS = Path(__file__).resolve().parent.parent / "tasks"
NOT_ACCEPTED = {"rejected", "unknown", "error"}
BUDGET = VerifyBudget(timeout_s=10)
# What a verdict may take beyond its budget: starting a child process, the sandbox, a loaded machine.
SLACK_S = 15.0


def expand(entry: dict) -> str:
    count = entry.get("count", 0)
    return (entry.get("prefix", "") + entry.get("open", "") * count + entry.get("core", "")
            + entry.get("close", "") * count + entry.get("suffix", ""))


def corpus(name: str) -> list[dict]:
    return yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))


def named(entries: list[dict]) -> list:
    return [pytest.param(entry, id=entry["name"]) for entry in entries]


def timed_verify(task, proposal: str, budget: VerifyBudget = BUDGET):
    started = time.monotonic()
    verdict = REGISTRY.for_kind(task.kind).verify(task, proposal, budget)
    assert time.monotonic() - started < budget.timeout_s + SLACK_S, verdict.feedback
    return verdict


# --- 5. SMT-LIB a program wrote: an allow-list of commands, parsed and solved in a child process ----

def test_5_include_is_refused_before_any_parser_reads_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.smt2"
    secret.write_text("(assert false)\n")
    for text in (f'(declare-fun q1 () Int)(include "{secret}")', "(set-option :rlimit 1)(assert true)",
                 "(assert true)(check-sat)(exit)"):
        with pytest.raises(Rejection, match="is not allowed"):
            SmtEncodingVerifier().read_formula(ProgramOutput(text, []))


def test_5_a_solver_crash_in_the_child_is_an_answer_not_a_dead_process() -> None:
    # PySAT's solvers crash on a variable near 2^31: in the child that is a ChildFailure here.
    with pytest.raises(ChildFailure, match="crashed"):
        call_in_child("verifiers.solver_children:pysat_solve",
                      {"clauses": [[2**31 - 1]], "solver": "glucose4", "with_proof": False}, 10)


# --- 6. huge variable indices ----------------------------------------------------------------------

def test_6_variables_are_bounded_by_the_header_and_the_header_by_a_maximum() -> None:
    with pytest.raises(DimacsError, match="at most"):
        read_dimacs("p cnf 2147483647 1\n2147483647 0\n")
    with pytest.raises(DimacsError, match="beyond"):
        read_dimacs("p cnf 3 1\n1 2147483647 0\n")
    assert read_dimacs(f"p cnf {MAX_VARIABLES} 1\n1 0\n") == (MAX_VARIABLES, [[1]])


def test_6_a_clause_that_crashes_the_solver_is_an_error_verdict_and_the_process_lives() -> None:
    with pytest.raises(ChildFailure, match="crashed"):
        solve_cnf([[2**31 - 1]], BUDGET, "maplechrono")
    task = SimpleNamespace(dimacs="p cnf 2147483647 1\n2147483647 0\n", solver=None)
    assert REGISTRY.for_kind("cnf").verify(task, "", BUDGET).status == "error"


# --- 7. deep nesting -------------------------------------------------------------------------------

def test_7_deep_smtlib_is_refused_before_parsing_and_cvc5_runs_where_a_crash_is_contained() -> None:
    deep = "(declare-fun b () Bool)(assert " + "(not " * 400_000 + "b" + ")" * 400_001
    started = time.monotonic()
    with pytest.raises(Rejection, match="nests deeper"):
        SmtEncodingVerifier().read_formula(ProgramOutput(deep, []))
    assert time.monotonic() - started < 10
    # cvc5 itself, on the deep script, in its child process: an answer or "unknown", never our death.
    answer, detail = cvc5_status_isolated(deep, 10)
    assert answer in ("sat", "unknown"), detail


# --- 8. `%` and `/` without copying their operands -----------------------------------------------

def test_8_nested_remainders_translate_to_linear_smtlib() -> None:
    for depth in (10, 15, 40):
        text = "(" * depth + "x" + " % (y + 2))" * depth + " == 1"
        smt = cexpr.to_smtlib(cexpr.parse_boolean(text, ["x", "y"]))
        assert len(smt) < 40 * len(text), (depth, len(smt))
    chain = "x" + " / 3" * 60 + " == 1"
    assert len(cexpr.to_smtlib(cexpr.parse_boolean(chain, ["x"]))) < 40 * len(chain)


# --- 9. one budget per verdict ---------------------------------------------------------------------

def test_9_every_solver_call_of_a_verdict_fits_in_one_deadline(monkeypatch) -> None:
    calls: list[tuple[float, float]] = []
    real_z3, real_cvc5 = invariant.z3_check, invariant.cvc5_status

    def z3_recorded(solver, context, timeout_s):
        calls.append((time.monotonic(), timeout_s))
        return real_z3(solver, context, timeout_s)

    def cvc5_recorded(script, timeout_s):
        calls.append((time.monotonic(), timeout_s))
        return real_cvc5(script, timeout_s)

    monkeypatch.setattr(invariant, "z3_check", z3_recorded)
    monkeypatch.setattr(invariant, "cvc5_status", cvc5_recorded)
    task = load_task(TASKS / "code2inv" / "1.yaml")
    budget = VerifyBudget(timeout_s=2)
    started = time.monotonic()
    verdict = REGISTRY.for_kind("invariant").verify(task, "x >= 1 && x <= 100000 && y >= 0", budget)
    assert verdict.status in ("accepted", "rejected", "unknown")
    assert len(calls) >= 4  # three checks, the vacuity check and (when accepted) cvc5's three
    assert all(at + timeout_s <= started + budget.timeout_s + 0.05 for at, timeout_s in calls)


# --- 10. Lean: the header is parsed, the proof read under allow-lists ------------------------------

def test_10_the_header_is_parsed_command_by_command() -> None:
    check_header("import Mathlib\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
                 "open scoped Real\nnoncomputable section\nnamespace Foo\nuniverse u v\nend Foo\n")
    for header in ("import Mathlib\nopen Nat in axiom cheat : False", "import Mathlib\nuniverse u in\naxiom c : False",
                   "import Mathlib\nset_option maxHeartbeats 0 in\naxiom c : False"):
        with pytest.raises(SourceProblem):
            check_header(header)


@pytest.mark.parametrize("proof", [
    "set_option «autoImplicit» true in\nnorm_num",
    "set_option /- note -/ autoImplicit true in\nnorm_num",
    "\u0455orry",
    "norm_num\nalias cheat := mathd_algebra_10",
    "norm_num\nirreducible_def cheat : Nat := 0",
    "exact (eval% (1 : Nat)) ▸ rfl",
])
def test_10_proof_tricks_that_used_to_pass_are_refused(proof: str) -> None:
    assert scan_proof(proof)


@pytest.mark.parametrize("proof", [
    "norm_num\nreassoc_axiom cheat",
    "simp\ninitialize_simps_projection Nat",
    "norm_num <;> declare_bitwise_int_theorems",
    "constructor\n\u00b7 derive_functional_induction foo\n\u00b7 norm_num",
])
def test_10_where_a_tactic_stands_only_tactics_are_allowed(proof: str) -> None:
    # Commands that COMMAND_KEYWORDS does not name: refused because they are not tactics, where a tactic stands.
    assert any("not a tactic" in problem for problem in scan_proof(proof)), scan_proof(proof)


HONEST_PROOFS = [
    "nlinarith [sq_nonneg (a - b), sq_nonneg (a + b),\n  sq_nonneg (a * b - 1), mul_pos ha hb]",
    "have h₁ : 0 < x := by\n  linarith\nhave h₂ : x * y = 1 := by nlinarith [h₁]\nfield_simp\nring",
    "constructor\n· intro h\n  exact fun n => Nat.succ_le_of_lt (h n)\n· rintro ⟨x, hx⟩\n  simp [hx] <;> omega",
    "induction n with\n| zero => simp\n| succ n ih =>\n  rw [Finset.sum_range_succ, ih]\n  ring",
    "calc a = b + 0 := by ring\n  _ = c := by\n    rw [h₀]\n    norm_num",
    "rcases h with ⟨x, rfl⟩ | h\n· exact ⟨x, by ring⟩\nall_goals\n  exact absurd h (by decide)",
    "cases' h with h h <;> [left; right] <;> assumption",
    "interval_cases x <;> simp_all\ntry omega",
    "refine ⟨fun h => ?_, fun h => ?_⟩\n· exact h.1\n· exact ⟨h, le_refl _⟩",
    "obtain ⟨k, hk⟩ := h\nuse k + 1\nsubst hk\nexact_mod_cast Nat.succ_pos k",
    # `open`/`set_option ... in`, counts, parenthesised tactic blocks, numbers and brackets as Lean reads them
    "open Real in\nnlinarith [sq_nonneg (x - 1), Real.sqrt_nonneg 2]",
    "set_option maxRecDepth 10000 in\nnorm_num [Nat.factorial]",
    "iterate 2 rw [Finset.sum_range_succ]\nnorm_num",
    "(norm_num; linarith)",
    "have : (1.5e3 : ℝ) = 1500 := by norm_num\nhave : 0x1F = 31 := by norm_num\nsimp_all",
    "have h : n % 2 = 0 ∨ n%2 = 1 := Nat.mod_two_eq_zero_or_one n\nrcases h with h | h <;> simp [h]",
    "exact absurd ‹x < 0› (by linarith)",
    "exact fun ⦃a b⦄ hab => le_trans hab (le_refl b)",
    "rw [show (4 : ℝ) = 2 ^ 2 by norm_num]\nexact Real.sqrt_sq (by norm_num)",
    "conv => lhs; rw [mul_comm]",
    "norm_num [Nat.succ_le_iff] at h₀ ⊢\nexact h₀.1.le",
]


@pytest.mark.parametrize("proof", HONEST_PROOFS)
def test_10_honest_tactic_proofs_pass_the_tactic_allow_list(proof: str) -> None:
    assert scan_proof(proof) == []


# --- Smaller ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["!" * 20_000 + "(x > 0)", "-" * 20_000 + "x > 0",
                                  " && ".join(["x != 7"] * 30_000), "(" * 20_000 + "x > 0" + ")" * 20_000])
def test_deep_or_long_invariants_get_a_verdict(text: str) -> None:
    verdict = REGISTRY.for_kind("invariant").verify(load_task(TASKS / "code2inv" / "1.yaml"), text, BUDGET)
    assert verdict.status in NOT_ACCEPTED


def test_the_terminal_view_shows_markup_in_proposals_as_text(tmp_path: Path) -> None:
    task = load_task(TASKS / "code2inv" / "1.yaml")
    trace = tmp_path / "trace.jsonl"
    hostile = "x >= 0 [/red] [bold red]ACCEPTED[/bold red]"
    run_task(task, RunSettings(sources=["llm"], strategies={"invariant": {"refute": False}}), ScriptedProposer([hostile]), trace, "markup",
             TASKS / "code2inv" / "1.yaml")
    console = Console(record=True, width=400, color_system=None)
    show_trace(trace, verbose=True, console=console)
    shown = console.export_text()
    assert "[/red]" in shown and "[bold red]ACCEPTED[/bold red]" in shown


def test_trace_and_results_writers_refuse_symbolic_links(tmp_path: Path) -> None:
    from agent.eval import ResultsFile

    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched\n")
    for name in ("trace.jsonl", "results.csv"):
        link = tmp_path / name
        link.symlink_to(target)
        with pytest.raises(TraceError, match="symbolic link"):
            TraceWriter(link) if name == "trace.jsonl" else ResultsFile(link)
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(TraceError, match="symbolic link"):
        TraceWriter(dangling)
    assert target.read_text() == "untouched\n" and not (tmp_path / "missing").exists()


def test_refuted_is_not_reported_when_the_replay_fails(tmp_path: Path, monkeypatch) -> None:
    task = load_task(TASKS / "code2inv" / "72.yaml")  # a program whose assertion a real run violates
    monkeypatch.setattr(invariant, "replay", lambda template, states, budget: False)
    result = run_task(task, RunSettings(sources=["symbolic"]), None, tmp_path / "trace.jsonl", "replay",
                      TASKS / "code2inv" / "72.yaml")
    assert result.status != "refuted"


def test_a_dimacs_clause_may_span_lines(shared_data: Path) -> None:
    # SATLIB's hole9.cnf and hole10.cnf end with a clause whose `0` is on the next line.
    text = (shared_data / "satlib" / "pigeonhole" / "hole6.cnf").read_text()
    split = text.rstrip().removesuffix(" 0") + "\n0\n"
    assert split != text and read_dimacs(split) == read_dimacs(text)
    assert read_dimacs("p cnf 3 2\n1\n-2\n0 2 3\n0\n") == (3, [[1, -2], [2, 3]])


# --- the corpus ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((CORPUS / "cnf").glob("*.cnf")), ids=lambda path: path.stem)
def test_hostile_cnf_tasks(path: Path) -> None:
    task = SimpleNamespace(dimacs=path.read_text(), solver=None, kind="cnf")
    with pytest.raises(ValueError, match="dimacs"):
        REGISTRY.for_kind("cnf").check_task(task)
    assert timed_verify(task, "").status in NOT_ACCEPTED


def forging_program(mode: str, entry: dict, variables) -> str:
    """A program that writes the output files itself (the text built inside the guest) and stops."""
    count = entry.get("count", 0)
    return (f"text = {entry.get('prefix', '')!r} + {entry.get('open', '')!r} * {count} + {entry.get('core', '')!r}"
            f" + {entry.get('close', '')!r} * {count} + {entry.get('suffix', '')!r}\n"
            f"open({formula_file(mode)!r}, 'w').write(text)\n"
            f"open({VARIABLES_FILE!r}, 'w').write({json.dumps(variables)!r})\n"
            "import os\nos._exit(0)\n")


QUEENS3_VARIABLES = [[["queen", row], f"q{row}", "Int"] for row in (1, 2, 3)]


@pytest.mark.parametrize("entry", named(corpus("smt_encoding.yaml")))
def test_hostile_smt_encoding_outputs(entry: dict) -> None:
    variables = QUEENS3_VARIABLES if entry.get("variables") == "queens" else entry.get("variables", [])
    task = load_task(TASKS / "smt" / "queens-3.yaml")
    assert timed_verify(task, forging_program("smt", entry, variables)).status in NOT_ACCEPTED


@pytest.mark.parametrize("entry", named(corpus("sat_encoding.yaml")))
def test_hostile_sat_encoding_outputs(entry: dict) -> None:
    task = load_task(TASKS / "sat" / "queens-8.yaml")
    assert timed_verify(task, forging_program("sat", entry, entry.get("variables", []))).status in NOT_ACCEPTED


@pytest.mark.parametrize("entry", named(corpus("invariant.yaml")))
def test_hostile_invariants(entry: dict) -> None:
    task = load_task(TASKS / "code2inv" / "1.yaml")
    assert timed_verify(task, expand(entry), VerifyBudget(timeout_s=5)).status in NOT_ACCEPTED


LEAN_TASK = SimpleNamespace(
    header="import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n",
    statement="theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10",
    theorem_name="mathd_algebra_10", lean_project=None, kind="lean")


@pytest.mark.parametrize("entry", named(corpus("lean.yaml")["proofs"]))
def test_hostile_lean_proofs(entry: dict) -> None:
    verdict = LeanVerifier().verify(LEAN_TASK, entry["proof"], BUDGET)
    assert verdict.status == "rejected" and verdict.details.stage == "source", verdict.feedback


@pytest.mark.parametrize("entry", named(corpus("lean.yaml")["headers"]))
def test_hostile_lean_headers(entry: dict) -> None:
    task = SimpleNamespace(**{**vars(LEAN_TASK), "header": entry["header"]})
    with pytest.raises(ValueError):
        LeanVerifier().check_task(task)


def test_the_repl_transcripts_tactics_pass_unless_they_use_sorry_strings_or_no_tactic(shared_data: Path) -> None:
    # The allow-lists must not refuse honest tactics: every tactic the REPL's own tests send passes,
    # except those with `sorry` and one `trace "37"` (string literals are refused in proofs).
    refused = {}
    for transcript in sorted((shared_data / "lean_repl").glob("*.in")):
        for block in transcript.read_text(encoding="utf-8").split("\n\n"):
            try:
                tactic = json.loads(block).get("tactic") if block.strip() else None
            except ValueError:
                continue
            if tactic and scan_proof(tactic):
                refused[tactic] = scan_proof(tactic)
    assert refused, "the transcripts hold sorry tactics"
    # `exat 42` is the REPL's own test of an unknown tactic (Lean refuses it too): not a tactic.
    assert all("sorry" in tactic or tactic.startswith("trace \"") or tactic == "exat 42" for tactic in refused), refused


LOGIC_OPTIONS = {"options": {letter: f"veriloop_option_{letter}" for letter in "ABCDE"}}


@pytest.mark.parametrize("entry", named(corpus("logic.yaml")))
def test_hostile_logic_formalisations(entry: dict) -> None:
    task = load_task(TASKS / "logic" / "logical_deduction_0.yaml")
    assert timed_verify(task, forging_program("logic", entry, LOGIC_OPTIONS)).status in NOT_ACCEPTED


def test_logic_formulas_are_solved_in_a_child_process_under_one_budget() -> None:
    # Z3 spends minutes in this formula and ignores the interrupt of its watchdog: solved in the
    # trusted process it held the run far past its budget (here the test's own child is killed).
    entry = {entry["name"]: entry for entry in corpus("logic.yaml")}["define-fun-doubling-chain-ignores-interrupt"]
    budget = VerifyBudget(timeout_s=4)

    def verify_in_time() -> str:
        task = load_task(TASKS / "logic" / "logical_deduction_0.yaml")
        return REGISTRY.for_kind("logic").verify(task, forging_program("logic", entry, LOGIC_OPTIONS), budget).status

    assert in_child(verify_in_time, timeout_s=budget.timeout_s + SLACK_S) == "unknown"


LOGIC_AT_MOST = """
a, b, c = Bools("a b c")
emit([AtMost(a, b, c, 1), a], options={"A": a, "B": b, "C": c, "D": Not(a), "E": And(b, c)})
"""


def test_a_logic_answer_cvc5_cannot_read_is_accepted_on_z3_alone_and_not_certified() -> None:
    # Z3 prints AtMost as `(_ at-most 1)`, which cvc5 cannot read: Z3 decided every query, so the
    # answer stands, but neither the verdict nor its feedback may claim a cross-check.
    task = load_task(TASKS / "logic" / "logical_deduction_0.yaml")
    verdict = REGISTRY.for_kind("logic").verify(task, LOGIC_AT_MOST, VerifyBudget(timeout_s=30))
    assert verdict.status == "accepted" and verdict.details.answer == "A"
    assert verdict.certified is False and "not cross-checked" in verdict.feedback
    assert "cvc5 could not confirm" in verdict.details.cross_check
    assert all(query["z3"] in ("sat", "unsat") and query["cvc5"] == "unknown" for query in verdict.details.queries)
