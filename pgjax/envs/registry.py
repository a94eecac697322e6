"""Environments by name: what ``Config.env`` may say.

gymnax's ids are there from the start; ``register`` adds any other environment that speaks
pgjax's contract (``pgjax.envs.base.Env``) under a name of its own.

    from pgjax import envs
    envs.register("my-maze", lambda: MyMaze())    # then Config(env="my-maze")
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from pgjax.envs.base import Env
from pgjax.envs.gymnax import gymnax_names, make_gymnax

_FACTORIES: dict[str, Callable[[], Env]] = {}


def register(name: str, factory: Callable[[], Env]) -> None:
    """Make ``make_env(name)`` call ``factory()``, which returns an ``Env``."""
    _FACTORIES[name] = factory


def env_names() -> list[str]:
    """Every name ``make_env`` accepts: gymnax's ids, then the registered ones."""
    return [*gymnax_names(), *(n for n in _FACTORIES if n not in gymnax_names())]


def make_env(name: str) -> Env:
    """The environment ``name`` (``ValueError`` naming the close matches if there is none)."""
    if name in _FACTORIES:
        return _FACTORIES[name]()
    if name in gymnax_names():
        return make_gymnax(name)
    close = difflib.get_close_matches(name, env_names(), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"no environment {name!r}{hint}; names: pgjax.envs.env_names()")
