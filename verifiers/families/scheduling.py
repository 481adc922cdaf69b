"""Scheduling: put unit-length jobs into time slots under conflicts, precedences and a capacity."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from verifiers.families.base import Family, InstanceModel, Key, Scheme, decode_assignment


class SchedulingInstance(InstanceModel):
    jobs: int = Field(ge=1, description="jobs are 1..jobs; each takes one slot")
    slots: int = Field(ge=1, description="time slots are 1..slots")
    capacity: int = Field(ge=1, description="at most this many jobs share a slot")
    conflicts: tuple[tuple[int, int], ...] = Field(default=(), description="pairs [a, b] that may not share a slot")
    precedences: tuple[tuple[int, int], ...] = Field(default=(), description="pairs [a, b]: a's slot is before b's")


class Scheduling(Family):
    name = "scheduling"
    title = "slot scheduling"
    problem = ("Give every job 1..jobs exactly one time slot 1..slots so that jobs in a conflict pair [a, b] get"
               " different slots, for every precedence pair [a, b] the slot of a is smaller than the slot of b,"
               " and no slot holds more than `capacity` jobs.")
    bool_variables = "('at', j, t) is true exactly when job j runs in slot t"
    int_variables = "('slot', j) is an Int: the slot of job j"
    Instance = SchedulingInstance

    def validate(self, instance: SchedulingInstance) -> None:
        for field, pairs in (("conflicts", instance.conflicts), ("precedences", instance.precedences)):
            for a, b in pairs:
                if not (1 <= a <= instance.jobs and 1 <= b <= instance.jobs) or a == b:
                    raise ValueError(f"instance.{field}: [{a}, {b}] must name two different jobs of 1..{instance.jobs}")

    def check(self, instance: SchedulingInstance, solution: Mapping[int, int]) -> list[str]:
        violations = []
        for job in range(1, instance.jobs + 1):
            slot = solution.get(job)
            if slot is None or not 1 <= slot <= instance.slots:
                violations.append(f"job {job} is in slot {slot}, not one of 1..{instance.slots}")
        if violations:
            return violations
        for a, b in instance.conflicts:
            if solution[a] == solution[b]:
                violations.append(f"conflicting jobs {a} and {b} share slot {solution[a]}")
        for a, b in instance.precedences:
            if not solution[a] < solution[b]:
                violations.append(f"job {a} (slot {solution[a]}) must come before job {b} (slot {solution[b]})")
        for slot, count in sorted(Counter(solution.values()).items()):
            if count > instance.capacity:
                violations.append(f"slot {slot} holds {count} jobs, more than the capacity {instance.capacity}")
        return violations

    def candidates(self, instance: SchedulingInstance) -> Iterator[dict[int, int]]:
        for slots in itertools.product(range(1, instance.slots + 1), repeat=instance.jobs):
            yield dict(enumerate(slots, start=1))

    def candidate_count(self, instance: SchedulingInstance) -> int:
        return instance.slots ** instance.jobs

    def small_instances(self) -> list[SchedulingInstance]:
        return [
            SchedulingInstance(jobs=3, slots=2, capacity=2, conflicts=((1, 2),)),
            SchedulingInstance(jobs=3, slots=3, capacity=1, precedences=((1, 2), (2, 3))),
            SchedulingInstance(jobs=3, slots=2, capacity=1),  # too many jobs for the slots
            SchedulingInstance(jobs=2, slots=3, capacity=2, precedences=((1, 2), (2, 1))),  # a cycle
            SchedulingInstance(jobs=4, slots=3, capacity=2, conflicts=((1, 2), (3, 4)), precedences=((1, 3),)),
            SchedulingInstance(jobs=4, slots=2, capacity=3, conflicts=((1, 2), (2, 3), (1, 3))),  # a triangle
            SchedulingInstance(jobs=2, slots=2, capacity=1, conflicts=((1, 2),), precedences=((2, 1),)),
        ]

    def describe(self, instance: SchedulingInstance) -> str:
        conflicts = ", ".join(f"{a}-{b}" for a, b in instance.conflicts) or "none"
        precedences = ", ".join(f"{a}<{b}" for a, b in instance.precedences) or "none"
        return (f"{instance.jobs} jobs, {instance.slots} slots, capacity {instance.capacity}, "
                f"conflicts {conflicts}, precedences {precedences}")

    def show(self, instance: SchedulingInstance, solution: Mapping[int, int]) -> str:
        return "slots " + ", ".join(f"{j}:{t}" for j, t in sorted(solution.items()))

    def bool_keys(self, instance: SchedulingInstance) -> list[Key]:
        return [("at", j, t) for j in range(1, instance.jobs + 1) for t in range(1, instance.slots + 1)]

    def int_keys(self, instance: SchedulingInstance) -> list[Key]:
        return [("slot", j) for j in range(1, instance.jobs + 1)]

    def decode(self, instance: SchedulingInstance, scheme: Scheme, values: Mapping[Key, Any]) -> dict[int, int]:
        return decode_assignment(scheme, values, instance.jobs, instance.slots, "at", "slot", "job", "slot")
