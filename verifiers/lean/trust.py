"""What a Lean proof must satisfy to be accepted, apart from compiling.

Model-written Lean proofs have been accepted wrongly elsewhere through `sorry`/`admit`, `native_decide`
(whose `Lean.ofReduceBool` trusts the compiler), new `axiom`s, `set_option debug.skipKernelTC`,
`implemented_by`/`extern` and `unsafe`/`partial` definitions, extra commands after the proof (a second
theorem, `#exit`, a fake `#print` output), or a quietly changed statement. The defence has two layers:

1. Source level (this module, no Lean needed): the proof is a tactic block and nothing else. The text
   is read by `lex`, a lexer that follows Lean's rules for names, numbers and (nested) comments, under
   allow-lists: only the characters in `_allowed_character` (printable ASCII and the mathematical
   symbols, Greek letters, sub- and superscripts that proofs use; no look-alike letters such as a
   Cyrillic `ѕ`, no invisible characters, no `«»` quoting), no string or character literals, no
   quotations (`` ` ``), no `#` commands or `@[...]` attributes, and `set_option` only with an option
   named in ALLOWED_PROOF_OPTIONS (read as Lean reads it, past comments). Lean's keyword table is not
   available without Lean, so the names themselves are still checked against a list of forbidden
   words (escape hatches, every command keyword); words inside comments are checked too, so a proof
   that mentions, say, `sorry` in a comment is rejected (with a message saying so). The task's header
   is parsed command by command (`check_header`): imports, then `open`, `namespace`, `section`,
   `end`, `universe` and allowed `set_option`s, each with exactly the arguments it takes.
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
                "declare_syntax_cat", "register_simp_attr", "alias", "irreducible_def", "add_decl_doc",
                "deriving", "noncomputable", "private", "protected", "local", "scoped", "omit", "include",
                "seal", "unseal", "recall", "proof_wanted", "compile_inductive", "assert_not_exists",
                "library_note", "where", "nonrec", "termination_by", "decreasing_by", "declare_config_elab",
                "register_option", "register_builtin_option", "initialize_simps_projections", "elab_as_elim",
                "suppress_compilation", "unsuppress_compilation", "open_locale", "set_premise", "grind_pattern"):
    FORBIDDEN_WORDS[keyword] = f"`{keyword}` starts a command or runs meta-code; a proof is a tactic block only"

# Names that, written right before `%`, are term elaborators that evaluate code (`eval% e`).
TERM_ELABORATORS = frozenset({"eval", "decide", "native", "run"})

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

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9]*\s*\n?|\n?\s*```\s*$")
_DECLARATION = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(theorem|lemma|example)\b")
_STATEMENT_HEAD = re.compile(r"^\s*(theorem|lemma)\s+([^\s(:{\[⦃]+)")

# Letters and symbols allowed besides printable ASCII. Omicron and the Greek capitals that look like
# Latin ones (Α, Β, Ε, ...) are left out.
_GREEK = "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ"
_SYMBOLS = "¬·×÷‖•′″ℕℤℚℝℂℓ⟨⟩⟪⟫⟦⟧⦃⦄⌊⌋⌈⌉▸⁅⁆ᶜᵀ∘√∞"
_RANGES = ((0x2070, 0x209F),  # superscripts and subscripts
           (0x2190, 0x21FF),  # arrows
           (0x2200, 0x22FF),  # mathematical operators
           (0x27F0, 0x27FF),  # supplemental arrows
           (0x2A00, 0x2AFF),  # supplemental mathematical operators
           (0x1D49C, 0x1D4B5), (0x1D4D0, 0x1D4E9))  # script capitals (𝓝 for neighbourhoods)
# What Lean reads as letters in names (its `isLetterLike`): λ, Π and Σ are binders, not letters.
_LETTERS = (set(_GREEK) - set("λΠΣ")) | {"ℕ", "ℤ", "ℚ", "ℝ", "ℂ", "ℓ"}


def _allowed_character(char: str) -> bool:
    if " " <= char <= "~" or char in "\n\t\r":
        return True
    if char in _GREEK or char in _SYMBOLS or char in "¹²³":
        return True
    return any(low <= ord(char) <= high for low, high in _RANGES)


def _letter(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_") or char in _LETTERS or 0x1D49C <= ord(char) <= 0x1D4E9


def _name_rest(char: str) -> bool:
    return _letter(char) or (char.isascii() and char.isdigit()) or char in "'!?" or 0x2080 <= ord(char) <= 0x209C


@dataclass(frozen=True)
class Token:
    kind: str  # "name" | "number" | "comment" | "string" | "char" | "symbol"
    text: str
    line: int


def lex(text: str, what: str) -> list[Token]:
    """Lean tokens of `text` (spaces dropped), by Lean's rules for names, numbers and comments (block
    comments nest). Raises SourceProblem for a character outside the allow-list or an unclosed comment."""
    for index, char in enumerate(text):
        if not _allowed_character(char):
            line = text.count("\n", 0, index) + 1
            raise SourceProblem(f"{what} contains the character {char!r} (U+{ord(char):04X}) on line {line}; only ASCII"
                                " and common mathematical symbols are allowed")
    tokens: list[Token] = []
    index, line = 0, 1
    while index < len(text):
        char, start = text[index], index
        if char.isspace():
            index += 1
        elif text.startswith("--", index):
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
            tokens.append(Token("comment", text[start:index], line))
        elif text.startswith("/-", index):
            depth, index = 1, index + 2
            while depth and index < len(text):
                if text.startswith("/-", index):
                    depth, index = depth + 1, index + 2
                elif text.startswith("-/", index):
                    depth, index = depth - 1, index + 2
                else:
                    index += 1
            if depth:
                raise SourceProblem(f"{what} has a comment `/-` on line {line} that is never closed")
            tokens.append(Token("comment", text[start:index], line))
        elif char == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
            index += 1
            tokens.append(Token("string", text[start:index], line))
        elif char == "'" and (text[index + 2:index + 3] == "'" or text[index + 1:index + 2] == "\\"):
            index = text.find("'", index + 2) + 1 or len(text)  # a character literal such as 'a' or '\n'
            tokens.append(Token("char", text[start:index], line))
        elif _letter(char):
            index += 1
            while index < len(text) and (_name_rest(text[index]) or (
                    text[index] == "." and index + 1 < len(text) and _letter(text[index + 1]))):
                index += 1
            tokens.append(Token("name", text[start:index], line))
        elif char.isdigit():
            while index < len(text) and (text[index].isalnum() or text[index] == "."):
                index += 1
            tokens.append(Token("number", text[start:index], line))
        else:
            index += 1
            tokens.append(Token("symbol", char, line))
        line += text.count("\n", start, index)
    return tokens


class SourceProblem(ValueError):
    """A proposal refused before Lean sees it; the message (one line) is the model's feedback."""


def _squash(text: str) -> str:
    return " ".join(text.split())


def _word_problems(name: str) -> list[str]:
    problems = []
    components = name.split(".")
    for component in components:
        if component in FORBIDDEN_WORDS:
            problems.append(f"`{component}`: {FORBIDDEN_WORDS[component]}")
        for part, reason in FORBIDDEN_PARTS.items():
            if part in component and component not in FORBIDDEN_WORDS:
                problems.append(f"`{component}`: {reason}")
    if components[0] == "Lean" and len(components) > 1:
        problems.append(f"`{name}`: the Lean meta-level namespace may not be used in a proof")
    return problems


def scan_proof(proof: str) -> list[str]:
    """Every reason the proof text is refused (empty when it passes the source-level checks)."""
    problems: list[str] = []

    def problem(text: str) -> None:
        if text not in problems:
            problems.append(text)

    try:
        tokens = lex(proof, "the proof")
    except SourceProblem as refused:
        return [str(refused)]
    code = [token for token in tokens if token.kind != "comment"]
    for token in tokens:
        if token.kind == "comment":
            for word in re.findall(r"[A-Za-z_][\w'!?]*(?:\.[A-Za-z_][\w'!?]*)*", token.text):
                for found in _word_problems(word):
                    problem(found + " (here in a comment)")
    for position, token in enumerate(code):
        following = code[position + 1] if position + 1 < len(code) else None
        if token.kind == "name":
            for found in _word_problems(token.text):
                problem(found)
            if token.text == "set_option":
                option = following.text if following is not None and following.kind == "name" else None
                if option not in ALLOWED_PROOF_OPTIONS:
                    shown = option or (following.text if following else "nothing")
                    problem(f"`set_option {shown}`: only {', '.join(sorted(ALLOWED_PROOF_OPTIONS))} may be set in a proof")
        elif token.kind in ("string", "char"):
            problem(f"line {token.line}: string and character literals may not appear in a proof")
        elif token.text == "`":
            problem(f"line {token.line}: quotations (`) are meta-programming and may not appear in a proof")
        elif token.text == "#":
            shown = following.text if following is not None else ""
            problem(f"`#{shown}...`: commands such as #print, #eval or #exit may not appear in a proof")
        elif token.text == "@" and following is not None and following.text == "[":
            problem("`@[...]`: attributes may not appear in a proof")
        elif token.text == "%" and position > 0 and code[position - 1].kind == "name" \
                and code[position - 1].text.split(".")[-1] in TERM_ELABORATORS:
            problem(f"`{code[position - 1].text}%`: term elaborators that run code may not appear in a proof")
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


# Commands a task's header may hold, besides `import`s at its start.
HEADER_COMMANDS = frozenset({"open", "namespace", "section", "noncomputable", "end", "universe", "set_option"})


def check_header(header: str) -> None:
    """A header holds imports, then `open`s, namespaces/sections, universes and a few options: nothing
    that could declare an axiom or change the checker. It is parsed command by command; every
    argument must be a plain name (no keyword, so no `open X in <command>`), and `set_option` takes
    an allowed option and one value."""
    tokens = [token for token in lex(header, "the header") if token.kind != "comment"]
    position = 0

    def names_from(start: int, at_most: int | None = None) -> int:
        end = start
        while end < len(tokens) and tokens[end].kind == "name" and tokens[end].text not in HEADER_COMMANDS \
                and (at_most is None or end - start < at_most):
            if tokens[end].text == "in" or _word_problems(tokens[end].text):
                raise SourceProblem(f"header line {tokens[end].line}: `{tokens[end].text}` is not allowed here")
            end += 1
        return end

    while position < len(tokens) and tokens[position].text == "import":
        after = names_from(position + 1)
        if after == position + 1:
            raise SourceProblem(f"header line {tokens[position].line}: `import` names no module")
        position = after
    while position < len(tokens):
        token = tokens[position]
        command = token.text
        if token.kind != "name" or command not in HEADER_COMMANDS:
            raise SourceProblem(f"header line {token.line}: `{command}` is not an import, open, namespace, section, "
                                "end, universe or allowed set_option")
        if command == "set_option":
            option, value = tokens[position + 1:position + 2], tokens[position + 2:position + 3]
            if not option or option[0].text not in ALLOWED_HEADER_OPTIONS:
                shown = option[0].text if option else "nothing"
                raise SourceProblem(f"header line {token.line}: `set_option {shown}` is not allowed")
            if not value or value[0].kind not in ("number", "name") or (
                    value[0].kind == "name" and value[0].text not in ("true", "false")):
                raise SourceProblem(f"header line {token.line}: `set_option {option[0].text}` needs a number or true/false")
            position += 3
            continue
        if command == "noncomputable":
            if position + 1 >= len(tokens) or tokens[position + 1].text != "section":
                raise SourceProblem(f"header line {token.line}: `noncomputable` must be followed by `section`")
            position += 1
        at_least, at_most = {"open": (1, None), "universe": (1, None)}.get(command, (0, 1))
        if command == "open" and position + 1 < len(tokens) and tokens[position + 1].text == "scoped":
            position += 1
        after = names_from(position + 1, at_most)
        if after - (position + 1) < at_least:
            raise SourceProblem(f"header line {token.line}: `{command}` names nothing")
        position = after


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
