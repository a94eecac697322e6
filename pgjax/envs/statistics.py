"""Environment-independent helpers: running episode statistics and observation
normalisation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.envs.base import MASK

Array = jax.Array


class EpisodeStats(NamedTuple):
    """Running return and length of each environment's current episode, ``[N]`` each."""

    running_return: Array
    running_length: Array


def init_episode_stats(num_envs: int) -> EpisodeStats:
    """Every environment at the start of an episode."""
    return EpisodeStats(jnp.zeros(num_envs), jnp.zeros(num_envs, jnp.int32))


def update_episode_stats(
    stats: EpisodeStats, reward: Array, done: Array, counts: Array | None = None
) -> tuple[EpisodeStats, Array, Array]:
    """Add one step; returns the new stats and, per environment, the finished episode's return
    and length (meaningful where ``done``; read them through ``done``, never as 0 = no episode).
    ``counts``: bool ``[N]``, false where the step belongs to no episode (a grouped member
    waiting for its group), which then adds no length; ``None``: every step counts."""
    ret = stats.running_return + reward
    length = stats.running_length + (1 if counts is None else counts.astype(jnp.int32))
    new = EpisodeStats(jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
    return new, ret, length


class ObsNorm(NamedTuple):
    """Running mean and variance of observations (Chan et al.'s parallel update).

    ``mean``, ``var``: one observation's shape; ``count``: scalar.
    """

    mean: Array
    var: Array
    count: Array


def init_obs_norm(obs_shape: tuple[int, ...] | dict[str, Any]) -> ObsNorm | dict[str, ObsNorm]:
    """Mean 0, variance 1, a count of 1e-4 (the first batch then sets the statistics). For a
    structured observation (``obs_shape`` an ``EnvSpec.obs_spec``), one ``ObsNorm`` per leaf of
    numbers (not the action mask, nor any other leaf of booleans): statistics per leaf."""
    if isinstance(obs_shape, dict):
        return {
            k: init_obs_norm(tuple(v.shape))
            for k, v in obs_shape.items()
            if k != MASK and v.dtype != jnp.bool_
        }
    return ObsNorm(jnp.zeros(obs_shape), jnp.ones(obs_shape), jnp.asarray(1e-4))


def update_obs_norm(norm: Any, batch: Any, axis_name: str | None = None) -> Any:
    """Fold a batch ``[B, *obs_shape]`` into the running statistics (of a structured
    observation: each leaf's into its own). With ``axis_name`` (under ``shard_map``), the batch
    is the union of every shard's equal share."""
    if isinstance(norm, dict):
        return {k: update_obs_norm(n, batch[k], axis_name) for k, n in norm.items()}
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


def normalize(norm: Any, obs: Any, clip: float = 10.0) -> Any:
    """(obs − mean)/√(var + 1e-8), clipped to ±clip.  ``obs``: ``[..., *obs_shape]``; a
    structured observation leaf by leaf (those without statistics, the mask, as they are)."""
    if isinstance(obs, dict):
        return {k: normalize(norm[k], v, clip) if k in norm else v for k, v in obs.items()}
    return jnp.clip((obs - norm.mean) / jnp.sqrt(norm.var + 1e-8), -clip, clip)
