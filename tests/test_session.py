"""The session and the strategy registry: one proposal object from the proposer to the trace, the
budget's end never losing a completion, and trace headers that are enough to run a task again.
Proposers are scripted; every verifier is the real one (Lean's tactic steps excepted, see
tests/test_lean_search.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.llm.base import Completion
from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task, settings_from_header
from agent.search.registry import get_strategy, model_free_kinds, strategies, strategy_for
from agent.session import Session
from agent.tasks import load_task
from agent.trace import FeaturesEvent, Header, ProposalEvent, TraceWriter, VerdictEvent, read_trace
from tests.encoding_references import SAT
from tests.test_lean_search import ROOT, StateMachineDriver
from tests.test_logic import BOOKS
from verifiers.base import REGISTRY, proposal_payload
from verifiers.details import CnfDetails, EncodingDetails, InvariantDetails, LeanDetails, LogicDetails
from verifiers.lean.verifier import LeanVerifier
from verifiers.sat import CnfVerifier

REPO = Path(__file__).resolve().parent.parent
CODE2INV_1 = REPO / "tasks" / "code2inv" / "1.yaml"
INVARIANT_1 = "x >= 1 && y >= 0 && x >= y"


def test_a_model_slower_than_the_budget_leaves_its_completions_in_the_trace(tmp_path: Path) -> None:
    proposer = ScriptedProposer([INVARIANT_1, "x >= y"], delay_s=1.5)
    settings = RunSettings(sources=("llm",), samples=2, timeout_s=1.0, strategies={"invariant": {"refute": False}})
    trace = tmp_path / "trace.jsonl"
    result = run_task(load_task(CODE2INV_1), settings, proposer, trace, "slow", CODE2INV_1)
    events = read_trace(trace)
    proposals = [event for event in events if isinstance(event, ProposalEvent)]
    assert [proposal.text for proposal in proposals] == [INVARIANT_1, "x >= y"]
    assert all(proposal.unverified and "1 s time limit" in proposal.unverified for proposal in proposals)
    assert not [event for event in events if isinstance(event, VerdictEvent)]  # never verified, never accepted
    assert result.status == "unsolved" and result.message.startswith("budget:") and "time limit" in result.message
    assert result.proposals == result.unverified == 2 and result.verifier_calls == 0


def test_an_endpoint_that_times_out_with_the_budget_ends_the_run_unsolved(tmp_path: Path) -> None:
    import time

    from agent.llm.base import ModelError

    class TimingOut(ScriptedProposer):
        def propose(self, prompt, n, settings):
            time.sleep(settings.time_limit_s)  # as the OpenAI proposer does when its requests time out
            raise ModelError("endpoint http://127.0.0.1:1/v1 failed: timed out")

    settings = RunSettings(sources=("llm",), samples=1, timeout_s=0.5, strategies={"invariant": {"refute": False}})
    result = run_task(load_task(CODE2INV_1), settings, TimingOut([]), tmp_path / "t.jsonl", "endpoint")
    assert result.status == "unsolved" and "time limit" in result.message and "generating" in result.message


class LimitRecording(ScriptedProposer):
    """Records the generation time limit of every call."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(texts)
        self.limits: list[float] = []

    def propose(self, prompt, n, settings):
        self.limits.append(settings.time_limit_s)
        return super().propose(prompt, n, settings)


def test_the_generation_limit_is_the_time_the_task_has_left(tmp_path: Path) -> None:
    settings = RunSettings(sources=("llm",), samples=1, timeout_s=3.0, strategies={"invariant": {"refute": False}})
    proposer = LimitRecording(["x >= y"])
    run_task(load_task(CODE2INV_1), settings, proposer, tmp_path / "t.jsonl", "limit")
    assert proposer.limits and 0 < proposer.limits[0] <= 3.0


def test_the_generation_limit_option_replaces_the_searchs_own_and_is_in_the_header(tmp_path: Path) -> None:
    settings = RunSettings(sources=("llm",), samples=1, timeout_s=900.0, generation_limit_s=400.0,
                           strategies={"invariant": {"refute": False}})
    proposer = LimitRecording(["x >= y"])
    run_task(load_task(CODE2INV_1), settings, proposer, tmp_path / "t.jsonl", "limit")
    assert proposer.limits and 390 < proposer.limits[0] <= 400.0  # the invariant search's own limit is 60 s
    assert settings_from_header(read_trace(tmp_path / "t.jsonl")[0]).generation_limit_s == 400.0


def test_a_completion_carries_its_extras_to_the_trace(tmp_path: Path) -> None:
    features = {"layer": 3, "top_k": [[17, 2.5], [4, 1.0]]}
    completion = Completion(INVARIANT_1, -3.5, 9, extras={"features": features})
    settings = RunSettings(sources=("llm",), samples=1, strategies={"invariant": {"refute": False}})
    trace = tmp_path / "trace.jsonl"
    result = run_task(load_task(CODE2INV_1), settings, ScriptedProposer([completion]), trace, "extras")
    assert result.status == "solved"
    events = read_trace(trace)[1:]
    proposal, feature_event, verdict = events[0], events[1], events[2]
    assert isinstance(proposal, ProposalEvent) and proposal.logprob == -3.5 and proposal.tokens == 9
    assert isinstance(feature_event, FeaturesEvent)
    assert feature_event.proposal_id == proposal.id and feature_event.features == features
    assert isinstance(verdict, VerdictEvent) and verdict.proposal_id == proposal.id


class SolverChoice(BaseModel):
    """A structured proposal: which solver to run, as a non-LLM source would give it."""

    solver: str


class RecordingCnfVerifier(CnfVerifier):
    """The real CNF verifier, keeping the proposal objects it was given."""

    received: list[Any] = []

    def verify(self, task, proposal, budget):
        self.received.append(proposal)
        return super().verify(task, proposal, budget)


def test_a_payload_proposal_reaches_the_verifier_typed(tmp_path: Path) -> None:
    task = load_task(REPO / "tasks" / "cnf" / "flat30-1.yaml")
    verifier = RecordingCnfVerifier()
    with TraceWriter(tmp_path / "trace.jsonl") as trace:
        session = Session(task, verifier, None, RunSettings(), task.budget, trace)
        choice = SolverChoice(solver="cadical153")
        proposal = session.propose(choice, source="symbolic", step=0, text=choice.solver)
        verdict = session.verify(proposal)
    assert verdict.status == "accepted" and isinstance(verdict.details, CnfDetails) and verdict.details.answer == "SAT"
    assert proposal_payload(verifier.received[0], SolverChoice) == choice
    event = [e for e in read_trace(tmp_path / "trace.jsonl") if isinstance(e, ProposalEvent)][0]
    assert event.payload == {"solver": "cadical153"} and event.payload_type == "SolverChoice"


def test_verdict_details_are_typed_in_the_trace_and_its_schema(tmp_path: Path) -> None:
    settings = RunSettings(sources=("llm",), samples=2, strategies={"invariant": {"refute": False}})
    trace = tmp_path / "trace.jsonl"
    run_task(load_task(CODE2INV_1), settings, ScriptedProposer(["x >= 2", INVARIANT_1]), trace, "typed")
    verdicts = [event.verdict for event in read_trace(trace) if isinstance(event, VerdictEvent)]
    assert all(isinstance(verdict.details, InvariantDetails) for verdict in verdicts)
    assert verdicts[0].details.checks.initiation.status == "fails"
    assert verdicts[0].details.checks.initiation.failing_conjuncts == ["x >= 2"]
    assert verdicts[0].details.checks.initiation.state is not None
    from agent.trace import event_schema

    definitions = event_schema()["$defs"]
    for model in (InvariantDetails, CnfDetails, EncodingDetails, LogicDetails, LeanDetails):
        assert model.__name__ in definitions
    assert "failing_conjuncts" in definitions["InvariantCheck"]["properties"]
    assert "faithfulness" in definitions["EncodingDetails"]["properties"]


def test_the_registry_serves_each_kind_once_and_knows_which_need_no_model() -> None:
    kinds = [kind for registered in strategies() for kind in registered.kinds]
    assert len(kinds) == len(set(kinds))
    assert {"invariant", "cnf", "lean", "sat_encoding", "smt_encoding", "logic"} <= set(kinds)
    assert model_free_kinds() == {"cnf"}
    assert strategy_for("lean").settings.model_fields.keys() == {"mode", "expansions"}
    assert get_strategy("invariant").settings.model_fields.keys() == {
        "refute", "refute_depth", "horn_share", "horn_start_s", "constrained"}


# One run per registered strategy: a task, a script, and settings away from the defaults.
def _lean_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = StateMachineDriver({ROOT: {"norm_num": "⊢ next"}, "⊢ next": {"linarith": None}})
    monkeypatch.setattr(LeanVerifier, "open_driver", lambda self, task, which="repl": driver)
    monkeypatch.delenv("VERILOOP_LEAN_PROJECT", raising=False)


RUNS: dict[str, dict[str, Any]] = {
    "invariant": dict(task=CODE2INV_1, script=["x >= 2", "x >= y", INVARIANT_1],
                      settings=dict(sources=("llm", "symbolic"), samples=2, seed=3,
                                    strategies={"invariant": {"refute": False, "refute_depth": 4, "constrained": True}})),
    "cnf": dict(task=REPO / "tasks" / "cnf" / "flat30-1.yaml", script=[], settings=dict(sources=("symbolic",))),
    "encoding": dict(task=REPO / "tasks" / "sat" / "queens-6.yaml",
                     script=[SAT["queens"].replace('n = instance["n"]', 'n = instance["size"]'), SAT["queens"]],
                     settings=dict(sources=("llm",), samples=1, temperature=0.3)),
    "logic": dict(task=REPO / "tasks" / "logic" / "logical_deduction_0.yaml",
                  script=[BOOKS.replace("purple == 2]", "purple == 2, purple == 3]"), BOOKS],
                  settings=dict(sources=("llm",), samples=1, top_p=0.9)),
    "lean": dict(task=REPO / "tasks" / "minif2f" / "valid" / "mathd_algebra_10.yaml", script=["norm_num", "linarith"],
                 settings=dict(sources=("llm",), samples=1, max_proposals=4,
                               strategies={"lean": {"mode": "best_first", "expansions": 3}})),
}


def _verdicts(trace: Path) -> list[tuple[str, str]]:
    return [(event.candidate, event.verdict.status) for event in read_trace(trace) if isinstance(event, VerdictEvent)]


def test_every_registered_strategy_is_covered_below() -> None:
    assert {registered.name for registered in strategies()} == set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_task_runs_again_from_its_trace_header_alone(name: str, tmp_path: Path, monkeypatch) -> None:
    if name == "lean":
        _lean_driver(monkeypatch)
    run = RUNS[name]
    first = tmp_path / "first.jsonl"
    result = run_task(load_task(run["task"]), RunSettings(**run["settings"]), ScriptedProposer(run["script"]),
                      first, "first", run["task"])
    header = read_trace(first)[0]
    assert isinstance(header, Header) and header.strategy == name
    registered = get_strategy(name)
    given = run["settings"].get("strategies", {}).get(name, {})
    assert header.strategy_settings == registered.settings_from(given).model_dump(mode="json")
    assert {"z3-solver", "cvc5", "python-sat", "numba"} <= set(header.versions)
    assert header.verifier == REGISTRY.for_kind(header.task_kind).name

    # From the header alone: the task file (checked by its digest), the settings, the same script.
    assert header.task_path is not None
    again = tmp_path / "again.jsonl"
    rerun = run_task(load_task(Path(header.task_path)), settings_from_header(header), ScriptedProposer(run["script"]),
                     again, "again", Path(header.task_path))
    rerun_header = read_trace(again)[0]
    assert rerun_header.task_sha256 == header.task_sha256
    assert rerun_header.strategy_settings == header.strategy_settings
    assert rerun_header.generation == header.generation and rerun_header.budget == header.budget
    assert _verdicts(again) == _verdicts(first) and _verdicts(first)
    assert (rerun.status, rerun.answer) == (result.status, result.answer)


def _module_imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions run later and cannot cycle at import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _import_graph(package: str) -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in (REPO / package).rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return {name: {imported for imported in _module_imports(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def test_agent_has_no_import_cycle_and_verifiers_never_import_agent() -> None:
    graph = _import_graph("agent")
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in graph[module]:
            if state.get(imported) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path + [module, imported]))
            if imported not in state:
                visit(imported, path + [module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
    for path in (REPO / "verifiers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function-level imports too
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name == "agent" or name.startswith("agent.") for name in names), path


def test_strategy_options_on_the_command_line_reach_their_strategy() -> None:
    from agent.__main__ import _settings, build_parser

    arguments = build_parser().parse_args(["solve", "t.yaml", "--no-refute", "--refute-depth", "4",
                                           "--search-mode", "whole_proof", "--expansions", "8"])
    assert _settings(arguments).strategies == {"invariant": {"refute": False, "refute_depth": 4},
                                               "lean": {"mode": "whole_proof", "expansions": 8}}
    assert _settings(build_parser().parse_args(["solve", "t.yaml"])).strategies == {}


def test_settings_for_an_unknown_strategy_or_field_are_refused_before_the_run(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from agent.search.registry import StrategyError

    task = load_task(CODE2INV_1)
    with pytest.raises(StrategyError, match="no strategy named 'invarant'"):
        run_task(task, RunSettings(strategies={"invarant": {}}), None, tmp_path / "a.jsonl", "a")
    with pytest.raises(ValidationError):
        run_task(task, RunSettings(strategies={"invariant": {"refute_deep": 3}}), None, tmp_path / "b.jsonl", "b")
    assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "b.jsonl").exists()
