"""Build loop-invariant task files and a suite from a benchmark folder.

`python -m agent convert code2inv SRC DEST` reads a folder laid out like Code2Inv (`c/N.c` beside
`c_smt2/N.c.smt`); `python -m agent convert sygus SRC DEST` reads SyGuS-Inv `.sl` files (turned into
Code2Inv-layout templates by `verifiers.transition`). Both write `DEST/N.yaml` for each problem and
`DEST/suite.yaml` listing them. A program or template that cannot be converted is reported by name
and the others are still converted. Files are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.cprogram import ProgramError
from agent.files import write_atomically
from agent.tasks import Budget, InvariantTask, Source, TaskFileError, dump_task, parse_task
from verifiers.base import REGISTRY
from verifiers.transition import SygusError, sygus_to_template

CODE2INV_ORIGIN = "PL-ML/code2inv @ 336a706, benchmarks/C_instances"
SYGUS_ORIGIN = "SyGuS-Org/benchmarks @ 13c8deb, lib/Inv_Track/from_2018"


def _first_line(error: BaseException | str) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


@dataclass
class ConversionReport:
    """What a converter wrote and what it could not convert (by name, with a one-line reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    suite: Path | None = None
    disagreements: dict[str, str] = field(default_factory=dict)  # name -> where template and program differ
    program_only: dict[str, str] = field(default_factory=dict)  # name -> why its template was not used

    def fail(self, name: str, error: BaseException | str) -> None:
        self.failed[name] = _first_line(error).removeprefix(f"{name}: ")

    def write(self, path: Path, text: str) -> None:
        write_atomically(path, text)
        self.written.append(path)

    def write_suite(self, destination: Path, name: str, description: str, origin: str | None = None,
                    license: str | None = None) -> None:
        """`destination/suite.yaml` listing the tasks written, when there are any."""
        if not self.written:
            return
        suite: dict = {"name": name, "description": description}
        source = {key: value for key, value in (("origin", origin), ("license", license)) if value}
        if source:
            suite["source"] = source
        suite["tasks"] = [path.name for path in self.written]
        self.suite = destination / "suite.yaml"
        write_atomically(self.suite, yaml.safe_dump(suite, sort_keys=False, allow_unicode=True))


def _number_key(path: Path) -> tuple[int, str]:
    digits = re.match(r"\d+", path.name)
    return (int(digits.group(0)) if digits else 1 << 30, path.name)


_UNUSABLE = (OSError, UnicodeDecodeError, ValueError, ValidationError, ProgramError, TaskFileError)


def _invariant_task(name: str, program: str, template: str | None, source_fields: dict[str, Any],
                    budget: Budget | None, verifier: Any) -> InvariantTask:
    """The checked task of one Code2Inv-layout program, with its template or (None) the program's own."""
    data = {"id": f"{source_fields['benchmark']}/{name}", "kind": "invariant", "program": program,
            "source": Source(file=f"c/{name}.c", **source_fields).model_dump(mode="json", exclude_none=True),
            "budget": (budget or Budget()).model_dump(mode="json", exclude_none=True)}
    if template is not None:
        data["vc_template"] = template
    task = parse_task(data, f"{name}")
    verifier.check_task(task)
    if not task.program_variables:
        raise ValueError("none of the program's variables is a parameter of inv-f")
    return task


def convert_code2inv(source: Path, destination: Path, benchmark: str = "code2inv",
                     origin: str | None = CODE2INV_ORIGIN, license: str | None = None,
                     budget: Budget | None = None, cross_check: bool = False) -> ConversionReport:
    """Convert every `c/*.c` under `source`, with its `c_smt2/*.c.smt` template, into `destination`. A program
    whose template is missing or cannot be used becomes a task of the program alone (its own template is
    derived from the C text, as for `solve FILE.c`), and the report says why. With `cross_check`, compare each
    template with its program on the program's runs (`agent.c_transition.cross_check_template`) and report
    where they differ (the task is still written)."""
    programs_dir, templates_dir = source / "c", source / "c_smt2"
    if not programs_dir.is_dir() or not templates_dir.is_dir():
        raise TaskFileError(f"{source}: expected folders c/ and c_smt2/ (Code2Inv layout)")
    verifier = REGISTRY.for_kind("invariant")
    report = ConversionReport()
    source_fields = {"benchmark": benchmark, "origin": origin, "license": license}
    names = {path.name[: -len(".c")] for path in programs_dir.glob("*.c")}
    names |= {path.name[: -len(".c.smt")] for path in templates_dir.glob("*.c.smt")}
    for name in sorted(names, key=lambda n: _number_key(Path(n))):
        program_path, template_path = programs_dir / f"{name}.c", templates_dir / f"{name}.c.smt"
        if not program_path.is_file():
            report.failed[name] = f"no program c/{name}.c for the template"
            continue
        try:
            program = program_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            report.fail(name, error)
            continue
        template = None
        try:
            if not template_path.is_file():
                raise TaskFileError(f"no template c_smt2/{name}.c.smt")
            template = template_path.read_text(encoding="utf-8")
            task = _invariant_task(name, program, template, source_fields, budget, verifier)
        except _UNUSABLE as template_error:
            try:
                task = _invariant_task(name, program, None, source_fields, budget, verifier)
            except _UNUSABLE as error:
                report.fail(name, error)
                continue
            template = None
            report.program_only[name] = _first_line(template_error).removeprefix(f"{name}: ")
        if cross_check and template is not None:
            from agent.c_transition import cross_check_template

            found = cross_check_template(program, template)
            if found:
                report.disagreements[name] = f"{found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
        if template is None:  # the file holds the program alone; loading it derives the template again
            task = task.model_copy(update={"vc_template": ""})
        report.write(destination / f"{name}.yaml", dump_task(task))
    report.write_suite(destination, benchmark, f"{len(report.written)} loop-invariant tasks converted from {source.name}",
                       origin, license)
    return report


def convert_sygus(source: Path, destination: Path, benchmark: str = "sygus", origin: str | None = SYGUS_ORIGIN,
                  license: str | None = None, budget: Budget | None = None) -> ConversionReport:
    """Convert every `*.sl` SyGuS-Inv file under `source` into an invariant task without a C program."""
    if not source.is_dir():
        raise TaskFileError(f"{source}: no such folder (expected SyGuS-Inv .sl files)")
    files = sorted(source.glob("*.sl"))
    if not files:
        raise TaskFileError(f"{source}: no .sl files")
    verifier = REGISTRY.for_kind("invariant")
    report = ConversionReport()
    for path in files:
        name = path.name[: -len(".sl")]
        try:
            template = sygus_to_template(path.read_text(encoding="utf-8"))
            data = InvariantTask(
                id=f"{benchmark}/{name}", kind="invariant", vc_template=template,
                description="A SyGuS-Inv problem: pre-f, trans-f and post-f are given in SMT-LIB; x! is x after one step.",
                source=Source(benchmark=benchmark, file=path.name, origin=origin, license=license),
                budget=budget or Budget(),
            ).model_dump(mode="json", exclude_none=True)
            task = parse_task(data, name)
            verifier.check_task(task)
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, SygusError, TaskFileError) as error:
            report.fail(name, error)
            continue
        report.write(destination / f"{name}.yaml", dump_task(task))
    report.write_suite(destination, benchmark, f"{len(report.written)} loop-invariant tasks converted from "
                       f"SyGuS-Inv files in {source.name}", origin, license)
    return report
