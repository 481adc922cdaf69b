"""The fork server that runs trusted solver code on untrusted data in child processes (verifiers/child.py)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.ordinary_user import WHO, as_ordinary_user
from verifiers.child import ChildCall, ChildFailure, ChildTimeout, call_in_child

# Targets the children run (imported by name in the child).


def echo(value: str) -> str:
    return value


def preloaded() -> list[str]:
    return sorted(name for name in ("cvc5", "verifiers.invariant", "z3") if name in sys.modules)


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def niceness() -> int:
    return os.nice(0)


def fail() -> None:
    raise ValueError("bad   input")


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _answers() -> dict:
    answers: dict = {"echo": len(call_in_child("tests.test_child:echo", {"value": "x" * 300_000}, 30)),
                     "preloaded": call_in_child("tests.test_child:preloaded", {}, 30),
                     "niceness": (os.nice(0), call_in_child("tests.test_child:niceness", {}, 30),
                                  ChildCall("tests.test_child:niceness", {}, 30, niceness=5).result())}
    started = time.monotonic()
    try:
        call_in_child("tests.test_child:sleep_for", {"seconds": 60}, 1.0)
    except ChildTimeout as timeout:
        answers["timeout"] = (str(timeout), time.monotonic() - started)
    for name in ("fail", "crash"):
        try:
            call_in_child(f"tests.test_child:{name}", {}, 30)
        except ChildFailure as failure:
            answers[name] = str(failure)
    return answers


@pytest.mark.parametrize("who", WHO)
def test_a_child_answers_times_out_fails_or_crashes_and_each_is_one_line(who: str) -> None:
    answers = _answers() if who == "root" else as_ordinary_user(_answers)
    assert answers["echo"] == 300_000  # more than a pipe holds
    assert answers["preloaded"] == ["cvc5", "verifiers.invariant", "z3"]  # forked with them loaded
    ours, plain, lowered = answers["niceness"]  # background work can yield the processor
    assert plain == ours and lowered == min(19, ours + 5)
    message, waited = answers["timeout"]
    assert message == "ran past its 1 s limit" and waited < 30  # stopped by its alarm, not waited for
    assert answers["fail"] == "failed: ValueError: bad input"
    assert answers["crash"] == "crashed (SIGSEGV)"


def test_a_call_cancelled_before_the_fork_server_has_started_it_does_not_wait_for_it(tmp_path) -> None:
    # A fork server still importing (here a module that takes 3 s to import) has not forked the
    # worker yet: cancel() returns at once, and the worker is killed as soon as it names itself.
    import subprocess
    import textwrap

    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(3)\n")
    script = textwrap.dedent("""
        import time
        from verifiers import child
        child.preload("slow_to_import")
        call = child.ChildCall("tests.test_child:sleep_for", {"seconds": 60}, 120)
        started = time.monotonic()
        call.cancel()
        print(round(time.monotonic() - started, 2))
        try:
            call.result()
        except child.ChildFailure as failure:
            print(failure, round(time.monotonic() - started, 1))
    """)
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(tmp_path)])}
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env=environment, cwd=root)
    cancelled_in, ending = finished.stdout.splitlines()
    assert float(cancelled_in) < 1.0, finished.stdout  # not the import's 3 s
    message, ended_after = ending.rsplit(" ", 1)
    assert message == "crashed (SIGKILL)" and float(ended_after) < 30, finished.stdout  # not the 60 s sleep
