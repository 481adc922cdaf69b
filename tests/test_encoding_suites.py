"""Converters and suites: SATLIB graphs and pigeonhole counts recovered exactly from the CNF files,
the committed suites reproduced by their converters, every committed task valid."""

from __future__ import annotations

import pytest

from agent.__main__ import main
from agent.encoding_suites import convert_encodings, convert_logic, read_dimacs, recover_flat_graph, recover_pigeonhole
from agent.eval import load_suite


def test_the_graph_behind_a_flat_instance_is_recovered_exactly(shared_data):
    clauses = read_dimacs(shared_data / "satlib" / "flat30-60" / "flat30-1.cnf")
    instance = recover_flat_graph(clauses)
    assert instance["vertices"] == 30 and instance["colours"] == 3 and len(instance["edges"]) == 60
    without_an_edge_clause = [clause for clause in clauses if clause != [-88, -58]]
    assert len(without_an_edge_clause) == len(clauses) - 1
    with pytest.raises(ValueError, match="not exactly"):
        recover_flat_graph(without_an_edge_clause)


def test_pigeonhole_counts_are_recovered_and_checked(shared_data):
    clauses = read_dimacs(shared_data / "satlib" / "pigeonhole" / "hole6.cnf")
    assert recover_pigeonhole(clauses) == {"pigeons": 7, "holes": 6}
    with pytest.raises(ValueError):
        recover_pigeonhole(clauses[:-1])


@pytest.mark.parametrize("suite", ["sat", "smt"])
def test_the_encoding_suites_are_what_their_spec_makes(repo, shared_data, tmp_path, suite):
    report = convert_encodings(repo / "tasks" / "specs" / f"{suite}.yaml", tmp_path, shared_data / "satlib")
    assert not report.failed
    committed = sorted(path.name for path in (repo / "tasks" / suite).glob("*.yaml"))
    assert sorted(path.name for path in tmp_path.glob("*.yaml")) == committed
    for name in committed:
        assert (tmp_path / name).read_text() == (repo / "tasks" / suite / name).read_text(), name


def test_the_logic_suite_is_what_its_converter_makes(repo, shared_data, tmp_path):
    report = convert_logic(shared_data / "logic", tmp_path, per_dataset=12)
    assert not report.failed and len(report.written) == 48
    for path in report.written + [report.suite]:
        assert path.read_text() == (repo / "tasks" / "logic" / path.name).read_text(), path.name


@pytest.mark.parametrize("suite, count", [("sat", 31), ("smt", 8), ("logic", 48)])
def test_every_committed_task_loads_and_passes_its_verifier_check(repo, suite, count):
    name, entries = load_suite(repo / "tasks" / suite)  # parse_task runs the verifier's check_task
    assert name == suite and len(entries) == count


def test_bad_spec_and_task_files_are_one_line_errors(tmp_path, capsys):
    assert main(["convert", "encodings", str(tmp_path / "missing.yaml"), str(tmp_path / "out")]) == 2
    assert "no such spec file" in capsys.readouterr().err
    task = tmp_path / "bad.yaml"
    task.write_text("id: x\nkind: sat_encoding\nfamily: knights\ninstance: {n: 3}\n")
    assert main(["solve", str(task)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unknown problem family 'knights'" in error
    task.write_text("id: x\nkind: sat_encoding\nfamily: colouring\ninstance: {vertices: 2, edges: [[1, 3]], colours: 2}\n")
    assert main(["solve", str(task)]) == 2
    assert "outside 1..2" in capsys.readouterr().err
