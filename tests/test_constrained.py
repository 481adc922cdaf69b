"""Grammar-constrained decoding (`--constrained`): the per-task grammar against the verifier's own parser,
its way through the session and the trace header, the endpoint's guided-decoding option, and (marked
`model`) samples from the bundled model."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from agent.llm import GenerationSettings, Prompt, load_proposer
from agent.llm.base import Completion, ModelInfo
from agent.llm.constrained import UNSUPPORTED, accepts, invariant_grammar
from agent.llm.openai_compat import GUIDED_BACKEND, PROBE_GRAMMAR, PROBE_TEXT
from agent.loop import RunSettings, run_task, settings_from_header
from agent.search.atoms import program_atoms
from agent.tasks import load_task
from agent.trace import Header, read_trace
from tests.standin_endpoint import JsonHandler, serving
from verifiers import cexpr

REPO = Path(__file__).resolve().parent.parent


def _verifier_accepts(text: str, variables: list[str]) -> bool:
    try:
        cexpr.parse_boolean(text, variables)
    except cexpr.ExprError:
        return False
    return True


def _sample_tasks() -> list:
    """Every 20th task of the Code2Inv and LaM4Inv suites."""
    paths = [path for suite in ("code2inv", "lam4inv") for path in sorted((REPO / "tasks" / suite).glob("*.yaml"))
             if path.name != "suite.yaml"]
    return [load_task(path) for path in paths[::20]]


def test_the_grammar_accepts_the_real_candidate_invariants_of_tasks_and_no_foreign_variable() -> None:
    checked = 0
    for task in _sample_tasks():
        grammar = invariant_grammar(task.variables)
        candidates = program_atoms(task.parsed_program, task.program_variables)[:25]
        assert candidates
        for text in candidates:
            assert _verifier_accepts(text, task.variables), text
            assert accepts(grammar, text + "\n"), (task.id, text)
            checked += 1
        foreign = next(name for name in ("w", "q1", "tmp", "n_0") if name not in task.variables)
        for text in candidates[:5]:
            for name in cexpr.variables_of(cexpr.parse(text)):
                assert not accepts(grammar, re.sub(rf"\b{name}\b", foreign, text) + "\n"), (task.id, text, name)
        assert not accepts(grammar, f"{foreign} >= 0\n")
    assert checked >= 150


def _random_text(rng: random.Random, atoms: list[str], depth: int) -> str:
    """C-like expressions, well and ill typed, with known and unknown names."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(atoms)
    roll = rng.random()
    if roll < 0.55:
        operator = rng.choice(["&&", "||", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"])
        return f"{_random_text(rng, atoms, depth - 1)} {operator} {_random_text(rng, atoms, depth - 1)}"
    if roll < 0.7:
        return rng.choice(["!", "-"]) + _random_text(rng, atoms, depth - 1)
    if roll < 0.88:
        return f"({_random_text(rng, atoms, depth - 1)})"
    return " ? ".join([_random_text(rng, atoms, depth - 1), _random_text(rng, atoms, depth - 1)]) + \
        f" : {_random_text(rng, atoms, depth - 1)}"


def test_everything_the_grammar_allows_the_verifier_parses_and_types() -> None:
    variables = ["i", "n", "sum"]
    grammar = invariant_grammar(variables)
    atoms = variables + ["0", "7", "0x1F", "08", "true", "false", "unknown_name", "i1"]
    rng = random.Random(11)
    allowed = refused = 0
    for _ in range(400):
        text = _random_text(rng, atoms, 4)
        if accepts(grammar, text + "\n"):
            assert _verifier_accepts(text, variables), text
            allowed += 1
        elif not _verifier_accepts(text, variables):
            refused += 1
    assert allowed >= 20 and refused >= 100  # both sides of the boundary were exercised


@pytest.mark.parametrize("task_id", ["code2inv/23", "code2inv/93", "code2inv/11", "lam4inv/136", "lam4inv/305",
                                     "sygus/fib_04"])
def test_the_grammar_allows_the_invariants_the_program_sources_prove(task_id: str, tmp_path: Path) -> None:
    """Verified answers as the project writes them (case splits, sums, products by constants, negations)."""
    suite, name = task_id.split("/")
    path = REPO / "tasks" / suite / f"{name}.yaml"
    task = load_task(path)
    result = run_task(task, RunSettings(sources=("symbolic", "dynamic")), None, tmp_path / "trace.jsonl", "grammar-test",
                      path)
    assert result.status == "solved", result
    assert accepts(invariant_grammar(task.variables), result.answer + "\n"), result.answer


@pytest.mark.parametrize("text", ["x + 1", "!x", "x < y < 3", "x = 1", "x => y", "assert(x > 0)", "x > 0;"])
def test_the_grammar_refuses_what_the_verifier_rejects_before_solving(text: str) -> None:
    assert not _verifier_accepts(text, ["x", "y"])
    assert not accepts(invariant_grammar(["x", "y"]), text + "\n")


@pytest.mark.parametrize("text", ["x == y == (y == 0)", "(x < y) != (y < 0)", "x > 0 ? y > 0 : y < 0", "(x > 0 ? 1 : 0) < y",
                                  "x > 0x10", "x  > 1", "x >=  0", "- -x > 0", "!!(x < 0)", "x < 12345678901"])
def test_the_grammar_leaves_out_forms_that_only_waste_a_small_models_tokens(text: str) -> None:
    """Sound C the verifier takes, but no answer the project writes has these forms: the bundled model's
    constrained samples spent their tokens on them (runs of spaces, long hex literals, `a == b == (0 / 10 < c)`)."""
    assert _verifier_accepts(text, ["x", "y"])
    assert not accepts(invariant_grammar(["x", "y"]), text + "\n")


def test_the_grammar_allows_the_canonical_forms_of_those_operators() -> None:
    assert accepts(invariant_grammar(["x", "y"]), "x < 1234567890 && !(x == 0) || -x >= y % 3 - (x + 1) * 2\n")


def test_a_variable_that_is_not_a_c_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="not a C identifier"):
        invariant_grammar(["x", 'y" | "z'])


class RecordingProposer:
    """A scripted model that keeps the generation settings it was asked with (the loop's plumbing is tested)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.settings: list[GenerationSettings] = []
        self.info = ModelInfo(name="recording", backend="scripted")

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        self.settings.append(settings)
        batch, self.texts = self.texts[:n], self.texts[n:]
        return [Completion(text, -1.0, 3) for text in batch]


def test_constrained_reaches_the_proposer_and_the_header_and_reruns_from_it(tmp_path) -> None:
    task = load_task(REPO / "tasks" / "code2inv" / "1.yaml")
    proposer = RecordingProposer(["x >= y"])
    settings = RunSettings(sources=("llm",), strategies={"invariant": {"constrained": True, "refute": False}})
    result = run_task(task, settings, proposer, tmp_path / "trace.jsonl", "run")
    assert result.proposals_by_source.get("llm") == 1
    assert proposer.settings[0].grammar == invariant_grammar(task.variables)
    header = next(event for event in read_trace(tmp_path / "trace.jsonl") if isinstance(event, Header))
    assert header.strategy_settings["constrained"] is True
    assert header.model_settings["constrained_decoding"] == UNSUPPORTED  # this proposer cannot enforce it
    assert settings_from_header(header).strategies["invariant"]["constrained"] is True

    by_default = RecordingProposer(["x >= y"])
    run_task(task, RunSettings(sources=("llm",)), by_default, tmp_path / "default.jsonl", "default")
    assert by_default.settings[0].grammar == invariant_grammar(task.variables)  # on by default
    unconstrained = RecordingProposer(["x >= y"])
    free = RunSettings(sources=("llm",), strategies={"invariant": {"constrained": False}})
    run_task(task, free, unconstrained, tmp_path / "free.jsonl", "free")
    assert unconstrained.settings[0].grammar is None
    header = next(event for event in read_trace(tmp_path / "free.jsonl") if isinstance(event, Header))
    assert "constrained_decoding" not in header.model_settings


def test_the_cli_flag_sets_the_strategy_setting() -> None:
    from agent.__main__ import _strategy_settings, build_parser

    for flag, expected in (("--constrained", True), ("--no-constrained", False)):
        arguments = build_parser().parse_args(["solve", "tasks/code2inv/1.yaml", flag])
        assert _strategy_settings(arguments)["invariant"]["constrained"] is expected
    assert "invariant" not in _strategy_settings(build_parser().parse_args(["solve", "tasks/code2inv/1.yaml"]))


def _endpoint(follows_grammars: bool, requests: list[dict]) -> type[JsonHandler]:
    """Answers like vLLM: with `follows_grammars`, the probe grammar's sentence when a request carries it;
    otherwise the grammar fields are ignored, as an unknown field is."""

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            payload = self.payload()
            requests.append(payload)
            probed = (payload.get("structured_outputs") or {}).get("grammar") == PROBE_GRAMMAR
            text = PROBE_TEXT if probed and follows_grammars else "Hello! x >= y"
            self.reply({"choices": [{"message": {"content": text}, "finish_reason": "stop"}] * payload["n"]})

    return Handler


@pytest.mark.parametrize("follows_grammars", [True, False])
def test_an_endpoint_gets_the_grammar_only_when_it_enforces_grammars(follows_grammars: bool) -> None:
    requests: list[dict] = []
    with serving(_endpoint(follows_grammars, requests)) as url:
        proposer = load_proposer(url)
        grammar = invariant_grammar(["x", "y"])
        prompt = Prompt(messages=[{"role": "user", "content": "invariant?"}], response_prefix="```c\n")
        proposer.propose(prompt, 2, GenerationSettings(grammar=grammar))
        proposer.propose(prompt, 2, GenerationSettings(grammar=grammar))
        assert proposer.grammar_backend() == (GUIDED_BACKEND if follows_grammars else None)
        probes = [sent for sent in requests if sent.get("guided_grammar") == PROBE_GRAMMAR]
        samples = [sent for sent in requests if sent.get("guided_grammar") != PROBE_GRAMMAR]
        assert len(probes) == 1 and len(samples) == 2  # asked once
        for sent in samples:
            assert (sent.get("structured_outputs") == {"grammar": grammar}) is follows_grammars


@pytest.mark.model
def test_every_constrained_sample_of_the_bundled_model_parses_over_program_variables() -> None:
    from agent.prompts import render_prompt

    task = load_task(REPO / "tasks" / "lam4inv" / "136.yaml")
    prompt = render_prompt("invariant", program=task.program, description="", variables=task.variables, proved=[],
                           attempts=[])
    proposer = load_proposer("bundled")
    settings = GenerationSettings(max_new_tokens=20, seed=3, grammar=invariant_grammar(task.variables), time_limit_s=600)
    completions = proposer.propose(prompt, 2, settings)
    finished = [completion for completion in completions if completion.finish_reason == "stop"]
    assert finished  # the grammar's newline ends a sample
    for completion in finished:
        expr = cexpr.parse_boolean(completion.text, task.variables)
        assert cexpr.variables_of(expr) <= set(task.variables)
