"""Hostile proposals against the real verifiers: the verdict is unaffected or a rejection, nothing
the program started outlives the time limit, nothing outside its directory changes, and the next
proposal is verified as usual (the run goes on)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from tests.encoding_references import SAT, SMT
from tests.test_sandbox import RENAME, processes_named
from verifiers.base import REGISTRY, VerifyBudget

SHORT = VerifyBudget(timeout_s=4)  # the sandbox's wall clock is cut to what the verifier has left


@pytest.fixture(scope="module")
def queens8(repo):
    return load_task(repo / "tasks" / "sat" / "queens-8.yaml")


@pytest.fixture(scope="module")
def queens3_smt(repo):
    return load_task(repo / "tasks" / "smt" / "queens-3.yaml")


def verify(task, program, budget=VerifyBudget(timeout_s=60)):
    return REGISTRY.for_kind(task.kind).verify(task, program, budget)


def assert_the_run_goes_on(task, reference):
    verdict = verify(task, reference)
    assert verdict.status == "accepted", verdict.feedback


HOSTILE_SAT = {
    # The child's own PySAT writes an empty formula instead of the real one.
    "monkeypatches pysat": "import pysat.formula\npysat.formula.CNF.to_dimacs = lambda self: 'p cnf 0 0'\n" + SAT["queens"],
    # Replaces the emit function's checks and the verifier classes it can reach: only the child changes.
    "monkeypatches the verifier": "import sys\nfor name, module in list(sys.modules.items()):\n"
                                  "    if name.startswith('verifiers'):\n        module.__dict__.clear()\nemit([], {})\n",
    "prints ACCEPTED and unsat": "print('ACCEPTED')\nprint('unsat')\nprint('s UNSATISFIABLE')\nimport sys\nsys.exit(0)\n",
    "calls os._exit(0)": "import os\nos._exit(0)\n",
    "claims UNSAT with the empty clause": "pool = IDPool()\n[pool.id(('queen', r, c)) for r in range(1, 9) for c in range(1, 9)]\nemit([[]], pool)\n",
    "allocates 10 GB": "x = bytearray(10 * 2**30)\n" + SAT["queens"],
    "forges a formula file and an error file": "open('formula0.cnf', 'w').write('p cnf 1 1\\n1 0\\n')\n"
                                               "open('variables0.json', 'w').write('[]')\nimport os\nos._exit(0)\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SAT))
def test_hostile_sat_programs_are_rejected(queens8, name):
    verdict = verify(queens8, HOSTILE_SAT[name])
    assert verdict.status == "rejected", verdict.feedback
    assert_the_run_goes_on(queens8, SAT["queens"])


def test_a_program_that_loops_forever_is_stopped_within_the_limit(queens8):
    started = time.monotonic()
    verdict = verify(queens8, "while True:\n    pass\n", SHORT)
    assert time.monotonic() - started < SHORT.timeout_s + 5
    assert verdict.status == "rejected" and "limit" in verdict.feedback
    assert_the_run_goes_on(queens8, SAT["queens"])


def test_a_fork_bomb_is_rejected_and_leaves_nothing_behind(queens8):
    program = RENAME.format(name="vl-hostile") + "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    verdict = verify(queens8, program, SHORT)
    assert time.monotonic() - started < SHORT.timeout_s + 5
    assert verdict.status == "rejected"
    assert processes_named("vl-hostile") == []
    assert_the_run_goes_on(queens8, SAT["queens"])


def test_writes_outside_its_directory_change_nothing(queens8, tmp_path, repo):
    os.chmod(tmp_path, 0o777)
    targets = [tmp_path / "owned.txt", repo / "tasks" / "sat" / "queens-8.yaml"]
    before = targets[1].read_bytes()
    program = "".join(f"try:\n    open({str(path)!r}, 'w').write('owned')\nexcept OSError:\n    pass\n" for path in targets)
    verdict = verify(queens8, program + SAT["queens"])
    assert verdict.status == "accepted"  # unaffected: the writes failed, the encoding is right
    assert not targets[0].exists() and targets[1].read_bytes() == before


def test_a_network_connection_fails_and_the_verdict_is_unaffected(queens8):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    program = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\n"
               "except OSError:\n    pass\n") + SAT["queens"]
    verdict = verify(queens8, program)
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    assert verdict.status == "accepted"


def test_monkeypatching_z3_in_the_child_cannot_fake_unsat(queens3_smt):
    # The child's z3 prints `false` for any formula: an UNSAT claim for every instance.
    program = "import z3\nz3.Solver.sexpr = lambda self: '(assert false)'\n" + SMT["queens"]
    verdict = verify(queens3_smt, program)
    assert verdict.status == "rejected" and verdict.details.stage == "faithfulness"
    assert_the_run_goes_on(queens3_smt, SMT["queens"])


def test_a_run_with_hostile_proposals_still_solves_the_task(repo, tmp_path):
    task = load_task(repo / "tasks" / "sat" / "queens-8.yaml")
    hostile = [HOSTILE_SAT["prints ACCEPTED and unsat"], HOSTILE_SAT["calls os._exit(0)"], "import os\nos.fork()\nwhile True: pass\n"]
    proposer = ScriptedProposer(hostile + [SAT["queens"]])
    settings = RunSettings(sources=("llm",), samples=4, max_proposals=4, timeout_s=120)
    task = task.model_copy(update={"budget": task.budget.model_copy(update={"verifier_timeout_s": 4.0})})
    result = run_task(task, settings, proposer, tmp_path / "trace.jsonl", "hostile")
    assert result.status == "solved" and result.certified
    assert result.proposals == 4 and result.answer.startswith("SAT: queens at")
    assert Path(tmp_path / "trace.jsonl").read_text().count('"status":"rejected"') == 3
