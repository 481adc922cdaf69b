"""A phase hint for the SAT solver: preferred values of variables, with a confidence for each.

A hint only steers the solver's search (PySAT `set_phases`: the value a decision tries first); it
never enters a verdict's check. A SAT answer is still checked clause by clause and an UNSAT answer
still needs its DRAT proof to check, so a wrong or adversarial hint can cost time, never trust.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PhaseHint(BaseModel):
    """Preferred phases as signed literals (v: try true first, -v: false first), one per variable,
    with confidences in [0, 1] in the same order. `threshold`: only literals at least this confident
    are handed to the solver (None: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phases: tuple[int, ...]
    confidences: tuple[float, ...]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    source: str = Field(default="", description="what proposed the phases, e.g. the GNN's weights")
    inference_s: float = Field(default=0.0, ge=0.0, description="seconds the proposer took")

    @model_validator(mode="after")
    def _consistent(self) -> "PhaseHint":
        if len(self.phases) != len(self.confidences):
            raise ValueError(f"{len(self.phases)} phases but {len(self.confidences)} confidences")
        if 0 in self.phases:
            raise ValueError("a phase is a nonzero literal")
        if len({abs(literal) for literal in self.phases}) != len(self.phases):
            raise ValueError("a variable has more than one phase")
        if any(not 0.0 <= confidence <= 1.0 for confidence in self.confidences):
            raise ValueError("confidences lie in [0, 1]")
        return self

    def selected(self, variables: int | None = None) -> list[int]:
        """The literals handed to the solver: those at or above the threshold, over variables
        1..`variables` when given (a hint for another formula's variables is cut to this one's)."""
        return [literal for literal, confidence in zip(self.phases, self.confidences)
                if (self.threshold is None or confidence >= self.threshold)
                and (variables is None or abs(literal) <= variables)]
