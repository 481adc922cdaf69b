"""N-queens: place n queens on an n x n board so that no two attack each other."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from verifiers.families.base import DecodeError, Family, InstanceModel, Key, Scheme, integer_values

Board = frozenset[tuple[int, int]]


class QueensInstance(InstanceModel):
    n: int = Field(ge=1, le=64, description="the board is n x n; rows and columns are 1..n")


class Queens(Family):
    name = "queens"
    title = "N-queens"
    problem = ("Place exactly n queens on the n x n board (rows and columns 1..n) so that no two share a row,"
               " a column or a diagonal.")
    bool_variables = "('queen', r, c) is true exactly when a queen stands on row r, column c"
    int_variables = "('queen', r) is an Int: the column of the queen on row r"
    Instance = QueensInstance

    def check(self, instance: QueensInstance, solution: Board) -> list[str]:
        violations = []
        n = instance.n
        outside = [cell for cell in solution if not (1 <= cell[0] <= n and 1 <= cell[1] <= n)]
        violations += [f"the queen at row {r}, column {c} is off the board" for r, c in sorted(outside)]
        if len(solution) != n:
            violations.append(f"there are {len(solution)} queens, not {n}")
        for (r1, c1), (r2, c2) in itertools.combinations(sorted(solution), 2):
            if r1 == r2:
                line = "row"
            elif c1 == c2:
                line = "column"
            elif abs(r1 - r2) == abs(c1 - c2):
                line = "diagonal"
            else:
                continue
            violations.append(f"the queens at ({r1},{c1}) and ({r2},{c2}) share a {line}")
        return violations

    def candidates(self, instance: QueensInstance) -> Iterator[Board]:
        # Every solution has one queen per row, so these placements contain all solutions.
        for columns in itertools.product(range(1, instance.n + 1), repeat=instance.n):
            yield frozenset(enumerate(columns, start=1))

    def candidate_count(self, instance: QueensInstance) -> int:
        return instance.n ** instance.n

    def small_instances(self) -> list[QueensInstance]:
        return [QueensInstance(n=n) for n in range(1, 6)]

    def describe(self, instance: QueensInstance) -> str:
        return f"n = {instance.n}"

    def show(self, instance: QueensInstance, solution: Board) -> str:
        return "queens at " + " ".join(f"({r},{c})" for r, c in sorted(solution))

    def bool_keys(self, instance: QueensInstance) -> list[Key]:
        return [("queen", r, c) for r in range(1, instance.n + 1) for c in range(1, instance.n + 1)]

    def int_keys(self, instance: QueensInstance) -> list[Key]:
        return [("queen", r) for r in range(1, instance.n + 1)]

    def decode(self, instance: QueensInstance, scheme: Scheme, values: Mapping[Key, Any]) -> Board:
        if scheme.kind == "bool":
            return frozenset((key[1], key[2]) for key in scheme.keys if values[key])
        columns = integer_values(list(range(1, instance.n + 1)), lambda r: ("queen", r), values)
        for row, column in columns.items():
            if not 1 <= column <= instance.n:
                raise DecodeError(f"the queen of row {row} is in column {column}, not one of 1..{instance.n}")
        return frozenset(columns.items())
