"""Program variants for training data: the same loop with its variables renamed and, in every second
variant, its constants changed.

A training set built from the dev suites holds one or a few answers per program, about 150 in all: a
model fine-tuned on it learns those programs' names and numbers more than the way an invariant follows
from a loop. `variant_tasks(task, count, rng)` writes new C programs from a task's program: each declared
variable gets a fresh name (the same name everywhere it occurs), and in the even-numbered variants every
integer constant of 2 or more is replaced by another (the same replacement at every occurrence, so
`assume(v <= 5)` and `while (v <= 5)` stay the same bound). Nothing about a variant is assumed true: it
is a new task, solved and verified like any other before `train data` takes an answer from it (a
changed constant can make the assertion false, and then there is no answer to learn).

A variant's id is its origin's id, `VARIANT_MARK`, the seed and its number (`lam4inv/136:variant-0.2`), so
variant sets drawn with different seeds can be learnt from together; `origin_id` gives the origin back,
and the data builder splits by it, so a program and its variants always land in the same split.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.cprogram import ProgramError, parse_program
from agent.files import folder_written_atomically
from agent.tasks import InvariantTask, Source, TaskFileError, parse_task

VARIANT_MARK = ":variant-"
# Names a variable may be given: short names of the kind loop programs use, none a C keyword or a
# function the dialect knows (`assume`, `assert`, `unknown...`, `nondet...`).
NAME_POOL = (
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "p", "q", "r", "s", "t", "u", "v",
    "w", "x", "y", "z", "i0", "j0", "k1", "n1", "x0", "x1", "x2", "y0", "y1", "y2", "z1", "lo", "hi", "sum",
    "cnt", "idx", "len", "pos", "acc", "step", "size", "count", "limit", "total", "bound", "left", "right",
)
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
_INTEGER = re.compile(r"\b(\d+)([uU]?)\b")


class AugmentError(ValueError):
    """Bad input for `train augment` (a missing suite, an existing output folder); one line for the user."""


def origin_id(task_id: str) -> str:
    """The id of the task a variant was made from (a task that is no variant is its own origin)."""
    return task_id.split(VARIANT_MARK, 1)[0]


def _new_constant(value: int, rng: random.Random, taken: set[int]) -> int:
    for _ in range(100):
        scaled = rng.choice((value // 2, value * 2, value * 3, value + rng.randint(1, max(2, value // 2)),
                             value - rng.randint(1, max(1, value // 2))))
        if scaled >= 2 and scaled not in taken:
            return scaled
    return value


def program_variant(source: str, rng: random.Random, change_constants: bool) -> str:
    """`source` with its declared variables renamed (and its constants of 2 or more changed)."""
    variables = parse_program(source).variables
    # A new name must not be any identifier of the program (a variable kept, a function called).
    identifiers = set(_IDENTIFIER.findall(source))
    pool = [name for name in NAME_POOL if name not in identifiers or name in variables]
    if len(pool) < len(variables):
        raise ProgramError(f"{len(variables)} variables, more than the {len(pool)} free names to give them")
    renamed = dict(zip(variables, rng.sample(pool, len(variables))))
    text = _IDENTIFIER.sub(lambda match: renamed.get(match.group(0), match.group(0)), source)
    if not change_constants:
        return text
    values = sorted({int(digits) for digits, _ in _INTEGER.findall(text) if int(digits) >= 2})
    taken = set(values)
    replaced: dict[int, int] = {}
    for value in values:
        replaced[value] = _new_constant(value, rng, taken)
        taken.add(replaced[value])

    def constant(match: re.Match[str]) -> str:
        value = int(match.group(1))
        return f"{replaced.get(value, value)}{match.group(2)}"

    return _INTEGER.sub(constant, text)


@dataclass
class AugmentReport:
    written: int = 0
    programs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def variant_tasks(task: InvariantTask, count: int, rng: random.Random, seed: int = 0) -> list[InvariantTask]:
    """Up to `count` variants of `task` that load as tasks (a variant the dialect refuses is dropped)."""
    if task.program is None:
        raise ProgramError("the task has no C program to vary")
    base = task.source or Source(benchmark="variant")
    tasks = []
    for number in range(1, count + 1):
        program = program_variant(task.program, rng, change_constants=number % 2 == 0)
        what = "variables renamed" + (", constants changed" if number % 2 == 0 else "")
        origin = f"variant {number} of {task.id} ({what}; veriloop train augment)" + (f"; {base.origin}" if base.origin else "")
        source = base.model_copy(update={"origin": origin})
        data = {"id": f"{task.id}{VARIANT_MARK}{seed}.{number}", "kind": "invariant", "description": task.description,
                "source": source.model_dump(exclude_none=True), "budget": task.budget.model_dump(),
                "program": program}
        try:
            tasks.append(parse_task(data, data["id"]))
        except TaskFileError:
            continue
    return tasks


def augment_suite(suite: Path, out: Path, count: int, seed: int) -> AugmentReport:
    """Write `count` variants of every task of `suite` with a C program into the new folder `out`
    (atomically: it appears whole or not at all)."""
    from agent.eval import load_suite

    if out.exists():
        raise AugmentError(f"{out} already exists; choose a new folder")
    if count < 1:
        raise AugmentError("--variants must be at least 1")
    try:
        _, entries = load_suite(suite)
    except (TaskFileError, OSError, ValueError) as error:
        raise AugmentError(str(error).splitlines()[0]) from None
    rng = random.Random(seed)
    report = AugmentReport()
    with folder_written_atomically(out) as staging:
        for entry in entries:
            task = entry.task
            if not isinstance(task, InvariantTask) or task.program is None:
                report.skip("not an invariant task with a C program")
                continue
            try:
                made = variant_tasks(task, count, rng, seed)
            except ProgramError as error:
                report.skip(f"program not varied: {error}")
                continue
            report.programs += 1
            for variant in made:
                name = re.sub(r"[/:]", "_", variant.id) + ".yaml"
                data = variant.model_dump(mode="json", exclude_none=True, exclude={"vc_template"})
                (staging / name).write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
                report.written += 1
            for _ in range(count - len(made)):
                report.skip("variant refused by the dialect")
    return report
