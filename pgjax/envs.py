"""gymnax (>= 1.0) environments: creation, vectorised reset/step, episode statistics,
observation normalisation.

gymnax 1.0's ``env.step`` returns ``obs, state, reward, terminated, truncated, info`` and
resets automatically; the observation that ended an episode is ``info["final_observation"]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

Array = jax.Array


def env_names() -> list[str]:
    """Ids that ``make_env`` accepts (gymnax's registry, including ids registered later)."""
    return list(gymnax.registered_envs)


class EnvSpec(NamedTuple):
    """What the pipeline needs to know of an environment's spaces.

    ``obs_shape``: one observation's shape. ``discrete``: a ``Discrete`` action space.
    ``num_actions``: K for discrete, else the action dimension A. ``low``/``high``: action
    bounds ``[A]`` (continuous only, else ``None``). ``action_shape``: the space's own shape.
    """

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    low: Any = None
    high: Any = None
    action_shape: tuple[int, ...] = ()


def make_env(name: str) -> tuple[Any, Any, EnvSpec]:
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
    if isinstance(space, spaces.Discrete):
        return env, params, EnvSpec(obs_shape, True, int(space.n))
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape) or (1,)
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
        return env, params, EnvSpec(obs_shape, False, shape[0], low, high, tuple(space.shape))
    raise ValueError(
        f"Config.env={name!r}: action space {type(space).__name__} is not supported; "
        "allowed: Discrete or Box"
    )


def env_action(spec: EnvSpec, action: Array) -> Array:
    """The action sent to the environment: the stored (unclipped) action ``[N, A]`` clipped to
    the bounds and shaped as the space (``[N]`` for a scalar Box). Discrete actions pass as is."""
    if spec.discrete:
        return action
    clipped = jnp.clip(action, spec.low, spec.high)
    return clipped.reshape(action.shape[:-1] + spec.action_shape)


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


class EpisodeStats(NamedTuple):
    """Running return and length of each environment's current episode, ``[N]`` each."""

    running_return: Array
    running_length: Array


def init_episode_stats(num_envs: int) -> EpisodeStats:
    return EpisodeStats(jnp.zeros(num_envs), jnp.zeros(num_envs, jnp.int32))


def update_episode_stats(
    stats: EpisodeStats, reward: Array, done: Array
) -> tuple[EpisodeStats, Array, Array]:
    """Add one step; returns the new stats and, per environment, the finished episode's return
    and length (meaningful where ``done``; read them through ``done``, never as 0 = no episode)."""
    ret = stats.running_return + reward
    length = stats.running_length + 1
    new = EpisodeStats(jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
    return new, ret, length


class ObsNorm(NamedTuple):
    """Running mean and variance of observations (Chan et al.'s parallel update).

    ``mean``, ``var``: one observation's shape; ``count``: scalar.
    """

    mean: Array
    var: Array
    count: Array


def init_obs_norm(obs_shape: tuple[int, ...]) -> ObsNorm:
    return ObsNorm(jnp.zeros(obs_shape), jnp.ones(obs_shape), jnp.asarray(1e-4))


def update_obs_norm(norm: ObsNorm, batch: Array, axis_name: str | None = None) -> ObsNorm:
    """Fold a batch ``[B, *obs_shape]`` into the running statistics. With ``axis_name`` (under
    ``shard_map``), the batch is the union of every shard's equal share."""
    b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
    if axis_name is not None:
        shards = jax.lax.psum(1, axis_name)
        mean = jax.lax.pmean(b_mean, axis_name)
        b_var = jax.lax.pmean(b_var + (b_mean - mean) ** 2, axis_name)
        b_mean, b_count = mean, b_count * shards
    delta = b_mean - norm.mean
    total = norm.count + b_count
    mean = norm.mean + delta * b_count / total
    m2 = norm.var * norm.count + b_var * b_count + delta**2 * norm.count * b_count / total
    return ObsNorm(mean, m2 / total, total)


def normalize(norm: ObsNorm, obs: Array, clip: float = 10.0) -> Array:
    """(obs − mean)/√(var + 1e-8), clipped to ±clip.  ``obs``: ``[..., *obs_shape]``."""
    return jnp.clip((obs - norm.mean) / jnp.sqrt(norm.var + 1e-8), -clip, clip)
