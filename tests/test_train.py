"""Training data from real traces (real verifier throughout), run figures, and a tiny fine-tune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.__main__ import main
from agent.eval import ResultsFile, result_row
from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from agent.train.data import (DataError, Example, build_dataset, collect_examples, disjuncts, read_dataset, read_report,
                              split_of)
from agent.train.iterate import run_figures
from verifiers.base import REGISTRY, VerifyBudget

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"
# An accepted answer in the case-split form the symbolic source writes: `(a || b) && (!a || b)` means `b`.
CASE_SPLIT = "x > 0 && y >= 0 && (y < 0 || x >= y) && (!(y < 0) || x >= y)"


def eval_like_run(run_dir: Path, runs: list[tuple[int, RunSettings, object]]) -> Path:
    """A run folder laid out as `agent eval` writes it (traces/, results.csv), made by the real loop."""
    run_dir.mkdir(parents=True)
    results = ResultsFile(run_dir / "results.csv")
    for index, (number, settings, proposer) in enumerate(runs):
        task = load_task(TASKS / f"{number}.yaml")
        trace = run_dir / "traces" / f"{number}-{index}.jsonl"
        result = run_task(task, settings, proposer, trace, run_dir.name, TASKS / f"{number}.yaml")
        results.append(result_row(result, task.id, trace))
    results.close()
    return run_dir


def verify(task_id: str, answer: str) -> str:
    task = load_task(TASKS / f"{task_id.split('/')[1]}.yaml")
    return REGISTRY.for_kind(task.kind).verify(task, answer, VerifyBudget(timeout_s=30)).status


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Example]]:
    """Programs 1 and 11 solved by the program sources, program 1 again by a scripted model whose answer has
    a conjunct it does not need, and a trace doctored to claim a wrong invariant was accepted."""
    root = tmp_path_factory.mktemp("train")
    symbolic = RunSettings(sources=("symbolic", "dynamic"))
    run = eval_like_run(root / "run", [
        (1, symbolic, None), (11, symbolic, None),
        (1, RunSettings(sources=("llm",), samples=1), ScriptedProposer(["x >= 1 && y >= 0 && x >= y && x >= 0"])),
        (1, RunSettings(sources=("llm",), samples=1), ScriptedProposer([CASE_SPLIT])),
    ])
    forged = root / "forged.jsonl"
    lines = (run / "traces" / "1-0.jsonl").read_text().splitlines()
    lines = [line.replace('"invariant":"', '"invariant":"x <= 5 && ').replace('"candidate":"', '"candidate":"x <= 5 && ')
             if '"status":"accepted"' in line else line for line in lines]
    forged.write_text("\n".join(lines) + "\n")
    out = root / "data"
    build_dataset([run, forged], out, test_ids={"code2inv/11"})
    return out, read_dataset(out)


def test_only_answers_the_verifier_accepts_again_enter(data: tuple[Path, list[Example]]) -> None:
    out, examples = data
    report = json.loads((out / "report.json").read_text())
    assert report["left_out"] == {"not accepted when verified again": 1}  # the forged acceptance
    assert {example.task_id for example in examples} == {"code2inv/1", "code2inv/11"}
    for example in examples:
        assert "x <= 5" not in example.answer
        assert verify(example.task_id, example.answer) == "accepted"
        assert example.verifier == "z3-invariant" and example.certified


def test_shrinking_keeps_the_answer_verified(data: tuple[Path, list[Example]]) -> None:
    _, examples = data
    from_model = next(example for example in examples if "llm" in example.sources and CASE_SPLIT not in example.found)
    assert from_model.found == ["x >= 1 && y >= 0 && x >= y && x >= 0"]
    assert from_model.answer == "x >= 1 && y >= 0 && x >= y"  # `x >= 0` is not needed
    assert verify("code2inv/1", from_model.answer) == "accepted"


def test_a_disjunction_is_learnt_as_the_disjunct_that_keeps_it_verified(data: tuple[Path, list[Example]]) -> None:
    _, examples = data
    split = next(example for example in examples if CASE_SPLIT in example.found)
    assert split.answer == "x > 0 && y >= 0 && x >= y"
    assert verify("code2inv/1", split.answer) == "accepted" and split.certified
    assert disjuncts("a > 0 || (b > 0 || c > 0) && d > 0") == ["a > 0", "(b > 0 || c > 0) && d > 0"]


def test_a_task_never_lands_in_two_splits(data: tuple[Path, list[Example]]) -> None:
    out, examples = data
    splits = {example.task_id: {e.split for e in examples if e.task_id == example.task_id} for example in examples}
    assert splits == {"code2inv/1": {"train"}, "code2inv/11": {"test"}}
    assert len([example for example in examples if example.task_id == "code2inv/1"]) >= 1
    assert all(json.loads(line)["split"] == "test" for line in (out / "test.jsonl").read_text().splitlines())
    # Answers added to known examples (as `train iterate` does) keep each task's split, whatever rule made it.
    moved = [example.model_copy(update={"split": "test"}) if example.task_id == "code2inv/1" else example
             for example in examples]
    merged, _ = collect_examples([out.parent / "run"], known=moved)
    assert {example.split for example in merged if example.task_id == "code2inv/1"} == {"test"}
    # The named test tasks are recorded, so tasks new to a later round follow the same rule.
    recorded = read_report(out)
    assert recorded.test_tasks == ["code2inv/11"] and "1 named tasks" in recorded.held_out
    unknown, _ = collect_examples([out.parent / "run"], test_ids=set(recorded.test_tasks))
    assert {example.task_id: example.split for example in unknown} == {"code2inv/1": "train", "code2inv/11": "test"}
    hashed = {task: split_of(task, 0.5) for task in (f"t/{n}" for n in range(40))}
    assert set(hashed.values()) == {"train", "test"} and hashed == {task: split_of(task, 0.5) for task in hashed}


def test_the_prompt_is_the_one_the_model_sees(data: tuple[Path, list[Example]], tmp_path: Path) -> None:
    _, examples = data
    proposer = ScriptedProposer(["x >= y"])
    task = load_task(TASKS / "1.yaml")
    run_task(task, RunSettings(sources=("llm",), samples=1, max_proposals=1), proposer, tmp_path / "t.jsonl", "r")
    example = next(example for example in examples if example.task_id == "code2inv/1")
    assert example.prompt == proposer.prompts[0]


def test_run_figures_count_parsed_and_accepted_model_proposals(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= ", "zz > 0", "x >= 5", "x >= 1 && y >= 0 && x >= y"])
    run = eval_like_run(tmp_path / "run", [(1, RunSettings(sources=("llm",), samples=1), proposer)])
    figures = run_figures(run)
    assert figures["solved"] == 1 and figures["model_proposals"] == 4
    assert figures["parse_share"] == 0.5 and figures["accepted_share"] == 0.25


def test_bad_input_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "data", str(tmp_path / "missing"), "--out", str(tmp_path / "d")]) == 2
    assert main(["train", "sft", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
    assert not (tmp_path / "d").exists() and not (tmp_path / "m").exists()


@pytest.mark.model
def test_a_tiny_fine_tune_saves_a_model_the_proposer_loads(data: tuple[Path, list[Example]], tmp_path: Path) -> None:
    from agent.llm import load_proposer
    from agent.llm.base import GenerationSettings
    from agent.train.sft import SFTSettings, fine_tune

    out, examples = data
    with pytest.raises(DataError, match="longer than 64 tokens"):  # left out whole, never cut
        fine_tune(out, tmp_path / "models" / "short", SFTSettings(lora=True, max_length=64, max_steps=1))
    assert not (tmp_path / "models" / "short").exists()
    result = fine_tune(out, tmp_path / "models" / "tiny", SFTSettings(lora=True, top_layers=2, max_steps=2, batch_size=1))
    assert result.steps == 2 and result.first_loss is not None and result.tasks == 1
    folder = tmp_path / "models" / "tiny"
    card = (folder / "README.md").read_text()
    assert "LoRA" in card and "held out: 1 examples over 1 tasks" in card and "the test split is 1 named tasks" in card
    assert f"by suite: code2inv {result.examples}" in card
    proposer = load_proposer(str(folder))
    completions = proposer.propose(examples[0].prompt, 2, GenerationSettings(max_new_tokens=8, seed=1))
    assert len(completions) == 2 and all(completion.tokens > 0 for completion in completions)
    assert proposer.info.name == "tiny"
