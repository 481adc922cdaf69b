"""What a Lean proof must satisfy to be accepted, apart from compiling.

Model-written Lean proofs have been accepted wrongly elsewhere through `sorry`/`admit`, `native_decide`
(whose `Lean.ofReduceBool` trusts the compiler), new `axiom`s, `set_option debug.skipKernelTC`,
`implemented_by`/`extern` and `unsafe`/`partial` definitions, extra commands after the proof (a second
theorem, `#exit`, a fake `#print` output), or a quietly changed statement. The defence has three layers,
each built from what is allowed, not from what is forbidden:

1. Structure (`assemble`, `_bracket_problem`): the proof is compiled as `theorem ... := (by PROOF
   )`, its comments blanked out, and its brackets must match. Lean ends a tactic block at the first token that continues
   neither a tactic nor a term; inside those parentheses only the closing `)` may follow, so a
   command written anywhere in the proof (`theorem`, `end`, a Mathlib command no list here names)
   is a parse error, and a file with an error is never accepted.
2. Source (this module, no Lean needed). `lex` reads the text as Lean's tokenizer does (nested `/- -/`
   comments, doc comments, string and character literals, `«»` names, identifiers by Lean's
   `isLetterLike` and subscript rules, numbers). Allowed are:
   - characters: printable ASCII; the Greek letters except those drawn like Latin ones (omicron and
     the capitals Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ); ℕ ℤ ℚ ℝ ℂ ℓ and script capitals (𝓝); sub- and
     superscripts; arrows, mathematical operators and mathlib's brackets. So no look-alike letters
     (Cyrillic `ѕ`, full-width or bold letters), no invisible characters, no `«»` quoting: to Lean a
     look-alike `ѕorry` is merely an unknown name, but it would fool the name checks below and a
     human reading the trace;
   - tokens: names, numbers, symbols, plain comments. No string or character literals, quotations
     (`` ` ``), `#` commands, `@[...]` attributes, doc comments (`/--`, `/-!`: Lean parses those);
   - where a tactic stands (the start of a line of a tactic block; after `by`, `;`, `<;>`, `·`, `(`,
     `{`, a combinator, the `=>` of `case`/`next`, the `in` of `open`/`set_option`): only TACTICS;
   - `set_option OPTION VALUE in` for an OPTION in ALLOWED_PROOF_OPTIONS, and `open NAMESPACE... in`
     for capitalised namespaces other than `Lean`, nothing else after these two words.
   Elsewhere names are terms (Mathlib lemmas, the proof's own hypotheses), which no list holds
   without Lean. There a name may be neither an escape hatch (ESCAPE_HATCHES, ESCAPE_PARTS) nor a
   keyword of Lean's own command grammar (COMMAND_KEYWORDS). Layer 1 already makes any command a
   parse error, but Lean's error recovery still elaborates a command that follows one, so a command
   that runs code must never reach Lean: every way to run new code at compile time starts with a core
   keyword (`run_cmd`, `elab`, `macro`, `initialize`, a declaration, `attribute`) or `#` or `@[`,
   which is why that list can be closed; Mathlib's own commands run only Mathlib's code. Comments
   are free text: `assemble` blanks them out, so whatever one holds never reaches Lean.
   The task's header is parsed by a grammar (`check_header`): `import Module` lines, then `open
   [scoped] Namespace...`, `namespace`/`section`/`end` [Namespace], `universe u...` and `set_option
   OPTION VALUE` for an allowed option; namespaces are capitalised names (a command keyword never
   is), so `open Nat in axiom ...` or `open Nat unif_hint ...` does not parse.
3. Lean (`judge`): the file compiled is assembled here from the task's header and statement,
   unchanged, with `set_option autoImplicit false` between them and `#print axioms` after the proof.
   Lean must report no error, no `sorry`, and exactly one axioms report, on that command's own line,
   naming only `propext`, `Classical.choice` and `Quot.sound`.
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

# Whole name components that make Lean accept what is not a proof (the axioms audit refuses most of
# them too; refusing them here gives the model the reason at once).
ESCAPE_HATCHES = {
    "sorry": "`sorry` is never accepted",
    "admit": "`admit` is `sorry` under another name",
    "stop": "`stop` discards the rest of the proof with `sorry`",
    "native_decide": "`native_decide` trusts the compiler (Lean.ofReduceBool)",
    "native": "native evaluation (`+native`, `native := true`) trusts the compiler",
    "axioms": "a proof may not declare axioms",
    "implemented_by": "`implemented_by` swaps in unchecked code",
    "extern": "`extern` swaps in unchecked code",
}
# Substrings that may not appear inside any name component.
ESCAPE_PARTS = {
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
# The keywords of Lean's command grammar (src/Lean/Parser/Command.lean, Syntax.lean, Term.lean:
# declarations and their modifiers, scopes, syntax extension, code run at compile time) and the
# declaration-like commands of Batteries and Mathlib. A name component equal to one (trailing `?`/`!`
# aside, so `variable?` too) is refused anywhere in a proof.
COMMAND_KEYWORDS = frozenset("""
    theorem lemma def abbrev instance example opaque axiom structure class inductive coinductive mutual
    private public protected noncomputable unsafe partial nonrec meta deriving where termination_by
    decreasing_by namespace section end export universe variable include omit import attribute local
    scoped syntax macro macro_rules elab elab_rules notation infix infixl infixr prefix postfix
    declare_syntax_cat binder_predicate run_cmd run_elab run_meta run_tac by_elab initialize
    builtin_initialize simproc dsimproc simproc_decl builtin_simproc builtin_dsimproc register_simp_attr
    register_option register_builtin_option declare_config_elab declare_command_config_elab
    register_tactic_tag tactic_extension add_decl_doc seal unseal init_quot with_weak_namespace
    gen_injective_theorems grind_pattern unif_hint recommended_spelling register_error_explanation
    assert_not_exists assert_not_imported test_extern irreducible_def alias library_note proof_wanted
    recall suppress_compilation unsuppress_compilation compile_inductive compile_def notation3
    initialize_simps_projections register_label_attr mk_iff_of_inductive_prop open_locale whatsnew
    add_aesop_rules erase_aesop_rules declare_aesop_rule_sets
""".split())

# Where a tactic is expected (see `_tactic_positions`) only these names may stand: Lean's and Mathlib's
# proof tactics, their combinators, and `open ... in` / `set_option ... in`.
TACTICS = frozenset("""
    abel abel1 abel_nf absurd ac_rfl aesop aesop? all_goals and_intros any_goals apply apply? apply_assumption
    apply_fun apply_mod_cast apply_rules assumption assumption_mod_cast bound by_cases by_contra by_contra!
    calc cancel_denoms case case' cases cases' casesm change choose clear clear_value compute_degree congr
    congr! constructor constructorm continuity contradiction contrapose contrapose! conv conv_lhs conv_rhs
    convert convert_to decide decreasing_tactic delta done dsimp dsimp? eq_refl erw exact exact? exact_mod_cast
    exacts exfalso exists existsi ext ext1 field_simp filter_upwards fin_cases first focus fun_prop funext
    gcongr generalize group guard_hyp guard_target have haveI induction induction' infer_instance injection
    injections interval_cases intro intros introv iterate left let letI lift linarith linarith! linear_combination
    match measurability mod_cases module monicity next nlinarith nlinarith! nofun nomatch nontriviality
    norm_cast norm_num norm_num1 nth_rewrite nth_rw obtain omega on_goal open peel pick_goal positivity
    push_cast push_neg qify rcases rcases? refine refine' rename rename_i repeat repeat' replace revert rfl
    right ring ring1 ring_nf rintro rotate_left rotate_right rw rw? rw_mod_cast rwa set set_option show
    simp simp? simp_all simp_all? simp_arith simp_intro simp_rw simpa simpa? skip specialize split split_ands
    split_ifs subst subst_vars suffices swap symm tauto trans trivial try unfold unfold_let use use!
    wlog zify
""".split())
# Tactics after which another tactic follows on the same line (`try simp`, `all_goals ring`,
# `iterate 3 rw [h]`).
TACTIC_COMBINATORS = frozenset({"try", "repeat", "repeat'", "all_goals", "any_goals", "focus", "first", "iterate"})

# Names that, written right before `%` and a space, are term elaborators that evaluate code (`eval% e`).
TERM_ELABORATORS = frozenset({"eval", "decide", "native", "run", "elab", "by_elab"})

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9]*\s*\n?|\n?\s*```\s*$")
_DECLARATION = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(theorem|lemma|example)\b")
_STATEMENT_HEAD = re.compile(r"^\s*(theorem|lemma)\s+([^\s(:{\[⦃]+)")
# A namespace or module name: capitalised components (Lean's and Mathlib's convention; no command
# keyword is capitalised). A universe: a lower-case letter with digits, subscripts or `_`.
_NAMESPACE = re.compile(r"[A-Z][A-Za-z0-9_']*(?:\.[A-Z][A-Za-z0-9_']*)*")
_UNIVERSE = re.compile(r"[a-z][0-9_'₀-₉]*")

# Letters and symbols allowed besides printable ASCII. Omicron and the Greek capitals that look like
# Latin ones (Α, Β, Ε, ...) are left out.
_GREEK = "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ"
_SYMBOLS = "¬·×÷‖•′″‹›ℕℤℚℝℂℓ⟨⟩⟪⟫⟦⟧⦃⦄⌊⌋⌈⌉▸⁅⁆ᶜᵀ∘√∞"
_SUBSCRIPT_LETTERS = "ᵢᵣᵤᵥᵦᵧᵨᵩᵪⱼ"  # Lean's isSubScriptAlnum beyond U+2080..U+209C
_RANGES = ((0x2070, 0x209F),  # superscripts and subscripts
           (0x2190, 0x21FF),  # arrows
           (0x2200, 0x22FF),  # mathematical operators
           (0x27C0, 0x27EF),  # miscellaneous mathematical symbols A (⟂, ⟦⟧, ⟨⟩)
           (0x27F0, 0x27FF),  # supplemental arrows
           (0x2980, 0x29FF),  # miscellaneous mathematical symbols B (⦃⦄, ⧸ for quotients)
           (0x2A00, 0x2AFF),  # supplemental mathematical operators
           (0x1D49C, 0x1D4B5), (0x1D4D0, 0x1D4E9))  # script capitals (𝓝 for neighbourhoods)
# What Lean reads as letters in names (its `isLetterLike`): λ, Π and Σ are binders, not letters.
_LETTERS = (set(_GREEK) - set("λΠΣ")) | {"ℕ", "ℤ", "ℚ", "ℝ", "ℂ", "ℓ"}
_BRACKETS = {")": "(", "]": "[", "}": "{", "⟩": "⟨", "⦄": "⦃"}


def _allowed_character(char: str) -> bool:
    if " " <= char <= "~" or char in "\n\t\r":
        return True
    if char in _GREEK or char in _SYMBOLS or char in _SUBSCRIPT_LETTERS or char in "¹²³":
        return True
    return any(low <= ord(char) <= high for low, high in _RANGES)


def _letter(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_") or char in _LETTERS or 0x1D49C <= ord(char) <= 0x1D4E9


def _name_rest(char: str) -> bool:
    return (_letter(char) or (char.isascii() and char.isdigit()) or char in "'!?" or char in _SUBSCRIPT_LETTERS
            or 0x2080 <= ord(char) <= 0x209C)


@dataclass(frozen=True)
class Token:
    kind: str  # "name" | "number" | "comment" | "doc" | "string" | "char" | "symbol"
    text: str
    line: int
    offset: int = 0  # where it starts in the text


class SourceProblem(ValueError):
    """A proposal refused before Lean sees it; the message (one line) is the model's feedback."""


def _number_end(text: str, index: int) -> int:
    """Where Lean's number literal starting at `index` ends: `0x`/`0b`/`0o` with their digits, or
    decimal digits with an optional fraction (`.` and a digit) and exponent."""
    if text[index] == "0" and text[index + 1:index + 2] in ("x", "X", "b", "B", "o", "O"):
        digits = {"x": "0123456789abcdefABCDEF", "b": "01", "o": "01234567"}[text[index + 1].lower()]
        end = index + 2
        while end < len(text) and (text[end] in digits or text[end] == "_"):
            end += 1
        return end
    end = index
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    if text[end:end + 1] == "." and text[end + 1:end + 2].isdigit():
        end += 1
        while end < len(text) and text[end].isascii() and text[end].isdigit():
            end += 1
    exponent = re.match(r"[eE][+-]?[0-9]+", text[end:])
    return end + exponent.end() if exponent else end


def _comment_end(text: str, index: int, what: str, line: int) -> int:
    """The end of the block comment opened at `index` (they nest, as in Lean)."""
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
    return index


def lex(text: str, what: str) -> list[Token]:
    """Lean tokens of `text` (spaces dropped), by Lean's rules for names, numbers and comments (block
    comments nest; `/--` and `/-!` open doc comments, which Lean parses as syntax). Raises
    SourceProblem for a character outside the allow-list or an unclosed comment."""
    for index, char in enumerate(text):
        if not _allowed_character(char):
            line = text.count("\n", 0, index) + 1
            raise SourceProblem(f"{what} contains the character {char!r} (U+{ord(char):04X}) on line {line}; only ASCII,"
                                " Greek letters and common mathematical symbols are allowed")
    tokens: list[Token] = []
    index, line = 0, 1
    while index < len(text):
        char, start = text[index], index
        if char.isspace():
            index += 1
        elif text.startswith("--", index):
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
            tokens.append(Token("comment", text[start:index], line, start))
        elif text.startswith("/-", index):
            doc = text[index + 2:index + 3] in ("-", "!") and not text.startswith("/--/", index)
            index = _comment_end(text, index, what, line)
            tokens.append(Token("doc" if doc else "comment", text[start:index], line, start))
        elif char == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
            index += 1
            tokens.append(Token("string", text[start:index], line, start))
        elif char == "'" and (text[index + 2:index + 3] == "'" or text[index + 1:index + 2] == "\\"):
            index = text.find("'", index + 2) + 1 or len(text)  # a character literal such as 'a' or '\n'
            tokens.append(Token("char", text[start:index], line, start))
        elif _letter(char):
            index += 1
            while index < len(text) and (_name_rest(text[index]) or (
                    text[index] == "." and index + 1 < len(text) and _letter(text[index + 1]))):
                index += 1
            tokens.append(Token("name", text[start:index], line, start))
        elif char.isascii() and char.isdigit():
            index = _number_end(text, index)
            tokens.append(Token("number", text[start:index], line, start))
        else:
            index += 1
            tokens.append(Token("symbol", char, line, start))
        line += text.count("\n", start, index)
    return tokens


def _squash(text: str) -> str:
    return " ".join(text.split())


def _name_problems(name: str) -> list[str]:
    """Why a name may not appear in a proof (empty when it may)."""
    problems = []
    components = name.split(".")
    for component in components:
        word = component.rstrip("?!")
        if component in ESCAPE_HATCHES:
            problems.append(f"`{component}`: {ESCAPE_HATCHES[component]}")
        elif word in COMMAND_KEYWORDS:
            problems.append(f"`{component}` starts a command or runs meta-code; a proof is a tactic block only")
        else:
            problems.extend(f"`{component}`: {reason}" for part, reason in ESCAPE_PARTS.items() if part in component)
    if [part for part in components if part != "_root_"][:1] == ["Lean"] and len(components) > 1:
        problems.append(f"`{name}`: the Lean meta-level namespace may not be used in a proof")
    return problems


def _bracket_problem(code: list[Token]) -> str | None:
    """Brackets must match, as Lean requires: it is what keeps the proof inside the parentheses
    `assemble` puts around it (a stray `)` would close them and let a command follow)."""
    opened: list[Token] = []
    for token in code:
        if token.kind != "symbol":
            continue
        if token.text in _BRACKETS.values():
            opened.append(token)
        elif token.text in _BRACKETS:
            if not opened or opened[-1].text != _BRACKETS[token.text]:
                return f"line {token.line}: `{token.text}` closes no open `{_BRACKETS[token.text]}`"
            opened.pop()
    return f"line {opened[-1].line}: `{opened[-1].text}` is never closed" if opened else None


def _scoped_prefix_problem(code: list[Token], at: int) -> tuple[str | None, int]:
    """`set_option OPTION VALUE in` / `open [scoped] Namespace... in` starting at `code[at]`: the
    problem (None if it is well formed) and the index of its `in`."""
    def text(index: int) -> str:
        return code[index].text if index < len(code) else "nothing"

    keyword = code[at].text
    if keyword == "set_option":
        option = text(at + 1)
        if option not in ALLOWED_PROOF_OPTIONS:
            return (f"`set_option {option}`: only {', '.join(sorted(ALLOWED_PROOF_OPTIONS))} may be set in a proof",
                    at)
        value = code[at + 2] if at + 2 < len(code) else None
        if value is None or not (value.kind == "number" or value.text in ("true", "false")):
            return f"`set_option {option}` needs a number or true/false", at
        end = at + 3
    else:
        end = at + 1 + (text(at + 1) == "scoped")
        first = end
        while end < len(code) and code[end].kind == "name" and _NAMESPACE.fullmatch(code[end].text):
            if code[end].text.split(".")[0] == "Lean":
                return "`open Lean`: the Lean meta-level namespace may not be used in a proof", at
            end += 1
        if end == first:
            return f"`open {text(first)}`: `open` takes capitalised namespace names", at
    if text(end) != "in":
        return f"`{keyword}` in a proof must be followed by `in` and a tactic or term, not `{text(end)}`", at
    return None, end


def _tactic_positions(code: list[Token], text: str, tactic_block: bool = True) -> set[int]:
    """Indices of the tokens of `code` (comments dropped) that stand where Lean expects a tactic: the
    proof's first token (when `text` is a tactic block); the first token of a line at the column of an
    open tactic block (Lean's `sepByIndent`: the tactics of a block start at one column; a more
    indented line continues a term); the token after `by`, after `;` and `<;>` outside brackets,
    after `·`, `(`, `{` and a combinator (and its count) standing where a tactic is expected, after
    `=>` of `case`/`next`/`on_goal`, after the `in` of an `open`/`set_option` standing there, and on
    the line after one that ends in `by` or in the `=>` of an alternative (`| succ n ih =>`)."""
    line_starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]

    def column(token_index: int) -> int:
        return code[token_index].offset - line_starts[code[token_index].line - 1]

    positions: set[int] = set()
    blocks: list[int] = []
    depth = 0
    opens_next_line = tactic_block
    line_head: Token | None = None
    awaiting_in: int | None = None  # the index of the `in` of an `open`/`set_option` at a tactic position
    for index, token in enumerate(code):
        first_on_line = index == 0 or code[index - 1].line != token.line
        if first_on_line:
            line_head = token
            if depth == 0 and (tactic_block or blocks or opens_next_line):
                here = column(index)
                if opens_next_line:
                    blocks.append(here)
                    positions.add(index)
                else:
                    while blocks and blocks[-1] > here:
                        blocks.pop()
                    if not blocks or blocks[-1] == here:
                        positions.add(index)
                        if not blocks:
                            blocks.append(here)
            opens_next_line = False
        previous = code[index - 1] if index else None
        if previous is not None and not first_on_line and (
                previous.text == "by"
                or (depth == 0 and (blocks or tactic_block) and previous.text == ";")
                or (depth == 0 and index >= 3 and [t.text for t in code[index - 3:index]] == ["<", ";", ">"])
                or (index - 1 in positions and previous.text in ("·", ".", "{", "(") + tuple(TACTIC_COMBINATORS))
                or (previous.kind == "number" and index - 2 in positions and code[index - 2].text == "iterate")
                or index - 1 == awaiting_in
                or (previous.text == "=>" and line_head is not None and line_head.text in ("case", "case'", "next", "on_goal"))):
            positions.add(index)
        if index in positions and token.text in ("open", "set_option"):
            malformed, end = _scoped_prefix_problem(code, index)
            awaiting_in = None if malformed else end
        if token.kind == "symbol" and token.text in _BRACKETS.values():
            depth += 1
        elif token.kind == "symbol" and token.text in _BRACKETS:
            depth = max(0, depth - 1)
        last_on_line = index + 1 == len(code) or code[index + 1].line != token.line
        if last_on_line and depth == 0 and (token.text == "by" or (
                token.text == "=>" and line_head is not None and line_head.text in ("|", "case", "case'", "next", "on_goal"))):
            opens_next_line = True
    return positions


def _screen(text: str, what: str, tactic_block: bool, skip: int = 0) -> list[str]:
    """Every reason `text` is refused (empty when it passes): a proof (`tactic_block`) or a statement
    (a term, with tactic blocks only after `by`); the first `skip` code tokens are not screened."""
    problems: list[str] = []

    def problem(found: str) -> None:
        if found not in problems:
            problems.append(found)

    try:
        tokens = lex(text, what)
    except SourceProblem as refused:
        return [str(refused)]
    code = [token for token in tokens if token.kind != "comment"]
    unbalanced = _bracket_problem(code)
    if unbalanced:
        problem(unbalanced)
    for position in sorted(_tactic_positions(code, text, tactic_block)):
        token = code[position]
        if position >= skip and token.kind == "name" and token.text not in TACTICS and not _name_problems(token.text):
            problem(f"line {token.line}: `{token.text}` stands where a tactic is expected, and it is not a tactic"
                    " (a proof is a tactic block; commands and unknown tactics are refused)")
    for position, token in enumerate(code[skip:], start=skip):
        following = code[position + 1] if position + 1 < len(code) else None
        if token.kind == "name":
            for found in _name_problems(token.text):
                problem(found)
            if token.text in ("set_option", "open"):
                found, _ = _scoped_prefix_problem(code, position)
                if found:
                    problem(f"line {token.line}: {found}")
            if following is not None and following.text == "%" and following.offset == token.offset + len(token.text) \
                    and token.text.split(".")[-1] in TERM_ELABORATORS:
                problem(f"`{token.text}%`: term elaborators that run code may not appear in a proof")
        elif token.kind == "doc":
            problem(f"line {token.line}: doc comments (`/--`, `/-!`) are declarations' syntax, not comments;"
                    " write `--` or `/- -/`")
        elif token.kind in ("string", "char"):
            problem(f"line {token.line}: string and character literals may not appear in a proof")
        elif token.text == "`":
            problem(f"line {token.line}: quotations (`) are meta-programming and may not appear in a proof")
        elif token.text == "#":
            shown = following.text if following is not None else ""
            problem(f"`#{shown}...`: commands such as #print, #eval or #exit may not appear in a proof")
        elif token.text == "@" and following is not None and following.text == "[":
            problem("`@[...]`: attributes may not appear in a proof")
    return problems


def scan_proof(proof: str) -> list[str]:
    """Every reason the proof text is refused (empty when it passes the source-level checks)."""
    return _screen(proof, "the proof", tactic_block=True)


def check_statement(statement: str, theorem_name: str) -> None:
    """The task's statement: `theorem NAME ...` (or `lemma`) with no proof and no forbidden construct."""
    head = _STATEMENT_HEAD.match(statement)
    if not head:
        raise SourceProblem("the statement must start with `theorem NAME` (or `lemma NAME`)")
    if head.group(2) != theorem_name:
        raise SourceProblem(f"the statement declares {head.group(2)!r}, not the task's theorem_name {theorem_name!r}")
    if ":=" in statement or re.search(r"\bby\s*$", statement):
        raise SourceProblem("the statement must stop before `:= by` (the proof is not part of it)")
    problems = _screen(statement, "the statement", tactic_block=False, skip=1)
    if problems:
        raise SourceProblem(f"the statement uses {problems[0]}")


def check_header(header: str) -> None:
    """A header holds imports, then `open`s, namespaces/sections, universes and a few options: nothing
    that could declare an axiom or change the checker. It is parsed by this grammar, each command
    with exactly the arguments it takes:

        header   := ("import" Module)* command*
        command  := "open" ["scoped"] Namespace+ | "namespace" Namespace | ["noncomputable"] "section" [Namespace]
                  | "end" [Namespace] | "universe" universe+ | "set_option" OPTION (number | "true" | "false")

    Module and Namespace are capitalised dotted names; OPTION is in ALLOWED_HEADER_OPTIONS."""
    tokens = [token for token in lex(header, "the header") if token.kind != "comment"]
    position = 0

    def at(index: int) -> Token | None:
        return tokens[index] if index < len(tokens) else None

    def names(start: int, shape: re.Pattern, at_most: int | None = None) -> int:
        end = start
        while (token := at(end)) is not None and token.kind == "name" and shape.fullmatch(token.text) \
                and (at_most is None or end - start < at_most):
            if token.text.split(".")[0] == "Lean":
                raise SourceProblem(f"header line {token.line}: the Lean meta-level namespace may not be imported or opened")
            end += 1
        return end

    while (token := at(position)) is not None and token.text == "import":
        after = names(position + 1, _NAMESPACE, at_most=1)
        if after == position + 1:
            raise SourceProblem(f"header line {token.line}: `import` must name one module (a capitalised name)")
        position = after
    while (token := at(position)) is not None:
        command = token.text if token.kind == "name" else None
        if command == "noncomputable" and (following := at(position + 1)) is not None and following.text == "section":
            position, command = position + 1, "section"
        if command == "set_option":
            option, value = at(position + 1), at(position + 2)
            if option is None or option.text not in ALLOWED_HEADER_OPTIONS:
                raise SourceProblem(f"header line {token.line}: `set_option {option.text if option else ''}` is not allowed")
            if value is None or not (value.kind == "number" or value.text in ("true", "false")):
                raise SourceProblem(f"header line {token.line}: `set_option {option.text}` needs a number or true/false")
            position += 3
        elif command == "open":
            first = position + 1 + (getattr(at(position + 1), "text", None) == "scoped")
            position = names(first, _NAMESPACE)
            if position == first:
                raise SourceProblem(f"header line {token.line}: `open` must name capitalised namespaces")
        elif command == "universe":
            start, position = position, names(position + 1, _UNIVERSE)
            if position == start + 1:
                raise SourceProblem(f"header line {token.line}: `universe` must name universes (u, v, u₁, ...)")
        elif command == "namespace":
            if names(position + 1, _NAMESPACE, at_most=1) == position + 1:
                raise SourceProblem(f"header line {token.line}: `namespace` must name a capitalised namespace")
            position += 2
        elif command in ("section", "end"):
            position = names(position + 1, _NAMESPACE, at_most=1)
        else:
            raise SourceProblem(f"header line {token.line}: `{token.text}` is not an import, open, namespace, section, "
                                "end, universe or allowed set_option (or it stands where none of them may)")


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


def without_comments(proof: str) -> str:
    """The proof with its comments blanked out (newlines kept, so lines and columns stay as they
    were). Lean reads a comment as white space; blanking them means Lean sees exactly the tokens that
    were screened, whatever a comment holds and wherever Lean would have ended it."""
    text = list(proof)
    for token in lex(proof, "the proof"):
        if token.kind == "comment":
            text[token.offset:token.offset + len(token.text)] = re.sub(r"[^\n]", " ", token.text)
    return "".join(text)


def assemble(header: str, statement: str, theorem_name: str, proof: str) -> Assembled:
    head = header.rstrip() + "\n\nset_option autoImplicit false\n\n" if header.strip() else "set_option autoImplicit false\n\n"
    statement_line = head.count("\n") + 1
    # The proof stands inside parentheses it cannot close (its brackets match): a command written in it
    # is a parse error, not a command (see the module's docstring).
    body = head + statement.rstrip() + " := (by\n"
    proof_line = body.count("\n") + 1
    body += textwrap.indent(without_comments(proof).rstrip(), "  ", lambda line: True) + "\n)\n\n"
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
                     + (", ".join(axioms) or "none") + " (only propext, Classical.choice and Quot.sound are allowed)",
                     axioms=axioms)
