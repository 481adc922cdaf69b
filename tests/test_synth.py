"""Random loop programs for training (`train synth`), judged by the real verifier."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest

from agent.__main__ import main
from agent.cprogram import parse_program
from agent.tasks import load_task, parse_task
from agent.train.synth import SYNTH_PREFIX, synth_tasks
from verifiers.base import REGISTRY, VerifyBudget


def test_programs_are_drawn_from_the_seed_and_load_as_tasks() -> None:
    first = synth_tasks(6, random.Random(7), seed=7)
    again = synth_tasks(6, random.Random(7), seed=7)
    other = synth_tasks(6, random.Random(8), seed=8)
    assert [task["program"] for task in first] == [task["program"] for task in again]
    assert [task["program"] for task in first] != [task["program"] for task in other]
    assert [task["id"] for task in first] == [f"{SYNTH_PREFIX}7.{n}" for n in range(1, 7)]
    for data in first:
        task = parse_task(data, data["id"])
        assert task.source.benchmark == "synthetic"
        program = parse_program(task.program)
        assert len(program.assertions) == 1 and program.body


def test_assertions_come_in_several_shapes() -> None:
    """One relation or two, under an `if` or not, sums among them: answers of more than one fact and case splits."""
    tails = [data["program"].split("while", 1)[1].split("\n  }\n", 1)[1]  # what follows the loop
             for data in synth_tasks(40, random.Random(5), seed=5)]
    assert any("&&" in tail for tail in tails) and any("&&" not in tail for tail in tails)
    assert any(tail.lstrip().startswith("if (") for tail in tails)
    assert any(tail.lstrip().startswith("assert(") for tail in tails)
    assert any(re.search(r"\w \+ \w+ (==|<=|>=)", tail) for tail in tails)
    # multiples and sums at an offset, which loops moving their variables in step keep
    assert any(re.search(r"\d \* \w+ == |== \w+ \+ \d", tail) for tail in tails)


def test_some_loops_move_their_variables_in_step_with_the_counter() -> None:
    """Three variables each gaining a constant every iteration, none of it under a branch."""
    bodies = [data["program"].split("while", 1)[1].split("\n  }\n", 1)[0].splitlines()[1:]
              for data in synth_tasks(40, random.Random(5), seed=5)]
    in_step = [body for body in bodies if all(re.fullmatch(r"    (\w+) = \1 \+ \d;", line) for line in body)]
    assert any(len(body) == 3 for body in in_step)


def test_no_assertion_follows_from_the_exit_condition_alone() -> None:
    """`true` is no invariant for any of them: the loop must be reasoned about (the real verifier says so)."""
    verifier = REGISTRY.for_kind("invariant")
    for data in synth_tasks(8, random.Random(11), seed=11):
        task = parse_task(data, data["id"])
        verdict = verifier.verify(task, "true", VerifyBudget(timeout_s=30))
        assert verdict.status == "rejected", (data["program"], verdict.feedback)


def test_the_program_sources_solve_them_and_train_data_takes_the_verified_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "synth"
    assert main(["train", "synth", "--out", str(suite), "--count", "6", "--seed", "3"]) == 0
    assert len(list(suite.glob("*.yaml"))) == 6
    assert all(load_task(path).id.startswith(SYNTH_PREFIX) for path in suite.glob("*.yaml"))
    runs = tmp_path / "runs"
    assert main(["eval", str(suite), "--sources", "symbolic,dynamic", "--timeout", "20", "--quiet",
                 "--runs-dir", str(runs)]) == 0
    run = next(runs.iterdir())
    rows = list(csv.DictReader((run / "results.csv").open()))
    solved = [row for row in rows if row["status"] == "solved"]
    assert solved, rows
    data = tmp_path / "data"
    assert main(["train", "data", str(run), "--out", str(data), "--test-share", "0"]) == 0
    examples = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    assert sorted(example["task_id"] for example in examples) == sorted(row["task_id"] for row in solved)
    verifier = REGISTRY.for_kind("invariant")
    for example in examples:  # every answer taken is one the verifier accepts
        task = load_task(suite / (example["task_id"].replace("/", "_") + ".yaml"))
        assert verifier.verify(task, example["answer"], VerifyBudget(timeout_s=30)).status == "accepted"


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main(["train", "synth", "--out", str(out), "--count", "0"]) == 2
    assert not out.exists()
    assert capsys.readouterr().err.count("\n") == 1
    out.mkdir()
    assert main(["train", "synth", "--out", str(out), "--count", "2"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(out.iterdir()) == []
