"""Build Lean task files from miniF2F in Lean 4 (one theorem per `.lean` file, proofs `by sorry`).

`python -m agent convert minif2f SRC DEST` reads `SRC/valid/*.lean` (or `SRC/*.lean`) and writes
`DEST/NAME.yaml` for each theorem plus `DEST/suite.yaml`. Each file's text before the theorem is the
task's header and the theorem up to `:= by sorry` its statement, both verbatim (the test suite checks
that header + statement + ` := by sorry` gives the file back). When a DeepSeek-Prover style jsonl is
found beside the files (`minif2f_valid.jsonl`, with `name` and `informal_prefix`), each task's
description is the theorem's informal statement; its `formal_statement` targets an older Mathlib and is
not used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from agent.convert import ConversionReport
from agent.tasks import Budget, LeanRepository, LeanTask, Source, TaskFileError, dump_task, parse_task

MINIF2F_ORIGIN = "yangky11/miniF2F-lean4 @ 5746b7d (informal statements: deepseek-ai/DeepSeek-Prover-V1.5 @ 2c4ba91)"
MINIF2F_REPOSITORY = "https://github.com/yangky11/miniF2F-lean4"
MINIF2F_COMMIT = "5746b7d"
# A miniF2F problem gets a pass@k-style budget: tactic samples, expansions (task.search) and time;
# compiling a Mathlib file from scratch takes tens of seconds, hence the verifier's limit.
MINIF2F_BUDGET = Budget(max_proposals=512, samples_per_step=8, timeout_s=600.0, verifier_timeout_s=300.0,
                        max_new_tokens=64)

_THEOREM = re.compile(r"^(?:theorem|lemma)\s+(\S+)", re.MULTILINE)
_SORRY_PROOF = re.compile(r"\s*:=\s*by\s+sorry\s*$")


def split_theorem_file(text: str) -> tuple[str, str, str]:
    """(header, statement, theorem name) of a file holding one theorem proved `by sorry`."""
    theorems = list(_THEOREM.finditer(text))
    if len(theorems) != 1:
        raise ValueError(f"expected one theorem, found {len(theorems)}")
    proof = _SORRY_PROOF.search(text)
    if proof is None or proof.start() < theorems[0].start():
        raise ValueError("the theorem does not end with `:= by sorry`")
    return text[: theorems[0].start()], text[theorems[0].start(): proof.start()], theorems[0].group(1)


def informal_statements(source: Path) -> dict[str, str]:
    """Theorem name -> informal statement, from a DeepSeek-Prover style jsonl beside the files."""
    statements: dict[str, str] = {}
    for jsonl in sorted({*source.glob("*.jsonl"), *source.parent.glob("*.jsonl")}):
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            informal = str(record.get("informal_prefix") or "").strip()
            informal = informal.removeprefix("/--").removesuffix("-/").strip()
            if record.get("name") and informal:
                statements[record["name"]] = informal
    return statements


def convert_minif2f(source: Path, destination: Path, benchmark: str = "minif2f-valid",
                    origin: str | None = MINIF2F_ORIGIN, license: str | None = "MIT") -> ConversionReport:
    folder = source / "valid" if (source / "valid").is_dir() else source
    files = sorted(folder.glob("*.lean"))
    if not files:
        raise TaskFileError(f"{source}: no .lean files (expected SRC/valid/*.lean or SRC/*.lean)")
    informal = informal_statements(folder)
    report = ConversionReport()
    for path in files:
        name = path.stem
        try:
            header, statement, theorem_name = split_theorem_file(path.read_text(encoding="utf-8"))
            if theorem_name != name:
                raise ValueError(f"the file's theorem is {theorem_name!r}")
            data = LeanTask(
                id=f"minif2f/valid/{name}", kind="lean", description=informal.get(name, ""),
                header=header, statement=statement, theorem_name=theorem_name,
                source=Source(benchmark=benchmark, file=f"{folder.name}/{path.name}", origin=origin, license=license),
                repository=LeanRepository(url=MINIF2F_REPOSITORY, commit=MINIF2F_COMMIT,
                                          file_path=f"MiniF2F/Valid/{path.name}"),
                budget=MINIF2F_BUDGET,
            ).model_dump(mode="json", exclude_none=True)
            task = parse_task(data, name)
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, TaskFileError) as error:
            report.fail(name, error)
            continue
        report.write(destination / f"{name}.yaml", dump_task(task))
    report.write_suite(destination, benchmark,
                       f"{len(report.written)} miniF2F theorems (Lean 4, Mathlib) converted from {folder.name}/",
                       origin, license)
    return report
