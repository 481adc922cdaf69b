"""Files and folders that appear whole or not at all: written beside their place, then renamed into it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it, so it is set back at once)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the result gets a normal file's mode
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def folder_written_atomically(out: Path, replace: bool = False) -> Iterator[Path]:
    """A staging folder beside `out` to write into; when the block ends without an error it becomes `out`,
    with a normal folder's mode, and otherwise it is removed: the folder appears whole or not at all. With
    `replace`, an existing `out` is removed only then, once the new one is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700
        if replace and out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
