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
