"""gymnax (>= 1.0) behind pgjax's environment contract; the only module that knows gymnax.

gymnax 1.0's ``env.step`` returns ``obs, state, reward, terminated, truncated, info`` and
resets automatically; the observation that ended an episode is ``info["final_observation"]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from pgjax.envs.base import EnvSpec, TimeStep

Array = jax.Array


def gymnax_names() -> list[str]:
    """gymnax's registry ids (including ids registered with ``gymnax.register`` later)."""
    return list(gymnax.registered_envs)


class GymnaxEnv(NamedTuple):
    """A gymnax environment and its default params, as pgjax's batched ``Env``."""

    env: Any
    params: Any
    spec: EnvSpec

    def reset(self, keys: Array) -> tuple[Any, Array]:
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)
        return state, obs

    def step(self, keys: Array, state: Any, action: Array) -> tuple[Any, TimeStep]:
        obs, state, reward, terminated, truncated, info = vector_step(self.env, self.params)(
            keys, state, action
        )
        return state, TimeStep(obs, reward, terminated, truncated, info["final_observation"])


def make_gymnax(name: str) -> GymnaxEnv:
    """Create a gymnax environment with its default params and its ``EnvSpec``.

    ``ValueError`` (one line) where creation needs a download that fails: gymnax's
    ``MNISTBandit-bsuite`` fetches MNIST the first time it is made.
    """
    try:
        env, params = gymnax.make(name)
    except OSError as error:  # urllib's URLError and HTTPError are OSErrors
        reason = getattr(error, "reason", None) or error.strerror or error
        raise ValueError(
            f"Config.env={name!r}: gymnax downloads data to create it (MNIST, into /tmp/mnist) "
            f"and the download failed ({reason}); run it once where the internet can be "
            "reached, or choose another environment"
        ) from None
    obs_shape = tuple(env.observation_space(params).shape)
    space = env.action_space(params)
    limit = getattr(params, "max_steps_in_episode", None)
    limit = None if limit is None else int(limit)
    if isinstance(space, spaces.Discrete):
        return GymnaxEnv(env, params, EnvSpec(obs_shape, True, int(space.n), time_limit=limit))
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape) or (1,)
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
        spec = EnvSpec(obs_shape, False, shape[0], low, high, tuple(space.shape), limit)
        return GymnaxEnv(env, params, spec)
    raise ValueError(
        f"Config.env={name!r}: action space {type(space).__name__} is not supported; "
        "allowed: Discrete or Box"
    )


def vector_step(env: Any, env_params: Any) -> Any:
    """``step(keys [N, 2], states, actions [N, ...])``: gymnax's ``env.step`` on N environments.

    ``keys[i]`` holds the two keys that gymnax's ``step`` splits its key into, environment
    ``i``'s transition key and reset key; given ``keys = vmap(split)(k)`` the outputs are
    those of ``jax.vmap(env.step, in_axes=(0, 0, 0, None))(k, ...)``.

    gymnax computes a fresh reset state for every environment at every step and keeps it where
    the episode ended. Here the transition is vmapped alone, and the resets are computed under
    ``lax.cond`` only when some environment is done: most steps end no episode, and on a CPU
    a reset costs about as much as a transition. Under an outer ``vmap`` the condition becomes
    a select and both are computed, as gymnax does. An environment that overrides ``step``
    keeps its own (from the transition keys).
    """
    if type(env).step is not gymnax.environments.environment.Environment.step:
        vmapped = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        return lambda keys, state, action: vmapped(keys[:, 0], state, action, env_params)
    transition = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    truncated_at = jax.vmap(env.is_truncated, in_axes=(0, None))
    reset = jax.vmap(env.reset_env, in_axes=(0, None))

    def step(keys: Array, state: Any, action: Array):
        obs_st, state_st, reward, terminated, info = transition(
            keys[:, 0], state, action, env_params
        )
        truncated = truncated_at(state_st, env_params)
        done = jnp.logical_or(terminated, truncated)

        def with_resets():
            obs_re, state_re = reset(keys[:, 1], env_params)
            pick = lambda re, st: jax.vmap(jax.lax.select)(done, re, st)  # noqa: E731
            return jax.tree.map(pick, obs_re, obs_st), jax.tree.map(pick, state_re, state_st)

        obs, state = jax.lax.cond(jnp.any(done), with_resets, lambda: (obs_st, state_st))
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    return step
