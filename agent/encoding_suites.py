"""Build the encoding and logic suites: `python -m agent convert encodings SPEC DEST` and
`python -m agent convert logic SRC DEST`.

Encoding suites come from a spec file (`tasks/specs/sat.yaml`, `tasks/specs/smt.yaml`) whose entries
are one of
- `satlib: flat30-60/flat30-1.cnf`: the graph behind a SATLIB flat graph-colouring instance, recovered
  from its CNF (see `recover_flat_graph`), or the pigeon and hole counts behind a SATLIB `holeN.cnf`;
  the recovered instance is re-encoded the way the file was and must give back exactly its clauses,
  so a recovery cannot silently be wrong. Their answer is SATLIB's.
- `family: ..., instance: {...}`: an instance written out in the spec;
- `family: ..., generate: {...}`: an instance generated from a seed (Sudoku puzzles and schedules
  with a planted solution).
The known answer (`expected`, used only for grading) comes from SATLIB, from a planted solution,
or from brute force over the family's candidates (the converter refuses an instance whose answer
it cannot establish one of these ways).

The logic suite takes the first N puzzles of LogicalDeduction, ProofWriter, FOLIO and ProntoQA in
the folder layout of Logic-LM's `data/` (JSON lists of {id, context, question, options, answer}).
AR-LSAT is left out: its questions ("could be true", "must be false", "EXCEPT") need other semantics
than "the option the premises entail".
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from agent.convert import ConversionReport
from agent.tasks import LiteralBlockDumper, Source, TaskFileError, dump_task, parse_task
from verifiers.base import REGISTRY, LabelsByBruteForce, ReadsCnf

SATLIB_ORIGIN = "SATLIB benchmarks, as stored in teeaychem/otter_sat @ cf44f63 (decompressed)"
LOGIC_ORIGIN = "teacherpeterpan/Logic-LLM @ d29f1e5, data/"
LOGIC_DATASETS = {"LogicalDeduction": "choice", "ProofWriter": "truth", "FOLIO": "truth", "ProntoQA": "truth"}
BRUTE_FORCE_LIMIT = 300_000  # candidates the converter will enumerate to establish an answer


class _CompactDumper(LiteralBlockDumper):
    """Writes each list of numbers on one line: an edge, a pair, a grid row."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flat = bool(value) and all(isinstance(item, (int, float)) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_CompactDumper.add_representer(list, _represent_list)


def dump_compact(task: Any) -> str:
    """`dump_task`'s layout, with numeric lists kept on one line."""
    return yaml.dump(yaml.safe_load(dump_task(task)), Dumper=_CompactDumper, sort_keys=False, allow_unicode=True,
                     width=120)


def read_dimacs(path: Path) -> list[list[int]]:
    """The clauses of a DIMACS file, read by the CNF verifier (PySAT's parser; SATLIB's `%` trailer cut)."""
    _, clauses = REGISTRY.ability("cnf", ReadsCnf).read_cnf(path.read_text(encoding="utf-8"))
    return clauses


def _canonical(clauses: list[list[int]]) -> list[tuple[int, ...]]:
    return sorted(tuple(sorted(clause)) for clause in clauses)


def recover_flat_graph(clauses: list[list[int]]) -> dict[str, Any]:
    """The colouring instance behind a SATLIB flat graph CNF (Culberson's `edge2cnf`): vertex v has
    the variables 3(v-1)+1..3(v-1)+3, each vertex has an at-least-one and three at-most-one
    clauses, and each edge u-v has one clause (-x(u,c) -x(v,c)) per colour c."""
    positive = [clause for clause in clauses if all(literal > 0 for literal in clause)]
    colours = len(positive[0]) if positive else 0
    vertices = len(positive)
    if colours < 2 or any(sorted(clause) != list(range(colours * i + 1, colours * i + colours + 1))
                          for i, clause in enumerate(sorted(positive, key=min))):
        raise ValueError("the positive clauses are not one at-least-one clause per vertex block")

    def vertex_colour(variable: int) -> tuple[int, int]:
        return (variable - 1) // colours + 1, (variable - 1) % colours + 1

    edges = set()
    for clause in clauses:
        if len(clause) == 2 and clause[0] < 0 and clause[1] < 0:
            (u, cu), (v, cv) = vertex_colour(-clause[0]), vertex_colour(-clause[1])
            if u != v and cu == cv:
                edges.add((min(u, v), max(u, v)))
    instance = {"vertices": vertices, "edges": [list(edge) for edge in sorted(edges)], "colours": colours}
    if _canonical(encode_flat(instance)) != _canonical(clauses):
        raise ValueError("the CNF is not exactly the edge2cnf encoding of the recovered graph")
    return instance


def encode_flat(instance: dict[str, Any]) -> list[list[int]]:
    """The edge2cnf encoding, used only to confirm a recovery."""
    k = instance["colours"]
    x = lambda v, c: k * (v - 1) + c  # noqa: E731
    clauses = []
    for v in range(1, instance["vertices"] + 1):
        clauses.append([x(v, c) for c in range(1, k + 1)])
        clauses += [[-x(v, a), -x(v, b)] for a, b in itertools.combinations(range(1, k + 1), 2)]
    for u, v in instance["edges"]:
        clauses += [[-x(u, c), -x(v, c)] for c in range(1, k + 1)]
    return clauses


def recover_pigeonhole(clauses: list[list[int]]) -> dict[str, Any]:
    """Pigeons and holes behind a SATLIB `holeN.cnf` (Hooker): one at-least-one clause per pigeon
    over its holes, and for every hole an at-most-one over the pigeons."""
    positive = [clause for clause in clauses if all(literal > 0 for literal in clause)]
    pigeons, holes = len(positive), len(positive[0]) if positive else 0
    instance = {"pigeons": pigeons, "holes": holes}
    x = lambda p, h: holes * (p - 1) + h  # noqa: E731
    expected = [[x(p, h) for h in range(1, holes + 1)] for p in range(1, pigeons + 1)]
    expected += [[-x(p, h), -x(q, h)] for h in range(1, holes + 1)
                 for p, q in itertools.combinations(range(1, pigeons + 1), 2)]
    if not positive or _canonical(expected) != _canonical(clauses):
        raise ValueError("the CNF is not exactly the pigeonhole encoding of the recovered counts")
    return instance


def sudoku_puzzle(box: int, givens: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """A puzzle with `givens` digits and the full grid it was cut from (its planted solution)."""
    size = box * box
    generator = random.Random(seed)
    pattern = [[(box * (r % box) + r // box + c) % size + 1 for c in range(size)] for r in range(size)]
    bands = generator.sample(range(box), box)
    rows = [band * box + r for band in bands for r in generator.sample(range(box), box)]
    stacks = generator.sample(range(box), box)
    columns = [stack * box + c for stack in stacks for c in generator.sample(range(box), box)]
    digits = generator.sample(range(1, size + 1), size)
    solved = [[digits[pattern[r][c] - 1] for c in columns] for r in rows]
    keep = set(generator.sample([(r, c) for r in range(size) for c in range(size)], givens))
    puzzle = [[solved[r][c] if (r, c) in keep else 0 for c in range(size)] for r in range(size)]
    return puzzle, solved


def planted_schedule(jobs: int, slots: int, capacity: int, conflicts: int, precedences: int,
                     seed: int) -> dict[str, Any]:
    """A schedule instance built around a hidden assignment that satisfies it."""
    if jobs > capacity * slots:
        raise ValueError(f"{jobs} jobs do not fit {slots} slots of capacity {capacity}")
    generator = random.Random(seed)
    order = list(range(1, jobs + 1))
    generator.shuffle(order)
    hidden = {job: index // capacity + 1 for index, job in enumerate(order)}
    pairs = list(itertools.combinations(range(1, jobs + 1), 2))
    generator.shuffle(pairs)
    conflict_pairs = [[a, b] for a, b in pairs if hidden[a] != hidden[b]][:conflicts]
    precedence_pairs = [[a, b] if hidden[a] < hidden[b] else [b, a] for a, b in pairs
                        if hidden[a] != hidden[b] and [a, b] not in conflict_pairs][:precedences]
    return {"jobs": jobs, "slots": slots, "capacity": capacity, "conflicts": conflict_pairs,
            "precedences": precedence_pairs}


def _brute_force_answer(kind: str, family: str, instance: dict[str, Any]) -> str:
    task = SimpleNamespace(family=family, instance=instance)
    REGISTRY.for_kind(kind).check_task(task)
    answer = REGISTRY.ability(kind, LabelsByBruteForce).brute_force_answer(task, BRUTE_FORCE_LIMIT)
    if answer is None:
        raise ValueError("too large to establish its answer by brute force; give `expected` with a reason")
    return answer


def _spec_entry(entry: dict[str, Any], data: Path, kind: str) -> tuple[str, str, dict[str, Any], str, Source | None, str]:
    """(task name, family, instance, expected, source, description) for one spec entry."""
    if "satlib" in entry:
        relative = str(entry["satlib"])
        path = data / relative
        if not path.is_file():
            raise ValueError(f"no file {path}")
        clauses = read_dimacs(path)
        name = Path(relative).stem
        source = Source(benchmark="satlib", file=relative, origin=SATLIB_ORIGIN, license="SATLIB research benchmarks")
        if name.startswith("hole"):
            return name, "pigeonhole", recover_pigeonhole(clauses), "unsat", source, \
                f"The pigeon and hole counts of SATLIB {relative}."
        return name, "colouring", recover_flat_graph(clauses), "sat", source, \
            f"The graph of SATLIB {relative} (a flat graph built with a hidden 3-colouring)."
    family = str(entry["family"])
    if "instance" in entry:
        instance = dict(entry["instance"])
        expected = entry.get("expected") or _brute_force_answer(kind, family, instance)
        return str(entry["name"]), family, instance, expected, None, str(entry.get("description", ""))
    settings = dict(entry["generate"])
    if family == "sudoku":
        puzzle, _ = sudoku_puzzle(settings["box"], settings["givens"], settings["seed"])
        instance = {"box": settings["box"], "grid": puzzle}
    elif family == "scheduling":
        instance = planted_schedule(**settings)
    else:
        raise ValueError(f"no generator for the family {family!r}")
    return str(entry["name"]), family, instance, "sat", None, "Generated around a planted solution."


def convert_encodings(spec_path: Path, destination: Path, data: Path) -> ConversionReport:
    """Write the task files a spec lists, and their suite.yaml."""
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TaskFileError(f"{spec_path}: cannot read the spec: {error}") from None
    if not isinstance(spec, dict) or spec.get("kind") not in ("sat_encoding", "smt_encoding") \
            or not isinstance(spec.get("tasks"), list):
        raise TaskFileError(f"{spec_path}: a spec needs `name`, `kind` (sat_encoding or smt_encoding) and `tasks`")
    kind, suite_name = spec["kind"], str(spec.get("name") or destination.name)
    report = ConversionReport()
    for number, entry in enumerate(spec["tasks"], start=1):
        label = str(entry.get("name") or entry.get("satlib") or number) if isinstance(entry, dict) else str(number)
        try:
            name, family, instance, expected, source, description = _spec_entry(entry, data, kind)
            data_out = {"id": f"{suite_name}/{name}", "kind": kind, "family": family, "instance": instance,
                        "expected": expected, "description": description,
                        "source": source.model_dump(exclude_none=True) if source else None}
            task = parse_task({key: value for key, value in data_out.items() if value is not None}, label)
        except (KeyError, TypeError, ValueError, TaskFileError) as error:
            report.fail(label, error)
            continue
        report.write(destination / f"{name}.yaml", dump_compact(task))
    report.write_suite(destination, suite_name, spec.get("description") or f"{len(report.written)} tasks")
    return report


def convert_logic(source: Path, destination: Path, per_dataset: int) -> ConversionReport:
    """The first `per_dataset` puzzles of each data set in LOGIC_DATASETS found under `source`."""
    report = ConversionReport()
    for dataset, style in LOGIC_DATASETS.items():
        path = source / dataset / "dev.json"
        if not path.is_file():
            report.fail(dataset, f"no {path}")
            continue
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            report.fail(dataset, f"cannot read {path}: {error}")
            continue
        for record in records[:per_dataset]:
            label = f"{dataset}/{record.get('id')}"
            try:
                task = parse_task({
                    "id": f"logic/{record['id']}", "kind": "logic", "style": style,
                    "context": record["context"], "question": record["question"], "options": record["options"],
                    "expected": record["answer"],
                    "source": {"benchmark": dataset, "file": f"{dataset}/dev.json", "origin": LOGIC_ORIGIN,
                               "license": "MIT (Logic-LLM); the data sets keep their own licences"},
                }, label)
            except (KeyError, TypeError, TaskFileError) as error:
                report.fail(label, error)
                continue
            report.write(destination / f"{str(record['id']).replace('/', '_')}.yaml", dump_task(task))
    report.write_suite(destination, "logic", f"the first {per_dataset} puzzles of each of "
                       f"{', '.join(LOGIC_DATASETS)} (Logic-LM's dev split)")
    return report
