"""Sudoku: fill an N x N grid (N = box * box) so that rows, columns and boxes hold 1..N once each."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from verifiers.families.base import DecodeError, Family, InstanceModel, Key, Scheme, exactly_one, integer_values

Grid = tuple[tuple[int, ...], ...]
# A solved 4 x 4 grid; the small instances blank some of its cells (or contradict it).
_SOLVED_4 = ((1, 2, 3, 4), (3, 4, 1, 2), (2, 1, 4, 3), (4, 3, 2, 1))


class SudokuInstance(InstanceModel):
    box: int = Field(ge=2, le=4, description="the grid is N x N with N = box * box")
    grid: Grid = Field(description="N rows of N numbers; 0 is an empty cell, 1..N a given digit")


def _blank(grid: Grid, cells: list[tuple[int, int]]) -> Grid:
    return tuple(tuple(0 if (r, c) in cells else grid[r][c] for c in range(len(grid))) for r in range(len(grid)))


class Sudoku(Family):
    name = "sudoku"
    title = "Sudoku"
    problem = ("Fill every cell of the N x N grid (N = box*box; rows and columns 1..N) with a digit 1..N so that"
               " each row, each column and each box*box box holds every digit once, keeping the given digits.")
    bool_variables = "('cell', r, c, d) is true exactly when the cell on row r, column c holds digit d"
    int_variables = "('cell', r, c) is an Int: the digit on row r, column c"
    Instance = SudokuInstance

    def validate(self, instance: SudokuInstance) -> None:
        size = instance.box * instance.box
        if len(instance.grid) != size or any(len(row) != size for row in instance.grid):
            raise ValueError(f"instance.grid: must be {size} rows of {size} numbers")
        if any(not 0 <= value <= size for row in instance.grid for value in row):
            raise ValueError(f"instance.grid: cells hold 0 (empty) or 1..{size}")

    @staticmethod
    def _units(box: int) -> list[tuple[str, list[tuple[int, int]]]]:
        size = box * box
        units = [(f"row {r + 1}", [(r, c) for c in range(size)]) for r in range(size)]
        units += [(f"column {c + 1}", [(r, c) for r in range(size)]) for c in range(size)]
        for top, left in itertools.product(range(0, size, box), repeat=2):
            cells = [(top + r, left + c) for r in range(box) for c in range(box)]
            units.append((f"the box at row {top + 1}, column {left + 1}", cells))
        return units

    def check(self, instance: SudokuInstance, solution: Grid) -> list[str]:
        size = instance.box * instance.box
        if len(solution) != size or any(len(row) != size for row in solution):
            return [f"the grid is not {size} x {size}"]
        violations = []
        for r, c in itertools.product(range(size), repeat=2):
            if not 1 <= solution[r][c] <= size:
                violations.append(f"row {r + 1}, column {c + 1} holds {solution[r][c]}, not a digit 1..{size}")
            given = instance.grid[r][c]
            if given and solution[r][c] != given:
                violations.append(f"row {r + 1}, column {c + 1} holds {solution[r][c]} but {given} is given there")
        for name, cells in self._units(instance.box):
            digits = [solution[r][c] for r, c in cells]
            for digit in sorted(set(digits)):
                if digits.count(digit) > 1:
                    violations.append(f"{name} holds {digit} {digits.count(digit)} times")
        return violations

    def candidates(self, instance: SudokuInstance) -> Iterator[Grid]:
        size = instance.box * instance.box
        empty = [(r, c) for r in range(size) for c in range(size) if not instance.grid[r][c]]
        for digits in itertools.product(range(1, size + 1), repeat=len(empty)):
            filled = [list(row) for row in instance.grid]
            for (r, c), digit in zip(empty, digits):
                filled[r][c] = digit
            yield tuple(tuple(row) for row in filled)

    def candidate_count(self, instance: SudokuInstance) -> int:
        size = instance.box * instance.box
        return size ** sum(1 for row in instance.grid for value in row if not value)

    def small_instances(self) -> list[SudokuInstance]:
        contradiction = [list(row) for row in _blank(_SOLVED_4, [(0, 0), (1, 1), (2, 2), (3, 3)])]
        contradiction[0][1] = 1  # column 2 now holds the given 1 twice
        # Givens without a repeated digit, yet row 1, column 3 can only take 3, which row 1 already has.
        no_completion = ((3, 0, 0, 0), (0, 4, 1, 2), (2, 1, 4, 0), (4, 3, 2, 1))
        return [
            SudokuInstance(box=2, grid=_blank(_SOLVED_4, [(0, 0), (1, 2), (2, 1), (3, 3)])),
            SudokuInstance(box=2, grid=_blank(_SOLVED_4, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (3, 3)])),
            SudokuInstance(box=2, grid=_blank(_SOLVED_4, [(0, 0), (0, 1), (2, 0), (2, 1), (3, 3)])),
            SudokuInstance(box=2, grid=tuple(tuple(row) for row in contradiction)),
            SudokuInstance(box=2, grid=no_completion),
            SudokuInstance(box=2, grid=_SOLVED_4),
        ]

    def describe(self, instance: SudokuInstance) -> str:
        rows = " / ".join("".join(str(value) if value else "." for value in row) for row in instance.grid)
        return f"box {instance.box}, grid {rows}"

    def show(self, instance: SudokuInstance, solution: Grid) -> str:
        return "grid " + " / ".join("".join(map(str, row)) for row in solution)

    def bool_keys(self, instance: SudokuInstance) -> list[Key]:
        size = instance.box * instance.box
        return [("cell", r, c, d) for r in range(1, size + 1) for c in range(1, size + 1) for d in range(1, size + 1)]

    def int_keys(self, instance: SudokuInstance) -> list[Key]:
        size = instance.box * instance.box
        return [("cell", r, c) for r in range(1, size + 1) for c in range(1, size + 1)]

    def decode(self, instance: SudokuInstance, scheme: Scheme, values: Mapping[Key, Any]) -> Grid:
        size = instance.box * instance.box
        cells = [(r, c) for r in range(1, size + 1) for c in range(1, size + 1)]
        if scheme.kind == "bool":
            digits = exactly_one(cells, list(range(1, size + 1)), lambda cell, d: ("cell", *cell, d), values,
                                 lambda cell: f"row {cell[0]}, column {cell[1]}")
        else:
            digits = integer_values(cells, lambda cell: ("cell", *cell), values)
            for (r, c), digit in digits.items():
                if not 1 <= digit <= size:
                    raise DecodeError(f"row {r}, column {c} holds {digit}, not a digit 1..{size}")
        return tuple(tuple(digits[(r, c)] for c in range(1, size + 1)) for r in range(1, size + 1))
