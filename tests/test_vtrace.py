"""V-trace (Espeholt et al. 2018) against independent computations: a plain loop over the
paper's equations, rlax's ``vtrace_td_error_and_advantage`` where rlax is installed, and the
discounted return it must equal on-policy without truncated ratios; GAE with a per-step λ."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, make_train, returns

T = 12


def episode_flags(rng, t=T, truncate=True):
    terminated = rng.random(t) < 0.15
    truncated = (rng.random(t) < 0.1) & ~terminated if truncate else np.zeros(t, bool)
    return terminated, truncated


def inputs(seed, truncate=True):
    """A window as a rollout gives it: inside an episode V(s'_t) is V(s_{t+1}); where one
    ended, V(s'_t) is the value of its final observation, another state."""
    rng = np.random.default_rng(seed)
    terminated, truncated = episode_flags(rng, truncate=truncate)
    values = rng.normal(size=T).astype(np.float32)
    final = rng.normal(size=T).astype(np.float32)
    inside = ~(terminated | truncated)
    next_values = np.where(inside, np.append(values[1:], final[-1]), final)
    return dict(
        rewards=rng.normal(size=T).astype(np.float32),
        values=values,
        next_values=next_values.astype(np.float32),
        terminated=terminated,
        truncated=truncated,
        log_rhos=rng.normal(scale=0.7, size=T).astype(np.float32),
    )


def vtrace_loop(rewards, values, next_values, terminated, truncated, log_rhos, gamma, lam,
                rho_bar, c_bar):  # fmt: skip
    """The paper's equations, one step at a time, in float64: v_s = V(x_s) + Σ_{t≥s}
    γ^{t−s} (Π_{i=s}^{t−1} c_i) δ_t over the rest of the episode inside the window, then
    A_s = ρ_s (r_s + γ q_{s+1} − V(x_s)), q_{s+1} = λ v_{s+1} + (1 − λ) V(x_{s+1}) inside the
    episode (rlax's λ-weighted form), the bootstrap V(x'_s) after a cut."""
    n = len(rewards)
    ratio = np.exp(np.asarray(log_rhos, np.float64))
    rho, c = np.minimum(rho_bar, ratio), lam * np.minimum(c_bar, ratio)
    delta = [
        rho[t] * (rewards[t] + gamma * (not terminated[t]) * next_values[t] - values[t])
        for t in range(n)
    ]
    targets = np.zeros(n)
    for s in range(n):
        total, weight = 0.0, 1.0
        for t in range(s, n):
            total += weight * delta[t]
            if terminated[t] or truncated[t]:
                break
            weight *= gamma * c[t]
        targets[s] = values[s] + total
    advantages = np.zeros(n)
    for s in range(n):
        cut = terminated[s] or truncated[s] or s == n - 1
        following = next_values[s] if cut else lam * targets[s + 1] + (1 - lam) * values[s + 1]
        advantages[s] = rho[s] * (rewards[s] + gamma * (not terminated[s]) * following - values[s])
    return targets, advantages


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("lam", "rho_bar", "c_bar"), [(1.0, 1.0, 1.0), (0.9, 2.0, 0.5), (0.95, math.inf, math.inf)]
)
def test_vtrace_equals_the_papers_equations(seed, lam, rho_bar, c_bar):
    x = inputs(seed)
    want = vtrace_loop(**x, gamma=0.97, lam=lam, rho_bar=rho_bar, c_bar=c_bar)
    fn = lambda **kw: returns.vtrace(**kw, gamma=0.97, lam=lam, rho_bar=rho_bar, c_bar=c_bar)  # noqa: E731
    for got in (fn(**x), jax.jit(fn)(**x)):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
    # vmapped over environments, as training calls it
    batched = [np.stack([v, v[::-1]], axis=1) for v in x.values()]
    positional = lambda *a: fn(**dict(zip(x, a, strict=True)))  # noqa: E731
    targets, _ = jax.vmap(positional, in_axes=1, out_axes=1)(*batched)
    np.testing.assert_allclose(targets[:, 0], want[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("lam", "rho_bar"), [(1.0, 1.0), (0.9, 1.5)])
def test_vtrace_equals_rlax(seed, lam, rho_bar):
    """rlax keeps c̄ = 1 and knows no truncation: compared where the window has none."""
    rlax = pytest.importorskip("rlax")
    x = inputs(seed, truncate=False)
    gamma = 0.99
    ours = returns.vtrace(**x, gamma=gamma, lam=lam, rho_bar=rho_bar, c_bar=1.0)
    theirs = rlax.vtrace_td_error_and_advantage(
        x["values"], x["next_values"], x["rewards"],
        gamma * (1.0 - x["terminated"].astype(np.float32)), np.exp(x["log_rhos"]),
        lambda_=lam, clip_rho_threshold=rho_bar, clip_pg_rho_threshold=rho_bar,
    )  # fmt: skip
    np.testing.assert_allclose(ours[0], theirs.errors + x["values"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[1], theirs.pg_advantage, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_on_policy_vtrace_without_cuts_is_the_discounted_return(seed):
    """ρ̄ = c̄ = ∞, λ = 1, π = μ: v_t = G_t, the reward-to-go bootstrapped at truncations and
    at the window's end, and A_t = G_t − V(s_t); with λ < 1, GAE(λ)."""
    x = inputs(seed)
    x["log_rhos"] = np.zeros(T, np.float32)
    targets, advantages = returns.vtrace(**x, gamma=0.9, lam=1.0, rho_bar=jnp.inf, c_bar=jnp.inf)
    g = returns.discounted_returns(
        x["rewards"], x["terminated"], x["truncated"], x["next_values"], 0.9
    )
    np.testing.assert_allclose(targets, g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, g - x["values"], rtol=1e-5, atol=1e-5)
    # and with λ < 1, GAE(λ)'s advantages and targets
    targets, advantages = returns.vtrace(**x, gamma=0.9, lam=0.8, rho_bar=jnp.inf, c_bar=jnp.inf)
    del x["log_rhos"]
    gae = returns.gae(**x, gamma=0.9, lam=0.8)
    np.testing.assert_allclose(advantages, gae, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, gae + x["values"], rtol=1e-5, atol=1e-5)


def test_vtrace_carries_no_gradient():
    x = inputs(0)

    def total(values, log_rhos):
        targets, advantages = returns.vtrace(
            x["rewards"], values, x["next_values"], x["terminated"], x["truncated"], log_rhos,
            0.99,
        )  # fmt: skip
        return jnp.sum(targets) + jnp.sum(advantages)

    grads = jax.grad(total, argnums=(0, 1))(x["values"], x["log_rhos"])
    assert all(np.all(np.asarray(g) == 0) for g in grads)


@pytest.mark.parametrize("seed", range(3))
def test_gae_with_a_per_step_lambda(seed):
    rng = np.random.default_rng(seed)
    x = inputs(seed)
    del x["log_rhos"]
    lam = rng.uniform(0, 1, T).astype(np.float32)
    gamma = 0.95
    got = returns.gae(**x, gamma=gamma, lam=lam)
    want, following = np.zeros(T), 0.0
    for t in reversed(range(T)):
        delta = (x["rewards"][t] + gamma * (not x["terminated"][t]) * x["next_values"][t]
                 - x["values"][t])  # fmt: skip
        done = x["terminated"][t] or x["truncated"][t]
        following = delta + gamma * lam[t] * (not done) * following
        want[t] = following
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # a constant λ_t is the scalar λ
    same = returns.gae(**x, gamma=gamma, lam=np.full(T, 0.7, np.float32))
    np.testing.assert_allclose(same, returns.gae(**x, gamma=gamma, lam=0.7), rtol=1e-5)


def test_vtrace_trains_on_windows_and_learns_cartpole_a_little():
    config = Config(algo="vtrace", total_timesteps=40_000)
    result = jax.jit(make_train(config))(jax.random.key(0))
    returns_ = np.asarray(result.metrics["episode_return"])
    assert np.isfinite(np.asarray(result.metrics["loss"])).all()
    assert np.nanmean(returns_[-10:]) > 2 * np.nanmean(returns_[:5])


def test_vtrace_settings_are_checked():
    for bad in (0.0, -1.0, "1", True):
        with pytest.raises(ValueError, match=r"setting rho_bar=.*must be a number > 0"):
            Config(algo="vtrace", rho_bar=bad).validate()
    Config(algo="vtrace", rho_bar=math.inf, c_bar=math.inf).validate()
    # windows of whole environments: the minibatches divide the environments
    with pytest.raises(ValueError, match=r"algo='vtrace' \(its estimator recomputes per window"):
        Config(algo="vtrace", num_envs=4, num_minibatches=8).validate()
