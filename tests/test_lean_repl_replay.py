"""The REPL driver against the Lean REPL's own recorded transcripts.

Each transcript of ../shared/data/lean_repl is fed through the driver's real path: LeanInteract starts
`lake env <repl>` in the project, frames the JSON requests and reads the replies; the "REPL" is a player
of the recorded replies (tests/lean_replay_server.py), which also checks that every request is the
recorded command. Every reply must parse, and the parsed objects must say what Lean said.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lean_interact import (
    Command,
    FileCommand,
    PickleEnvironment,
    PickleProofState,
    ProofStep,
    UnpickleEnvironment,
    UnpickleProofState,
)
from lean_interact.interface import CommandResponse, ProofStepResponse
from lean_interact.interface import LeanError as ReplError

from tests.conftest import shared_data_dir
from tests.lean_support import recorded, replay_project, replies_of, transcripts
from verifiers.lean.repl import ReplDriver, ReplProcess, convert_message, step_result
from verifiers.lean.types import LeanCrashed, LeanError, LeanTimeout, ProofFinished, TacticState

DATA = shared_data_dir()
ALL = transcripts(DATA) if DATA else []
TIMEOUT_S = 20.0


def name(path: Path) -> str:
    return str(path.relative_to(DATA / "lean_repl")) if DATA else path.name


def typed_request(command: dict):
    """A transcript command as LeanInteract's typed request (what the driver itself sends)."""
    options = {key: command[alias] for key, alias in (("all_tactics", "allTactics"), ("root_goals", "rootGoals"),
                                                     ("infotree", "infotree")) if alias in command}
    if "cmd" in command:
        return Command(cmd=command["cmd"], env=command.get("env"), **options)
    if "path" in command:
        return FileCommand(path=command["path"], env=command.get("env"), **options)
    if "tactic" in command:
        return ProofStep(tactic=command["tactic"], proof_state=command["proofState"])
    if "pickleTo" in command:
        if "proofState" in command:
            return PickleProofState(pickle_to=command["pickleTo"], proof_state=command["proofState"])
        return PickleEnvironment(pickle_to=command["pickleTo"], env=command["env"])
    if "unpickleEnvFrom" in command:
        return UnpickleEnvironment(unpickle_env_from=command["unpickleEnvFrom"])
    if "unpickleProofStateFrom" in command:
        return UnpickleProofState(unpickle_proof_state_from=command["unpickleProofStateFrom"], env=command.get("env"))
    raise AssertionError(f"unknown command {command}")


def assert_positions(pos, end_pos, raw: dict) -> None:
    for key, value in (("pos", pos), ("endPos", end_pos)):
        if key in raw:
            assert value is not None and (value.line, value.column) == (raw[key]["line"], raw[key]["column"])
        else:
            assert value is None


def assert_says_what_lean_said(response, raw: dict) -> None:
    if set(raw) == {"message"}:
        assert isinstance(response, ReplError) and response.message == raw["message"]
        return
    assert isinstance(response, (CommandResponse, ProofStepResponse))
    # Nothing lost: the typed reply dumps back to exactly the recorded JSON.
    assert response.model_dump(mode="json", by_alias=True, exclude_unset=True) == raw
    if "env" in raw:
        assert isinstance(response, CommandResponse) and response.env == raw["env"]
    if "proofState" in raw:
        assert isinstance(response, ProofStepResponse)
        assert response.proof_state == raw["proofState"] and response.goals == raw.get("goals", [])
        assert response.proof_status == raw["proofStatus"]
    for message, raw_message in zip(response.messages, raw.get("messages", []), strict=True):
        converted = convert_message(message)
        assert converted.severity == raw_message["severity"] and converted.text == raw_message["data"]
        assert_positions(converted.pos, converted.end_pos, raw_message)
    for sorry, raw_sorry in zip(response.sorries, raw.get("sorries", []), strict=True):
        assert sorry.goal == raw_sorry["goal"] and sorry.proof_state == raw_sorry.get("proofState")
        assert_positions(sorry.start_pos, sorry.end_pos, raw_sorry)


@pytest.mark.skipif(not ALL, reason="the shared benchmark data (../shared/data/lean_repl) is not present")
@pytest.mark.parametrize("commands", ALL, ids=name)
def test_every_transcript_replays_through_the_driver(commands: Path, tmp_path: Path) -> None:
    if replies_of(commands) is None:
        # The REPL's own suite keeps a few inputs without recorded replies; their requests must still
        # be valid typed requests, but there is nothing recorded to compare with.
        for command in recorded(commands)[0]:
            typed_request(command)
        pytest.skip(f"{name(commands)}: the REPL's test suite has no recorded replies for it")
    project, repl_dir = replay_project(tmp_path, commands)
    process = ReplProcess(project, repl_dir, memory_limit_mb=0)
    sent, replies = recorded(commands)
    assert len(sent) == len(replies), "one recorded reply per command"
    try:
        for command, reply in zip(sent, replies):
            response = process.request(typed_request(command), TIMEOUT_S)
            assert_says_what_lean_said(response, json.loads(reply))
            if "tactic" in command:
                assert step_result(response, 0).kind in ("state", "finished", "error")
    finally:
        process.close()
    assert process.restarts == 0


def driver_for(tmp_path: Path, transcript: str, *fault: str) -> ReplDriver:
    if DATA is None:
        pytest.skip("the shared benchmark data is not present")
    project, repl_dir = replay_project(tmp_path, DATA / "lean_repl" / transcript, *fault)
    return ReplDriver(ReplProcess(project, repl_dir, memory_limit_mb=0))


def test_a_whole_proof_step_by_step(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, "proof_branching.in")
    statement = "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r"
    root = driver.start("", statement, TIMEOUT_S)
    assert root.goals == ("p q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ p ∧ r",)
    # Model-written meta-code is refused by the driver itself: the player would fail on an unrecorded request.
    refused = driver.run_tac(root, "run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| trivial))", TIMEOUT_S)
    assert isinstance(refused, LeanError) and refused.message.startswith("refused before Lean")
    split = driver.run_tac(root, "apply And.intro", TIMEOUT_S)
    assert isinstance(split, TacticState) and len(split.goals) == 2
    assert split.goals[0].startswith("case left") and split.goals[1].startswith("case right")
    left = driver.run_tac(split, "exact h1.left", TIMEOUT_S)
    assert isinstance(left, TacticState) and left.goals == ("case right\np q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ r",)
    applied = driver.run_tac(left, "apply h2", TIMEOUT_S)
    assert isinstance(applied, TacticState) and applied.goals[0].endswith("⊢ q")
    done = driver.run_tac(applied, "exact h1.right", TIMEOUT_S)
    assert isinstance(done, ProofFinished)
    driver.close()


@pytest.mark.parametrize("transcript, tactic, says", [
    ("invalid_tactic.in", "exact my_fake_premise", "Unknown identifier `my_fake_premise`"),
    ("unknown_tactic.in", "exat 42", "unknown tactic"),
])
def test_a_failing_tactic_is_a_lean_error(tmp_path: Path, transcript: str, tactic: str, says: str) -> None:
    driver = driver_for(tmp_path, transcript)
    statement = json.loads((DATA / "lean_repl" / transcript).read_text().split("\n\n")[0])["cmd"]
    root = driver.start("", statement.removesuffix(" := by sorry"), TIMEOUT_S)
    result = driver.run_tac(root, tactic, TIMEOUT_S)
    assert isinstance(result, LeanError) and says in result.message
    driver.close()


def recorded_step(transcript: str, index: int):
    _, replies = recorded(DATA / "lean_repl" / transcript)
    return ProofStepResponse.model_validate(json.loads(replies[index]))


@pytest.mark.skipif(DATA is None, reason="the shared benchmark data is not present")
def test_recorded_steps_short_of_a_clean_proof_are_errors() -> None:
    # Kernel failure after `apply ?succ`: "Error: kernel type check failed".
    kernel = step_result(recorded_step("app_type_mismatch2.in", 4), 0)
    assert isinstance(kernel, LeanError) and "kernel type check failed" in kernel.message
    # `have h : x = 1 := sorry` leaves a sorry behind.
    assert isinstance(step_result(recorded_step("sorry_hypotheses.in", 1), 0), LeanError)
    # An unassigned placeholder: "Incomplete: contains metavariable(s)" with no goals left.
    placeholder = step_result(recorded_step("Mathlib/placeholder_synthesis.in", 4), 0)
    assert isinstance(placeholder, LeanError) and "metavariables" in placeholder.message
    # The REPL's error recovery: an unknown identifier closes the goal with a sorry.
    assert isinstance(step_result(recorded_step("invalid_tactic.in", 1), 0), LeanError)
    # And the clean ones.
    assert isinstance(step_result(recorded_step("readme.in", 2), 7), ProofFinished)
    state = step_result(recorded_step("Mathlib/H20231115.in", 2), 7)
    assert isinstance(state, TacticState) and state.id == 7 and len(state.goals) == 2


def test_a_crashed_repl_is_restarted_and_states_are_replayed(tmp_path: Path) -> None:
    # The first process dies on the third request; the driver raises, then rebuilds the state.
    marker = tmp_path / "launched"
    driver = driver_for(tmp_path, "proof_branching.in", "--once", str(marker), "--crash-at", "3")
    root = driver.start("", "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r", TIMEOUT_S)
    split = driver.run_tac(root, "apply And.intro", TIMEOUT_S)
    with pytest.raises(LeanCrashed):
        driver.run_tac(split, "exact h1.left", TIMEOUT_S)
    assert driver.process.restarts == 1
    left = driver.run_tac(split, "exact h1.left", TIMEOUT_S)  # replays cmd, apply And.intro, then this
    assert isinstance(left, TacticState) and left.goals[0].endswith("⊢ r")
    assert driver.process.generation == 1
    driver.close()


def test_a_hanging_repl_times_out_and_is_restarted(tmp_path: Path) -> None:
    marker = tmp_path / "launched"
    driver = driver_for(tmp_path, "proof_branching.in", "--once", str(marker), "--hang-at", "2")
    root = driver.start("", "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r", TIMEOUT_S)
    with pytest.raises(LeanTimeout):
        driver.run_tac(root, "apply And.intro", 1.0)
    assert driver.process.last_restart_reason == "time-out"
    split = driver.run_tac(root, "apply And.intro", TIMEOUT_S)
    assert isinstance(split, TacticState) and len(split.goals) == 2
    driver.close()


def test_memory_growth_past_the_limit_restarts_the_process(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, "proof_branching.in")
    driver.process.memory_limit_mb = 1  # any process is above 1 MiB: dropped after the request
    root = driver.start("", "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r", TIMEOUT_S)
    assert driver.process.restarts == 1 and "memory" in driver.process.last_restart_reason
    driver.process.memory_limit_mb = 0
    split = driver.run_tac(root, "apply And.intro", TIMEOUT_S)  # a fresh process: root replayed first
    assert isinstance(split, TacticState) and len(split.goals) == 2
    driver.close()


def test_every_request_needs_a_time_limit(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, "tactic_sorry.in")
    with pytest.raises(ValueError):
        driver.process.request(Command(cmd="def f : Nat := by sorry"), 0)


def test_search_steps_can_carry_lean_s_own_heartbeat_limit(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, "tactic_sorry.in")
    driver.heartbeats = 400_000
    assert driver._limited("nlinarith [sq_nonneg x]") == "set_option maxHeartbeats 400000 in\nnlinarith [sq_nonneg x]"
    from verifiers.lean.trust import scan_proof

    assert scan_proof(driver._limited("nlinarith [sq_nonneg x]")) == []
