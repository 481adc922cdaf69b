"""CNF solving with certified answers: DIMACS reading, solve_cnf, the verifier, the `cnf` task kind,
its strategy, the SATLIB converter and `solve`/`eval` on real SATLIB files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from agent.__main__ import main
from agent.convert_satlib import convert_satlib
from agent.eval import load_suite
from agent.tasks import CnfTask, TaskFileError, load_task, parse_task
from agent.trace import read_trace
from verifiers.base import REGISTRY, VerifyBudget
from verifiers.sat import (DEFAULT_SOLVER, DimacsError, canonical_solver, read_dimacs, solve_cnf, supports_proof,
                           violated_clause)

BUDGET = VerifyBudget(timeout_s=60)


def satlib_text(shared_data, relative: str) -> str:
    return (shared_data / "satlib" / relative).read_text()


def test_read_dimacs_stops_at_satlib_percent_line_and_agrees_with_the_csv(shared_data):
    with (shared_data / "satlib" / "expected_status.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["family"] in ("uf20-91", "uuf50-218", "pigeonhole")]
    for row in rows[::7]:
        variables, clauses = read_dimacs(satlib_text(shared_data, row["path"]))
        assert (variables, len(clauses)) == (int(row["num_vars"]), int(row["num_clauses"]))
        assert all(clause for clause in clauses)  # the `0` after `%` did not become an empty clause


def test_read_dimacs_accepts_extra_spaces_and_rejects_bad_input():
    assert read_dimacs("c x\np  cnf 3   2 \n1 -2 0\n2 3 0\n") == (3, [[1, -2], [2, 3]])
    with pytest.raises(DimacsError, match="no `p cnf"):
        read_dimacs("1 2 0\n")
    with pytest.raises(DimacsError, match="declares 3 clauses"):
        read_dimacs("p cnf 3 3\n1 2 0\n")
    with pytest.raises(DimacsError, match="variable 4 is beyond"):
        read_dimacs("p cnf 3 1\n1 4 0\n")
    with pytest.raises(DimacsError, match="not a list of integers"):
        read_dimacs("p cnf 3 1\n1 x 0\n")


def test_solver_names_and_proof_support():
    assert canonical_solver("cd15") == "cadical153"
    assert supports_proof(DEFAULT_SOLVER) and supports_proof("cadical153") and not supports_proof("minisat22")
    with pytest.raises(ValueError, match="unknown PySAT solver"):
        canonical_solver("nosuch")


def test_sat_answers_carry_a_checked_model(shared_data):
    _, clauses = read_dimacs(satlib_text(shared_data, "flat30-60/flat30-1.cnf"))
    for solver in (DEFAULT_SOLVER, "cadical153", "minisat22"):
        outcome = solve_cnf(clauses, BUDGET, solver)
        assert outcome.status == "sat" and outcome.certified, solver
        assert violated_clause(clauses, outcome.model) is None


def test_a_wrong_model_is_caught():
    clauses = [[1, 2], [-1, 2], [1, -2]]
    assert violated_clause(clauses, [1, 2]) is None
    assert violated_clause(clauses, [-1, 2]) == 2
    assert violated_clause(clauses, [1, -1, 2]) == -1


@pytest.mark.parametrize("solver", [DEFAULT_SOLVER, "cadical153", "lingeling", "glucose4"])
def test_unsat_answers_carry_a_checked_proof(shared_data, solver):
    _, clauses = read_dimacs(satlib_text(shared_data, "uuf50-218/uuf50-04.cnf"))
    outcome = solve_cnf(clauses, BUDGET, solver)
    assert outcome.status == "unsat" and outcome.certified, outcome.message
    assert outcome.proof is not None and outcome.proof.certified and outcome.check_s > 0


def test_unsat_without_a_proof_is_not_certified(shared_data):
    _, clauses = read_dimacs(satlib_text(shared_data, "pigeonhole/hole6.cnf"))
    for solver in ("minisat22", "maplesat"):
        outcome = solve_cnf(clauses, BUDGET, solver)
        assert outcome.status == "unsat" and not outcome.certified and outcome.proof is None
        assert "not certified" in outcome.message


@pytest.mark.parametrize("solver", ["glucose4", "cadical153"])
def test_a_tiny_time_limit_gives_unknown(shared_data, solver):
    # hole8 takes these solvers well over 10 ms; the in-process interrupt and the child's alarm stop them.
    _, clauses = read_dimacs(satlib_text(shared_data, "pigeonhole/hole8.cnf"))
    outcome = solve_cnf(clauses, VerifyBudget(timeout_s=0.01), solver)
    assert outcome.status == "unknown" and not outcome.certified
    assert outcome.solve_s < 3.0


def test_the_verifier_accepts_certified_answers_and_rejects_bad_proposals(shared_data):
    verifier = REGISTRY.for_kind("cnf")
    task = CnfTask(id="t", kind="cnf", dimacs=satlib_text(shared_data, "pigeonhole/hole6.cnf"))
    verdict = verifier.verify(task, "", BUDGET)
    assert verdict.status == "accepted" and verdict.certified
    assert verdict.details.answer == "UNSAT" and verdict.certificate["drat"]["derived_empty"]
    assert verifier.verify(task, "nosuch", BUDGET).status == "rejected"
    uncertified = verifier.verify(task, "minisat22", BUDGET)
    assert uncertified.status == "unknown" and not uncertified.certified
    with pytest.raises(ValueError, match="dimacs: no `p cnf"):
        verifier.check_task(CnfTask(id="t", kind="cnf", dimacs="1 2 0\n"))


def test_cnf_task_files_are_validated(tmp_path):
    good = {"id": "x", "kind": "cnf", "dimacs": "p cnf 2 1\n1 2 0\n", "expected": "SAT"}
    assert parse_task(good, "x.yaml").expected == "SAT"
    with pytest.raises(TaskFileError, match="x.yaml: dimacs: the header declares 2 clauses"):
        parse_task({**good, "dimacs": "p cnf 2 2\n1 2 0\n"}, "x.yaml")
    with pytest.raises(TaskFileError, match="solver: unknown PySAT solver"):
        parse_task({**good, "solver": "nosuch"}, "x.yaml")
    with pytest.raises(TaskFileError, match="expected"):
        parse_task({**good, "expected": "MAYBE"}, "x.yaml")


def test_solve_prints_a_certified_answer_and_writes_the_trace(repo, tmp_path, capsys):
    code = main(["solve", str(repo / "tasks" / "cnf" / "uf20-01.yaml"), "--runs-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "answer: SAT" in printed and "certified" in printed and "\nv " in printed
    events = read_trace(next(tmp_path.glob("*/trace.jsonl")))
    result = events[-1]
    assert result.type == "result" and result.status == "solved" and result.certified and result.answer == "SAT"
    assert any(event.type == "verdict" and event.verdict.status == "accepted" for event in events)


def test_expected_status_is_reported_but_never_decides(tmp_path, capsys):
    wrong = {"id": "wrong", "kind": "cnf", "dimacs": "p cnf 2 4\n1 2 0\n-1 2 0\n1 -2 0\n-1 -2 0\n", "expected": "SAT"}
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(wrong))
    assert main(["solve", str(path), "--runs-dir", str(tmp_path / "runs")]) == 0
    printed = capsys.readouterr().out
    assert "answer: UNSAT" in printed and "DISAGREES" in printed


def test_a_bad_cnf_task_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"id": "bad", "kind": "cnf", "dimacs": "p cnf 2 1\n1 y 0\n"}))
    assert main(["solve", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "not a list of integers" in error and "\n" not in error
    assert not (tmp_path / "runs").exists()


def test_convert_satlib_and_eval_the_suite(shared_data, tmp_path, capsys):
    destination = tmp_path / "cnf"
    report = convert_satlib(shared_data / "satlib", destination, families={"uf20-91", "uuf50-218", "pigeonhole"},
                            per_family=2)
    assert len(report.written) == 6 and not report.failed
    name, entries = load_suite(destination)
    assert name == "satlib" and {entry.task.expected for entry in entries} == {"SAT", "UNSAT"}
    task = load_task(destination / "uuf50-01.yaml")
    assert task.source.file == "uuf50-218/uuf50-01.cnf" and "%" in task.dimacs
    assert main(["eval", str(destination), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["solved"] == 6 and summary["certified"] == 6
    with pytest.raises(TaskFileError, match="no expected_status.csv"):
        convert_satlib(tmp_path, tmp_path / "out")


def test_the_shipped_suite_matches_its_sources(repo, shared_data):
    name, entries = load_suite(repo / "tasks" / "cnf")
    with (shared_data / "satlib" / "expected_status.csv").open(newline="") as handle:
        expected = {Path(row["path"]).stem: row["expected"] for row in csv.DictReader(handle)}
    assert len(entries) == len(expected) == 265
    for entry in entries:
        assert entry.task.expected == expected[entry.path.stem]
        source_text = (shared_data / "satlib" / entry.task.source.file).read_text()
        assert read_dimacs(entry.task.dimacs) == read_dimacs(source_text)
