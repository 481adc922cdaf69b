"""Random loop programs for training data: new tasks that no benchmark holds.

The dev suites give about 150 programs, and their variants (`augment`) only rename and renumber them: a
model trained on them sees few loop shapes. `synth_tasks(count, rng)` writes new programs of the kind loop
invariant benchmarks are made of: a few integer variables, some read from the input and bounded by
`assume`, the others set to constants; one `while` loop whose guard compares a counter with a bound or is
`unknown()`; a body of linear updates, some under `if (unknown())` or under a comparison, or all of them
in step with the counter (each variable gaining its own constant every iteration); and a final
`assert` of one relation or two, sometimes under an `if` (an input's sign, or a variable against a constant:
its invariant splits on that case).

The assertion is chosen from candidate relations between the variables (comparisons, multiples, differences,
sums, sums at an offset and sums equal to a multiple, and bounds by the program's constants) that hold at the loop's exit in every sampled run of the
program, run with the project's own C semantics (`agent.cprogram.loop_head_states`), and that the exit condition alone does not
imply (a random state that leaves the loop breaks it). Sampled runs are not a proof: the assertion may
still be false, or need more than the program sources find. A synthetic program is only a new task: the
program sources solve it, the verifier judges it, and `train data` takes only the answers it accepts
again. Nothing here is drawn from a benchmark file; the ids are `synth/SEED.N`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pycparser import c_parser

from agent.files import folder_written_atomically
from agent.cprogram import MAX_MAGNITUDE, Program, ProgramError, evaluate, loop_head_states, parse_program
from agent.tasks import TaskFileError, parse_task
from agent.train.augment import NAME_POOL

SYNTH_PREFIX = "synth/"
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_RUNS = 60
_MAX_ITERATIONS = 60
_TRIVIAL_PROBES = 300


class SynthError(ValueError):
    """Bad input for `train synth` (an existing output folder, a count below 1); one line for the user."""


@dataclass
class _Loop:
    """One generated program, as the parts it is written from."""

    declarations: list[str]
    pre: list[str]
    guard: str
    body: list[str]
    constants: list[int]
    inputs: list[str]
    assigned: list[str]  # the variables the loop body writes
    in_step: list[str]  # the variables that gain a constant with every iteration, as the counter does

    def constant_pool(self) -> list[int]:
        """The constants relations and conditions may use: the program's own, with 0 and 1."""
        return sorted(set(self.constants) | {0, 1})


def _update(target: str, variables: list[str], rng: random.Random) -> str:
    other = rng.choice([name for name in variables if name != target] or [target])
    step = rng.choice((1, 1, 1, 2, 3))
    return rng.choice((
        f"{target} = {target} + {step};",
        f"{target} = {target} + {step};",
        f"{target} = {target} - {step};",
        f"{target} = {target} + {other};",
        f"{target} = {other};",
        f"{target} = {other} + {step};",
        f"{target} = {rng.choice((0, 1, step))};",
    ))


def _loop(rng: random.Random) -> _Loop:
    count = rng.choice((2, 2, 3, 3, 3, 4))
    names = rng.sample(NAME_POOL, count)
    counter, others = names[0], names[1:]
    constants: list[int] = []
    # The guard compares the counter with a bound (an input, another variable or a constant), or is unknown().
    shape = rng.random()
    direction = -1 if shape >= 0.2 and rng.random() < 0.2 else 1
    inputs = [name for name in others if rng.random() < 0.45]
    pre: list[str] = []
    for name in [counter] + others:
        if name == counter and direction < 0 and rng.random() < 0.7:
            start = rng.randint(5, 60)  # a loop counting down starts high
            constants.append(start)
            pre.append(f"{name} = {start};")
            continue
        if name in inputs:
            if rng.random() < 0.6:
                bound = rng.choice((0, 0, 1, rng.randint(2, 20)))
                constants.append(bound)
                pre.append(f"assume({name} {rng.choice(('>', '>=', '<='))} {bound});")
            continue
        initial = rng.choice((0, 0, 0, 1, 1, rng.randint(2, 10), -rng.randint(1, 5)))
        if rng.random() < 0.15 and name != counter and inputs:
            pre.append(f"{name} = {rng.choice(inputs)};")
        else:
            constants.append(initial)
            pre.append(f"{name} = {initial};")
    if shape < 0.2:
        guard = "unknown()"
    else:
        if shape < 0.55 and inputs:
            bound = rng.choice(inputs)
        elif shape < 0.7:
            bound = rng.choice(others)
        else:
            limit = rng.choice((rng.randint(3, 20), rng.randint(20, 100)))
            constants.append(limit)
            bound = str(limit)
        if direction < 0:
            guard = f"{counter} {rng.choice(('>', '>='))} {bound if bound.lstrip('-').isdigit() else 0}"
        else:
            guard = f"{counter} {rng.choice(('<', '<=', '!='))} {bound}"
    body = [f"{counter} = {counter} {'+' if direction > 0 else '-'} {rng.choice((1, 1, 1, 2))};"]
    updated = [name for name in others if name not in inputs or rng.random() < 0.3]
    # Some loops move two variables in step with the counter, each by its own constant: their invariants
    # are equalities with coefficients (3 * i == x + y) and sums kept at an offset (x + y == z + 1).
    in_step = rng.sample(updated, min(len(updated), 2)) if rng.random() < 0.35 else []
    chosen = in_step or rng.sample(updated, min(len(updated), rng.choice((1, 1, 2))))
    if in_step and direction > 0 and rng.random() < 0.7:
        # Most such loops start all their moving variables at zero, so that their sums are exact multiples.
        moving = {counter, *in_step}
        pre = [f"{name} = 0;" if (name := statement.partition(" = ")[0]) in moving else statement for statement in pre]
    for name in chosen:
        if name in in_step:
            body.append(f"{name} = {name} + {rng.choice((1, 2, 3))};")
        else:
            body.append(_update(name, [counter] + others, rng))
    if len(body) > 1 and not in_step and rng.random() < 0.5:
        # Some updates only happen on some iterations.
        branch = body.pop(rng.randrange(1, len(body)))
        condition = "unknown()" if rng.random() < 0.6 else f"{counter} {rng.choice(COMPARISONS[:4])} {rng.randint(0, 10)}"
        if rng.random() < 0.5:
            alternative = _update(branch.split(" = ")[0], [counter] + others, rng)
            body.append(f"if ({condition}) {{ {branch} }} else {{ {alternative} }}")
        else:
            body.append(f"if ({condition}) {{ {branch} }}")
    rng.shuffle(body)
    declarations = [counter] + others
    assigned = [name for name in declarations if any(re.search(rf"\b{name} = ", statement) for statement in body)]
    return _Loop(declarations, pre, guard, body, constants, inputs, assigned, in_step)


def _text(loop: _Loop, assertion: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        declarations = "  int " + ", ".join(loop.declarations) + ";"
    else:
        declarations = "\n".join(f"  int {name};" for name in loop.declarations)
    body = "\n".join(f"    {statement}" for statement in loop.body)
    pre = "\n".join(f"  {statement}" for statement in loop.pre)
    return f"int main() {{\n{declarations}\n{pre}\n  while ({loop.guard}) {{\n{body}\n  }}\n{assertion}\n}}\n"


_PARSER = c_parser.CParser()  # building a parser costs more than parsing one candidate: it is made once


def _expression(text: str):
    return _PARSER.parse(f"int f() {{ return {text}; }}").ext[0].body.block_items[0].expr


def _candidates(loop: _Loop, rng: random.Random) -> list[str]:
    names = loop.declarations
    constants = loop.constant_pool()
    found = []
    for left in names:
        for right in names:
            if left < right:
                found += [f"{left} {operator} {right}" for operator in COMPARISONS]
        found += [f"{left} {operator} {value}" for value in constants for operator in COMPARISONS[:5]]
        for right in names:
            if right != left:
                found += [f"{left} == {factor} * {right}" for factor in (2, 3)]
                found += [f"{left} - {right} == {value}" for value in constants if value]
                for third in names:
                    if third not in (left, right) and left < right:
                        found.append(f"{left} + {right} == {third}")
                        # Sums kept equal: one variable gains what another loses, or two move together.
                        found += [f"{left} + {right} == {third} + {fourth}" for fourth in names
                                  if fourth not in (left, right) and third < fourth]
                        found += [f"{left} + {right} == {third} + {value}" for value in constants if value > 0]
                        found += [f"{factor} * {third} == {left} + {right}" for factor in (2, 3)]
                if left < right:
                    found += [f"{left} + {right} {operator} {value}" for value in constants
                              for operator in ("<=", ">=", "==")]
    rng.shuffle(found)
    # Relations between variables first, most of the time: bounds by a constant are the easy part.
    if rng.random() < 0.7:
        found.sort(key=lambda text: len(set(re.findall(r"[A-Za-z_]\w*", text))) < 2)
    # A loop whose variables move in step keeps equalities of sums and multiples: assert one of them first.
    if loop.in_step and rng.random() < 0.7:
        found.sort(key=lambda text: not (" == " in text and ("+" in text or "*" in text)))
    return found


def _exit_states(program: Program, rng: random.Random) -> list[dict[str, int]]:
    exits = []
    for _ in range(_RUNS):
        # Small inputs (0, 1, ...) as often as wide ones: they are where loops run zero times.
        initial = {name: rng.randint(-3, 3) if rng.random() < 0.5 else rng.randint(-30, 30) for name in program.variables}
        states = loop_head_states(program, initial, lambda: rng.random() < 0.5, _MAX_ITERATIONS)
        if not states:
            continue
        last = states[-1]
        if any(abs(value) > MAX_MAGNITUDE for value in last.values()):
            continue
        if program.guard is None:
            exits += states  # while (unknown()) may leave at any head state
        elif not evaluate(program.guard, last, lambda: False):
            exits.append(last)
    return exits


def _holds(condition, state: dict[str, int]) -> bool:
    return bool(evaluate(condition, state, lambda: False))


def synth_program(rng: random.Random) -> str | None:
    """One program whose assertion holds at the exit of its sampled runs (or None when no candidate does)."""
    loop = _loop(rng)
    try:
        program = parse_program(_text(loop, "  assert(1);", random.Random(0)))
        exits = _exit_states(program, rng)
    except (ProgramError, RecursionError):
        return None
    if len({tuple(sorted(state.items())) for state in exits}) < 3:
        return None
    guard = program.guard
    condition_text = _condition(loop, rng) if rng.random() < 0.35 else None
    if condition_text:
        condition = _expression(condition_text)
        exits = [state for state in exits if _holds(condition, state)]
        if len(exits) < 3:
            return None
    # Random states that leave the loop: an assertion they all satisfy follows from the exit alone.
    probes = []
    for _ in range(_TRIVIAL_PROBES):
        state = {name: rng.randint(-50, 50) for name in program.variables}
        if (guard is None or not _holds(guard, state)) and (not condition_text or _holds(condition, state)):
            probes.append(state)
    # Most assertions are one relation; some are two, which take an invariant of two facts or more.
    wanted = 2 if rng.random() < 0.25 else 1
    chosen: list[str] = []
    for candidate in _candidates(loop, rng):
        node = _expression(candidate)
        if not all(_holds(node, state) for state in exits):
            continue
        if all(_holds(node, state) for state in probes):
            continue
        if not any(name in loop.assigned for name in re.findall(r"[A-Za-z_]\w*", candidate)):
            continue
        chosen.append(candidate)
        if len(chosen) == wanted:
            break
    if not chosen:
        return None
    relation = " && ".join(chosen)
    assertion = f"  if ({condition_text}) {{\n    assert({relation});\n  }}" if condition_text else f"  assert({relation});"
    return _text(loop, assertion, rng)


def _condition(loop: _Loop, rng: random.Random) -> str:
    """The condition of an assertion under an `if`: an input's sign or bound, or any variable against a
    constant. Its invariant then splits on cases (the assertion holds, or the condition does not)."""
    if loop.inputs and rng.random() < 0.6:
        name = rng.choice(loop.inputs)
        return rng.choice((f"{name} > 0", f"{name} > 0", f"{name} >= {rng.randint(1, 10)}", f"{name} < 0"))
    name = rng.choice(loop.declarations)
    return f"{name} {rng.choice(COMPARISONS)} {rng.choice(loop.constant_pool())}"


def synth_tasks(count: int, rng: random.Random, seed: int = 0) -> list[dict]:
    """`count` task mappings of new programs (tried until each has an assertion its sampled runs keep)."""
    tasks = []
    attempts = 0
    while len(tasks) < count and attempts < count * 50:
        attempts += 1
        program = synth_program(rng)
        if program is None:
            continue
        task_id = f"{SYNTH_PREFIX}{seed}.{len(tasks) + 1}"
        data = {"id": task_id, "kind": "invariant",
                "source": {"benchmark": "synthetic", "origin": f"veriloop train synth, seed {seed}"},
                "program": program}
        try:
            parse_task(data, task_id)
        except TaskFileError:
            continue
        tasks.append(data)
    return tasks


def synth_suite(out: Path, count: int, seed: int) -> int:
    """Write `count` synthetic tasks into the new folder `out` (atomically); return how many were written."""
    if out.exists():
        raise SynthError(f"{out} already exists; choose a new folder")
    if count < 1:
        raise SynthError("--count must be at least 1")
    tasks = synth_tasks(count, random.Random(seed), seed)
    with folder_written_atomically(out) as staging:
        for data in tasks:
            name = data["id"].replace("/", "_") + ".yaml"
            (staging / name).write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
    return len(tasks)
