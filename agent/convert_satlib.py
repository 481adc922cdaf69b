"""Build `cnf` task files from a SATLIB folder with an `expected_status.csv` (path, family,
num_vars, num_clauses, expected).

`python -m agent convert satlib SRC DEST` writes one `DEST/<name>.yaml` per listed file (the formula
inline, so the suite works from a clean checkout) and `DEST/suite.yaml`. Each formula is read with
the verifier's DIMACS reader and must agree with the CSV's sizes; a file that cannot be converted is
reported by name and the others are still converted. Trailing whitespace is stripped from each line
(it means nothing in DIMACS and would force YAML into an escaped string); nothing else changes.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import ValidationError

from agent.convert import ConversionReport
from agent.tasks import Budget, CnfTask, Source, TaskFileError, dump_task, parse_task
from verifiers.base import REGISTRY, ReadsCnf

SATLIB_ORIGIN = "SATLIB benchmarks, as stored in teeaychem/otter_sat @ cf44f63 (decompressed)"
SATLIB_LICENSE = "SATLIB research benchmarks"
# One proposal (the solver); the solver and the proof check each get verifier_timeout_s.
SATLIB_BUDGET = Budget(max_proposals=1, timeout_s=300.0, verifier_timeout_s=120.0)


def convert_satlib(source: Path, destination: Path, benchmark: str = "satlib", origin: str | None = SATLIB_ORIGIN,
                   license: str | None = SATLIB_LICENSE, families: set[str] | None = None,
                   per_family: int | None = None) -> ConversionReport:
    """Convert the files listed in `source/expected_status.csv` (optionally only some families, and
    at most `per_family` files of each, in the CSV's order)."""
    listing = source / "expected_status.csv"
    if not listing.is_file():
        raise TaskFileError(f"{source}: no expected_status.csv (columns path, family, num_vars, num_clauses, expected)")
    with listing.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"path", "family", "num_vars", "num_clauses", "expected"} - set(rows[0] if rows else {})
    if missing:
        raise TaskFileError(f"{listing}: missing column(s) {', '.join(sorted(missing))}")
    verifier = REGISTRY.ability("cnf", ReadsCnf)
    report = ConversionReport()
    taken: dict[str, int] = {}
    for row in rows:
        family, relative = row["family"], row["path"]
        if families is not None and family not in families:
            continue
        if per_family is not None and taken.get(family, 0) >= per_family:
            continue
        name = Path(relative).stem
        try:
            text = "\n".join(line.rstrip() for line in (source / relative).read_text(encoding="utf-8").splitlines()) + "\n"
            variables, clauses = verifier.read_cnf(text)
            if (variables, len(clauses)) != (int(row["num_vars"]), int(row["num_clauses"])):
                raise ValueError(f"the file has {variables} variables and {len(clauses)} clauses, "
                                 f"the CSV says {row['num_vars']} and {row['num_clauses']}")
            expected = row["expected"].strip().upper()
            data = CnfTask(
                id=f"{benchmark}/{name}", kind="cnf", dimacs=text, expected=expected,
                description=f"SATLIB {family}: decide satisfiability with a certified answer.",
                source=Source(benchmark=benchmark, file=relative, origin=origin, license=license),
                budget=SATLIB_BUDGET,
            ).model_dump(mode="json", exclude_none=True)
            task = parse_task(data, name)
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, TaskFileError) as error:
            report.fail(name, error)
            continue
        report.write(destination / f"{name}.yaml", dump_task(task))
        taken[family] = taken.get(family, 0) + 1
    report.write_suite(destination, benchmark,
                       f"{len(report.written)} CNF formulas from SATLIB ({', '.join(sorted(taken))}); "
                       "solve each with a certified answer", origin, license)
    return report
