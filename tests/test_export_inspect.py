"""`export inspect`: an eval run as an Inspect AI log that Inspect's own reader reads back, one sample
per task with the proposals, the verdicts' feedback and the statuses as scores."""

from __future__ import annotations

import contextlib
import csv
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.__main__ import main
from tests.headless import browser, open_page

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(browser() is None, reason="no headless browser here (Debian: apt-get install chromium)")
def test_inspect_view_shows_the_exported_run(eval_run: Path, tmp_path: Path) -> None:
    """Inspect's own viewer (`inspect view`), opened in a headless browser, lists the run and shows each task
    as a sample with its answer and status; the page requests nothing but the viewer's own server."""
    pytest.importorskip("aiohttp", reason="the DevTools client needs aiohttp (it comes with veriloop[inspect])")
    logs = tmp_path / "inspect"
    assert main(["export", "inspect", str(eval_run), "--out", str(logs / f"{eval_run.name}.eval")]) == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "inspect_ai", "view", "--log-dir", str(logs), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert server.poll() is None, "inspect view exited"
            time.sleep(0.3)
        with (eval_run / "results.csv").open(newline="") as handle:
            statuses = {row["task_id"]: row["status"] for row in csv.DictReader(handle)}
        origin = f"http://127.0.0.1:{port}"
        text, requested = open_page(f"{origin}/#/logs/{eval_run.name}.eval", tmp_path / "browser",
                                    until=lambda shown: all(task_id in shown for task_id in statuses))
    finally:
        server.kill()
        server.wait(timeout=30)

    assert "2 samples" in text and "SOLVED" in text and "STATUS" in text
    # Each sample's row, from its id to the next sample's, shows the task's status.
    rows = sorted((text.index(f"\n{task_id}\n"), task_id) for task_id in statuses)
    for (start, task_id), (end, _) in zip(rows, [*rows[1:], (len(text), "")]):
        assert statuses[task_id] in text[start:end], (task_id, text[start:end])
    assert requested and all(address.startswith((origin, "data:", "blob:")) for address in requested), requested
