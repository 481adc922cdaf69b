"""Typed verdict details: one pydantic model per verifier, telling what it checked and found.

A verifier declares its model (`Verifier.details_model`); `Verdict.details` holds it, and the
trace stores it as it is, so `python -m agent schema trace` shows every field. The models live
here, beside each other, because `Verdict` names them all in one tagged union (the `kind` field);
a third party's verifier without a model of its own gets `OtherDetails`, which keeps any fields.
Strategies read these fields; they never walk dict paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class VerdictDetails(BaseModel):
    """Base of the details models; `kind` tells them apart in a trace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str


# ---------------------------------------------------------------------------------------------
# Loop invariants (verifiers/invariant.py)


class InvariantCheck(BaseModel):
    """One of the three verification conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["holds", "fails", "unknown"]
    failing_conjuncts: list[str] = Field(default_factory=list,
                                         description="Conjuncts of the invariant the counterexample falsifies.")
    reason: str = Field(default="", description="Why the solver could not decide (for `unknown`).")
    elapsed_s: float = 0.0
    state: dict[str, int] | None = Field(default=None, description="The counterexample state (when the check fails).")
    state_after: dict[str, int] | None = Field(default=None, description="Consecution: the state after the loop body.")


class InvariantChecks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    initiation: InvariantCheck
    consecution: InvariantCheck
    postcondition: InvariantCheck

    def failing_conjuncts(self) -> set[str]:
        """The conjuncts a counterexample to initiation or consecution falsifies (what Houdini drops)."""
        return set(self.initiation.failing_conjuncts) | set(self.consecution.failing_conjuncts)

    @property
    def inductive(self) -> bool:
        return self.initiation.status == "holds" and self.consecution.status == "holds"


class CrossCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["agrees", "disagrees", "undecided"]
    detail: str


class InvariantDetails(VerdictDetails):
    kind: Literal["invariant"] = "invariant"
    stage: Literal["parse", "solve"]
    error: str | None = Field(default=None, description="Why the proposal could not be parsed (stage `parse`).")
    invariant: str | None = Field(default=None, description="The parsed invariant, printed back as C.")
    conjuncts: list[str] = Field(default_factory=list)
    vacuous: bool | None = Field(default=None, description="The invariant contradicts the pre-condition.")
    checks: InvariantChecks | None = None
    cross_check: CrossCheck | None = Field(default=None, description="cvc5's second opinion on an accepted invariant.")
    isolated: bool = Field(default=False, description="Decided in a child process killed at the budget (non-linear).")


# ---------------------------------------------------------------------------------------------
# CNF formulas (verifiers/sat.py)


class DratFigures(BaseModel):
    """What the DRAT proof check found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid: bool
    derived_empty: bool
    lemmas: int
    deletions: int
    checked_lemmas: int
    rat_lemmas: int = 0
    ignored_deletions: int = 0
    timed_out: bool = False
    elapsed_s: float | None = None
    message: str = ""


class CnfDetails(VerdictDetails):
    kind: Literal["cnf"] = "cnf"
    answer: Literal["SAT", "UNSAT", "UNKNOWN"] | None = None
    solver: str | None = None
    solve_s: float | None = None
    check_s: float | None = None
    clauses: int | None = None
    proof: DratFigures | None = Field(default=None, description="The proof check of an UNSAT answer.")
    conflicts: int | None = Field(default=None, description="The solver's own statistics (PySAT accum_stats).")
    decisions: int | None = None
    propagations: int | None = None
    phases_given: int = Field(default=0, description="Preferred phases handed to the solver (a phase hint).")
    phase_source: str | None = Field(default=None, description="What proposed the phases (e.g. the GNN's weights).")


# ---------------------------------------------------------------------------------------------
# Encodings written by the model (verifiers/encoding.py, verifiers/smt.py)


class EncodingSolve(BaseModel):
    """How the program's formula was solved and its answer checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    solver: str
    solve_s: float
    check_s: float | None = None
    message: str | None = None
    proof: DratFigures | None = None
    propagation_proof: str | None = Field(default=None, description="The one-line proof `0`, checked when the "
                                                                    "solver's own proof was empty.")
    cross_check: str | None = Field(default=None, description="cvc5 on an UNSAT answer (SMT).")
    conflicts: int | None = Field(default=None, description="The SAT solver's own statistics (PySAT accum_stats).")
    decisions: int | None = None
    propagations: int | None = None
    phases_given: int = Field(default=0, description="Preferred phases handed to the SAT solver (an advisor's hint).")
    phase_source: str | None = Field(default=None, description="What proposed the phases (e.g. the GNN's weights).")
    phase_inference_s: float | None = Field(default=None, description="Seconds the verifier waited for the advice.")
    phase_skipped: str | None = Field(default=None, description="Why an advisor's phases were not used.")


class Faithfulness(BaseModel):
    """What an accepted UNSAT answer says about the encoding itself: it agreed with brute force on
    the family's small instances (every solution allowed, no non-solution allowed). A test, not a
    proof: an encoding that is wrong only on instances larger than these is not caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["brute-force agreement"] = "brute-force agreement"
    instances: int
    proved: Literal[False] = False
    solution_counts: list[int] = Field(default_factory=list)

    def sentence(self) -> str:
        return (f"Faithfulness of the encoding: tested, not proved — it agreed with brute force on {self.instances}"
                " small instances, each run alone in the sandbox like the real one.")


class EncodingDetails(VerdictDetails):
    kind: Literal["encoding"] = "encoding"
    family: str
    stage: str | None = Field(default=None, description="Where a rejected program failed.")
    answer: Literal["sat", "unsat"] | None = None
    solution: Any = None
    sandbox: dict[str, Any] | None = Field(default=None, description="The sandbox run of the program.")
    sandbox_calls: int | None = Field(default=None, description="Sandbox runs: the real instance and the small ones.")
    solve: EncodingSolve | None = None
    faithfulness: Faithfulness | None = None
    counterexample: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# Logic puzzles (verifiers/logic.py)


class LogicDetails(VerdictDetails):
    kind: Literal["logic"] = "logic"
    style: str
    stage: str | None = None
    sandbox: dict[str, Any] | None = None
    queries: list[dict[str, Any]] = Field(default_factory=list, description="Each entailment query and its answer.")
    answer: str | None = None
    cross_check: str | None = None


# ---------------------------------------------------------------------------------------------
# Lean proofs (verifiers/lean/verifier.py)


class LeanDetails(VerdictDetails):
    kind: Literal["lean"] = "lean"
    stage: Literal["source", "toolchain", "compile"]
    problems: list[str] = Field(default_factory=list, description="Why the proof was refused before Lean.")
    proof: str | None = None
    file: str | None = Field(default=None, description="The file compiled from scratch.")
    command: list[str] = Field(default_factory=list)
    returncode: int | None = None
    compile_s: float | None = None
    messages: list[str] = Field(default_factory=list)
    axioms: list[str] | None = None


class OtherDetails(VerdictDetails):
    """Details of a verifier that declares no model of its own (a plugin's): any fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = "other"


_TAGGED = {model.model_fields["kind"].default: model
           for model in (InvariantDetails, CnfDetails, EncodingDetails, LogicDetails, LeanDetails)}


def _tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in _TAGGED else "other"


AnyDetails = Annotated[
    Union[tuple(Annotated[model, Tag(tag)] for tag, model in _TAGGED.items()) + (Annotated[OtherDetails, Tag("other")],)],
    Discriminator(_tag),
]
