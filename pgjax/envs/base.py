"""The environment contract the pipeline, evaluation and the CLI speak.

An environment for pgjax is batched: it resets and steps N copies at once, resets each copy
by itself when its episode ends, and keeps termination apart from truncation, with the
observation that ended the episode. Any suite is adapted to this (``pgjax.envs.gymnax``), so
nothing else in pgjax knows a suite.

    state, obs = env.reset(keys)                  # keys [N]; obs [N, *obs_shape]
    state, ts = env.step(keys, state, action)     # keys [N, 2]; action [N, *action_shape]
    ts.obs, ts.reward, ts.terminated, ts.truncated, ts.final_obs   # each [N, ...]
"""

from __future__ import annotations

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
    """

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    low: Any = None
    high: Any = None
    action_shape: tuple[int, ...] = ()
    time_limit: int | None = None


class TimeStep(NamedTuple):
    """What one step of N environments returns, each ``[N, ...]``.

    ``obs``: the next observation to act on (a fresh episode's first where one ended).
    ``reward``; ``terminated`` (the task ended: no value beyond); ``truncated`` (cut by a time
    limit: the value continues); ``final_obs``: the true next observation, the one that ended
    the episode where one ended (bootstrap V(final_obs) at a truncation).
    """

    obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array


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


def env_action(spec: EnvSpec, action: Array) -> Array:
    """The action sent to the environment: the stored (unclipped) action ``[N, A]`` clipped to
    the bounds and shaped as the space (``[N]`` for a scalar Box). Discrete actions pass as is."""
    if spec.discrete:
        return action
    clipped = jnp.clip(action, spec.low, spec.high)
    return clipped.reshape(action.shape[:-1] + spec.action_shape)
