"""Distributions against closed forms, enumeration and Monte Carlo."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax import distributions as D


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class TestCategorical(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_log_prob_entropy_kl_closed_form(self):
        rng = np.random.default_rng(0)
        lp, lq = rng.normal(size=(2, 5, 4)).astype(np.float32) * 2
        a = rng.integers(0, 4, size=5)
        p, q = np_softmax(lp), np_softmax(lq)
        log_prob = self.variant(D.categorical_log_prob)(lp, a)
        np.testing.assert_allclose(log_prob, np.log(p[np.arange(5), a]), rtol=1e-5)
        ent = self.variant(D.categorical_entropy)(lp)
        np.testing.assert_allclose(ent, -(p * np.log(p)).sum(-1), rtol=1e-5)
        kl = self.variant(D.categorical_kl)(lp, lq)
        np.testing.assert_allclose(kl, (p * np.log(p / q)).sum(-1), rtol=1e-4, atol=1e-6)

    def test_stable_for_extreme_logits(self):
        logits = jnp.array([1000.0, 0.0, -1000.0])
        assert np.isfinite(D.categorical_log_prob(logits, jnp.array(2)))
        np.testing.assert_allclose(D.categorical_entropy(logits), 0.0, atol=1e-6)
        assert np.isfinite(D.categorical_kl(logits, -logits))

    def test_sample_frequencies(self):
        logits = jnp.log(jnp.array([0.1, 0.6, 0.3]))
        a = D.categorical_sample(jax.random.key(0), jnp.broadcast_to(logits, (20000, 3)))
        np.testing.assert_allclose(np.bincount(a, minlength=3) / 20000, [0.1, 0.6, 0.3], atol=0.015)

    def test_kl_is_nonnegative_and_zero_on_itself(self):
        logits = jax.random.normal(jax.random.key(1), (100, 6)) * 3
        other = jax.random.normal(jax.random.key(2), (100, 6)) * 3
        assert np.all(D.categorical_kl(logits, other) >= 0)
        np.testing.assert_allclose(D.categorical_kl(logits, logits), 0.0, atol=1e-6)


class TestGaussian(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_log_prob_and_entropy_closed_form(self):
        mean = jnp.array([[0.5, -1.0], [2.0, 0.0]])
        log_std = jnp.array([0.3, -0.7])
        a = jnp.array([[0.0, 0.0], [1.0, 1.0]])
        s = np.exp(np.asarray(log_std))
        want = (-0.5 * ((a - mean) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))).sum(-1)
        np.testing.assert_allclose(
            self.variant(D.gaussian_log_prob)(mean, log_std, a), want, rtol=1e-5
        )
        want_ent = np.log(s * np.sqrt(2 * np.pi * np.e)).sum()
        np.testing.assert_allclose(
            self.variant(D.gaussian_entropy)(mean, log_std), [want_ent] * 2, rtol=1e-5
        )

    def test_kl_against_monte_carlo(self):
        mp, sp = jnp.array([0.3, -0.2]), jnp.array([0.1, -0.5])
        mq, sq = jnp.array([-0.4, 0.5]), jnp.array([-0.2, 0.2])
        x = D.gaussian_sample(jax.random.key(3), jnp.broadcast_to(mp, (400_000, 2)), sp)
        mc = jnp.mean(D.gaussian_log_prob(mp, sp, x) - D.gaussian_log_prob(mq, sq, x))
        np.testing.assert_allclose(D.gaussian_kl(mp, sp, mq, sq), mc, rtol=0.02)

    def test_kl_nonnegative_zero_on_itself(self):
        k = jax.random.split(jax.random.key(4), 4)
        mp, mq = jax.random.normal(k[0], (50, 3)), jax.random.normal(k[1], (50, 3))
        sp, sq = jax.random.normal(k[2], (3,)), jax.random.normal(k[3], (3,))
        assert np.all(D.gaussian_kl(mp, sp, mq, sq) >= 0)
        np.testing.assert_allclose(D.gaussian_kl(mp, sp, mp, sp), 0.0, atol=1e-6)

    def test_sample_moments(self):
        mean, log_std = jnp.array([1.0, -2.0]), jnp.array([0.0, np.log(0.5)])
        x = D.gaussian_sample(jax.random.key(5), jnp.broadcast_to(mean, (100_000, 2)), log_std)
        np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
        np.testing.assert_allclose(x.std(0), [1.0, 0.5], rtol=0.02)


def test_vmapped_kl_equals_loop():
    lp = jax.random.normal(jax.random.key(6), (8, 3))
    lq = jax.random.normal(jax.random.key(7), (8, 3))
    got = jax.vmap(D.categorical_kl)(lp, lq)
    np.testing.assert_allclose(got, [D.categorical_kl(lp[i], lq[i]) for i in range(8)], rtol=1e-6)


# ---- tanh-squashed Gaussian: against the density of a, found numerically ---------------------

LOW, HIGH = np.array([-2.0, 0.0]), np.array([2.0, 1.0])
TANH = D.tanh_normal(LOW, HIGH)


def test_tanh_normal_density_integrates_to_one_on_the_box():
    # p(a) on a fine grid of each dimension's interval, from log_prob at u = atanh(...):
    # the change of variables is right only if each marginal integrates to 1
    mean, log_std = jnp.array([0.7, -0.4]), jnp.array([0.3, -0.2])
    for i in range(2):
        a = np.linspace(LOW[i], HIGH[i], 200_001)[1:-1]
        u = np.arctanh(2 * (a - LOW[i]) / (HIGH[i] - LOW[i]) - 1)
        one = D.tanh_normal(LOW[i : i + 1], HIGH[i : i + 1])
        p = np.exp(one.log_prob((mean[i : i + 1], log_std[i : i + 1]), jnp.asarray(u)[:, None]))
        assert abs(np.trapezoid(p, a) - 1.0) < 1e-3


def test_tanh_normal_log_prob_is_the_gaussian_minus_the_log_jacobian():
    # d a / d u by autodiff of the squash, against the closed form inside log_prob
    mean, log_std = jnp.array([0.2, 0.5]), jnp.array([0.1, -0.3])
    u = jnp.array([[0.3, -1.2], [4.0, -9.0], [-20.0, 15.0]])
    jac = jax.vmap(jax.vmap(jax.grad(lambda x, lo, hi: D.squash(x, lo, hi))))(
        u, jnp.broadcast_to(LOW, u.shape), jnp.broadcast_to(HIGH, u.shape)
    )
    with np.errstate(divide="ignore"):
        log_jac = np.log(np.asarray(jac, np.float64)).sum(-1)
    expected = D.gaussian_log_prob(mean, log_std, u) - log_jac
    finite = np.isfinite(expected)  # float32 saturates: |u| = 20 gives a Jacobian of 0
    np.testing.assert_allclose(
        TANH.log_prob((mean, log_std), u)[finite], expected[finite], rtol=1e-5
    )
    assert np.isfinite(TANH.log_prob((mean, log_std), u)).all()  # the stable form does not


def test_tanh_normal_kl_is_a_monte_carlo_kl_of_the_squashed_actions():
    p = (jnp.array([0.3, -0.5]), jnp.array([-0.2, 0.1]))
    q = (jnp.array([0.1, 0.4]), jnp.array([0.2, -0.3]))
    u = TANH.sample(jax.random.key(0), (jnp.broadcast_to(p[0], (400_000, 2)), p[1]))
    mc = jnp.mean(TANH.log_prob(p, u) - TANH.log_prob(q, u))
    np.testing.assert_allclose(TANH.kl(p, q), mc, rtol=0.02)


def test_tanh_normal_actions_stay_inside_the_bounds():
    u = jnp.array([[-50.0, 50.0], [0.0, 0.0], [3.0, -3.0]])
    a = TANH.to_env(u)
    assert (a >= LOW).all() and (a <= HIGH).all()
    np.testing.assert_allclose(a[1], (LOW + HIGH) / 2)
    np.testing.assert_array_equal(D.GAUSSIAN.to_env(u), u)  # the Gaussian's are clipped later
