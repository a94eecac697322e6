"""The estimate stage: from a ``Trajectory`` ``[T, N]`` to the weights the policy learns from
(GAE advantages, or REINFORCE's returns minus a baseline) and the critic's targets.

``estimate`` evaluates V of every observation and of every true next observation in two
batched passes, then calls the algorithm's estimator, each an unbatched-in-time function of
``pgjax.returns`` vmapped over the environments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax import returns
from pgjax.algorithms import MeanBaseline, update_mean_baseline
from pgjax.envs import ObsNorm
from pgjax.hparams import HParams
from pgjax.nets import Memory
from pgjax.rollout import Trajectory

Array = jax.Array


class Batch(NamedTuple):
    """What the learner learns from: transitions, each field ``[T, N, ...]``
    (``transitions()`` flattens them to ``[T·N, ...]`` for minibatches of single steps).

    ``obs``: as the networks see them (normalised); ``action``, ``log_prob``: the stored
    action and log π_old(a|s); ``advantages``: the policy's weights; ``targets``: the critic's;
    ``values``: V_old(s); ``old_dist_params``: π_old(·|s)'s parameters; ``mask``: 1 for the
    steps that count, or ``None`` where all do (only REINFORCE masks steps out); ``memory``:
    a recurrent policy's ``pgjax.nets.Memory`` of the windows (hidden states ``[N, ...]``,
    ``first [T, N]``), or ``None``.
    """

    obs: Array
    action: Array
    log_prob: Array
    advantages: Array
    targets: Array
    values: Array
    old_dist_params: Any
    mask: Array | None = None
    memory: Memory | None = None

    def transitions(self) -> Batch:
        """What the learner shuffles: the same data with time and environments flattened into
        one axis ``[T·N, ...]`` (single transitions); a recurrent batch as it is, whole
        windows ``[T, N, ...]`` (its memory replays them)."""
        if self.memory is not None:
            return self
        return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), self)


def _per_env(f, *args):
    """``f`` of time-major ``[T]`` arrays, vmapped over the environment axis of ``[T, N]``."""
    return jax.vmap(f, in_axes=(1,) * len(args), out_axes=1)(*args)


def gae_weights(static, hp: HParams, traj: Trajectory, values: Array, next_values: Array):
    """GAE(γ, λ) advantages ``[T, N]`` (bootstrapped from V(final observation) at truncations
    and at the window's end, never at terminations) and their critic targets A + V."""
    advantages = jax.vmap(returns.gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
        traj.reward * hp.reward_scale,
        values,
        next_values,
        traj.terminated,
        traj.truncated,
        hp.gamma,
        hp.gae_lambda,
    )
    return advantages, advantages + values, None


def monte_carlo_weights(static, hp, traj, values, next_values, baseline: MeanBaseline):
    """REINFORCE's weights ``[T, N]``, their regression targets and validity mask.

    ``return_type="episode"``: R(τ) of each step's episode; ``"reward_to_go"``: G_t. The
    baseline is subtracted: 0, the running mean ``baseline`` (computed before this batch, so
    it stays independent of it: unbiased), or the critic's V(s_t).

    A step whose episode is still running at the end of the window has no R(τ) and no full
    reward-to-go: it is masked out, except for reward-to-go with a critic, where the window's
    end is bootstrapped with V(s_T) like any cut.
    """
    config = static.config
    rewards = traj.reward * hp.reward_scale
    episode_return, complete = _per_env(
        returns.episode_returns, rewards, traj.terminated, traj.truncated
    )
    bootstrap = config.return_type == "reward_to_go" and config.baseline == "critic"
    if config.return_type == "episode":
        weights = episode_return
    else:
        nv = next_values if bootstrap else jnp.zeros_like(next_values)
        weights = jax.vmap(returns.discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
            rewards, traj.terminated, traj.truncated, nv, hp.gamma
        )
    mask = jnp.ones_like(weights) if bootstrap else complete.astype(weights.dtype)
    subtract = {"none": 0.0, "mean": baseline.mean_return, "critic": values}[config.baseline]
    return weights - subtract, weights, mask


def estimate(
    static, params, obs_norm: ObsNorm, traj: Trajectory, algo_state, hp: HParams, first: Array
) -> tuple[Batch, Any]:
    """The batch the learner learns from, and the algorithm's state moved by it (REINFORCE's
    running mean of the returns, for the next batch; the others' unchanged). ``first``:
    whether this is the run's first update (scalar bool)."""
    net = static.net
    obs = static.norm(obs_norm, traj.obs)
    next_obs = static.norm(obs_norm, traj.next_obs)
    if traj.memory is None:
        values, next_values = net.value(params, obs), net.value(params, next_obs)
    else:  # replayed from the window's start, V(s'_t) from the state after step t
        values, next_values = net.values_and_next(params, obs, next_obs, traj.memory)
    if static.algorithm.estimator == "monte_carlo":
        advantages, targets, mask = monte_carlo_weights(
            static, hp, traj, values, next_values, algo_state
        )
        valid = static.sum_all(jnp.sum(mask))
        batch_mean = static.sum_all(jnp.sum(targets * mask)) / jnp.maximum(valid, 1.0)
        # running average of the weights (the seed's b ≈ E[R]), for the next batch
        algo_state = update_mean_baseline(algo_state, batch_mean, valid, first)
    else:
        advantages, targets, mask = gae_weights(static, hp, traj, values, next_values)
    batch = Batch(
        obs,
        traj.action,
        traj.log_prob,
        advantages,
        targets,
        values,
        traj.dist_params,
        mask,
        traj.memory,
    )
    return batch, algo_state
