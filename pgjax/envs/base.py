"""The environment contract the pipeline, evaluation and the CLI speak.

An environment for pgjax is batched: it resets and steps N copies at once, resets each copy
by itself when its episode ends, and keeps termination apart from truncation, with the
observation that ended the episode. Every suite is adapted to this (``pgjax.envs.gymnax``,
``.done``, ``.brax``, ``.craftax``), so nothing else in pgjax knows a suite.

    state, obs = env.reset(keys)                  # keys [N]; obs [N, *obs_shape]
    state, ts = env.step(keys, state, action)     # keys [N, 2]; action [N, *action_shape]
    ts.obs, ts.reward, ts.terminated, ts.truncated, ts.final_obs   # each [N, ...]
    ts.info                                       # {name: [N]}, read where an episode ended
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

Array = jax.Array


class EnvSpec(NamedTuple):
    """What the pipeline needs to know of an environment's spaces.

    ``obs_shape``: one observation's shape. ``discrete``: a ``Discrete`` action space.
    ``num_actions``: K for discrete, else the action dimension A. ``low``/``high``: action
    bounds ``[A]`` (continuous only, else ``None``). ``action_shape``: the space's own shape.
    ``time_limit``: the steps after which an episode is truncated (``None``: unknown).
    ``episode_info``: the names of ``TimeStep.info``, the statistics each ended episode reports.
    """

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    low: Any = None
    high: Any = None
    action_shape: tuple[int, ...] = ()
    time_limit: int | None = None
    episode_info: tuple[str, ...] = ()


class TimeStep(NamedTuple):
    """What one step of N environments returns, each ``[N, ...]``.

    ``obs``: the next observation to act on (a fresh episode's first where one ended).
    ``reward``; ``terminated`` (the task ended: no value beyond); ``truncated`` (cut by a time
    limit: the value continues); ``final_obs``: the true next observation, the one that ended
    the episode where one ended (bootstrap V(final_obs) at a truncation). ``info``: statistics
    of the episode that ended, ``{name: [N] float}``, meaningful where one ended (Craftax's
    achievements); training reports each one's mean over the episodes that ended.
    """

    obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array
    info: dict[str, Array] = {}  # noqa: RUF012  (never mutated: a pytree of no leaves)


class Env(Protocol):
    """N environments stepped together (see the module's docstring)."""

    spec: EnvSpec

    def reset(self, keys: Array) -> tuple[Any, Array]:
        """``keys [N]`` → (states, first observations ``[N, *obs_shape]``)."""
        ...

    def step(self, keys: Array, state: Any, action: Array) -> tuple[Any, TimeStep]:
        """``keys [N, 2]`` (a transition key and a reset key each), states, actions
        ``[N, *action_shape]`` → (next states, ``TimeStep``), resetting each ended episode."""
        ...


def reset_where(
    done: Array, reset: Callable[[Array], tuple[Array, Any]], keys: Array, obs: Array, state: Any
) -> tuple[Array, Any]:
    """Automatic reset: ``(obs, state)`` ``[N, ...]`` with each environment where ``done [N]``
    replaced by its fresh episode, ``reset(keys [N]) → (obs, state)``.

    The resets are computed under ``lax.cond`` only when some environment is done: most steps
    end no episode, and a reset costs about as much as a transition. Under an outer ``vmap``
    the condition becomes a select and both branches are computed.
    """

    def with_resets():
        obs_re, state_re = reset(keys)
        pick = lambda re, st: jax.vmap(jax.lax.select)(done, re, st)  # noqa: E731
        return jax.tree.map(pick, obs_re, obs), jax.tree.map(pick, state_re, state)

    return jax.lax.cond(jnp.any(done), with_resets, lambda: (obs, state))


def space_spec(name: str, obs_space: Any, action_space: Any, limit: int | None) -> EnvSpec:
    """The ``EnvSpec`` of gymnax-style spaces (gymnax's, or any suite's with the same
    attributes: ``n`` for a discrete space, ``low``/``high``/``shape`` for a box)."""
    obs_shape = tuple(obs_space.shape)
    if hasattr(action_space, "n"):
        return EnvSpec(obs_shape, True, int(action_space.n), time_limit=limit)
    if hasattr(action_space, "low") and hasattr(action_space, "shape"):
        shape = tuple(action_space.shape) or (1,)
        low = jnp.broadcast_to(jnp.asarray(action_space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(action_space.high, jnp.float32), shape)
        return EnvSpec(obs_shape, False, shape[0], low, high, tuple(action_space.shape), limit)
    raise ValueError(
        f"Config.env={name!r}: action space {type(action_space).__name__} is not supported; "
        "allowed: Discrete or Box"
    )


def env_action(spec: EnvSpec, action: Array) -> Array:
    """The action sent to the environment: the stored (unclipped) action ``[N, A]`` clipped to
    the bounds and shaped as the space (``[N]`` for a scalar Box). Discrete actions pass as is."""
    if spec.discrete:
        return action
    clipped = jnp.clip(action, spec.low, spec.high)
    return clipped.reshape(action.shape[:-1] + spec.action_shape)
