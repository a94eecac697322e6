"""One environment's pure ``reset`` and ``step``, batched into pgjax's ``Env``: the shape the
JAX suites of the form ``step(state, action) → state`` take once adapted (Jumanji, Navix,
XLand-MiniGrid, Pgx). The adapter says, per step, which end an episode met (``terminated``,
``truncated``); this module vmaps, resets each ended environment from its own key and keeps
the observation that ended the episode (``TimeStep.final_obs``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.envs.base import MASK, EnvSpec, TimeStep, as_dict, reset_where

Array = jax.Array


class FunctionalEnv(NamedTuple):
    """``reset_one(key) → (state, obs)`` and ``step_one(key, state, action) → (state, obs,
    reward, terminated, truncated)`` of one environment (no reset inside ``step_one``), as
    pgjax's batched ``Env``. A step that is both is a termination."""

    reset_one: Callable[[Array], tuple[Any, Any]]
    step_one: Callable[[Array, Any, Array], tuple[Any, Any, Array, Array, Array]]
    spec: EnvSpec

    def reset(self, keys: Array) -> tuple[Any, Any]:
        return jax.vmap(self.reset_one)(keys)

    def step(self, keys: Array, state: Any, action: Array) -> tuple[Any, TimeStep]:
        state, obs, reward, terminated, truncated = jax.vmap(self.step_one)(
            keys[:, 0], state, action
        )
        terminated = terminated.astype(bool)
        truncated = truncated.astype(bool) & ~terminated
        swap = lambda k: jax.vmap(self.reset_one)(k)[::-1]  # noqa: E731  (obs, state)
        first, state = reset_where(terminated | truncated, swap, keys[:, 1], obs, state)
        return state, TimeStep(first, reward.astype(jnp.float32), terminated, truncated, obs)


def as_numbers(obs: Any) -> Any:
    """An observation for the network: a NamedTuple as a dict, every leaf float32 but the
    action mask (and other boolean leaves of a dict, which stay as they are)."""
    obs = as_dict(obs)
    if isinstance(obs, dict):
        return {
            k: v if (k == MASK or v.dtype == jnp.bool_) else v.astype(jnp.float32)
            for k, v in obs.items()
        }
    return jnp.asarray(obs).astype(jnp.float32)


def observation_spec(name: str, example: Any, num_actions: int) -> tuple[tuple, Any]:
    """(``EnvSpec.obs_shape``, ``EnvSpec.obs_spec``) of one observation ``example`` (already
    through ``as_numbers``); ``ValueError`` where a mask is not one flag per action."""
    if not isinstance(example, dict):
        return tuple(example.shape), None
    leaves = {k: jax.ShapeDtypeStruct(tuple(v.shape), v.dtype) for k, v in example.items()}
    if MASK in leaves and leaves[MASK].shape != (num_actions,):
        raise ValueError(
            f"Config.env={name!r}: its {MASK} has shape {leaves[MASK].shape}, where pgjax "
            f"takes one flag per action ({num_actions},): an environment of one discrete "
            "choice per step"
        )
    return (), leaves


def full_name(suite: str, name: str, options: tuple) -> str:
    """The name ``Config.env`` gave, rebuilt for messages: ``suite/name:key=value,...``."""
    given = ",".join(f"{k}={v}" for k, v in options)
    return f"{suite}/{name}" + (f":{given}" if given else "")


def options_of(
    name: str, given: dict[str, Any], allowed: tuple[str, ...], counts: tuple[str, ...] = ()
) -> None:
    """``ValueError`` naming an option of ``given`` that is not in ``allowed`` (and the close
    ones), or one of ``counts`` that is not a positive integer."""
    for key, value in given.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"Config.env={name!r}: option {key!r} is unknown{hint}; allowed: "
                f"{', '.join(allowed) or 'none'}"
            )
        if key in counts and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"Config.env={name!r}: {key}={value!r} must be a positive integer")
