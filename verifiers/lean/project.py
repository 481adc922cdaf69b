"""Where Lean is: the user's Lean project (with Mathlib built), `lake`, and the Lean REPL.

Nothing is downloaded or built here: veriloop uses a Lean project the user already has.

- The project: the task's `lean_project` field, else `$VERILOOP_LEAN_PROJECT`. It must hold a
  lakefile (`lakefile.lean` or `lakefile.toml`) and a `lean-toolchain`; proofs are compiled inside it
  with `lake env lean`, so whatever it has built (Mathlib) can be imported.
- `lake`: `$VERILOOP_LAKE`, else `lake` on PATH, else `~/.elan/bin/lake`.
- The REPL (leanprover-community/repl, needed by the tactic search only): `$VERILOOP_LEAN_REPL`, a
  checkout in which `lake build` has made `.lake/build/bin/repl`; else the project's own dependency
  `.lake/packages/REPL` (a project that `require`s it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from verifiers.lean.types import LeanUnavailable

ENV_PROJECT = "VERILOOP_LEAN_PROJECT"
ENV_LAKE = "VERILOOP_LAKE"
ENV_REPL = "VERILOOP_LEAN_REPL"
LAKEFILES = ("lakefile.lean", "lakefile.toml")
REPL_BINARY = Path(".lake") / "build" / "bin" / "repl"

HOW_TO_PROVIDE = (f"set {ENV_PROJECT} to a Lean 4 project with Mathlib built (`lake exe cache get && lake build`) "
                  "and put `lake` on PATH (elan); see the README section \"Lean 4\"")


@dataclass(frozen=True)
class LeanProject:
    root: Path
    lake: Path

    @property
    def toolchain(self) -> str:
        return (self.root / "lean-toolchain").read_text(encoding="utf-8").strip()

    def repl_dir(self) -> Path:
        """The REPL checkout whose `.lake/build/bin/repl` to run; LeanUnavailable when there is none."""
        configured = os.environ.get(ENV_REPL)
        if configured:
            candidate = Path(configured).expanduser()
            if candidate.is_file() and candidate.name == "repl" and candidate.parent.parent.parent.name == ".lake":
                candidate = candidate.parents[3]  # the binary itself was given
            if not (candidate / REPL_BINARY).is_file():
                raise LeanUnavailable(f"no Lean REPL binary at {candidate / REPL_BINARY} (from ${ENV_REPL}); "
                                      "run `lake build` in the REPL checkout")
            return candidate
        packages = self.root / ".lake" / "packages"
        if packages.is_dir():
            for entry in sorted(packages.iterdir()):
                if entry.name.lower() == "repl" and (entry / REPL_BINARY).is_file():
                    return entry
        raise LeanUnavailable(f"no Lean REPL found: set {ENV_REPL} to a built leanprover-community/repl checkout "
                              f"(same Lean version as {self.root}), or `require REPL` in the project and `lake build repl`")


def find_lake() -> Path | None:
    configured = os.environ.get(ENV_LAKE)
    if configured:
        return Path(configured).expanduser() if Path(configured).expanduser().is_file() else None
    on_path = shutil.which("lake")
    if on_path:
        return Path(on_path)
    elan = Path.home() / ".elan" / "bin" / "lake"
    return elan if elan.is_file() else None


def find_project(configured: str | None = None) -> LeanProject:
    """The Lean project to use (a task's own setting wins over the environment); LeanUnavailable with a
    one-line reason and the remedy when there is no usable one."""
    location = configured or os.environ.get(ENV_PROJECT)
    if not location:
        raise LeanUnavailable(f"no Lean toolchain found: {HOW_TO_PROVIDE}")
    root = Path(location).expanduser().resolve()
    if not root.is_dir():
        raise LeanUnavailable(f"no Lean toolchain found: the Lean project {root} does not exist; {HOW_TO_PROVIDE}")
    if not any((root / name).is_file() for name in LAKEFILES):
        raise LeanUnavailable(f"no Lean toolchain found: {root} has no lakefile.lean or lakefile.toml; {HOW_TO_PROVIDE}")
    if not (root / "lean-toolchain").is_file():
        raise LeanUnavailable(f"no Lean toolchain found: {root} has no lean-toolchain file; {HOW_TO_PROVIDE}")
    lake = find_lake()
    if lake is None:
        raise LeanUnavailable(f"no Lean toolchain found: `lake` is not on PATH (nor ${ENV_LAKE}, nor ~/.elan/bin); "
                              f"{HOW_TO_PROVIDE}")
    return LeanProject(root=root, lake=lake)
