# %% [markdown]
# # 6. The seed's first tip, today: baselines from a group
#
# The seed's first tip: R(τ) is often positive for every trajectory, so the gradient raises the
# probability of every sampled action and relies on the sampling to sort them out; subtracting
# a baseline b, ∇J ≈ Σ_t (R − b) ∇ log π(a_t|s_t), keeps the mean (b does not depend on the
# action) and lowers the variance. Notebook 1 measured this exactly on a tiny problem. pgjax's
# REINFORCE offers a running mean of returns as b, and a learned critic b(s).
#
# The policy-gradient methods most used today take b from a **group** of k episodes that start
# from the same state instead: RLOO (each episode's baseline is the mean return of the other
# k − 1; Kool et al. 2019, Ahmadian et al. 2024), GRPO (the group's mean and standard deviation
# normalise the returns; Shao et al. 2024) and Dr. GRPO (the mean alone; Liu et al. 2025). No
# critic is trained: the other episodes of the group are the baseline. pgjax runs them on any
# of its environments because an environment is a pure function of its reset key: a group
# shares one key (`pgjax.envs.groups.GroupedEnv`).
#
# This notebook measures the five baselines' gradient variance on one task and one policy, then
# trains with each.

# %%
import dataclasses
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import linen as nn
from jax.flatten_util import ravel_pytree

from pgjax import Config, make_train
from pgjax.algorithms.groups import group_ends, group_estimate
from pgjax.envs import make_env
from pgjax.envs.groups import GroupedEnv
from pgjax.math import group_baselines
from pgjax.pipeline.rollout import collect
from pgjax.pipeline.static import make_static
from pgjax.pipeline.train import init
from pgjax.tools.chunks import final_return

QUICK = os.environ.get("PGJAX_QUICK") == "1"
SEEDS = 2 if QUICK else 8
BATCHES = 8 if QUICK else 128  # independent batches for each variance
K, GROUPS = 8, 8  # a batch: 8 groups of 8, 64 episodes
# held-out keys: the group algorithms' defaults were searched on key 1000, never on these
KEY = jax.random.key(6)

# %% [markdown]
# ## One policy, many independent batches
#
# The policy: RLOO's after a short run on CartPole-v1 (its episodes then last tens to hundreds
# of steps, so returns differ and a baseline has something to do). A batch is 64 episodes, one
# per environment, each from its first step to its end (the window, 512 steps, holds CartPole's
# longest, 500). Grouped batches come from 8 groups of 8 that share starts; the other
# baselines get the same number of episodes from 64 independent starts (groups of one), as they
# would be trained.

# %%
config = Config(algo="rloo", env="CartPole-v1", total_timesteps=16_000 if QUICK else 64_000)
trained = jax.jit(make_train(config))(KEY).state
static = make_static(
    config.replace(num_envs=K * GROUPS, num_steps=512, total_timesteps=K * GROUPS * 512)
)
hp = config.hparams()
# groups of one: each environment its own start (the settings say so to the estimator too)
alone = dataclasses.replace(static.config, settings=dict(static.config.settings, group_size=1))
independent = dataclasses.replace(static, config=alone, env=GroupedEnv(make_env("CartPole-v1"), 1))


def batch(static, key):
    """One batch: the rollout from fresh starts and, per environment, the mask of its first
    episode's steps ``[T, N]`` (a member's steps until its group's first episode ends)."""
    carry = init(static, key, hp).env
    _, traj, _ = collect(static, trained.params, trained.obs_norm, carry, key)
    group_done = group_ends(traj, static.env.group_size)
    first = jnp.cumsum(group_done, 0) - group_done == 0
    return traj, first & ~traj.waiting


keys = jax.random.split(jax.random.fold_in(KEY, 1), BATCHES)
grouped_batches = jax.jit(jax.vmap(lambda k: batch(static, k)))(keys)
independent_batches = jax.jit(jax.vmap(lambda k: batch(independent, k)))(keys)
traj, mask = independent_batches
returns = np.asarray((traj.reward * mask).sum(1)).ravel()  # each first episode's return
print(f"{BATCHES} batches of {K * GROUPS} episodes; the policy's mean return {returns.mean():.0f}")

# %% [markdown]
# The weights. Every estimator weighs step t of episode i by its reward-to-go G_t (γ = 0.99,
# nothing bootstrapped: every episode is whole) minus a baseline:
#
# | baseline | b |
# | --- | --- |
# | none | 0 |
# | running mean | the mean G over many other batches (the value a running mean settles at) |
# | learned critic | V(s_t), a network fit to G on other batches |
# | RLOO | the mean of the other k − 1 members' G at the same step of their episodes |
# | GRPO | (G − mean) / (std + ε) over the group at the same step |
#
# The group weights come from `pgjax.algorithms.groups.group_estimate`, the estimator the
# algorithms train with; "none" is that estimator with the identity as its baseline, on
# independent starts.

# %%
no_baseline = group_estimate(lambda g: g, False)
rloo = group_estimate(group_baselines.leave_one_out, False)
grpo = group_estimate(group_baselines.group_normalised, False)  # its baseline alone


def weights(static, estimator, traj):
    return estimator(static, hp, traj, None, None, (), None).advantages


def reward_to_go(traj):
    return weights(independent, no_baseline, traj)


fit_keys = jax.random.split(jax.random.fold_in(KEY, 2), 4 if QUICK else 16)
fit_traj, fit_mask = jax.jit(jax.vmap(lambda k: batch(independent, k)))(fit_keys)
fit_g = jax.vmap(reward_to_go)(fit_traj)
mean_g = float((fit_g * fit_mask).sum() / fit_mask.sum())


class Critic(nn.Module):
    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(64)(obs))
        return nn.Dense(1)(nn.tanh(nn.Dense(64)(x)))[..., 0]


critic = Critic()
valid = np.asarray(fit_mask).ravel()  # the steps of whole episodes, not those after them
obs, targets = fit_traj.obs.reshape(-1, 4)[valid], fit_g.ravel()[valid]
v_params = critic.init(jax.random.key(0), obs[:1])
opt = optax.adam(3e-3)


@jax.jit
def fit(params, obs, targets):
    """2000 Adam steps on the mean squared error."""

    def mse(p):
        return jnp.mean((critic.apply(p, obs) - targets) ** 2)

    def step(carry, _):
        p, s = carry
        loss, grad = jax.value_and_grad(mse)(p)
        updates, s = opt.update(grad, s)
        return (optax.apply_updates(p, updates), s), loss

    return jax.lax.scan(step, (params, opt.init(params)), None, 2000)


(v_params, _), fit_loss = fit(v_params, obs, targets)
print(f"mean G {mean_g:.1f}; the critic's fit: mean squared error {float(fit_loss[-1]):.1f}, "
      f"variance of G {float(jnp.var(targets)):.1f}")  # fmt: skip

# %% [markdown]
# The gradient of each batch: that of `−Σ mask · A · log π(a|s) / Σ mask`, the loss pgjax
# minimises, over the policy's parameters. Over the independent batches, the table gives the
# trace of the gradient's covariance (the summed variance of its components), that variance
# relative to the squared length of the mean gradient (scale-free: GRPO's division by the std
# changes the gradient's scale), and the cosine between each mean gradient and the one without
# a baseline (a baseline that does not depend on the action leaves the mean unchanged).

# %%
flat, unravel = ravel_pytree(trained.params.actor)


def gradient(static, traj, mask, advantages):
    def loss(theta):
        dist = static.net.policy(
            trained.params._replace(actor=unravel(theta)), static.norm(trained.obs_norm, traj.obs)
        )
        log_prob = static.net.dist.log_prob(dist, traj.action)
        return -jnp.sum(mask * advantages * log_prob) / jnp.sum(mask)

    return jax.grad(loss)(flat)


def critic_weights(traj):
    return reward_to_go(traj) - critic.apply(v_params, traj.obs)


methods = {
    "none": (independent, independent_batches, reward_to_go),
    "running mean": (independent, independent_batches, lambda t: reward_to_go(t) - mean_g),
    "learned critic": (independent, independent_batches, critic_weights),
    "RLOO": (static, grouped_batches, lambda t: weights(static, rloo, t)),
    "GRPO": (static, grouped_batches, lambda t: weights(static, grpo, t)),
}
table = {}
for name, (s, (traj, mask), weigh) in methods.items():
    g = jax.jit(jax.vmap(lambda t, m, s=s, weigh=weigh: gradient(s, t, m, weigh(t))))(traj, mask)
    g = np.asarray(g, np.float64)
    mean, variance = g.mean(0), g.var(0, ddof=1).sum()
    table[name] = (variance, variance / (mean @ mean), mean)
reference = table["none"][2]
print(
    f"{'baseline':>15} | {'tr Cov(g)':>10} | {'÷ none':>7} | {'tr Cov / |ḡ|²':>13} | cos(ḡ, ḡ_none)"
)
for name, (variance, relative, mean) in table.items():
    cosine = mean @ reference / np.sqrt((mean @ mean) * (reference @ reference))
    print(f"{name:>15} | {variance:10.3g} | {variance / table['none'][0]:7.3f} | "
          f"{relative:13.3f} | {cosine:.3f}")  # fmt: skip

# %% [markdown]
# *The variance of one batch's gradient over independent batches, for each baseline, on the
# same policy and the same number of episodes.* On the full run (128 batches): the running
# mean halves the variance of no baseline (CartPole's returns are all positive: without a
# baseline every action is pushed up), the learned critic lowers it most (to about 0.4), and
# RLOO's leave-one-out mean barely lowers it (about 0.93). The group shares only its start:
# after tens of steps its members are in different states, and at step t the other members'
# G_t (0 for a member whose episode has ended) say little about this member's. The
# leave-one-out mean is unbiased, but it is a 7-sample estimate of a mean over whole episodes,
# not of V(s_t). On tasks whose start decides much of the return (a prompt, a level) a group
# shares far more. GRPO's weights are divided by the group's spread, so its raw variance is on
# another scale; the relative column, the one to compare across methods, puts it near none's.
# The mean gradients point the same way for every baseline (cosine near 1): a baseline that
# does not depend on the action leaves the mean unchanged, and GRPO's reweighting of groups
# barely moves it here.
#
# What the group buys is not a lower variance than a critic: it is a baseline with nothing to
# train, no critic's errors and no critic's learning rate.
#
# ## Learning with each
#
# Each method's defaults on CartPole-v1, the same seeds (split from key 6) and the same
# number of environment steps: REINFORCE with reward-to-go and each of its baselines, RLOO,
# GRPO and Dr. GRPO.

# %%
steps = 40_000 if QUICK else 500_000
seeds = jax.random.split(KEY, SEEDS)


def reinforce(baseline):
    return Config(algo="reinforce", settings=dict(baseline=baseline, return_type="reward_to_go"))


runs = {
    "REINFORCE, no baseline": reinforce("none"),
    "REINFORCE, running mean": reinforce("mean"),
    "REINFORCE, learned critic": reinforce("critic"),
    "RLOO": Config(algo="rloo"),
    "GRPO": Config(algo="grpo"),
    "Dr. GRPO": Config(algo="dr_grpo"),
}
_, ax = plt.subplots(figsize=(6, 3.6))
for label, run in runs.items():
    run = run.replace(total_timesteps=steps)
    metrics = jax.device_get(jax.jit(jax.vmap(make_train(run)))(seeds).metrics)
    curve = metrics["episode_return"]
    ax.plot(metrics["timesteps"][0], np.nanmean(curve, 0), label=label)
    finals = [final_return({"episode_return": r}) for r in curve]
    print(f"{label:>26}: final return {np.mean(finals):6.1f} (seeds {np.round(finals, 0)})")
ax.set(xlabel="environment steps", ylabel="episode return (mean over seeds)")
ax.set_title(f"CartPole-v1, {SEEDS} seeds: baselines from a group need no critic")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# *Learning curves, the mean over seeds.* The group methods learn CartPole without a critic.
# What they pay is samples and windows: a group of k spends k episodes on one start, and a
# batch must hold whole episodes (nothing is bootstrapped), so the window is the time limit.
# `benchmarks/learning.py` gives their rows on more environments beside A2C and PPO-Clip
# (`benchmarks/results/learning_cpu.md`, seeds split from key 0, which no search used). On
# CartPole and Acrobot the three match PPO-Clip. On Pendulum-v1 and Breakout-MinAtar a critic
# wins, but only with PPO-Clip's tuned preset (about −155 against −985 to −1090 on Pendulum,
# 40.8 against 5.0 to 6.4 on Breakout): A2C with the same environment settings as the group
# methods does no better than they do (−1166, 5.3).
