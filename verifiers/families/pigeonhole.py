"""Pigeonhole: put every pigeon in exactly one hole, at most one pigeon per hole."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from verifiers.families.base import Family, InstanceModel, Key, Scheme, decode_assignment


class PigeonholeInstance(InstanceModel):
    pigeons: int = Field(ge=1, description="pigeons are 1..pigeons")
    holes: int = Field(ge=1, description="holes are 1..holes")


class Pigeonhole(Family):
    name = "pigeonhole"
    title = "pigeonhole"
    problem = "Put every pigeon 1..pigeons in exactly one hole 1..holes so that no hole holds two pigeons."
    bool_variables = "('in', p, h) is true exactly when pigeon p sits in hole h"
    int_variables = "('hole', p) is an Int: the hole of pigeon p"
    Instance = PigeonholeInstance

    def check(self, instance: PigeonholeInstance, solution: Mapping[int, int]) -> list[str]:
        violations = []
        for pigeon in range(1, instance.pigeons + 1):
            hole = solution.get(pigeon)
            if hole is None or not 1 <= hole <= instance.holes:
                violations.append(f"pigeon {pigeon} is in hole {hole}, not one of 1..{instance.holes}")
        for first, second in itertools.combinations(range(1, instance.pigeons + 1), 2):
            if solution.get(first) is not None and solution.get(first) == solution.get(second):
                violations.append(f"pigeons {first} and {second} share hole {solution[first]}")
        return violations

    def candidates(self, instance: PigeonholeInstance) -> Iterator[dict[int, int]]:
        for holes in itertools.product(range(1, instance.holes + 1), repeat=instance.pigeons):
            yield dict(enumerate(holes, start=1))

    def candidate_count(self, instance: PigeonholeInstance) -> int:
        return instance.holes ** instance.pigeons

    def small_instances(self) -> list[PigeonholeInstance]:
        return [PigeonholeInstance(pigeons=p, holes=h)
                for p, h in ((1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (1, 3), (4, 3), (2, 4))]

    def describe(self, instance: PigeonholeInstance) -> str:
        return f"{instance.pigeons} pigeon(s), {instance.holes} hole(s)"

    def show(self, instance: PigeonholeInstance, solution: Mapping[int, int]) -> str:
        return "holes " + ", ".join(f"{p}:{h}" for p, h in sorted(solution.items()))

    def bool_keys(self, instance: PigeonholeInstance) -> list[Key]:
        return [("in", p, h) for p in range(1, instance.pigeons + 1) for h in range(1, instance.holes + 1)]

    def int_keys(self, instance: PigeonholeInstance) -> list[Key]:
        return [("hole", p) for p in range(1, instance.pigeons + 1)]

    def decode(self, instance: PigeonholeInstance, scheme: Scheme, values: Mapping[Key, Any]) -> dict[int, int]:
        return decode_assignment(scheme, values, instance.pigeons, instance.holes, "in", "hole", "pigeon", "hole")
