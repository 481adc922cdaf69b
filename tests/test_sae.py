"""The SAE hook, its SAELens format, and the report's statistics (agent/sae/).

A tiny randomly initialised Llama (the bundled model's architecture and tokenizer, 2 layers of width 32) stands in
for the model where only the plumbing is under test; the report is tested on constructed runs whose answer is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sae_lens")

from agent.llm.base import GenerationSettings, Prompt  # noqa: E402
from agent.sae import report  # noqa: E402
from agent.sae.hook import SAEHook, feature_direction, layer_hook, module_name_for, parse_steer  # noqa: E402
from agent.sae.train import load_sae, new_sae, random_like  # noqa: E402
from agent.trace import FeaturesEvent, Header, ProposalEvent, TraceWriter, VerdictEvent  # noqa: E402

D_MODEL = 32


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agent.llm.models import resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve(None).location, local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=D_MODEL, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    directory = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_sae_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sae = new_sae(D_MODEL, 64, 4, {"model_name": "tiny", "hook_name": "model.layers.1"}, seed=0)
    directory = tmp_path_factory.mktemp("tiny-sae")
    sae.save_inference_model(directory)
    return directory


def test_saved_sae_opens_with_saelens_loader_and_encodes_the_same(tmp_path: Path) -> None:
    from sae_lens import SAE

    sae = new_sae(D_MODEL, 64, 4, {"model_name": "tiny", "hook_name": "model.layers.1"}, seed=3)
    sae.save_inference_model(tmp_path)
    assert {path.name for path in tmp_path.iterdir()} >= {"cfg.json", "sae_weights.safetensors"}
    loaded = SAE.load_from_disk(str(tmp_path))
    x = torch.randn(10, D_MODEL)
    assert torch.allclose(loaded.encode(x), sae.encode(x), atol=1e-5)
    assert loaded.cfg.metadata.hook_name == "model.layers.1"
    assert (loaded.encode(x) > 0).sum(-1).max() <= 4
    control = random_like(loaded)
    assert control.W_dec.shape == loaded.W_dec.shape and not torch.allclose(control.W_dec, loaded.W_dec)


def test_the_shipped_sae_opens_and_is_the_bundled_models_middle_layer() -> None:
    import json

    from agent.sae.hook import check_sae_arguments, sae_folder

    folder = sae_folder("bundled")
    check_sae_arguments("bundled", "3+=2")
    sae = load_sae(folder)
    assert (sae.cfg.d_in, sae.cfg.metadata.hook_name) == (576, "model.layers.15")  # SmolLM2-135M: 30 layers of 576
    training = json.loads((folder / "training.json").read_text())
    assert training["width"] == sae.cfg.d_sae and training["dead_fraction"] <= 0.10
    with pytest.raises(ValueError, match="out of range"):
        check_sae_arguments("bundled", f"{sae.cfg.d_sae}=1")


def test_hook_is_removed_after_an_exception(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    layer = model.model.layers[1]
    seen = []
    with pytest.raises(RuntimeError, match="inside"):
        with layer_hook(model, "model.layers.1", lambda hidden: seen.append(hidden.shape)):
            assert len(layer._forward_hooks) == 1
            model(input_ids=torch.tensor([[5, 6, 7]]))
            raise RuntimeError("inside")
    assert seen and len(layer._forward_hooks) == 0
    model(input_ids=torch.tensor([[5, 6, 7]]))
    assert len(seen) == 1  # not called after removal


def test_public_sae_hook_names_map_to_the_hf_module() -> None:
    assert module_name_for("blocks.12.hook_resid_post") == "model.layers.12"
    assert module_name_for("model.layers.3") == "model.layers.3"


def test_parse_steer() -> None:
    steers = parse_steer("3=5, 17+=-2.5")
    assert [(s.feature, s.value, s.mode) for s in steers] == [(3, 5.0, "clamp"), (17, -2.5, "add")]
    for bad in ("x=1", "3", "3=abc", ""):
        with pytest.raises(ValueError, match="--steer"):
            parse_steer(bad)
    with pytest.raises(ValueError, match="out of range"):
        parse_steer("99=1", width=64)


def test_clamping_sets_the_feature_and_adding_moves_along_its_direction(tiny_sae_dir: Path) -> None:
    sae = load_sae(tiny_sae_dir)
    hidden = torch.randn(2, 5, D_MODEL)
    clamp = SAEHook(sae, "tiny", steer=parse_steer("7=3.0"))
    steered = clamp._steered(hidden, skip_first=True)
    assert torch.equal(steered[:, 0], hidden[:, 0])  # the attention-sink position is untouched
    before = sae.encode(hidden[:, 1:])[..., 7]
    direction = feature_direction(sae, 7)
    along = (steered[:, 1:] - hidden[:, 1:]) @ direction / direction.norm() ** 2
    assert torch.allclose(along, 3.0 - before, atol=1e-4)
    add = SAEHook(sae, "tiny", steer=parse_steer("7+=2"))
    moved = add._steered(hidden, skip_first=False) - hidden
    assert torch.allclose(moved, (2 * direction).expand_as(moved), atol=1e-5)
    # The direction is the SAE's own: decoding the feature at 1 adds exactly it to the reconstruction.
    features = sae.encode(hidden[0, 1:2])
    bumped = features.clone()
    bumped[0, 7] += 1
    assert torch.allclose(sae.decode(bumped) - sae.decode(features), direction, atol=1e-5)


def test_features_per_proposal_from_a_batched_generate(tiny_model_dir: Path, tiny_sae_dir: Path) -> None:
    from agent.llm.hf import TransformersProposer
    from agent.sae.hook import load_hook

    hook = load_hook(str(tiny_sae_dir))
    proposer = TransformersProposer(str(tiny_model_dir), "tiny", None, sae_hook=hook)
    prompt = Prompt([{"role": "user", "content": "Write an invariant."}], "x >= ")
    settings = GenerationSettings(max_new_tokens=6, seed=1, stop=())
    completions = proposer.propose(prompt, 3, settings)
    assert len(completions) == 3
    for completion in completions:
        features = completion.extras["features"]
        assert features["hook"] == "model.layers.1"
        # Tokens the model saw again: at most the completion's tokens (padding after a row's end is excluded).
        assert features["tokens"] <= completion.tokens
        assert len(features["residual_mean"]) == D_MODEL
        assert all(entry["max"] >= entry["mean"] > 0 for entry in features["proposal"])
        assert features["prompt_last"] and "control" in features
    assert len(proposer.model.model.layers[1]._forward_hooks) == 0
    plain = TransformersProposer(str(tiny_model_dir), "tiny", None)
    assert all(not completion.extras for completion in plain.propose(prompt, 2, settings))


def test_padding_rows_are_cut_at_their_own_length(tiny_sae_dir: Path) -> None:
    hook = SAEHook(load_sae(tiny_sae_dir), "tiny", kept=64)
    hook._prompt_last = torch.randn(2, D_MODEL)
    hook._steps = [torch.randn(2, D_MODEL) for _ in range(5)]
    short, long = hook.features(0, 2), hook.features(1, 5)
    assert (short["tokens"], long["tokens"]) == (2, 5)
    expected = hook.sae.encode(torch.stack([step[0] for step in hook._steps[:2]])).mean(0)
    for entry in short["proposal"]:
        assert entry["mean"] == pytest.approx(float(expected[entry["index"]]), abs=1e-3)


@pytest.mark.model
def test_collect_and_train_write_an_sae_that_opens(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.sae.collect import collect, read_split
    from agent.sae.train import train

    monkeypatch.setenv("VERILOOP_SHARED_DATA", str(tmp_path / "none"))  # corpus: tasks/ and the stdlib
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    record = collect(model, tokenizer, tmp_path / "acts", "tiny", layer=1, tokens=9000, log=open("/dev/null", "w"))
    assert record["train_tokens"] >= 9000 and record["heldout_tokens"] > 0
    first_shard = (tmp_path / "acts" / "train" / "shard-00000.safetensors").read_bytes()
    extended = collect(model, tokenizer, tmp_path / "acts", "tiny", layer=1, tokens=14000, log=open("/dev/null", "w"))
    assert extended["train_tokens"] >= 14000 and extended["windows"] > record["windows"]
    assert [session["train_tokens"] for session in extended["sessions"]] == [record["train_tokens"], extended["train_tokens"]]
    assert (tmp_path / "acts" / "train" / "shard-00000.safetensors").read_bytes() == first_shard
    held_out = read_split(tmp_path / "acts", "heldout")
    assert held_out["window"].unique().tolist() == sorted(set(range(0, extended["windows"], 10)))
    summary = train(model, tokenizer, tmp_path / "acts", tmp_path / "sae", width=64, k=4, epochs=1.0)
    assert summary["l0"] <= 4 and 0 <= summary["dead_fraction"] <= 1
    assert summary["ce_clean"] > 0 and "ce_loss_recovered" in summary
    assert load_sae(tmp_path / "sae").cfg.d_sae == 64


# --- the report ---------------------------------------------------------------------------------------------------

def _write_run(folder: Path, rows: list[tuple[str, str, dict[int, float]]], seed: int = 0) -> Path:
    """An eval-like run folder: one trace per task; each row (task, verdict status, features)."""
    rng = np.random.default_rng(seed)
    (folder / "traces").mkdir(parents=True)
    by_task: dict[str, list[tuple[str, dict[int, float]]]] = {}
    for task, status, features in rows:
        by_task.setdefault(task, []).append((status, features))
    for task, items in by_task.items():
        with TraceWriter(folder / "traces" / f"{task}.jsonl") as trace:
            trace.write(Header(run_id="r", task_id=task, task_kind="invariant", model="m", seed=0, generation={},
                               sources=["llm"], budget={}, versions={}, git_commit=None))
            for number, (status, features) in enumerate(items, start=1):
                trace.write(ProposalEvent(id=number, step=1, source="llm", raw="x", text="x > 0",
                                          logprob=float(rng.normal(-5, 1)), tokens=int(rng.integers(3, 9))))
                trace.write(FeaturesEvent(proposal_id=number, features={
                    "sae": "none", "proposal": [{"index": i, "mean": v, "max": v} for i, v in features.items()],
                    "control": [{"index": int(i), "mean": float(rng.exponential()), "max": 1.0}
                                for i in rng.choice(50, 4, replace=False)],
                    "residual_mean": rng.normal(size=8).round(3).tolist()}))
                checks = {"initiation": {"status": "holds"}, "consecution": {"status": "fails"},
                          "postcondition": {"status": "holds"}}
                details = {"kind": "invariant", "stage": "solve", "checks": checks} if status == "rejected" else None
                trace.write(VerdictEvent(proposal_id=number, candidate="x > 0", verdict={
                    "status": status, "verifier": "invariant", "verifier_version": "test", "feedback": "",
                    "details": details}))
    return folder


def _background(rng: np.random.Generator) -> dict[int, float]:
    return {int(i): float(rng.exponential()) for i in rng.choice(200, 6, replace=False)}


def test_report_puts_a_planted_feature_on_top(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for task in range(12):
        for number in range(10):
            accepted = number < 4
            features = _background(rng)
            if accepted:
                features[999] = float(rng.uniform(2, 3))  # the planted feature fires only in accepted proposals
            rows.append((f"t{task}", "accepted" if accepted else "rejected", features))
    run = _write_run(tmp_path / "run", rows)
    text = report.write_report([run], html=tmp_path / "page.html")
    analysis = report.analyse(report.load_proposals([run]))
    table = analysis["contrasts"][0]["features"]
    assert int(table.iloc[0].feature) == 999 and bool(table.iloc[0].reliable)
    assert table.reliable.sum() <= 3  # the background is noise: at most a stray false discovery
    assert analysis["contrasts"][0]["probes"]["SAE features"]["auroc"] > 0.9
    assert analysis["contrasts"][0]["probes"]["SAE features, shuffled labels"]["auroc"] < 0.75
    assert "999" in text and "not inductive" in text
    page = (tmp_path / "page.html").read_text()
    assert "data:image/png;base64," in page and "<script" not in page and "http" not in page


def test_report_finds_nothing_when_there_is_no_difference(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = [(f"t{task}", "accepted" if rng.random() < 0.4 else "rejected", _background(rng))
            for task in range(12) for _ in range(10)]
    run = _write_run(tmp_path / "run", rows)
    analysis = report.analyse(report.load_proposals([run]))
    entry = analysis["contrasts"][0]
    assert len(entry["features"]) > 50 and entry["features"].reliable.sum() == 0
    assert report.verdict_line(entry).startswith("no reliable difference")


def test_grouped_folds_never_put_a_task_in_both_train_and_test() -> None:
    groups = np.repeat([f"task{i}" for i in range(7)], [3, 9, 1, 4, 12, 2, 5])
    folds = report.grouped_folds(groups)
    assert len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(groups)))  # every proposal is tested exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_rejection_kinds() -> None:
    kind = report.rejection_kind
    assert kind({"status": "rejected", "details": {"stage": "parse"}}) == "does not parse"
    checks = {"initiation": {"status": "holds"}, "consecution": {"status": "fails"}, "postcondition": {"status": "fails"}}
    assert kind({"status": "rejected", "details": {"stage": "solve", "checks": checks}}) == "not inductive"
    checks["consecution"]["status"] = "holds"
    assert kind({"status": "rejected", "details": {"stage": "solve", "checks": checks}}) == "too weak"
    assert kind({"status": "unknown"}) == "unknown" and kind({"status": "accepted"}) == "accepted"


def test_cli_bad_sae_input_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    from agent.__main__ import main

    task = "tasks/code2inv/38.yaml"
    assert main(["solve", task, "--sources", "llm", "--steer", "3=1"]) == 2
    assert "--steer needs --sae" in capsys.readouterr().err
    assert main(["solve", task, "--sources", "llm", "--sae", str(tmp_path)]) == 2
    assert "no SAELens SAE" in capsys.readouterr().err
    assert main(["sae", "report", str(tmp_path / "missing")]) == 2


def test_features_in_a_completions_extras_become_a_trace_event_after_its_proposal(tmp_path: Path) -> None:
    from dataclasses import replace

    from agent.llm.scripted import ScriptedProposer
    from agent.loop import RunSettings, run_task
    from agent.tasks import load_task
    from agent.trace import read_trace

    class FeaturedProposer(ScriptedProposer):
        def propose(self, prompt, n, settings):
            return [replace(completion, extras={"features": {"proposal": [{"index": 5, "mean": 1.0, "max": 2.0}]}})
                    for completion in super().propose(prompt, n, settings)]

    path = Path(__file__).resolve().parent.parent / "tasks" / "code2inv" / "1.yaml"
    run_task(load_task(path), RunSettings(sources=("llm",), samples=1, max_proposals=2),
             FeaturedProposer(["x >= y", "x >= 1"]), tmp_path / "trace.jsonl", "r", path)
    events = read_trace(tmp_path / "trace.jsonl")
    for before, event in zip(events, events[1:]):
        if event.type == "features":
            assert before.type == "proposal" and before.id == event.proposal_id
    assert sum(event.type == "features" for event in events) == 2
