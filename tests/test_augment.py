"""Program variants for training (`train augment`) on real LaM4Inv and Code2Inv programs."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from agent.__main__ import main
from agent.cprogram import parse_program
from agent.tasks import load_task
from agent.train.augment import VARIANT_MARK, origin_id, program_variant, variant_tasks
from agent.train.data import split_of
from verifiers.base import REGISTRY, VerifyBudget

TASKS = Path(__file__).resolve().parent.parent / "tasks"


def test_renaming_is_consistent_and_keeps_the_program_equivalent() -> None:
    """Code2Inv 38's invariant, renamed the same way, is accepted by the real verifier on the variant."""
    task = load_task(TASKS / "code2inv" / "38.yaml")
    original = REGISTRY.for_kind("invariant").verify(task, "n > 0 && c >= 0", VerifyBudget(timeout_s=30))
    assert original.status == "accepted"
    rng = random.Random(3)
    text = program_variant(task.program, rng, change_constants=False)
    variables = parse_program(text).variables
    assert len(variables) == 2 and set(variables).isdisjoint({"c", "n"})
    mapping = dict(zip(parse_program(task.program).variables, variables))
    variant = load_task_text(task, text)
    renamed = "n > 0 && c >= 0".replace("c", "\0").replace("n", mapping["n"]).replace("\0", mapping["c"])
    verdict = REGISTRY.for_kind("invariant").verify(variant, renamed, VerifyBudget(timeout_s=30))
    assert verdict.status == "accepted", verdict.feedback


def load_task_text(task, program: str):
    from agent.tasks import parse_task

    return parse_task({"id": "x", "kind": "invariant", "program": program}, "x")


def test_constants_change_consistently_and_small_ones_stay() -> None:
    source = load_task(TASKS / "lam4inv" / "136.yaml").program
    text = program_variant(source, random.Random(0), change_constants=True)
    numbers = lambda program: [int(n) for n in re.findall(r"(?<![\w])(\d+)(?![\w])", program)]  # noqa: E731
    before, after = numbers(source), numbers(text)
    assert len(before) == len(after)
    mapping: dict[int, int] = {}
    for old, new in zip(before, after):
        if old < 2:
            assert new == old
        else:
            assert mapping.setdefault(old, new) == new  # the same constant, the same replacement
    assert any(old != new for old, new in mapping.items())


def test_variants_load_as_tasks_and_share_their_origins_split() -> None:
    task = load_task(TASKS / "lam4inv" / "136.yaml")
    variants = variant_tasks(task, 4, random.Random(1), seed=1)
    assert [variant.id for variant in variants] == [f"lam4inv/136{VARIANT_MARK}1.{n}" for n in range(1, 5)]
    assert all(origin_id(variant.id) == "lam4inv/136" for variant in variants)
    assert all("variant" in variant.source.origin for variant in variants)
    assert {split_of(variant.id, 0.5, {"lam4inv/136"}) for variant in variants} == {"test"}
    assert {split_of(variant.id, 0.5) for variant in variants} == {split_of("lam4inv/136", 0.5)}


def test_the_command_writes_a_suite_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("38", "39"):
        (suite / f"{name}.yaml").write_text((TASKS / "code2inv" / f"{name}.yaml").read_text())
    out = tmp_path / "variants"
    assert main(["train", "augment", str(suite), "--out", str(out), "--variants", "2"]) == 0
    written = sorted(path.name for path in out.iterdir())
    assert len(written) == 4
    assert all(load_task(out / name).id.startswith("code2inv/") for name in written)
    capsys.readouterr()
    assert main(["train", "augment", str(suite), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["train", "augment", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
