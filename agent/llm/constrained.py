"""Grammar-constrained decoding: every sampled invariant parses, type-checks and names only the task's variables.

`invariant_grammar(variables)` instantiates, for one task, a canonical part of the language the invariant
verifier accepts (`verifiers.cexpr`: C boolean expressions, strictly typed) as a grammar in GBNF, the EBNF
dialect of llama.cpp that xgrammar reads natively and llguidance converts to its Lark form; vLLM's two
grammar back ends (xgrammar, guidance) take it as it is. Every sample the grammar allows is one the
verifier parses, and every invariant the project writes (program atoms, verified answers) is one the
grammar allows; what it leaves out only wastes a small model's tokens:
- identifiers are the task's variables only, and literals are decimal, with no leading zero (C reads `010`
  as octal) and at most ten digits;
- the two types are separate non-terminals (`bool-*`, `int-*`), so an integer is never where a boolean
  must be (`x + 1`, `!x`, `a < b < c` are type errors to the verifier and impossible here);
- booleans are combined with `&&`, `||` and `!(...)` only: no `==` between comparisons (`(x < y) == (y < 0)`),
  no conditional expression, at most one `!` or `-` in a row, and at most one space between tokens.
  Left recursion is written as repetition, which every grammar engine accepts.
The sample ends with a newline, the prompt's stop string (the response prefix opens a ```c block).

`GrammarLogitsProcessor` applies such a grammar to a batched transformers `generate` call through
llguidance (one matcher per returned sequence; the token masks come from the library). Any
proposer honours `GenerationSettings.grammar`: the transformers proposer with this processor, an
OpenAI-compatible endpoint through its guided-decoding option when it has one (see `openai_compat`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Protocol, Sequence, runtime_checkable

import llguidance
import llguidance.numpy

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The canonical typed expression language described above; `{names}` is filled per task. Repetition
# ranges (`{0,9}`) are read by llama.cpp's GBNF, xgrammar and llguidance alike.
_INVARIANT_GBNF = r"""root ::= ws bool ws "\n"
bool ::= bool-and (ws "||" ws bool-and)*
bool-and ::= bool-atom (ws "&&" ws bool-atom)*
bool-atom ::= "!"? "(" ws bool ws ")" | int-sum ws rel-op ws int-sum | "true" | "false"
rel-op ::= "==" | "!=" | "<=" | ">=" | "<" | ">"
int-sum ::= int-term (ws add-op ws int-term)*
int-term ::= int-factor (ws mul-op ws int-factor)*
int-factor ::= "-"? ({atom}number | "(" ws int-sum ws ")")
add-op ::= "+" | "-"
mul-op ::= "*" | "/" | "%"
number ::= "0" | [1-9] [0-9]{{0,9}}
{names}ws ::= " "?
"""


def invariant_grammar(variables: Sequence[str]) -> str:
    """The GBNF grammar of a loop invariant over `variables` (the task's `variables`: what the verifier
    accepts), ending with a newline. ValueError for a name that is not a C identifier."""
    names = sorted(dict.fromkeys(variables))
    bad = [name for name in names if not _IDENTIFIER.fullmatch(name)]
    if bad:
        raise ValueError(f"not a C identifier: {bad[0]!r}")
    if not names:  # a program without variables: invariants over literals only
        return _INVARIANT_GBNF.format(atom="", names="")
    alternatives = " | ".join(f'"{name}"' for name in names)
    return _INVARIANT_GBNF.format(atom="name | ", names=f"name ::= {alternatives}\n")


def compile_grammar(grammar: str, tokenizer: llguidance.LLTokenizer | None = None) -> str:
    """llguidance's form of a GBNF (or Lark) grammar; ValueError naming the problem when it is not valid."""
    compiled = llguidance.grammar_from("grammar", grammar)
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(compiled, tokenizer)
    if is_error:
        raise ValueError(f"invalid grammar: {messages[0]}")
    return compiled


def grammar_tokenizer(hf_tokenizer: Any, vocab_size: int) -> llguidance.LLTokenizer:
    """llguidance's view of a fast Hugging Face tokenizer (about a second to build: keep it), with the
    model's vocabulary size (the width of its logits, which may exceed the tokenizer's)."""
    import llguidance.hf  # imports transformers

    return llguidance.hf.from_tokenizer(hf_tokenizer, n_vocab=vocab_size)


@lru_cache(maxsize=1)
def byte_tokenizer() -> llguidance.LLTokenizer:
    """A tokenizer with one token per byte: llguidance matches bytes, so with it `accepts` decides whether a
    text is in a grammar without any model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Tokenizer(models.BPE(vocab={symbol: index for index, symbol in enumerate(alphabet)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<eos>"])
    return llguidance.LLTokenizer(tokenizer.to_str(), eos_token=len(alphabet))


def accepts(grammar: str, text: str, tokenizer: llguidance.LLTokenizer | None = None) -> bool:
    """Whether `text` is a complete sentence of `grammar`, checked by llguidance (on a model's tokens when
    `tokenizer` is given)."""
    tokenizer = tokenizer or byte_tokenizer()
    matcher = llguidance.LLMatcher(tokenizer, _compiled(grammar), log_level=0)
    return matcher.consume_tokens(tokenizer.tokenize_str(text)) and matcher.is_accepting()


@lru_cache(maxsize=64)
def _compiled(grammar: str) -> str:
    return compile_grammar(grammar)


class GrammarLogitsProcessor:
    """A transformers logits processor for a batched `generate` call (`num_return_sequences=rows`): before
    each token is sampled, the tokens that would take a sequence out of the grammar get -inf. Given as
    `logits_processor`, it runs before temperature and top-p (transformers appends its own warpers after the
    caller's processors), so those renormalise over the allowed tokens only. A sequence whose grammar is
    complete may only end (EOS)."""

    def __init__(self, tokenizer: llguidance.LLTokenizer, grammar: str, rows: int, prompt_length: int) -> None:
        compiled = _compiled(grammar)
        self.matchers = [llguidance.LLMatcher(tokenizer, compiled, log_level=0) for _ in range(rows)]
        self.bitmask = llguidance.numpy.allocate_token_bitmask(rows, tokenizer.vocab_size)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[1] > self.prompt_length:  # every call after the first: each row's latest token
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist()):
                if not matcher.is_stopped():  # a finished row is padded; its padding is not grammar input
                    matcher.consume_token(token)
        for row, matcher in enumerate(self.matchers):
            llguidance.numpy.fill_next_token_bitmask(matcher, self.bitmask, row)
        # numpy's in-place mask from llguidance (its torch variant is wrapped in torch.compile, which
        # needs a compiler toolchain on first use); transformers hands float32 scores on the CPU.
        values = scores.float()  # the same tensor when it is float32 already
        llguidance.numpy.apply_token_bitmask_inplace(values.numpy(), self.bitmask)
        return values


@runtime_checkable
class FollowsGrammars(Protocol):
    """A proposer that can constrain its samples to `GenerationSettings.grammar`."""

    def grammar_backend(self) -> str | None:
        """What enforces the grammar (for the trace header), or None when this proposer cannot."""


@runtime_checkable
class ConstrainsDecoding(Protocol):
    """A strategy's settings with the `constrained` switch (`--constrained`)."""

    constrained: bool


UNSUPPORTED = "not supported by this proposer: samples are unconstrained"


def grammar_support(proposer: Any) -> str:
    """For the trace header: what enforces grammars for `proposer`, or why nothing does."""
    backend = proposer.grammar_backend() if isinstance(proposer, FollowsGrammars) else None
    return backend or UNSUPPORTED


def local_grammar_backend() -> str:
    """How a local transformers model follows grammars."""
    return f"llguidance {llguidance.__version__} logits processor"
