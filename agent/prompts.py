"""Prompt templates: Jinja2 files in `prompts/<task kind>/` (package data of the `prompts` package, so an
installed wheel has them) rendered with StrictUndefined.

Each kind has `system.j2`, `user.j2` and `response_prefix.j2` (the start of the model's reply, which
fixes the answer's format). A kind may add one worked example as a previous exchange,
`example_user.j2` and `example_assistant.j2`: small chat models imitate an earlier turn of the
conversation much more closely than an example described in the system message. `VERILOOP_PROMPTS` points at another folder laid out the same way.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

import prompts as prompt_templates
from agent.llm.base import Prompt

PROMPTS_DIR = Path(prompt_templates.__file__).resolve().parent


def prompts_dir() -> Path:
    return Path(os.environ.get("VERILOOP_PROMPTS") or PROMPTS_DIR)


@lru_cache(maxsize=8)
def _environment(root: str) -> Environment:
    return Environment(loader=FileSystemLoader(root), undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render_prompt(kind: str, **values: Any) -> Prompt:
    environment = _environment(str(prompts_dir()))
    try:
        system = environment.get_template(f"{kind}/system.j2").render(**values).strip()
        user = environment.get_template(f"{kind}/user.j2").render(**values).strip()
        prefix = environment.get_template(f"{kind}/response_prefix.j2").render(**values)
        example: list[dict[str, str]] = []
        if (prompts_dir() / kind / "example_user.j2").is_file():
            example = [
                {"role": "user", "content": environment.get_template(f"{kind}/example_user.j2").render(**values).strip()},
                {"role": "assistant",
                 "content": environment.get_template(f"{kind}/example_assistant.j2").render(**values).strip()},
            ]
    except TemplateNotFound as missing:
        raise FileNotFoundError(f"prompt template {missing} not found under {prompts_dir()}") from None
    return Prompt(messages=[{"role": "system", "content": system}, *example, {"role": "user", "content": user}],
                  response_prefix=prefix)
