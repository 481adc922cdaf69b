"""Guided solving: a phase hint steers the solver, never the verdict's trust."""

from __future__ import annotations

import random

import pytest

from agent.gnn.guide import phase_hint
from verifiers.base import VerifyBudget
from verifiers.phases import PhaseHint
from verifiers.sat import read_dimacs, solve_cnf

BUDGET = VerifyBudget(timeout_s=60)


def formula(shared_data, name: str) -> tuple[int, list[list[int]]]:
    return read_dimacs((shared_data / "satlib" / name).read_text())


@pytest.mark.parametrize("name, answer", [("uf20-91/uf20-01.cnf", "sat"), ("uuf50-218/uuf50-01.cnf", "unsat"),
                                          ("pigeonhole/hole6.cnf", "unsat")])
def test_predict_then_solve_gives_certified_verdicts(shared_data, name, answer):
    variables, clauses = formula(shared_data, name)
    hint = phase_hint(variables, clauses)
    assert len(hint.phases) == variables
    outcome = solve_cnf(clauses, BUDGET, phases=hint)
    assert outcome.status == answer and outcome.certified
    assert outcome.stats["phases_given"] == variables and outcome.stats["conflicts"] >= 0


def adversarial_hints(variables: int, model: list[int]) -> list[PhaseHint]:
    """Hints that disagree with a known model everywhere, at random, or name variables the formula lacks."""
    rng = random.Random(7)
    opposite = [-literal for literal in model]
    noise = [v if rng.random() < 0.5 else -v for v in range(1, variables + 1)]
    beyond = list(range(1, variables + 40))
    return [PhaseHint(phases=tuple(phases), confidences=tuple([1.0] * len(phases)))
            for phases in (opposite, noise, beyond)]


@pytest.mark.parametrize("name, answer", [("uf50-218/uf50-01.cnf", "sat"), ("uuf50-218/uuf50-02.cnf", "unsat")])
def test_wrong_hints_never_change_the_verdict_or_its_trust(shared_data, name, answer):
    variables, clauses = formula(shared_data, name)
    plain = solve_cnf(clauses, BUDGET)
    assert plain.status == answer and plain.certified
    model = plain.model or [v for v in range(1, variables + 1)]
    for hint in adversarial_hints(variables, model):
        guided = solve_cnf(clauses, BUDGET, phases=hint)
        assert guided.status == answer and guided.certified
        if answer == "sat":
            true = set(guided.model)
            assert all(any(literal in true for literal in clause) for clause in clauses)
        else:
            assert guided.proof is not None and guided.proof.certified


def test_threshold_hands_over_only_confident_phases(shared_data):
    variables, clauses = formula(shared_data, "uf20-91/uf20-01.cnf")
    hint = PhaseHint(phases=tuple(range(1, variables + 1)), confidences=tuple([0.9] * 5 + [0.1] * (variables - 5)),
                     threshold=0.5)
    outcome = solve_cnf(clauses, BUDGET, phases=hint)
    assert outcome.certified and outcome.stats["phases_given"] == 5


@pytest.mark.parametrize("task, answer", [("uf20-01.yaml", "SAT"), ("hole6.yaml", "UNSAT")])
def test_solve_with_gnn_guide_traces_the_proposal_and_the_solver_statistics(repo, tmp_path, capsys, task, answer):
    from agent.__main__ import main
    from agent.trace import read_trace

    assert main(["solve", str(repo / "tasks" / "cnf" / task), "--guide", "gnn", "--guide-threshold", "0.2",
                 "--runs-dir", str(tmp_path)]) == 0
    assert f"answer: {answer}" in capsys.readouterr().out
    events = read_trace(next(tmp_path.glob("*/trace.jsonl")))
    proposal = next(event for event in events if event.type == "proposal")
    verdict = next(event for event in events if event.type == "verdict").verdict
    assert proposal.source == "gnn" and proposal.payload_type == "PhaseHint"
    assert proposal.payload["threshold"] == 0.2 and proposal.payload["inference_s"] > 0
    assert verdict.status == "accepted" and verdict.certified and verdict.details.answer == answer
    assert verdict.details.conflicts is not None and verdict.details.decisions is not None
    assert 0 < verdict.details.phases_given <= len(proposal.payload["phases"])


def test_verifier_with_an_adversarial_payload_stays_certified(shared_data):
    from agent.session import Proposal
    from verifiers.sat import CnfVerifier

    text = (shared_data / "satlib" / "uf50-218" / "uf50-02.cnf").read_text()
    variables, clauses = read_dimacs(text)
    plain = solve_cnf(clauses, BUDGET)

    class Task:
        dimacs = text
        solver = None

    for hint in adversarial_hints(variables, plain.model):
        proposal = Proposal(1, 0, "gnn", raw=hint.model_dump_json(), text="", payload=hint)
        verdict = CnfVerifier().verify(Task(), proposal, BUDGET)
        assert verdict.status == "accepted" and verdict.certified and verdict.details.answer == "SAT"
        assert verdict.details.phases_given == variables


# --- SAT encoding tasks: the verifier asks the GNN (a phase advisor) for the emitted formula's phases.


@pytest.mark.parametrize("task_name, family, answer", [("flat30-1", "colouring", "SAT"),
                                                       ("hole6", "pigeonhole", "UNSAT")])
def test_guided_encoding_task_stays_certified_and_traces_the_advice(repo, tmp_path, task_name, family, answer):
    from agent.llm.scripted import ScriptedProposer
    from agent.loop import RunSettings, run_task
    from agent.tasks import load_task
    from agent.trace import read_trace
    from tests.encoding_references import SAT

    task = load_task(repo / "tasks" / "sat" / f"{task_name}.yaml")
    settings = RunSettings(sources=("llm",), samples=1, strategies={"encoding": {"guide": "gnn"}})
    result = run_task(task, settings, ScriptedProposer([SAT[family]]), tmp_path / "trace.jsonl", "guided")
    assert result.status == "solved" and result.certified and result.answer.startswith(answer)
    verdict = next(event for event in read_trace(tmp_path / "trace.jsonl") if event.type == "verdict").verdict
    solve = verdict.details.solve
    assert verdict.certified and solve.phases_given > 0 and solve.phase_source.startswith("phase-gnn")
    assert solve.phase_skipped is None and solve.phase_inference_s > 0
    assert solve.conflicts is not None and solve.decisions is not None and solve.propagations is not None
    if answer == "UNSAT":
        assert solve.proof is not None and solve.proof.valid


def _opposite(variables, clauses, stop=None):
    return PhaseHint(phases=tuple(-v for v in range(1, variables + 1)), confidences=(1.0,) * variables)


def _beyond(variables, clauses, stop):
    return PhaseHint(phases=tuple(range(1, variables + 50)), confidences=(1.0,) * (variables + 49))


def _raises(variables, clauses, stop):
    raise RuntimeError("advice went wrong")


def _slow(variables, clauses, stop):
    stop.wait(30)  # told to stop when the verifier stops waiting
    return _opposite(variables, clauses)


def _not_a_hint(variables, clauses, stop):
    return [1, 2, 3]


def _edits_clauses(variables, clauses, stop):
    clauses[0].clear()  # the clauses are tuples: this raises, and the formula stays as it was
    return _opposite(variables, clauses)


@pytest.mark.parametrize("task_name, family", [("flat30-1", "colouring"), ("hole6", "pigeonhole"),
                                               ("queens-3", "queens")])
def test_an_adversarial_advisor_changes_nothing_in_the_verdict(repo, task_name, family):
    from agent.tasks import load_task
    from tests.encoding_references import SAT
    from verifiers.base import REGISTRY
    from verifiers.phases import TakesPhaseAdvisor

    task = load_task(repo / "tasks" / "sat" / f"{task_name}.yaml")
    verifier = REGISTRY.for_kind(task.kind)
    assert isinstance(verifier, TakesPhaseAdvisor)
    plain = verifier.verify(task, SAT[family], VerifyBudget(timeout_s=20))
    assert plain.status == "accepted" and plain.certified and plain.details.solve.phase_source is None
    skipped = {_raises: "failed", _slow: "longer than", _not_a_hint: "not a PhaseHint", _edits_clauses: "failed"}
    for advisor in (_opposite, _beyond, _raises, _slow, _not_a_hint, _edits_clauses):
        verdict = verifier.with_phase_advisor(advisor).verify(task, SAT[family], VerifyBudget(timeout_s=20))
        assert (verdict.status, verdict.certified, verdict.details.answer) == \
               (plain.status, plain.certified, plain.details.answer), advisor.__name__
        solve = verdict.details.solve
        if advisor in skipped:
            assert skipped[advisor] in solve.phase_skipped and solve.phases_given == 0, advisor.__name__
        else:
            assert solve.phase_skipped is None and solve.phases_given > 0, advisor.__name__
    assert verifier.phase_advisor is None  # the registered verifier was never changed


def test_advice_is_skipped_past_the_size_caps(monkeypatch):
    from verifiers import phases

    monkeypatch.setattr(phases, "MAX_ADVISED_LITERALS", 9)
    advice = phases.ask_advisor(_opposite, 5, [[1, 2, 3], [-1, -2, 4], [5, -3, 2, 1]], 5.0)
    assert advice.hint is None and "past the advice caps" in advice.skipped
    assert phases.ask_advisor(_opposite, 5, [[1, 2, 3]], 5.0).hint is not None


def test_an_advisor_past_its_time_is_told_to_stop():
    import threading
    import time

    from verifiers import phases

    stopped_after: list[float] = []

    def slow(variables, clauses, stop):
        started = time.perf_counter()
        stop.wait(30)
        stopped_after.append(time.perf_counter() - started)
        return _opposite(variables, clauses)

    advice = phases.ask_advisor(slow, 3, [[1, 2], [-3]], 0.2)
    assert advice.hint is None and "longer than" in advice.skipped
    for thread in threading.enumerate():
        if thread.name == "phase-advisor":
            thread.join(10)
    assert stopped_after and stopped_after[0] < 10  # it did not wait out its 30 s


def test_the_gnn_advisor_gives_up_when_told_to_stop():
    import threading

    from agent.gnn.guide import phase_advisor
    from agent.gnn.model import Cancelled

    advise = phase_advisor()
    clauses = [[1, -2, 3], [-1, 2], [2, 3]]
    assert len(advise(3, clauses, threading.Event()).phases) == 3
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        advise(3, clauses, stop)


def test_guide_option_reaches_both_strategies():
    from agent.__main__ import build_parser, _strategy_settings

    arguments = build_parser().parse_args(["solve", "x.yaml", "--guide", "gnn", "--guide-threshold", "0.3"])
    given = _strategy_settings(arguments)
    assert given["cnf"] == given["encoding"] == {"guide": "gnn", "guide_threshold": 0.3}
