"""Collecting a ``Trajectory`` ``[T, N, ...]`` from batched environments with ``lax.scan``:
``rollout`` for any policy and environment, ``collect`` for a run's (its ``Static``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.algorithms.trajectory import Trajectory
from pgjax.envs import (
    Env,
    EpisodeStats,
    ObsNorm,
    env_action,
    init_episode_stats,
    update_episode_stats,
)
from pgjax.envs.base import MASK
from pgjax.envs.groups import WAITING
from pgjax.math.distributions import ActionDist
from pgjax.nets import ActorCritic, Memory

Array = jax.Array


class EpisodeEnds(NamedTuple):
    """Sums over the episodes that ended during a rollout (scalars): how many, the total of
    their returns and of their lengths, and of each statistic the environment reports of an
    ended episode (``EnvSpec.episode_info``). Means are ``total / count`` where ``count > 0``."""

    count: Array
    return_total: Array
    length_total: Array
    info_total: dict[str, Array]


class EnvCarry(NamedTuple):
    """What a rollout carries from step to step: env state, current observation ``[N, ...]``,
    running episode statistics, and a recurrent policy's ``Memory`` (its hidden states
    ``[N, ...]`` and ``first [N]``, true where the current observation starts an episode;
    ``None`` for a feed-forward policy)."""

    env_state: Any
    obs: Array
    episode: EpisodeStats
    memory: Memory | None = None


def reset(env: Env, key: Array, num_envs: int, net: ActorCritic | None = None) -> EnvCarry:
    """``num_envs`` environments at the start of their first episodes (with a recurrent
    ``net``, its hidden states fresh)."""
    env_state, obs = env.reset(jax.random.split(key, num_envs))
    memory = None
    if net is not None and net.recurrent:
        memory = Memory(net.initial_hidden(num_envs), jnp.ones(num_envs, bool))
    return EnvCarry(env_state, obs, init_episode_stats(num_envs), memory)


def rollout(
    key: Array,
    carry: EnvCarry,
    policy: Callable[[Array], Any],
    dist: ActionDist,
    env: Env,
    num_steps: int,
) -> tuple[EnvCarry, Trajectory, EpisodeEnds]:
    """Run ``num_steps`` steps of all environments under ``policy``.

    Args:
      key: PRNG key.
      carry: the environments' state at the start.
      policy: raw observations ``[N, ...]`` → distribution parameters (normalisation inside);
        with memory (``carry.memory``), ``(hidden, obs, first [N]) → (hidden, parameters)``.
      dist: the action distribution's operations.
      env: the batched environment (``pgjax.envs.Env``).
      num_steps: T.

    Returns:
      The carry after T steps, the ``Trajectory`` ``[T, N, ...]`` and the ``EpisodeEnds``.
    """
    num_envs = jax.tree.leaves(carry.obs)[0].shape[0]
    spec = env.spec
    noise, env_keys = _draws(key, dist, (num_steps, num_envs, spec.num_actions))

    def step(carry: tuple[EnvCarry, EpisodeEnds], xs: tuple[Array, Array]):
        c, sums = carry
        noise, keys = xs
        memory = c.memory
        if memory is None:
            params = policy(c.obs)
        else:
            hidden, params = policy(memory.hidden, c.obs, memory.first)
        action = dist.from_noise(params, noise)
        env_state, ts = env.step(keys, c.env_state, env_action(spec, dist.to_env(action)))
        reward = ts.reward.astype(jnp.float32)
        done = jnp.logical_or(ts.terminated, ts.truncated)
        waiting = ts.info.get(WAITING)  # grouped environments: steps of no episode
        counts = None if waiting is None else ~waiting
        episode, ep_return, ep_length = update_episode_stats(c.episode, reward, done, counts)
        sums = _add_ended(sums, done, ep_return, ep_length, ts.info)
        first = None if memory is None else Memory(None, memory.first)
        transition = Trajectory(
            c.obs, action, None, params, reward, ts.terminated, ts.truncated, ts.final_obs,
            first, waiting,
        )  # fmt: skip
        if memory is not None:  # the next observation starts an episode where this one ended
            memory = Memory(hidden, done)
        return (EnvCarry(env_state, ts.obs, episode, memory), sums), transition

    start = carry.memory
    init = (carry, _no_ends(spec.episode_info))
    (carry, ends), traj = jax.lax.scan(step, init, (noise, env_keys))
    memory = None if start is None else Memory(start.hidden, traj.memory.first)
    # log π_old(a|s) of the whole rollout in one batched pass, after the loop
    log_prob = dist.log_prob(traj.dist_params, traj.action)
    return carry, traj._replace(log_prob=log_prob, memory=memory), ends


def _draws(key: Array, dist: ActionDist, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """Every step's randomness for all ``shape = (T, N, actions)`` at once, one call each
    rather than small calls in the sequential loop: the action noise, and each environment's
    keys ``[T, N, 2]`` for its transition and its reset."""
    k_act, k_env = jax.random.split(key)
    return dist.noise(k_act, shape), jax.random.split(k_env, (*shape[:2], 2))


def _no_ends(names: tuple[str, ...]) -> EpisodeEnds:
    """``EpisodeEnds`` of no episode (the statistics ``names`` at 0)."""
    zero = jnp.zeros((), jnp.int32)
    return EpisodeEnds(zero, jnp.zeros(()), zero, {k: jnp.zeros(()) for k in names})


def _add_ended(
    sums: EpisodeEnds, done: Array, ep_return: Array, ep_length: Array, info: dict[str, Array]
) -> EpisodeEnds:
    """``sums`` with the episodes that ended at this step added (``done [N]``, and their
    returns, lengths and statistics ``[N]``)."""
    return EpisodeEnds(
        sums.count + done.sum(),
        sums.return_total + jnp.sum(jnp.where(done, ep_return, 0.0)),
        sums.length_total + jnp.sum(jnp.where(done, ep_length, 0)),
        {k: t + jnp.sum(jnp.where(done, info[k], 0.0)) for k, t in sums.info_total.items()},
    )


def nonfinite_steps(traj: Trajectory) -> Array:
    """Boolean ``[T, N]``: the steps whose reward or observations (the one acted on, or the
    next) hold inf or NaN. Such values come from
    the environment, not from learning; a healthy run has none (its metric ``env_nonfinite``
    counts them per update)."""
    bad = ~jnp.isfinite(traj.reward)
    for obs in jax.tree.leaves((traj.obs, traj.next_obs)):
        if jnp.issubdtype(obs.dtype, jnp.inexact):
            bad |= ~jnp.all(jnp.isfinite(obs.reshape((*obs.shape[:2], -1))), axis=-1)
    return bad


def no_legal_action(traj: Trajectory) -> Array:
    """The steps ``[T, N]`` whose action mask left no legal action (all zero for an
    environment without a mask); the policy then chose among all actions."""
    if isinstance(traj.obs, dict) and MASK in traj.obs:
        return ~jnp.any(traj.obs[MASK], axis=-1)
    return jnp.zeros(traj.reward.shape, bool)


def collect(
    static, params, obs_norm: ObsNorm, carry: EnvCarry, key: Array
) -> tuple[EnvCarry, Trajectory, EpisodeEnds]:
    """The run's rollout (``static``: its ``pgjax.pipeline.static.Static``) under the current policy
    ``params``: ``Config.num_steps`` steps of this device's environments from ``carry``."""
    net = static.net
    if carry.memory is None:

        def policy(obs: Array):
            return net.policy(params, static.norm(obs_norm, obs))

    else:  # one recurrent step of actor and critic (the critic's state carries on too)

        def policy(hidden, obs: Array, first: Array):
            hidden, dist_params, _ = net.step(params, hidden, static.norm(obs_norm, obs), first)
            return hidden, dist_params

    return rollout(key, carry, policy, net.dist, static.env, static.num_steps)
