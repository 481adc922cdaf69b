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

import yaml
from pydantic import ValidationError

from agent.cprogram import ProgramError
from agent.files import write_atomically
from agent.tasks import Budget, InvariantTask, Source, TaskFileError, dump_task, parse_task
from verifiers.base import REGISTRY
from verifiers.transition import SygusError, sygus_to_template

CODE2INV_ORIGIN = "PL-ML/code2inv @ 336a706, benchmarks/C_instances"
SYGUS_ORIGIN = "SyGuS-Org/benchmarks @ 13c8deb, lib/Inv_Track/from_2018"


@dataclass
class ConversionReport:
    """What a converter wrote and what it could not convert (by name, with a one-line reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    suite: Path | None = None
    disagreements: dict[str, str] = field(default_factory=dict)  # name -> where template and program differ

    def fail(self, name: str, error: BaseException | str) -> None:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.failed[name] = reason.removeprefix(f"{name}: ")

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


def convert_code2inv(source: Path, destination: Path, benchmark: str = "code2inv",
                     origin: str | None = CODE2INV_ORIGIN, license: str | None = None,
                     budget: Budget | None = None, cross_check: bool = False) -> ConversionReport:
    """Convert every `c/*.c` with a matching `c_smt2/*.c.smt` under `source` into `destination`; with
    `cross_check`, compare each template with its program on the program's runs
    (`agent.c_transition.cross_check_template`) and report where they differ (the task is still written)."""
    programs_dir, templates_dir = source / "c", source / "c_smt2"
    if not programs_dir.is_dir() or not templates_dir.is_dir():
        raise TaskFileError(f"{source}: expected folders c/ and c_smt2/ (Code2Inv layout)")
    verifier = REGISTRY.for_kind("invariant")
    report = ConversionReport()
    names = {path.name[: -len(".c")] for path in programs_dir.glob("*.c")}
    names |= {path.name[: -len(".c.smt")] for path in templates_dir.glob("*.c.smt")}
    for name in sorted(names, key=lambda n: _number_key(Path(n))):
        program_path, template_path = programs_dir / f"{name}.c", templates_dir / f"{name}.c.smt"
        if not program_path.is_file():
            report.failed[name] = f"no program c/{name}.c for the template"
            continue
        if not template_path.is_file():
            report.failed[name] = f"no template c_smt2/{name}.c.smt for the program"
            continue
        try:
            program = program_path.read_text(encoding="utf-8")
            template = template_path.read_text(encoding="utf-8")
            data = InvariantTask(
                id=f"{benchmark}/{name}", kind="invariant", program=program, vc_template=template,
                source=Source(benchmark=benchmark, file=f"c/{name}.c", origin=origin, license=license),
                budget=budget or Budget(),
            ).model_dump(mode="json", exclude_none=True)
            task = parse_task(data, f"{name}")
            verifier.check_task(task)
            if not task.program_variables:
                raise ValueError("none of the program's variables is a parameter of inv-f")
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, ProgramError, TaskFileError) as error:
            report.fail(name, error)
            continue
        if cross_check:
            from agent.c_transition import cross_check_template

            found = cross_check_template(program, template)
            if found:
                report.disagreements[name] = f"{found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
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
