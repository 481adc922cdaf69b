"""The strategy registry: each search strategy registers itself with `@strategy(...)`.

A registration names the task kinds the strategy serves, whether it ever asks a model, and its own
typed settings (a pydantic model, defaults for every field), so the options of one kind of task
live with the strategy that reads them. The loop looks strategies up here by kind. Every module of
`agent.search` is imported on the first lookup, so adding a task kind touches one strategy module,
its task model and its prompts.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict

from agent.session import Outcome, Session

StrategyFunction = Callable[[Session], Outcome]


class NoSettings(BaseModel):
    """Settings of a strategy that has none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Strategy:
    name: str
    kinds: tuple[str, ...]
    needs_model: bool
    settings: type[BaseModel]
    run: StrategyFunction

    def settings_from(self, given: dict[str, Any] | None) -> BaseModel:
        """The strategy's settings from plain values (a CLI's, a trace header's); ValidationError when
        they do not fit its model."""
        return self.settings.model_validate(given or {})


class StrategyError(Exception):
    pass


_STRATEGIES: dict[str, Strategy] = {}
_loaded = False


def strategy(*, kinds: tuple[str, ...], needs_model: bool, settings: type[BaseModel] = NoSettings,
             name: str | None = None) -> Callable[[StrategyFunction], StrategyFunction]:
    """Register the decorated function as the strategy for `kinds` (named after its module unless
    `name` is given). A kind served twice is an error."""

    def register(function: StrategyFunction) -> StrategyFunction:
        registered = Strategy(name or function.__module__.rsplit(".", 1)[-1], tuple(kinds), needs_model, settings,
                              function)
        for other in _STRATEGIES.values():
            if other.name == registered.name and other.run is not function:
                raise StrategyError(f"a strategy named {registered.name!r} is already registered")
            taken = set(other.kinds) & set(registered.kinds)
            if taken and other.name != registered.name:
                raise StrategyError(f"task kind(s) {', '.join(sorted(taken))} already served by {other.name!r}")
        _STRATEGIES[registered.name] = registered
        return function

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        package = import_module("agent.search")
        for module in pkgutil.iter_modules(package.__path__, prefix="agent.search."):
            import_module(module.name)


def strategies() -> list[Strategy]:
    _load()
    return sorted(_STRATEGIES.values(), key=lambda registered: registered.name)


def strategy_for(kind: str) -> Strategy:
    _load()
    for registered in _STRATEGIES.values():
        if kind in registered.kinds:
            return registered
    raise StrategyError(f"no search strategy for task kind {kind!r}")


def get_strategy(name: str) -> Strategy:
    _load()
    if name not in _STRATEGIES:
        raise StrategyError(f"no strategy named {name!r}; known: {', '.join(sorted(_STRATEGIES))}")
    return _STRATEGIES[name]


def model_free_kinds() -> frozenset[str]:
    """Task kinds whose strategy never asks a model: no model is loaded for runs made only of these."""
    return frozenset(kind for registered in strategies() if not registered.needs_model for kind in registered.kinds)
