"""What a problem family is: its instances, its solutions, and a checker written without any encoding.

A family knows
- the instance (a pydantic model, as written in task files),
- the *semantic checker*: given an instance and a candidate solution, the constraints it violates,
  in words; it is written from the problem's definition, never from an encoding,
- the variable conventions an encoding must use so that a model can be read back as a solution:
  a Boolean scheme (SAT and SMT; e.g. ("color", v, c) is true when vertex v has colour c) and an
  integer scheme (SMT only; e.g. ("color", v) is the colour of v),
- brute force: every candidate solution of a small instance, so that the number of solutions can
  be counted without any encoding, and a fixed list of small instances to test encodings on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Key = tuple[Any, ...]


class DecodeError(ValueError):
    """A model that does not describe a solution (e.g. a vertex with two colours)."""


class InstanceModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Scheme:
    """The variables a decoder reads: their keys, and whether they are Boolean or integer."""

    kind: Literal["bool", "int"]
    keys: tuple[Key, ...]


class Family:
    name: ClassVar[str]
    title: ClassVar[str]
    problem: ClassVar[str]  # the problem in words, for prompts
    bool_variables: ClassVar[str]  # the Boolean scheme in words
    int_variables: ClassVar[str]  # the integer scheme in words
    Instance: ClassVar[type[InstanceModel]]

    def parse(self, data: Any) -> Any:
        """The instance, or ValueError with one line naming the problem."""
        try:
            instance = self.Instance.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "instance"
            raise ValueError(f"instance.{where}: {first['msg']}") from None
        self.validate(instance)
        return instance

    def validate(self, instance: Any) -> None:
        """Checks beyond the field types; raise ValueError."""

    # --- the semantic side -------------------------------------------------------------------

    def check(self, instance: Any, solution: Any) -> list[str]:
        """The constraints `solution` violates, in words; empty when it is a solution."""
        raise NotImplementedError

    def candidates(self, instance: Any) -> Iterator[Any]:
        """Every candidate of a small instance (a superset of its solutions), for brute force."""
        raise NotImplementedError

    def candidate_count(self, instance: Any) -> int:
        """How many candidates `candidates` yields (to decide whether brute force is affordable)."""
        raise NotImplementedError

    def small_instances(self) -> list[Any]:
        raise NotImplementedError

    def describe(self, instance: Any) -> str:
        """The instance in a few words (for feedback)."""
        raise NotImplementedError

    def show(self, instance: Any, solution: Any) -> str:
        """A solution in a few words."""
        return str(solution)

    # --- reading a model back ----------------------------------------------------------------

    def bool_keys(self, instance: Any) -> list[Key]:
        raise NotImplementedError

    def int_keys(self, instance: Any) -> list[Key]:
        raise NotImplementedError

    def scheme(self, instance: Any, available: set[Key], integers: bool) -> Scheme:
        """The scheme the variable map uses. The Boolean scheme wins when its keys are there;
        the integer scheme is allowed only where `integers` (SMT). DecodeError if neither is."""
        for kind, keys in (("bool", self.bool_keys(instance)), ("int", self.int_keys(instance) if integers else [])):
            if not keys:
                continue
            head, shape = keys[0][0], len(keys[0])
            if any(isinstance(key, tuple) and len(key) == shape and key[0] == head for key in available):
                missing = [key for key in keys if key not in available]
                if missing:
                    raise DecodeError(f"the variable map has no variable for {_show_key(missing[0])}"
                                      f" ({len(missing)} of the {len(keys)} {kind} keys are missing)")
                return Scheme(kind, tuple(keys))  # type: ignore[arg-type]
        wanted = f"{self.bool_variables}" + (f"; or {self.int_variables}" if integers else "")
        raise DecodeError(f"the variable map has none of the family's keys ({wanted})")

    def decode(self, instance: Any, scheme: Scheme, values: Mapping[Key, Any]) -> Any:
        """The solution a model describes; DecodeError if it describes none."""
        raise NotImplementedError

    def brute_force(self, instance: Any) -> list[Any]:
        """All solutions of a small instance, found by checking every candidate."""
        return _brute_force(self, instance)


@lru_cache(maxsize=256)
def _brute_force(family: Family, instance: Any) -> list[Any]:
    return [candidate for candidate in family.candidates(instance) if not family.check(instance, candidate)]


def _show_key(key: Key) -> str:
    return "(" + ", ".join(repr(part) for part in key) + ("," if len(key) == 1 else "") + ")"


def exactly_one(instance_items: list[Any], options: list[Any], key_of: Any, values: Mapping[Key, Any],
                what: str) -> dict[Any, Any]:
    """Boolean-scheme decoding of "each item takes exactly one option": item -> option.
    `key_of(item, option)` gives the key; `what(item)` names the item for the error."""
    chosen: dict[Any, Any] = {}
    for item in instance_items:
        true = [option for option in options if values[key_of(item, option)]]
        if len(true) != 1:
            found = "none is true" if not true else f"{len(true)} are true ({', '.join(map(str, true))})"
            raise DecodeError(f"{what(item)}: exactly one of its variables must be true, but {found}")
        chosen[item] = true[0]
    return chosen


def decode_assignment(scheme: Scheme, values: Mapping[Key, Any], items: int, options: int,
                      bool_tag: str, int_tag: str, item: str, option: str) -> dict[int, int]:
    """Decoding for the families in which each item 1..items takes exactly one option 1..options (a
    vertex its colour, a pigeon its hole, a job its slot): (bool_tag, i, o) is true exactly when item
    i takes option o; (int_tag, i) is an Int, the option of item i."""
    numbers = list(range(1, items + 1))
    if scheme.kind == "bool":
        return exactly_one(numbers, list(range(1, options + 1)), lambda i, o: (bool_tag, i, o), values,
                           lambda i: f"{item} {i}")
    decoded = integer_values(numbers, lambda i: (int_tag, i), values)
    for number, value in decoded.items():
        if not 1 <= value <= options:
            raise DecodeError(f"{item} {number} has {option} {value}, not one of 1..{options}")
    return decoded


def integer_values(items: list[Any], key_of: Any, values: Mapping[Key, Any]) -> dict[Any, int]:
    decoded = {}
    for item in items:
        value = values[key_of(item)]
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{_show_key(key_of(item))} must be an Int constant, its value is {value!r}")
        decoded[item] = value
    return decoded
