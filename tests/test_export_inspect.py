"""`export inspect`: an eval run as an Inspect AI log that Inspect's own reader reads back, one sample
per task with the proposals, the verdicts' feedback and the statuses as scores."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from agent.__main__ import main

pytest.importorskip("inspect_ai", reason="Inspect AI is an optional extra (veriloop[inspect])")


def test_the_log_reads_back_with_every_task(eval_run: Path, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    written = tmp_path / "inspect" / f"{eval_run.name}.eval"
    assert main(["export", "inspect", str(eval_run), "--out", str(written)]) == 0
    log = read_eval_log(str(written))
    with (eval_run / "results.csv").open(newline="") as handle:
        rows = {row["task_id"]: row for row in csv.DictReader(handle)}

    assert log.status == "success" and log.eval.task == "suite" and log.eval.dataset.samples == 2
    assert {row["status"] for row in rows.values()} == {"solved", "refuted"}
    assert {sample.id: sample.scores["status"].value for sample in log.samples} == \
        {task_id: row["status"] for task_id, row in rows.items()}
    solved = sum(row["status"] == "solved" for row in rows.values())
    assert log.results.scores[0].metrics["solved"].value == solved
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(solved / 2)
    for sample in log.samples:
        row = rows[sample.id]
        assert sample.scores["solved"].value == (row["status"] == "solved")
        assert sample.messages[0].role == "user" and f"id: {sample.id}" in sample.messages[0].text
        proposals = [message for message in sample.messages if message.role == "assistant"]
        assert len(proposals) == int(row["proposals"])
        verdicts = [message for message in sample.messages[1:] if message.role == "user"]
        assert len(verdicts) == sum(sample.metadata["verdicts"].values()) > 0
        assert all(message.text.startswith(("[accepted]", "[rejected]", "[unknown]", "[error]")) for message in verdicts)

    copy = tmp_path / "run"
    shutil.copytree(eval_run, copy)
    assert main(["export", "inspect", str(copy)]) == 0  # by default into the run folder, where `inspect view` looks
    assert len(read_eval_log(str(copy / "inspect" / f"{copy.name}.eval")).samples) == 2

    as_json = tmp_path / "log.json"
    assert main(["export", "inspect", str(eval_run), "--out", str(as_json)]) == 0
    assert len(read_eval_log(str(as_json)).samples) == 2


def test_bad_input_is_one_line(eval_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "inspect", str(tmp_path)]) == 2
    assert main(["export", "inspect", str(eval_run), "--out", str(tmp_path / "log.txt")]) == 2
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as where the extra is not installed
    assert main(["export", "inspect", str(eval_run), "--out", str(tmp_path / "x.eval")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and "not an eval run" in errors[0] and "*.eval" in errors[1] and "veriloop[inspect]" in errors[2]
    assert not any(tmp_path.iterdir())
