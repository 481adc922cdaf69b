"""Traces: written event by event, read back after the writer was killed mid-line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.trace import Header, ProposalEvent, ResultEvent, TraceError, TraceWriter, read_trace

REPO = Path(__file__).resolve().parent.parent

# A writer that emits complete events, then starts one huge event and is killed while writing it.
KILLED_WRITER = r"""
import sys, time
from pathlib import Path
from agent.trace import Header, ProposalEvent, TraceWriter
writer = TraceWriter(Path(sys.argv[1]))
writer.write(Header(run_id="r", task_id="t", task_kind="invariant", model=None, seed=0, generation={}, sources=[],
                    budget={}, versions={}, git_commit=None))
for number in range(1, 4):
    writer.write(ProposalEvent(id=number, step=1, source="llm", raw="x", text="x > 0"))
line = ProposalEvent(id=4, step=1, source="llm", raw="y" * 50_000_000, text="x > 1").model_dump_json()
handle = writer._handle
handle.write(line[: len(line) // 2])
handle.flush()
print("partial", flush=True)
time.sleep(60)
"""


def test_a_trace_whose_writer_was_killed_mid_line_reads_back_without_the_partial_event(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(trace)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "partial"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert not trace.read_bytes().endswith(b"\n"), "the writer really died inside a line"
    events = read_trace(trace)
    assert isinstance(events[0], Header)
    assert [event.id for event in events[1:]] == [1, 2, 3]


def test_appending_after_a_partial_line_drops_it_first(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    with TraceWriter(trace) as writer:
        writer.write(ProposalEvent(id=1, step=0, source="symbolic", raw="", text="x > 0"))
    with trace.open("a") as handle:
        handle.write('{"type": "proposal", "id": 2, "st')
    with TraceWriter(trace) as writer:
        writer.write(ProposalEvent(id=3, step=0, source="symbolic", raw="", text="x > 1"))
    assert [event.id for event in read_trace(trace)] == [1, 3]


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    good = ProposalEvent(id=1, step=0, source="llm", raw="", text="x").model_dump_json()
    trace.write_text(good + "\n" + "{not json\n" + good + "\n")
    with pytest.raises(TraceError, match=":2:"):
        read_trace(trace)


def test_events_are_flushed_as_they_happen(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    writer = TraceWriter(trace)
    writer.write(ResultEvent(status="unsolved", proposals=0, verifier_calls=0, wall_s=0.0))
    # Read from another handle before closing: the line is already on disk.
    assert json.loads(trace.read_text().splitlines()[0])["type"] == "result"
    writer.close()
    assert time.time() - read_trace(trace)[0].time < 60
