"""Brax (``pip install 'pgjax[brax]'``) behind pgjax's contract: ``brax/<name>`` for every
environment ``brax.envs`` knows, with options after a colon:

    Config(env="brax/ant")                                  # Brax's default backend
    Config(env="brax/ant:backend=positional,episode_length=500")

pgjax adapts the bare environment, without Brax's wrappers: it counts the steps itself and
cuts each episode at ``episode_length`` (1000, Brax's default) as a truncation, bootstrapped
from V(the observation that ended it); a fall (Brax's ``done``) is a termination. Each ended
environment is reset with its own key (Brax's ``AutoResetWrapper`` returns every one to the
same first state and replaces the observation that ended the episode). Actions in [-1, 1].
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.envs.base import EnvSpec, TimeStep, reset_where

Array = jax.Array

BACKENDS = ("generalized", "positional", "spring", "mjx")


def _envs():
    # brax (through mujoco) prints about optional modules it cannot import; it warns that its
    # own pipelines are unmaintained: neither concerns a user of its environments
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import brax.envs

    return brax.envs


def brax_names() -> list[str]:
    """The environments ``brax.envs`` registers (its own and any ``brax.envs.register_environment``
    added), as ``brax/<name>``."""
    return [f"brax/{n}" for n in sorted(_envs()._envs)]


class BraxState(NamedTuple):
    """Brax's states ``[N]`` and each one's steps in its episode, ``[N]``."""

    env_state: Any
    time: Array


class BraxEnv(NamedTuple):
    """A Brax environment as pgjax's batched ``Env`` (made by ``make_brax``)."""

    env: Any
    spec: EnvSpec
    episode_length: int

    def _reset(self, keys: Array) -> tuple[Array, BraxState]:
        state = jax.vmap(self.env.reset)(keys)
        return state.obs, BraxState(state, jnp.zeros(keys.shape[0], jnp.int32))

    def reset(self, keys: Array) -> tuple[BraxState, Array]:
        obs, state = self._reset(keys)
        return state, obs

    def step(self, keys: Array, state: BraxState, action: Array) -> tuple[BraxState, TimeStep]:
        # Brax's step is deterministic: the transition keys keys[:, 0] are not needed
        env_state = jax.vmap(self.env.step)(state.env_state, action)
        time = state.time + 1
        terminated = env_state.done > 0.5
        truncated = jnp.logical_and(time >= self.episode_length, ~terminated)
        done = jnp.logical_or(terminated, truncated)
        obs, next_state = reset_where(
            done, self._reset, keys[:, 1], env_state.obs, BraxState(env_state, time)
        )
        ts = TimeStep(obs, env_state.reward, terminated, truncated, env_state.obs)
        return next_state, ts


@functools.cache
def make_brax(name: str, backend: str | None = None, episode_length: int = 1000, **kwargs: Any):
    """``brax/<name>`` as a ``BraxEnv``; ``backend`` one of ``BACKENDS`` (``None``: the
    environment's default), ``kwargs`` passed to its constructor (``ctrl_cost_weight=…``)."""
    envs = _envs()
    full = f"brax/{name}"
    if backend is not None and backend not in BACKENDS:
        raise ValueError(
            f"Config.env={full!r}: backend={backend!r} is unknown; allowed: {', '.join(BACKENDS)}"
        )
    if type(episode_length) is not int or episode_length < 1:
        raise ValueError(
            f"Config.env={full!r}: episode_length={episode_length!r}: must be a positive integer"
        )
    options = {**kwargs, **({} if backend is None else {"backend": backend})}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = envs.get_environment(name, **options)
    except TypeError as error:
        raise ValueError(f"Config.env={full!r}: {error}") from None
    size = env.action_size
    spec = EnvSpec(
        obs_shape=(env.observation_size,),
        discrete=False,
        num_actions=size,
        low=-jnp.ones(size, jnp.float32),
        high=jnp.ones(size, jnp.float32),
        action_shape=(size,),
        time_limit=episode_length,
    )
    return BraxEnv(env, spec, episode_length)
