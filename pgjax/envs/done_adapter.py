"""Environments whose step says only ``done`` (gymnax before 1.0's five values, Craftax, many
published JAX environments) behind pgjax's contract, with termination and truncation apart.

    step(key, state, action, params) -> obs, state, reward, done, info

``done`` mixes the end of the task with the time limit. The user says how to tell them apart:

    envs.five_value(MyEnv(), time_limit=500)              # cut at 500 steps by the adapter
    envs.five_value(MyEnv(), time_limit="max_steps")      # the step count in params.max_steps
    envs.five_value(MyEnv(), truncated=lambda s, p: s.time >= p.max_steps)
    envs.five_value(MyEnv())                              # every done a termination (warns)

The adapter calls the environment's ``step_env``/``reset_env`` where it has them (gymnax's
and Craftax's step without resetting), else its ``step``/``reset``, which then must not reset
by themselves: the adapter resets, keeping the observation that ended the episode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from gymnax.environments.environment import Environment

from pgjax.envs.base import EnvSpec, TimeStep, as_dict, reset_where, space_spec

Array = jax.Array


class DoneState(NamedTuple):
    """The environment's own states and each one's steps in its episode, ``[N]``."""

    env_state: Any
    time: Array


class DoneEnv(NamedTuple):
    """A five-value environment as pgjax's batched ``Env`` (made by ``five_value``)."""

    env: Any
    params: Any
    spec: EnvSpec
    truncation: Callable[[Any, Any, Array], Array]
    """(state after the step, params, steps so far [N]) → truncated, read where ``done``."""
    episode_info: Callable[[Any], dict[str, Array]] | None
    limit: int | None
    """The steps after which the adapter ends an episode itself (``time_limit``)."""

    def _reset(self, keys: Array) -> tuple[Array, DoneState]:
        reset = own_method(self.env, "reset_env") or self.env.reset
        obs, state = jax.vmap(reset, in_axes=(0, None))(keys, self.params)
        return as_dict(obs), DoneState(state, jnp.zeros(keys.shape[0], jnp.int32))

    def reset(self, keys: Array) -> tuple[DoneState, Array]:
        obs, state = self._reset(keys)
        return state, obs

    def step(self, keys: Array, state: DoneState, action: Array) -> tuple[DoneState, TimeStep]:
        step = own_method(self.env, "step_env") or self.env.step
        obs_st, env_state, reward, done, _ = jax.vmap(step, in_axes=(0, 0, 0, None))(
            keys[:, 0], state.env_state, action, self.params
        )
        obs_st = as_dict(obs_st)
        time = state.time + 1
        done = done.astype(bool)
        if self.limit is not None:
            done = jnp.logical_or(done, time >= self.limit)
        truncated = jnp.logical_and(done, self.truncation(env_state, self.params, time))
        terminated = jnp.logical_and(done, ~truncated)
        info = {} if self.episode_info is None else jax.vmap(self.episode_info)(env_state)
        obs, next_state = reset_where(
            done, self._reset, keys[:, 1], obs_st, DoneState(env_state, time)
        )
        return next_state, TimeStep(obs, reward, terminated, truncated, obs_st, info)


def own_method(env: Any, name: str) -> Callable | None:
    """``env``'s method ``name`` where its class defines it, else ``None``: gymnax's
    ``Environment`` declares ``step_env`` and ``reset_env`` unimplemented, and a subclass
    that only overrides ``step`` and ``reset`` (navix's gymnax wrapper) inherits them so."""
    method = getattr(type(env), name, None)
    if method is None or method is getattr(Environment, name):
        return None
    return getattr(env, name)


def five_value(
    env: Any,
    params: Any = None,
    *,
    time_limit: int | str | None = None,
    truncated: Callable[[Any, Any], Array] | None = None,
    episode_info: Callable[[Any], dict[str, Array]] | None = None,
    name: str = "",
) -> DoneEnv:
    """``env`` (gymnax-style, with a five-value ``step``) as pgjax's ``Env``.

    Args:
      env: has ``reset(key, params) → (obs, state)``, ``step(key, state, action, params) →
        (obs, state, reward, done, info)`` (or ``reset_env``/``step_env``, used first),
        ``observation_space(params)``, ``action_space(params)`` and, if ``params`` is
        ``None``, ``default_params``.
      params: the environment's params.
      time_limit: the episode's length in steps, an ``int`` or the name of the ``params`` field
        that holds it. The adapter ends each episode there as a truncation; a ``done`` at that
        very step counts as a truncation too.
      truncated: ``(state after the step, params) → bool``: which ``done`` is a truncation
        (the rest are terminations). Neither: every ``done`` is a termination (a warning says
        so), so a time limit would be learnt as the end of the task.
      episode_info: ``(state after the step) → {name: float}``, statistics of an episode
        reported where it ends (``TimeStep.info``).
      name: the name errors use.
    """
    params = getattr(env, "default_params", None) if params is None else params
    name = name or type(env).__name__
    time_limit = _time_limit(name, params, time_limit, truncated)
    truncation = _truncation(name, time_limit, truncated)
    # the spec's limit (how long evaluation runs, how long a Monte Carlo window must be): the
    # adapter's own, else gymnax's usual params field where there is one
    known = getattr(params, "max_steps_in_episode", None) if time_limit is None else time_limit
    spec = space_spec(
        name,
        env.observation_space(params),
        env.action_space(params),
        None if known is None else int(known),
    )
    if episode_info is not None:
        reset = own_method(env, "reset_env") or env.reset
        first = jax.eval_shape(lambda k: episode_info(reset(k, params)[1]), jax.random.key(0))
        spec = spec._replace(episode_info=tuple(first))
    limit = None if time_limit is None else int(time_limit)
    return DoneEnv(env, params, spec, truncation, episode_info, limit)


def _time_limit(
    name: str, params: Any, time_limit: int | str | None, truncated: Callable | None
) -> int | None:
    """``five_value``'s ``time_limit`` as steps (a ``params`` field's value where it names
    one); ``ValueError`` naming the environment for one that is not a positive integer."""
    if time_limit is not None and truncated is not None:
        raise ValueError(f"{name}: give time_limit or truncated, not both")
    if isinstance(time_limit, str):
        if not hasattr(params, time_limit):
            raise ValueError(f"{name}: time_limit={time_limit!r} is not a field of its params")
        time_limit = int(getattr(params, time_limit))
    if time_limit is not None and (isinstance(time_limit, bool) or int(time_limit) <= 0):
        raise ValueError(f"{name}: time_limit={time_limit!r}: must be a positive integer")
    return time_limit


def _truncation(name: str, time_limit: int | None, truncated: Callable | None) -> Callable:
    """``(states, params, time [N]) → bool [N]``: which ``done`` is a truncation."""
    if time_limit is not None:
        return lambda state, params, time: time >= int(time_limit)
    if truncated is not None:
        return lambda state, params, time: jax.vmap(truncated, (0, None))(state, params)
    warnings.warn(
        f"{name}: no time_limit or truncated given, so every done is a termination "
        "(a time limit would be learnt as the end of the task)",
        stacklevel=3,
    )
    return lambda state, params, time: jnp.zeros_like(time, bool)
