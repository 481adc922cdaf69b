"""Generated sections of BENCHMARKS.md: each lies between two marker comments (`<!-- NAME:start -->`,
`<!-- NAME:end -->`, which the section's own text begins and ends with) and is replaced in place when
its benchmark runs again; a section not there yet is appended."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def publish(text: str, name: str, write: bool, heading: str = "") -> None:
    """Print the section; with `write`, put it into BENCHMARKS.md (under `heading` when appended)."""
    print(text)
    if not write:
        return
    start, end = markers(name)
    current = BENCHMARKS.read_text(encoding="utf-8")
    if start in current and end in current:
        updated = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: text, current, flags=re.S)
    else:
        updated = current.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") + text + "\n"
    BENCHMARKS.write_text(updated, encoding="utf-8")
