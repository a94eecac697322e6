"""The parts of the critic-free group algorithms (``rloo``, ``grpo``, ``dr_grpo``): an estimator
whose baseline comes from the other episodes of a group that started from the same state, and
a learner of the policy alone.

An algorithm that declares the static setting ``group_size`` (k) runs on grouped environments
(``pgjax.envs.groups.GroupedEnv``): the ``num_envs`` environments of a device form groups of k
that reset from one key and wait for each other, so the j-th episodes of a group's members
start at the same step from the same state. The estimator, per group and step:

1. the **group's episode**: the steps from a group start to the step at which every member has
   ended (terminated or truncated) or waits; member i's episode is its steps in it that do not
   wait (a waiting step has reward 0 and is masked out);
2. the **weights** ``R_i``: the member's whole return R(τ_i) (``return_type="episode"``, the
   seed's), or its reward-to-go G_t at each step (``"reward_to_go"``); there is no critic, so
   nothing is bootstrapped: a member cut by the time limit has the return up to it, as does
   every member of its group, which started with it;
3. the **baseline** across the group at the same step of their episodes
   (``pgjax.math.group_baselines``): RLOO's leave-one-out mean, GRPO's mean and standard
   deviation, Dr. GRPO's mean; a member that has ended contributes G_t = 0 from then on;
4. the **mask**: the steps of members that do not wait, in group episodes that end inside the
   window (an unfinished one has no return yet).

GRPO also weighs each step by L̄ / L_i (L_i: its member's episode length, L̄: their mean over
the batch), so that pgjax's mean over steps equals GRPO's mean over episodes of each episode's
mean over its steps; Dr. GRPO does not (Liu et al. 2025: the length division is a bias).

Metrics: ``group_return_spread``, the mean over complete groups of the standard deviation of
their members' returns R(τ); ``group_equal_fraction``, the fraction of complete groups whose
returns are all equal (their GRPO and RLOO weights are all 0: they teach nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from pgjax.algorithms.estimators import Estimate, Estimator, _per_env
from pgjax.algorithms.learners import Learner, policy_loss_fn
from pgjax.algorithms.trajectory import Trajectory
from pgjax.core.hparams import HParams
from pgjax.core.settings import Setting
from pgjax.math import group_baselines, returns
from pgjax.nets import Params, parse_network

Array = jax.Array

GROUP_SIZE = Setting(
    "group_size", 8,
    "the group's size k: the environments are split into groups of k that start each episode "
    "from one state, and each episode's baseline comes from its group (k >= 2; num_envs per "
    "device a multiple of k)", kind="int",
)  # fmt: skip
RETURN_TYPE = Setting(
    "return_type", "reward_to_go",
    "the group baseline's weights: episode (every step weighted by its whole episode's R(τ), "
    "the baseline from the group's R(τ)) or reward_to_go (G_t, the baseline from the group's "
    "G_t at the same step)", kind="choice", choices=("episode", "reward_to_go"),
)  # fmt: skip


def group_ends(traj: Trajectory, k: int) -> Array:
    """bool ``[T, N]``: the steps at which every member of the group has ended or waits (the
    group starts again after them), repeated over the group's members."""
    ended = traj.waiting | traj.terminated | traj.truncated
    t, n = ended.shape
    return jnp.repeat(jnp.all(ended.reshape(t, n // k, k), axis=2), k, axis=1)


def _by_group(f: Callable, x: Array, k: int) -> Array:
    """``f`` of one group's ``[k]`` values, at every step and group of ``x [T, N]``."""
    t, n = x.shape
    return jax.vmap(jax.vmap(f))(x.reshape(t, n // k, k)).reshape(t, n)


def group_stats(static, episode_return: Array, starts: Array, k: int) -> dict[str, Array]:
    """``group_return_spread`` and ``group_equal_fraction`` over the complete groups of the
    batch (NaN where none completed): ``episode_return [T, N]`` the members' R(τ), ``starts
    [T, N]`` the first step of each complete group episode."""
    t, n = episode_return.shape
    r = episode_return.reshape(t, n // k, k)
    valid = starts.reshape(t, n // k, k)[..., 0].astype(jnp.float32)
    count = static.sum_all(jnp.sum(valid))
    spread = static.sum_all(jnp.sum(valid * jnp.std(r, axis=-1)))
    equal = static.sum_all(jnp.sum(valid * (jnp.ptp(r, axis=-1) <= 1e-6)))
    mean = lambda total: jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)  # noqa: E731
    return {"group_return_spread": mean(spread), "group_equal_fraction": mean(equal)}


def group_estimate(
    baseline: Callable[[Array], Array], length_normalised: bool
) -> Callable[..., Estimate]:
    """The estimate of a group algorithm (see the module's docstring) with ``baseline``, a
    function of one group's returns ``[k]`` → its weights ``[k]``."""

    def estimate(static, hp: HParams, traj: Trajectory, values, next_values, algo, first):
        k, return_type = static.config.settings["group_size"], static.config.settings["return_type"]
        ends, no_cut = group_ends(traj, k), jnp.zeros_like(traj.terminated)
        counted = ~traj.waiting
        rewards = traj.reward * hp.reward_scale  # 0 where waiting (GroupedEnv)
        episode_return, complete = _per_env(returns.episode_returns, rewards, ends, no_cut)
        if return_type == "episode":
            weights = episode_return
        else:
            zeros = jnp.zeros_like(rewards)
            weights = jax.vmap(returns.discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
                rewards, ends, no_cut, zeros, hp.gamma
            )
        advantages = _by_group(baseline, weights, k)
        mask = (complete & counted).astype(jnp.float32)
        if length_normalised:  # each step by L̄ / L_i: a mean over episodes of their means
            length = _per_env(returns.episode_returns, counted.astype(jnp.float32), ends, no_cut)
            length = jnp.maximum(length[0], 1.0)
            episodes = static.sum_all(jnp.sum(mask / length))
            mean_length = static.sum_all(jnp.sum(mask)) / jnp.maximum(episodes, 1e-8)
            advantages = advantages * mean_length / length
        starts = jnp.concatenate([jnp.ones_like(ends[:1]), ends[:-1]]) & complete
        stats = group_stats(static, episode_return, starts, k)
        return Estimate(advantages, weights, mask, algo, stats)

    return estimate


def check_groups(config: Any) -> None:
    """``ValueError`` for a group size below 2, environments that do not form whole groups,
    or a recurrent network."""
    k = config.settings["group_size"]
    if k < 2:
        raise ValueError(
            f"Config.settings['group_size']={k}: a group baseline needs at least 2 episodes "
            "from one start; allowed: an integer >= 2"
        )
    if config.num_envs % k:
        raise ValueError(
            f"Config.num_envs={config.num_envs} does not form groups of group_size={k}: "
            f"allowed: a multiple of {k} (per device, under Config.devices > 1)"
        )
    if parse_network(config.network)[1] is not None:
        raise ValueError(
            f"Config.network={config.network!r}: {config.algo} runs grouped environments, whose "
            "members wait for their group; it takes feed-forward networks only (mlp, cnn, auto "
            "or a registered torso)"
        )


def group_estimator(
    name: str, baseline: Callable[[Array], Array], length_normalised: bool = False
) -> Estimator:
    """An ``Estimator`` of group baselines: ``baseline`` over each group (``group_size``),
    GRPO's length weighting where ``length_normalised``. No critic is read; every rollout
    starts from fresh group starts; advantages are not standardised again."""
    return Estimator(
        name,
        group_estimate(baseline, length_normalised),
        fresh_episodes=True,
        whole_episodes=True,
        normalize=False,
        reads_critic=lambda config: False,
        check=check_groups,
        settings=(GROUP_SIZE, RETURN_TYPE),
    )


RLOO = group_estimator("rloo", group_baselines.leave_one_out)
GRPO = group_estimator("grpo", group_baselines.group_normalised, length_normalised=True)
DR_GRPO = group_estimator("dr_grpo", group_baselines.group_centred)


def policy_only_loss(static, params: Params, mb, hp: HParams):
    """The policy's surrogate − entropy bonus, for a network without a critic."""
    return policy_loss_fn(static, params.actor, mb, hp)


POLICY_ONLY = Learner.from_loss("policy_only", policy_only_loss)
"""The learner of a policy without a critic: ``minibatch_loop`` on the surrogate alone
(``num_epochs × num_minibatches`` where the algorithm reuses its batch, else one full-batch
step), so averaged over devices."""
