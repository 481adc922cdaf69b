"""Problem families of encoding tasks, by name (see `verifiers.families.base`)."""

from __future__ import annotations

from verifiers.families.base import DecodeError, Family, Scheme
from verifiers.families.colouring import Colouring
from verifiers.families.pigeonhole import Pigeonhole
from verifiers.families.queens import Queens
from verifiers.families.scheduling import Scheduling
from verifiers.families.sudoku import Sudoku

FAMILIES: dict[str, Family] = {family.name: family for family in (Colouring(), Pigeonhole(), Queens(), Sudoku(), Scheduling())}

__all__ = ["FAMILIES", "DecodeError", "Family", "Scheme"]
