"""Forward hooks on the plain Hugging Face model, found by module name.

`layer_hook` attaches one hook inside a context manager that always removes it, whatever happens inside.
`SAEHook` encodes the layer's activations with an SAE while `generate` runs, and optionally steers features;
`features_per_row` splits the batched call's rows back into proposals, padding excluded.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

# The SAE shipped for the bundled model (`--sae bundled`), trained by `python -m agent sae train` (see its
# MODEL_CARD.md); a user's own `sae train` output or a public SAELens SAE is used by giving its folder instead.
BUNDLED_SAE = Path(__file__).resolve().parent / "weights" / "smollm2-135m-layer15"


def sae_folder(path: str | Path) -> Path:
    """The folder an `--sae` value names: `bundled` is the shipped SAE."""
    return BUNDLED_SAE if str(path) == "bundled" else Path(path)


# SAELens / TransformerLens hook names for the residual stream after block N, and the HF module that outputs it.
_TRANSFORMER_LENS_RESID = re.compile(r"^blocks\.(\d+)\.hook_resid_post$")


def module_name_for(hook_name: str) -> str:
    """The HF module for a hook name: `model.layers.N` as is, `blocks.N.hook_resid_post` (a public SAELens SAE's
    name for the same residual stream) translated."""
    match = _TRANSFORMER_LENS_RESID.match(hook_name)
    return f"model.layers.{match.group(1)}" if match else hook_name


def find_module(model: torch.nn.Module, hook_name: str) -> torch.nn.Module:
    name = module_name_for(hook_name)
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(f"the model has no module {name!r} (hook {hook_name!r})")
    return modules[name]


def default_layer(model: torch.nn.Module) -> int:
    return model.config.num_hidden_layers // 2


def hidden_of(output: Any) -> torch.Tensor:
    """A decoder layer's hidden states, whether it returns a tensor or a tuple (older transformers)."""
    return output[0] if isinstance(output, tuple) else output


def with_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def layer_hook(model: torch.nn.Module, hook_name: str,
               function: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call `function(hidden)` on the layer's output during every forward pass; a tensor it returns replaces the
    hidden states. The hook is removed on leaving, also after an exception."""
    def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
        replaced = function(hidden_of(output))
        return None if replaced is None else with_hidden(output, replaced)

    handle = find_module(model, hook_name).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


FEATURES_KEPT = 32  # top features per proposal written to the trace (by mean activation over its tokens)


@dataclass(frozen=True)
class Steer:
    """`FEATURE=VALUE` clamps the feature's activation to VALUE; `FEATURE+=VALUE` adds VALUE times its decoder
    direction."""

    feature: int
    value: float
    mode: str  # "clamp" or "add"


def parse_steer(text: str, width: int | None = None) -> tuple[Steer, ...]:
    """`3=5,17+=-2.5` -> two Steer entries; ValueError with one line naming the bad part."""
    steers = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(\+?=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", part)
        if not match:
            raise ValueError(f"--steer: {part!r} is not FEATURE=VALUE or FEATURE+=VALUE")
        feature = int(match.group(1))
        if width is not None and feature >= width:
            raise ValueError(f"--steer: feature {feature} is out of range (the SAE has {width} features)")
        steers.append(Steer(feature, float(match.group(3)), "add" if match.group(2) == "+=" else "clamp"))
    if not steers:
        raise ValueError("--steer: no FEATURE=VALUE given")
    return tuple(steers)


@torch.no_grad()
def feature_direction(sae: Any, feature: int) -> torch.Tensor:
    """What one unit of the feature adds to the reconstruction, from the SAE's own `decode` (so decoder-norm
    rescaling and folded normalisation are respected, whatever the architecture)."""
    unit = torch.zeros((1, sae.cfg.d_sae))
    unit[0, feature] = 1.0
    return (sae.decode(unit) - sae.decode(torch.zeros_like(unit)))[0].float()


def top_features(sae: Any, hidden: torch.Tensor, kept: int) -> list[dict[str, Any]]:
    """The `kept` features with the largest mean activation over the rows of `hidden` [tokens, d]."""
    if hidden.shape[0] == 0:
        return []
    features = sae.encode(hidden.float())
    means, maxima = features.mean(0), features.max(0).values
    values, indices = means.topk(min(kept, means.shape[0]))
    return [{"index": int(index), "mean": round(float(value), 4), "max": round(float(maxima[index]), 4)}
            for value, index in zip(values, indices) if value > 0]


class SAEHook:
    """Encodes one layer's residual stream while `generate` runs, and steers features if asked.

    The first forward pass of a recording is the prefill (all prompt positions); every later one is one decode step
    (one new position per row). The hidden state at the prompt's last position is the model's state before it writes;
    decode step j sees the j-th generated token. Rows are the batched call's proposals.
    """

    def __init__(self, sae: Any, name: str, control: Any = None, steer: tuple[Steer, ...] = (),
                 kept: int = FEATURES_KEPT) -> None:
        self.sae = sae
        self.name = name
        self.control = control  # a randomly initialised SAE of the same shape: the report's baseline
        self.steer = steer
        self.kept = kept
        self.hook_name = sae.cfg.metadata.hook_name or ""
        if not self.hook_name:
            raise ValueError(f"the SAE {name} names no hook (cfg.json metadata.hook_name)")
        self._directions = {steer.feature: feature_direction(sae, steer.feature) for steer in steer}
        self._prompt_last: torch.Tensor | None = None
        self._steps: list[torch.Tensor] = []

    @contextmanager
    def recording(self, model: torch.nn.Module) -> Iterator[None]:
        self._prompt_last, self._steps = None, []
        with layer_hook(model, self.hook_name, self._on_forward):
            yield

    def _on_forward(self, hidden: torch.Tensor) -> torch.Tensor | None:
        prefill = self._prompt_last is None
        steered = self._steered(hidden, skip_first=prefill) if self.steer else None
        used = hidden if steered is None else steered
        if prefill:
            self._prompt_last = used[:, -1].detach().float().clone()
        else:
            self._steps.append(used[:, -1].detach().float().clone())
        return steered

    @torch.no_grad()
    def _steered(self, hidden: torch.Tensor, skip_first: bool) -> torch.Tensor:
        start = 1 if skip_first else 0  # position 0 (the attention sink) is left alone, as in training
        part = hidden[:, start:].float()
        clamps = [steer for steer in self.steer if steer.mode == "clamp"]
        current = self.sae.encode(part) if clamps else None
        for steer in self.steer:
            amount = steer.value if steer.mode == "add" else steer.value - current[..., steer.feature]
            direction = self._directions[steer.feature]
            part = part + (amount[..., None] if steer.mode == "clamp" else amount) * direction
        steered = hidden.clone()
        steered[:, start:] = part.to(hidden.dtype)
        return steered

    @torch.no_grad()
    def features(self, row: int, tokens: int) -> dict[str, Any]:
        """The trace's `features` record for one row: top features over its first `tokens` generated tokens
        (those the model saw again, i.e. all but a last token after which generation stopped) and at the prompt's
        last token; the mean raw residual over the same tokens (for the report's raw-activation probe)."""
        seen = torch.stack([step[row] for step in self._steps[:tokens]]) if self._steps and tokens else \
            torch.zeros((0, self.sae.cfg.d_in))
        prompt_last = self._prompt_last[row : row + 1] if self._prompt_last is not None else torch.zeros((0, self.sae.cfg.d_in))
        record: dict[str, Any] = {
            "sae": self.name, "hook": self.hook_name, "tokens": int(seen.shape[0]),
            "proposal": top_features(self.sae, seen, self.kept),
            "prompt_last": [{"index": f["index"], "value": f["mean"]} for f in top_features(self.sae, prompt_last, self.kept)],
            "residual_mean": [round(float(value), 3) for value in (seen.mean(0) if seen.shape[0] else torch.zeros(self.sae.cfg.d_in))],
        }
        if self.control is not None:
            record["control"] = top_features(self.control, seen, self.kept)
        if self.steer:
            record["steer"] = [{"feature": s.feature, "value": s.value, "mode": s.mode} for s in self.steer]
        return record


def check_sae_arguments(path: str, steer: str | None) -> None:
    """`--sae PATH [--steer ...]` checked from cfg.json alone (no torch work); ValueError with one line."""
    import json

    config = sae_folder(path) / "cfg.json"
    if not config.is_file() or not (sae_folder(path) / "sae_weights.safetensors").is_file():
        raise ValueError(f"--sae {path}: no SAELens SAE there (cfg.json + sae_weights.safetensors)")
    try:
        width = int(json.loads(config.read_text())["d_sae"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"--sae {path}: cfg.json has no d_sae") from None
    if steer:
        parse_steer(steer, width)


def load_hook(path: str, steer: str | None = None, control: bool = True) -> SAEHook:
    """The hook for `--sae PATH [--steer ...]`; ValueError (one line) for a folder that is not an SAE."""
    from agent.sae.train import load_sae, random_like

    folder = sae_folder(path)
    if not (folder / "cfg.json").is_file():
        raise ValueError(f"--sae {path}: no SAELens SAE there (cfg.json + sae_weights.safetensors)")
    try:
        sae = load_sae(folder)
    except Exception as error:  # SAELens raises many kinds for a malformed folder
        raise ValueError(f"--sae {path}: cannot load: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    steers = parse_steer(steer, sae.cfg.d_sae) if steer else ()
    return SAEHook(sae, str(folder), random_like(sae) if control else None, steers)
