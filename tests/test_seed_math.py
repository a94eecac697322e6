"""The seed's claims, checked exactly by enumeration on a tiny MDP.

Two states, two actions, horizon 3, a tabular softmax policy π_θ(a|s) = softmax(θ[s])[a].
Every trajectory τ = (s0, a0, s1, a1, s2, a2) is enumerated, so expectations are exact sums
Σ_τ p_θ(τ)·(…) and ∇E[R(τ)] comes from autodiff of the exact expectation.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from pgjax import losses, returns

H = 3
RHO = jnp.array([0.7, 0.3])  # p(s0)
P = jnp.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.1, 0.9]]])  # P[s, a, s']
REWARD = jnp.array([[1.0, 0.2], [0.5, 3.0]])  # r(s, a) > 0, as in the seed's games
THETA = jnp.array([[0.3, -0.2], [-0.5, 0.4]])
TRAJS = jnp.array(list(itertools.product([0, 1], repeat=2 * H)))  # [64, 6]: s0 a0 s1 a1 s2 a2
S, A = TRAJS[:, 0::2], TRAJS[:, 1::2]  # [64, H]


def log_pi(theta, s, a):
    return jax.nn.log_softmax(theta[s])[a]


def traj_prob(theta):
    """p_θ(τ) = p(s0) Π_t π_θ(a_t|s_t) Π_t p(s_{t+1}|s_t, a_t).  → [64]."""
    pi = jnp.exp(jax.vmap(jax.vmap(log_pi, (None, 0, 0)), (None, 0, 0))(theta, S, A)).prod(1)
    trans = P[S[:, :-1], A[:, :-1], S[:, 1:]].prod(1)
    return RHO[S[:, 0]] * pi * trans


R_STEP = REWARD[S, A]  # [64, H]
R_TAU = R_STEP.sum(1)  # [64]


def expected_return(theta):
    return jnp.sum(traj_prob(theta) * R_TAU)


def estimator(weights):
    """g(τ) = Σ_t w_t(τ) ∇log π_θ(a_t|s_t), through the seed's weighted classification loss."""

    def one(s, a, w):
        def loss(theta):
            log_probs = jax.vmap(log_pi, (None, 0, 0))(theta, s, a)
            return jnp.sum(losses.policy_gradient_loss(log_probs, w))

        return -jax.grad(loss)(THETA)

    return jax.vmap(one)(S, A, weights)  # [64, 2, 2]


def mean_and_variance(g):
    p = traj_prob(THETA)
    mean = jnp.einsum("n,nij->ij", p, g)
    var = jnp.einsum("n,n->", p, jnp.sum((g - mean) ** 2, axis=(1, 2)))
    return mean, var


TRUE_GRAD = jax.grad(expected_return)(THETA)
TERMINAL = jnp.zeros(H, bool).at[-1].set(True)


def test_probabilities_sum_to_one():
    np.testing.assert_allclose(traj_prob(THETA).sum(), 1.0, rtol=1e-6)


def test_log_derivative_trick_with_whole_episode_return():
    mean, _ = mean_and_variance(estimator(jnp.broadcast_to(R_TAU[:, None], (64, H))))
    np.testing.assert_allclose(mean, TRUE_GRAD, rtol=1e-5, atol=1e-6)


def test_episode_returns_gives_r_tau():
    ret, complete = jax.vmap(returns.episode_returns, (0, None, None))(
        R_STEP, TERMINAL, jnp.zeros(H, bool)
    )
    np.testing.assert_allclose(ret, jnp.broadcast_to(R_TAU[:, None], (64, H)), rtol=1e-6)
    assert bool(complete.all())


def reward_to_go():
    return jax.vmap(returns.discounted_returns, (0, None, None, None, None))(
        R_STEP, TERMINAL, jnp.zeros(H, bool), jnp.zeros(H), 1.0
    )


def test_reward_to_go_is_unbiased_with_lower_variance():
    mean, var = mean_and_variance(estimator(reward_to_go()))
    np.testing.assert_allclose(mean, TRUE_GRAD, rtol=1e-5, atol=1e-6)
    _, var_episode = mean_and_variance(estimator(jnp.broadcast_to(R_TAU[:, None], (64, H))))
    assert var < var_episode


def test_constant_baseline_is_unbiased_and_lowers_variance():
    b = expected_return(THETA)  # the seed's b ≈ E[R(τ)]
    whole = jnp.broadcast_to(R_TAU[:, None], (64, H))
    mean_b, var_b = mean_and_variance(estimator(whole - b))
    _, var = mean_and_variance(estimator(whole))
    np.testing.assert_allclose(mean_b, TRUE_GRAD, rtol=1e-5, atol=1e-5)
    # every reward is positive, so without a baseline every sampled action is pushed up
    assert var_b < 0.5 * var
    # any constant keeps the estimator unbiased, even a bad one
    mean_bad, var_bad = mean_and_variance(estimator(whole + 10.0))
    np.testing.assert_allclose(mean_bad, TRUE_GRAD, rtol=1e-4, atol=1e-4)
    assert var_bad > var


def test_discounted_reward_to_go_weights_later_rewards_less():
    g = jax.vmap(returns.discounted_returns, (0, None, None, None, None))(
        R_STEP, TERMINAL, jnp.zeros(H, bool), jnp.zeros(H), 0.5
    )
    np.testing.assert_allclose(
        g[:, 0], R_STEP[:, 0] + 0.5 * R_STEP[:, 1] + 0.25 * R_STEP[:, 2], rtol=1e-6
    )


# ---- importance sampling --------------------------------------------------------------------

F = jnp.array([-3.0, -3.0, -3.0, 1.0, 1.0])
P_DIST = jnp.array([0.35, 0.3, 0.3, 0.04, 0.01])  # the seed's p: mass where f < 0
FAR = jnp.array([0.01, 0.01, 0.01, 0.17, 0.8])  # the seed's q: mass where f > 0


def is_weights(q):
    return losses.importance_ratio(jnp.log(P_DIST), jnp.log(q))


def test_importance_sampling_is_exact_in_expectation():
    for alpha in [0.0, 0.3, 0.9]:
        q = (1 - alpha) * P_DIST + alpha * FAR
        np.testing.assert_allclose(jnp.sum(q * F * is_weights(q)), jnp.sum(P_DIST * F), rtol=1e-5)


def test_importance_sampling_variance_grows_as_p_and_q_part():
    alphas = np.linspace(0.0, 0.99, 12)
    variances = []
    for alpha in alphas:
        q = (1 - alpha) * P_DIST + alpha * FAR
        x = F * is_weights(q)
        variances.append(float(jnp.sum(q * x**2) - jnp.sum(q * x) ** 2))
    assert np.all(np.diff(variances) > 0)
    assert variances[-1] > 50 * variances[0]


def test_few_samples_from_a_distant_q_give_the_wrong_sign():
    q = 0.01 * P_DIST + 0.99 * FAR
    assert jnp.sum(P_DIST * F) < 0
    # one sample from q lands where f > 0 (a positive estimate) with probability ≈ 0.97
    assert jnp.sum(q * (F * is_weights(q) > 0)) > 0.95
