"""Graph colouring: give each vertex one of k colours so that adjacent vertices differ."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from verifiers.families.base import Family, InstanceModel, Key, Scheme, decode_assignment


class ColouringInstance(InstanceModel):
    vertices: int = Field(ge=1, description="vertices are 1..vertices")
    edges: tuple[tuple[int, int], ...] = Field(description="pairs [u, v] of adjacent vertices")
    colours: int = Field(ge=1, description="colours are 1..colours")


class Colouring(Family):
    name = "colouring"
    title = "graph colouring"
    problem = ("Give every vertex 1..vertices exactly one colour 1..colours so that the two ends of every edge"
               " have different colours.")
    bool_variables = "('color', v, c) is true exactly when vertex v has colour c"
    int_variables = "('color', v) is an Int: the colour of vertex v"
    Instance = ColouringInstance

    def validate(self, instance: ColouringInstance) -> None:
        for u, v in instance.edges:
            if not (1 <= u <= instance.vertices and 1 <= v <= instance.vertices):
                raise ValueError(f"instance.edges: edge {u}-{v} names a vertex outside 1..{instance.vertices}")
            if u == v:
                raise ValueError(f"instance.edges: edge {u}-{v} is a loop; no colouring exists")

    def check(self, instance: ColouringInstance, solution: Mapping[int, int]) -> list[str]:
        violations = []
        for vertex in range(1, instance.vertices + 1):
            colour = solution.get(vertex)
            if colour is None or not 1 <= colour <= instance.colours:
                violations.append(f"vertex {vertex} has colour {colour}, not one of 1..{instance.colours}")
        for u, v in instance.edges:
            if solution.get(u) is not None and solution.get(u) == solution.get(v):
                violations.append(f"edge {u}-{v}: both ends have colour {solution[u]}")
        return violations

    def candidates(self, instance: ColouringInstance) -> Iterator[dict[int, int]]:
        for colours in itertools.product(range(1, instance.colours + 1), repeat=instance.vertices):
            yield dict(enumerate(colours, start=1))

    def candidate_count(self, instance: ColouringInstance) -> int:
        return instance.colours ** instance.vertices

    def small_instances(self) -> list[ColouringInstance]:
        fixed = [
            ColouringInstance(vertices=3, edges=((1, 2), (2, 3), (1, 3)), colours=2),  # odd cycle: none
            ColouringInstance(vertices=3, edges=((1, 2), (2, 3), (1, 3)), colours=3),
            ColouringInstance(vertices=4, edges=((1, 2), (2, 3), (3, 4), (4, 1)), colours=2),
            ColouringInstance(vertices=4, edges=((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)), colours=3),  # K4
            ColouringInstance(vertices=3, edges=((1, 2),), colours=2),  # an isolated vertex
            ColouringInstance(vertices=2, edges=(), colours=1),
            ColouringInstance(vertices=1, edges=(), colours=3),
        ]
        generator = random.Random(7)
        for _ in range(2):
            pairs = [pair for pair in itertools.combinations(range(1, 6), 2) if generator.random() < 0.5]
            fixed.append(ColouringInstance(vertices=5, edges=tuple(pairs), colours=3))
        return fixed

    def describe(self, instance: ColouringInstance) -> str:
        edges = ", ".join(f"{u}-{v}" for u, v in instance.edges) or "none"
        return f"{instance.vertices} vertices, edges {edges}, {instance.colours} colour(s)"

    def show(self, instance: ColouringInstance, solution: Mapping[int, int]) -> str:
        return "colours " + ", ".join(f"{v}:{c}" for v, c in sorted(solution.items()))

    def bool_keys(self, instance: ColouringInstance) -> list[Key]:
        return [("color", v, c) for v in range(1, instance.vertices + 1) for c in range(1, instance.colours + 1)]

    def int_keys(self, instance: ColouringInstance) -> list[Key]:
        return [("color", v) for v in range(1, instance.vertices + 1)]

    def decode(self, instance: ColouringInstance, scheme: Scheme, values: Mapping[Key, Any]) -> dict[int, int]:
        return decode_assignment(scheme, values, instance.vertices, instance.colours, "color", "color", "vertex", "colour")
