"""An offline text corpus that exists on every machine: the project's task files, the shared benchmark files
(C, SMT-LIB, SyGuS, DIMACS, Lean) and the Python standard library's sources.

Documents are read in a seeded shuffled order, mixed by source, and cut into fixed windows of tokens by `collect`.
"""

from __future__ import annotations

import os
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
DATA_SUFFIXES = {".c": "c", ".smt": "smt-lib", ".smt2": "smt-lib", ".sl": "sygus", ".cnf": "dimacs", ".lean": "lean"}
MAX_DOCUMENT_CHARS = 6000  # long files (big CNFs, stdlib modules) contribute their start, so no one file dominates


@dataclass(frozen=True)
class Document:
    source: str  # "tasks", "c", "smt-lib", "sygus", "dimacs", "lean", "python"
    path: str
    text: str


def shared_data_dir(data: Path | None = None) -> Path | None:
    """The shared benchmark data: `data`, else $VERILOOP_SHARED_DATA, else `../shared/data` beside the checkout."""
    candidate = data or Path(os.environ.get("VERILOOP_SHARED_DATA") or REPO.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


def _files(root: Path, suffixes: set[str]) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file() and path.suffix in suffixes)


def document_paths(data: Path | None = None) -> list[tuple[str, Path]]:
    paths: list[tuple[str, Path]] = [("tasks", path) for path in _files(REPO / "tasks", {".yaml", ".yml"})]
    shared = shared_data_dir(data)
    if shared is not None:
        paths += [(DATA_SUFFIXES[path.suffix], path) for path in _files(shared, set(DATA_SUFFIXES))]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths += [("python", path) for path in sorted(stdlib.glob("*.py"))]
    paths += [("python", path) for path in sorted(stdlib.glob("[a-z]*/*.py")) if "test" not in path.parts]
    return paths


def documents(seed: int = 0, data: Path | None = None) -> Iterator[Document]:
    """All documents once, in a seeded order that interleaves the sources."""
    by_source: dict[str, list[Path]] = {}
    for source, path in document_paths(data):
        by_source.setdefault(source, []).append(path)
    rng = random.Random(seed)
    for paths in by_source.values():
        rng.shuffle(paths)
    queues = {source: iter(paths) for source, paths in sorted(by_source.items())}
    while queues:
        for source in list(queues):
            path = next(queues[source], None)
            if path is None:
                del queues[source]
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="replace")[:MAX_DOCUMENT_CHARS]
            except OSError:
                continue
            if text.strip():
                yield Document(source, str(path), text)
