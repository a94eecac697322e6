# %% [markdown]
# # 2. Importance sampling and off-policy policy gradient
#
# On-policy policy gradient throws each batch away after one step: the data were sampled from
# π_θ, and once θ moves they describe another policy. **Importance sampling** (重要性采样)
# lets us keep using samples from one distribution q to estimate an expectation under another
# distribution p:
#
# E_{x∼p}[f(x)] = Σ_x p(x) f(x) = Σ_x q(x) f(x) p(x)/q(x) = E_{x∼q}[ f(x) p(x)/q(x) ].
#
# The mean is right for any q that covers p. The **variance** is not:
# Var_q[f p/q] = E_p[f² p/q] − (E_p[f])², which grows without bound as q moves away from p.
# The seed's warning: with few samples from a q unlike p, the estimate can even have the
# wrong sign.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from pgjax import Config, losses, make_train
from pgjax.tools.chunks import final_return

QUICK = os.environ.get("PGJAX_QUICK") == "1"
SEEDS = 2 if QUICK else 8

# %% [markdown]
# ## The seed's picture, in numbers
#
# x takes 20 values. Under p most mass sits on the left, where f is negative; a little sits on
# the right, where f is large and positive; so E_p[f] > 0 only barely. We sample from q's that
# put more and more of their mass on the left (the importance ratio p/q there shrinks), and
# estimate E_p[f] from a handful of samples.

# %%
x = jnp.arange(20)
f = jnp.where(x < 15, -1.0, 20.0)
p = jax.nn.softmax(-0.15 * x)  # mass on the left, a tail on the right


def q_at(shift):
    """q moves mass to the left as shift grows (shift 0: q = p)."""
    return jax.nn.softmax(-(0.15 + shift) * x)


print("E_p[f] =", float(jnp.sum(p * f)))
shifts = np.linspace(0.0, 0.6, 13)
exact_var = [float(jnp.sum(q_at(s) * (f * p / q_at(s)) ** 2) - jnp.sum(p * f) ** 2) for s in shifts]
exact_mean = [float(jnp.sum(q_at(s) * f * p / q_at(s))) for s in shifts]
print("E_q[f p/q] for every q:", np.round(exact_mean, 6)[:5], "...")


def wrong_sign_probability(shift, n, draws=2_000 if QUICK else 20_000, seed=0):
    """P(the n-sample importance-sampling estimate of E_p[f] is ≤ 0), by simulation."""
    q = q_at(shift)
    xs = jax.random.choice(jax.random.key(seed), 20, (draws, n), p=q)
    est = jnp.mean(f[xs] * p[xs] / q[xs], axis=1)
    return float(jnp.mean(est <= 0))


fig, axs = plt.subplots(1, 3, figsize=(13, 3.3))
axs[0].bar(x - 0.2, p, width=0.4, label="p")
axs[0].bar(x + 0.2, q_at(0.4), width=0.4, label="q (shift 0.4)")
axs[0].step(x, (f + 1) / 200, where="mid", color="k", lw=1, label="f (scaled)")
axs[0].set_xlabel("x")
axs[0].set_ylabel("probability")
axs[0].legend(fontsize=8)
axs[1].semilogy(shifts, exact_var, marker="o")
axs[1].set_xlabel("how far q is from p (shift)")
axs[1].set_ylabel("Var_q[f p/q] (exact)")
for n in (1, 5, 50):
    axs[2].plot(
        shifts, [wrong_sign_probability(s, n) for s in shifts], marker=".", label=f"{n} samples"
    )
axs[2].set_xlabel("how far q is from p (shift)")
axs[2].set_ylabel("P(estimate has the wrong sign)")
axs[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# *Left: p, one q and f. Middle: the exact variance of the importance-sampled estimate grows by
# four orders of magnitude as q moves from p, while its mean stays E_p[f] for every q (printed
# above). Right: the chance that the estimate of the positive E_p[f] comes out negative. This
# f is skewed, so even samples from p itself often miss its rare large values; with 50 samples
# from p the chance is below one half, but as q moves away it climbs to certainty whatever the
# sample size: the samples almost never visit the right tail, where p/q is huge.*
#
# ## Off-policy policy gradient: reusing one batch
#
# The same identity turns the policy gradient into an objective we can optimise several times
# on data collected by θ′ (the policy of the last rollout):
#
# J^{θ′}(θ) = E_{(s,a)∼π_θ′}[ (p_θ(a|s) / p_θ′(a|s)) A^{θ′}(s, a) ],
#
# `pgjax.math.losses.importance_sampled_pg_loss(ratio, A) = −ratio · A`, with
# `losses.importance_ratio(log p_θ, log p_θ′) = exp(log p_θ − log p_θ′)`. At θ = θ′ its gradient
# is exactly the on-policy gradient:

# %%
logits = jnp.array([0.2, -0.4, 1.0])
action, adv = 2, 1.7
old_logp = jax.nn.log_softmax(logits)[action]


def surrogate(lg):
    ratio = losses.importance_ratio(jax.nn.log_softmax(lg)[action], old_logp)
    return losses.importance_sampled_pg_loss(ratio, adv)


def on_policy(lg):
    return losses.policy_gradient_loss(jax.nn.log_softmax(lg)[action], adv)


print("∇ importance-sampled surrogate at θ = θ′:", np.round(jax.grad(surrogate)(logits), 6))
print("∇ on-policy loss:                         ", np.round(jax.grad(on_policy)(logits), 6))

# %% [markdown]
# `Config(algo="is_pg")` does exactly this: collect a batch, then take `num_epochs` passes of
# minibatch steps on the surrogate with nothing holding θ near θ′. More epochs squeeze more
# learning from each batch, until θ drifts so far that the ratios (and the variance above)
# explode. We train 1, 4 and 16 epochs per batch at a learning rate high enough for the drift
# to matter, and watch the return and the KL between successive policies.

# %%
steps = 20_000 if QUICK else 300_000
keys = jax.random.split(jax.random.key(1), SEEDS)
runs = {}
for epochs in (1, 16) if QUICK else (1, 4, 16):
    config = Config(algo="is_pg", lr=1e-3, num_epochs=epochs, total_timesteps=steps)
    m = jax.jit(jax.vmap(make_train(config)))(keys).metrics
    runs[epochs] = {k: np.asarray(m[k]) for k in ("timesteps", "episode_return", "kl", "ratio_max")}
    finals = [final_return({"episode_return": r}) for r in runs[epochs]["episode_return"]]
    print(
        f"{epochs:2d} epochs: final return {np.mean(finals):6.1f} ± "
        f"{1.96 * np.std(finals) / np.sqrt(SEEDS):5.1f}, mean over the run "
        f"{np.nanmean(runs[epochs]['episode_return']):6.1f}, median KL per update "
        f"{np.median(runs[epochs]['kl']):.4f}, largest ratio {runs[epochs]['ratio_max'].max():.1f}"
    )

# %%
fig, axs = plt.subplots(1, 2, figsize=(11, 3.5))
for epochs, m in runs.items():
    t = m["timesteps"][0]
    axs[0].plot(t, np.nanmean(m["episode_return"], 0), label=f"{epochs} epochs per batch")
    axs[1].semilogy(t, np.median(m["kl"], 0), label=f"{epochs} epochs per batch")
axs[0].set_xlabel("environment steps")
axs[0].set_ylabel("mean episode return")
axs[1].set_xlabel("environment steps")
axs[1].set_ylabel("KL(π_θ′ ‖ π_θ) after each update")
axs[0].legend(fontsize=8)
fig.suptitle(f"Off-policy PG (is_pg) on CartPole-v1, lr 1e-3, {SEEDS} seeds")
fig.tight_layout()
plt.show()

# %% [markdown]
# *Left: return against steps for 1, 4 and 16 passes over each batch (mean over seeds). Right:
# how far each update moved the policy (exact KL over the batch's states, median over seeds).
# Each fourfold increase in passes moves the policy roughly a hundred times further per
# update. Four passes learn faster than one: reuse pays. Sixteen move the policy by a KL near 1
# per update, with importance ratios in the thousands (printed above); learning turns erratic,
# with sudden collapses, and both its final return and its mean over the run fall below four
# passes'. Without a constraint, reuse pays up to a
# point and then hurts — the motivation for PPO's penalty and clip (notebook 3).*
