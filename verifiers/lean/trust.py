"""What a Lean proof must satisfy to be accepted, apart from compiling.

Model-written Lean proofs have been accepted wrongly elsewhere through `sorry`/`admit`, `native_decide`
(whose `Lean.ofReduceBool` trusts the compiler), new `axiom`s, `set_option debug.skipKernelTC`,
`implemented_by`/`extern` and `unsafe`/`partial` definitions, extra commands after the proof (a second
theorem, `#exit`, a fake `#print` output), or a quietly changed statement. The defence has two layers:

1. Source level (this module, no Lean needed): the proof is a tactic block and nothing else. It may
   not name any forbidden construct, start a new command, or restate the theorem differently. The
   scan reads the raw text, comments and strings included, so nothing can hide in a construct the
   scanner might read differently from Lean; the price is that a proof that mentions, say, `sorry` in a
   comment is rejected too (with a message saying so).
2. Lean level (`judge`): the file that is compiled is assembled here from the task's header and
   statement, unchanged, with `set_option autoImplicit false` between them and `#print axioms` after
   the proof. Lean must report no error, no `sorry`, and exactly one axioms report, on that command's
   own line, naming only `propext`, `Classical.choice` and `Quot.sound`.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Iterable

from verifiers.lean.types import Message

ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
# Options a proof may set (`set_option NAME VALUE in tactic`); any other option is refused.
ALLOWED_PROOF_OPTIONS = frozenset({
    "maxHeartbeats", "maxRecDepth", "maxSynthPendingDepth", "synthInstance.maxHeartbeats",
    "synthInstance.maxSize", "exponentiation.threshold",
})
# Options a task's header may set; autoImplicit is switched off after the header in any case.
ALLOWED_HEADER_OPTIONS = ALLOWED_PROOF_OPTIONS | {"autoImplicit", "relaxedAutoImplicit"}

# Whole name components that may not appear in a proof: escape hatches, and every keyword that starts
# a new command (a proof is a tactic block; a second declaration or `end` would change what is checked).
FORBIDDEN_WORDS = {
    "sorry": "`sorry` is never accepted",
    "admit": "`admit` is `sorry` under another name",
    "stop": "`stop` discards the rest of the proof with `sorry`",
    "native_decide": "`native_decide` trusts the compiler (Lean.ofReduceBool)",
    "native": "native evaluation (`+native`, `native := true`) trusts the compiler",
    "axiom": "a proof may not declare axioms",
    "axioms": "a proof may not declare axioms",
    "unsafe": "`unsafe` code is not checked by the kernel",
    "partial": "`partial` definitions are opaque to the kernel",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "extern": "`extern` swaps in unchecked code",
    "opaque": "a proof may not declare constants",
}
for keyword in ("theorem", "lemma", "def", "abbrev", "instance", "example", "structure", "inductive", "class",
                "coinductive", "namespace", "section", "end", "mutual", "macro", "macro_rules", "syntax",
                "elab", "elab_rules", "notation", "infix", "infixl", "infixr", "prefix", "postfix",
                "attribute", "import", "export", "universe", "variable", "initialize", "builtin_initialize",
                "run_tac", "run_cmd", "run_elab", "run_meta", "by_elab", "simproc", "dsimproc",
                "declare_syntax_cat", "register_simp_attr"):
    FORBIDDEN_WORDS[keyword] = f"`{keyword}` starts a command or runs meta-code; a proof is a tactic block only"

# Substrings that may not appear inside any name component.
FORBIDDEN_PARTS = {
    "sorry": "`sorry` (here inside a name such as sorryAx) is never accepted",
    "ofReduceBool": "Lean.ofReduceBool trusts the compiler",
    "ofReduceNat": "Lean.ofReduceNat trusts the compiler",
    "reduceBool": "Lean.reduceBool trusts the compiler",
    "reduceNat": "Lean.reduceNat trusts the compiler",
    "trustCompiler": "Lean.trustCompiler trusts the compiler",
    "skipKernelTC": "debug.skipKernelTC turns the kernel's check off",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "unsafe": "unsafe code is not checked by the kernel",
    "lcProof": "lcProof is an axiom of the compiler",
}

_NAME = re.compile(r"[\w'!?«»]+(?:\.[\w'!?«»]+)*")
_COMMAND_HASH = re.compile(r"#[A-Za-z_]")
_SET_OPTION = re.compile(r"\bset_option\s+([\w.]+)")
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9]*\s*\n?|\n?\s*```\s*$")
_DECLARATION = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(theorem|lemma|example)\b")
_STATEMENT_HEAD = re.compile(r"^\s*(theorem|lemma)\s+([^\s(:{\[⦃]+)")


class SourceProblem(ValueError):
    """A proposal refused before Lean sees it; the message (one line) is the model's feedback."""


def _squash(text: str) -> str:
    return " ".join(text.split())


def name_components(text: str) -> Iterable[str]:
    for name in _NAME.findall(text):
        for component in name.split("."):
            yield component.strip("«»")


def scan_proof(proof: str) -> list[str]:
    """Every reason the proof text is refused (empty when it passes the source-level checks)."""
    problems: list[str] = []

    def problem(text: str) -> None:
        if text not in problems:
            problems.append(text)

    for component in name_components(proof):
        if component in FORBIDDEN_WORDS:
            problem(f"`{component}`: {FORBIDDEN_WORDS[component]}")
        for part, reason in FORBIDDEN_PARTS.items():
            if part in component and component not in FORBIDDEN_WORDS:
                problem(f"`{component}`: {reason}")
    for name in _NAME.findall(proof):
        if name.split(".")[0] == "Lean" and "." in name:
            problem(f"`{name}`: the Lean meta-level namespace may not be used in a proof")
    if _COMMAND_HASH.search(proof):
        problem(f"`{_COMMAND_HASH.search(proof).group(0)}...`: commands such as #print, #eval or #exit may not appear in a proof")
    if "@[" in proof:
        problem("`@[...]`: attributes may not appear in a proof")
    for option in _SET_OPTION.findall(proof):
        if option not in ALLOWED_PROOF_OPTIONS:
            problem(f"`set_option {option}`: only {', '.join(sorted(ALLOWED_PROOF_OPTIONS))} may be set in a proof")
    return problems


def check_statement(statement: str, theorem_name: str) -> None:
    """The task's statement: `theorem NAME ...` (or `lemma`) with no proof and no forbidden construct."""
    head = _STATEMENT_HEAD.match(statement)
    if not head:
        raise SourceProblem("the statement must start with `theorem NAME` (or `lemma NAME`)")
    if head.group(2) != theorem_name:
        raise SourceProblem(f"the statement declares {head.group(2)!r}, not the task's theorem_name {theorem_name!r}")
    if ":=" in statement or re.search(r"\bby\s*$", statement):
        raise SourceProblem("the statement must stop before `:= by` (the proof is not part of it)")
    problems = [p for p in scan_proof(statement) if not p.startswith(f"`{head.group(1)}`")]
    if problems:
        raise SourceProblem(f"the statement uses {problems[0]}")


_HEADER_LINE = re.compile(
    r"^\s*(?:$|--.*|import\s+[\w.«»]+(\s+[\w.«»]+)*\s*|open\s+.+|namespace\s+[\w.]+\s*|section(\s+[\w.]+)?\s*|"
    r"noncomputable\s+section(\s+[\w.]+)?\s*|end(\s+[\w.]+)?\s*|universe\s+.+|set_option\s+[\w.]+\s+\S+\s*)$")


def check_header(header: str) -> None:
    """A header holds imports, `open`s, namespaces/sections, universes and a few options: nothing
    that could declare an axiom or change the checker."""
    text = re.sub(r"/-.*?-/", "", header, flags=re.DOTALL)
    for number, line in enumerate(text.splitlines(), start=1):
        if not _HEADER_LINE.match(line):
            raise SourceProblem(f"header line {number} ({line.strip()!r}) is not an import, open, namespace, "
                                "section, universe or allowed set_option")
        option = re.match(r"\s*set_option\s+([\w.]+)", line)
        if option and option.group(1) not in ALLOWED_HEADER_OPTIONS:
            raise SourceProblem(f"header line {number}: `set_option {option.group(1)}` is not allowed")


def extract_proof(proposal: str, statement: str) -> str:
    """The tactic block of a proposal, dedented. A proposal may restate the theorem
    (`theorem ... := by ...`), but only with the task's statement, word for word up to spacing; a
    term-mode proof after `:=` becomes `exact (term)`."""
    text = _FENCE.sub("", proposal.strip("\n")).strip("\n")
    after_by = False  # the first line followed `by` on the same line: it sits at the block's column
    if _DECLARATION.match(text):
        body_at = _top_level_assignment(text)
        if body_at < 0:
            raise SourceProblem("the theorem is restated without `:=` and a proof")
        if _squash(text[:body_at]) != _squash(statement):
            raise SourceProblem("the theorem's statement was changed; prove the statement exactly as given")
        text = text[body_at + 2:]
        if re.match(r"^\s*by\b", text):
            text, after_by = re.sub(r"^\s*by\b", "", text, count=1), True
        else:
            text = f"exact ({text.strip()})"
    elif re.match(r"^\s*by\b", text):
        text, after_by = re.sub(r"^\s*by\b", "", text, count=1), True
    lines = text.rstrip().split("\n")
    if after_by:
        first, rest = lines[0].strip(), textwrap.dedent("\n".join(lines[1:])).strip("\n")
        text = "\n".join(part for part in (first, rest) if part)
    else:
        text = textwrap.dedent("\n".join(lines)).strip("\n")
    if not text.strip():
        raise SourceProblem("the proof is empty")
    return text


def _top_level_assignment(text: str) -> int:
    """Index of the `:=` that ends a declaration's signature (outside brackets), or -1."""
    depth = 0
    for index, char in enumerate(text):
        if char in "([{⦃⟨":
            depth += 1
        elif char in ")]}⦄⟩":
            depth -= 1
        elif char == ":" and text[index:index + 2] == ":=" and depth == 0:
            return index
    return -1


@dataclass(frozen=True)
class Assembled:
    """The file that is compiled, and where its parts are."""

    text: str
    statement_line: int  # first line of the statement
    proof_line: int  # first line of the proof (the line after `:= by`)
    axioms_line: int  # the line of `#print axioms`


def assemble(header: str, statement: str, theorem_name: str, proof: str) -> Assembled:
    head = header.rstrip() + "\n\nset_option autoImplicit false\n\n" if header.strip() else "set_option autoImplicit false\n\n"
    statement_line = head.count("\n") + 1
    body = head + statement.rstrip() + " := by\n"
    proof_line = body.count("\n") + 1
    body += textwrap.indent(proof.rstrip(), "  ", lambda line: True) + "\n\n"
    axioms_line = body.count("\n") + 1
    body += f"#print axioms {theorem_name}\n"
    return Assembled(body, statement_line, proof_line, axioms_line)


_AXIOMS = re.compile(r"^'(?P<name>[^']+)' (?:depends on axioms: \[(?P<axioms>[^\]]*)\]|does not depend on any axioms)",
                     re.DOTALL)
SORRY_WARNINGS = ("declaration uses `sorry`", "declaration uses 'sorry'")


@dataclass(frozen=True)
class Judgement:
    status: str  # "accepted" | "rejected" | "error"
    feedback: str
    axioms: tuple[str, ...] | None = None
    errors: tuple[str, ...] = field(default=())


def judge(messages: Iterable[Message], assembled: Assembled, theorem_name: str) -> Judgement:
    """Decide on Lean's messages about an assembled file (compiled from scratch, successfully or not)."""
    messages = list(messages)
    offset = assembled.proof_line - 1

    def shown(message: Message) -> str:
        if message.pos and message.pos.line >= assembled.proof_line:
            return message.render(line_offset=offset).replace("line ", "proof line ", 1)
        return message.render(line_offset=0)

    header_errors = [m for m in messages if m.severity == "error" and m.pos and m.pos.line < assembled.statement_line]
    if header_errors:
        return Judgement("error", "the task's header does not compile in this Lean project: "
                         + shown(header_errors[0]), errors=tuple(shown(m) for m in header_errors))
    errors = [m for m in messages if m.severity == "error"]
    if errors:
        return Judgement("rejected", "Lean rejects the proof:\n" + "\n".join(shown(m) for m in errors),
                         errors=tuple(shown(m) for m in errors))
    if any(m.text.strip() in SORRY_WARNINGS for m in messages):
        return Judgement("rejected", "the proof uses `sorry`")
    reports = [m for m in messages if m.pos and m.pos.line == assembled.axioms_line and m.severity == "info"]
    parsed = [_AXIOMS.match(m.text.strip()) for m in reports]
    if len(parsed) != 1 or parsed[0] is None:
        return Judgement("rejected", "Lean printed no axioms report for the theorem, so the proof cannot be audited "
                         "(did the proof end the file or the theorem early?)")
    report = parsed[0]
    if report.group("name") != theorem_name and not report.group("name").endswith("." + theorem_name):
        return Judgement("rejected", f"the axioms report is about {report.group('name')!r}, not {theorem_name!r}")
    axioms = tuple(_squash(a) for a in (report.group("axioms") or "").split(",") if a.strip())
    extra = sorted(set(axioms) - ALLOWED_AXIOMS)
    if extra:
        why = "it uses `sorry`" if "sorryAx" in extra else "only propext, Classical.choice and Quot.sound are allowed"
        return Judgement("rejected", f"the proof depends on the axiom(s) {', '.join(extra)}: {why}", axioms=axioms)
    return Judgement("accepted", "Lean compiled the file from scratch without errors; axioms: "
                     + (", ".join(axioms) or "none"), axioms=axioms)
