# %% [markdown]
# # 1. Policy gradient, from the trajectory probability to actor-critic
#
# The seed's story: an **actor** (policy π_θ, 演员) acts in an **environment** (环境), which
# hands back a **reward** (奖励). A trajectory τ = (s₁, a₁, s₂, a₂, …) has probability
#
# p_θ(τ) = p(s₁) Π_t π_θ(a_t | s_t) p(s_{t+1} | s_t, a_t),
#
# and we want to raise the expected return R̄_θ = Σ_τ R(τ) p_θ(τ). Only the π_θ factors depend
# on θ, so the **log-derivative trick** ∇p = p ∇log p gives
#
# ∇R̄_θ = E_{τ∼p_θ}[ R(τ) ∇log p_θ(τ) ] = E[ R(τ) Σ_t ∇log π_θ(a_t | s_t) ],
#
# which we can estimate from sampled trajectories without knowing the environment's dynamics.
# This notebook checks that equation exactly on a tiny MDP, then runs REINFORCE on CartPole,
# measures the seed's two tips, and ends with a learned critic and GAE's λ.

# %%
import itertools
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from pgjax import Config, losses, make_train
from pgjax.tools.chunks import final_return

QUICK = os.environ.get("PGJAX_QUICK") == "1"  # small budgets, for the test suite
SEEDS = 2 if QUICK else 8
print("devices:", jax.devices(), "| quick mode:", QUICK)

# %% [markdown]
# ## The log-derivative trick, checked by enumeration
#
# Two states, two actions, three steps, a tabular softmax policy π_θ(a|s) = softmax(θ[s])[a].
# There are 2⁶ = 64 trajectories, so E[·] is an exact sum and the true gradient ∇R̄_θ comes from
# autodiff of that sum. The estimator g(τ) = Σ_t R(τ) ∇log π_θ(a_t|s_t) is computed through
# pgjax's loss, `losses.policy_gradient_loss(log π, R) = −R · log π`, the seed's *weighted
# classification*: the cross-entropy of the sampled action, weighted by the return.

# %%
H = 3
rho = jnp.array([0.7, 0.3])  # p(s1)
P = jnp.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.1, 0.9]]])  # p(s'|s, a)
reward = jnp.array([[1.0, 0.2], [0.5, 3.0]])  # r(s, a)
theta = jnp.array([[0.3, -0.2], [-0.5, 0.4]])
trajectories = jnp.array(list(itertools.product([0, 1], repeat=2 * H)))  # [64, 6]
S, A = trajectories[:, 0::2], trajectories[:, 1::2]


def log_pi(theta, s, a):
    return jax.nn.log_softmax(theta[s])[a]


def p_tau(theta):
    """p_θ(τ) for all 64 trajectories."""
    pi = jnp.exp(jax.vmap(jax.vmap(log_pi, (None, 0, 0)), (None, 0, 0))(theta, S, A)).prod(1)
    return rho[S[:, 0]] * pi * P[S[:, :-1], A[:, :-1], S[:, 1:]].prod(1)


r = reward[S, A]  # [64, H] per-step rewards
R_tau = r.sum(1)
true_grad = jax.grad(lambda th: jnp.sum(p_tau(th) * R_tau))(theta)


def estimates(weights):
    """g(τ) for every τ, from the weighted-classification loss; weights: [64, H]."""

    def one(s, a, w):
        def loss(th):
            return jnp.sum(losses.policy_gradient_loss(jax.vmap(log_pi, (None, 0, 0))(th, s, a), w))

        return -jax.grad(loss)(theta)

    return jax.vmap(one)(S, A, weights)


def mean_var(g):
    p = p_tau(theta)
    mean = jnp.einsum("n,nij->ij", p, g)
    return mean, float(jnp.einsum("n,n->", p, ((g - mean) ** 2).sum((1, 2))))


g_whole = estimates(jnp.broadcast_to(R_tau[:, None], (64, H)))
mean, var = mean_var(g_whole)
print("Σ_τ p(τ) = ", float(p_tau(theta).sum()))
print("true ∇R̄:\n", np.round(true_grad, 5))
print("E[R(τ) ∇log p(τ)]:\n", np.round(mean, 5))
print("max difference:", float(jnp.abs(mean - true_grad).max()))

# %% [markdown]
# The two agree to float precision: the sampled estimator is unbiased.
#
# ## The seed's two tips, as the estimator's variance
#
# **Tip 1, a baseline** (增加基线): rewards here are all positive, so every sampled action is
# pushed up; subtracting b ≈ E[R] pushes up only the better-than-average ones. **Tip 2,
# credit assignment** (分配合适的分数): weigh each action by the reward that came *after* it,
# the reward-to-go Σ_{t'≥t} r_{t'}, optionally discounted by γ. Each keeps the mean (the
# gradient) and should lower the variance; a baseline far from E[R] raises it.

# %%
b = float(jnp.sum(p_tau(theta) * R_tau))  # the best constant is close to E[R]
to_go = jnp.cumsum(r[:, ::-1], axis=1)[:, ::-1]
gamma = 0.9
discount = gamma ** jnp.arange(H)
disc_to_go = jnp.stack([jnp.sum(r[:, t:] * discount[: H - t], 1) for t in range(H)], 1)
variants = {
    "R(τ)": jnp.broadcast_to(R_tau[:, None], (64, H)),
    "R(τ) − b, b = E[R]": jnp.broadcast_to(R_tau[:, None] - b, (64, H)),
    "R(τ) − 3·E[R] (bad b)": jnp.broadcast_to(R_tau[:, None] - 3 * b, (64, H)),
    "reward-to-go": to_go,
    "reward-to-go − b": to_go - b / 2,
    "discounted reward-to-go (γ=0.9)": disc_to_go,
}
rows = []
for name, w in variants.items():
    m, v = mean_var(estimates(w))
    rows.append((name, float(jnp.abs(m - true_grad).max()), v))
    print(f"{name:34s} bias {rows[-1][1]:.1e}   variance {v:8.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.barh([n for n, _, _ in rows][::-1], [v for _, _, v in rows][::-1], color="tab:blue")
ax.set_xlabel("variance of the gradient estimate (exact, by enumeration)")
ax.set_title("Baselines and reward-to-go keep the mean and change the variance")
fig.tight_layout()
plt.show()

# %% [markdown]
# *The exact variance of one trajectory's gradient estimate for each weighting: a baseline
# near E[R] and reward-to-go each lower it, and together lower it most; a baseline far from
# E[R] raises it fourfold. Discounting lowers the variance of reward-to-go further, but it
# estimates the gradient of the discounted return, a different target: its "bias" against
# ∇R̄ printed above is not zero, unlike the others'.*
#
# ## REINFORCE on CartPole, many seeds at once
#
# `Config(algo="reinforce")` collects whole episodes from fresh resets and takes one gradient
# step per batch (the seed's "use the data once"). The tips are options: `return_type`
# (`episode` = R(τ), `reward_to_go`), `baseline` (`none`, `mean`, `critic`) and `gamma`. The
# critic baseline is a state value b(s) regressed on the returns by several epochs of its own
# on each batch (the policy still steps once). Each variant is trained with all its seeds in
# one `jax.vmap`-ed, jit-compiled call.

# %%
steps = 20_000 if QUICK else 300_000
keys = jax.random.split(jax.random.key(0), SEEDS)
tips = {
    "R(τ), no baseline": dict(return_type="episode", baseline="none", gamma=1.0),
    "+ baseline (tip 1)": dict(return_type="episode", baseline="mean", gamma=1.0),
    "+ reward-to-go (tip 2)": dict(return_type="reward_to_go", baseline="mean", gamma=1.0),
    "+ discount γ=0.99": dict(return_type="reward_to_go", baseline="mean", gamma=0.99),
    "+ critic baseline b(s)": dict(return_type="reward_to_go", baseline="critic", gamma=0.99),
}
curves = {}
for name, options in tips.items():
    config = Config(algo="reinforce", total_timesteps=steps, **options)
    result = jax.jit(jax.vmap(make_train(config)))(keys)
    curves[name] = (
        np.asarray(result.metrics["timesteps"][0]),
        np.asarray(result.metrics["episode_return"]),
    )
    finals = [final_return({"episode_return": x}) for x in curves[name][1]]
    print(
        f"{name:26s} final return {np.mean(finals):6.1f} ± {1.96 * np.std(finals) / np.sqrt(SEEDS):5.1f}"
    )

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, (t, ret) in curves.items():
    m = np.nanmean(ret, 0)
    half = 1.96 * np.nanstd(ret, 0) / np.sqrt(SEEDS)
    ax.plot(t, m, label=name)
    ax.fill_between(t, m - half, m + half, alpha=0.2)
ax.set_xlabel("environment steps")
ax.set_ylabel("mean episode return")
ax.set_title(f"REINFORCE on CartPole-v1, {SEEDS} seeds, 95% bands")
ax.legend()
plt.show()

# %% [markdown]
# *Learning curves of REINFORCE with the seed's tips added one at a time (mean over seeds with
# a 95% band). The baseline more than doubles the final return and reward-to-go raises it
# again; on CartPole, whose reward is 1 per step until failure, the discount adds nothing
# within this budget, and the critic's b(s) adds a little more than the running mean
# (`benchmarks/seed_claims.py` measures the same with more seeds).*
#
# ## The advantage with a critic, and Monte Carlo vs TD through GAE's λ
#
# Replace the constant b by a learned state value V(s): the weight becomes the advantage
# A(s, a) = Q(s, a) − V(s), estimated by GAE,
#
# Â_t = Σ_l (γλ)^l δ_{t+l},  δ_t = r_t + γ V(s_{t+1}) − V(s_t).
#
# λ = 1 is the Monte Carlo advantage (G_t − V(s_t): unbiased, high variance); λ = 0 the one-step
# TD error (low variance, biased by V's errors). λ is a traced hyperparameter, so one compiled
# function trains every λ and every seed at once.

# %%
config = Config(algo="a2c", total_timesteps=20_000 if QUICK else 300_000)
lambdas = jnp.array([0.0, 0.5, 0.9, 0.95, 1.0])
hp = config.hparams().set(gae_lambda=lambdas)
axes = hp.axes(["gae_lambda"])
sweep = jax.vmap(jax.vmap(make_train(config), in_axes=(0, None)), in_axes=(None, axes))
out = jax.jit(sweep)(keys, hp)
returns = np.asarray(out.metrics["episode_return"])  # [λ, seeds, updates]
finals = np.array([[final_return({"episode_return": s}) for s in per_lam] for per_lam in returns])
means = np.array([np.nanmean(np.where(np.isfinite(r), r, np.nan)) for r in returns])

fig, axs = plt.subplots(1, 2, figsize=(10, 3.5))
axs[0].errorbar(lambdas, finals.mean(1), yerr=1.96 * finals.std(1) / np.sqrt(SEEDS), marker="o")
axs[0].set_xlabel("GAE λ (0 = TD, 1 = Monte Carlo)")
axs[0].set_ylabel("final return")
axs[1].plot(lambdas, means, marker="o")
axs[1].set_xlabel("GAE λ")
axs[1].set_ylabel("mean return over the whole run")
fig.suptitle(f"A2C on CartPole-v1: λ trades bias for variance ({SEEDS} seeds, one compiled call)")
fig.tight_layout()
plt.show()

# %% [markdown]
# *Final return (left, 95% intervals) and the return averaged over the run (right) for each λ.
# On CartPole within this budget, λ near 1 learns best (0.95 and 1.0 lie within each other's
# intervals), while small λ learns slowly: its advantage leans on a critic that starts out
# wrong, and that bias dominates. The variance that λ = 1 pays for does not show on CartPole at
# this budget.* The next notebook reuses one batch for several updates, which needs
# importance sampling.
