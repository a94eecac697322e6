"""Returns, GAE and episode returns against numpy loop references and closed properties."""

import chex
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

from pgjax import returns
from tests import reference


def random_window(seed, T=40, p_term=0.08, p_trunc=0.05):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=T).astype(np.float32)
    term = rng.random(T) < p_term
    trunc = (rng.random(T) < p_trunc) & ~term
    v = rng.normal(size=T).astype(np.float32)
    # next_values[t] is V(s_{t+1}) inside an episode, V(final obs) at a cut
    next_v = np.append(v[1:], rng.normal()).astype(np.float32)
    cut = term | trunc
    next_v[cut] = rng.normal(size=cut.sum())
    return r, term, trunc, v, next_v


class TestAgainstLoops(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_discounted_returns(self):
        fn = self.variant(returns.discounted_returns)
        for seed in range(5):
            r, term, trunc, _, nv = random_window(seed)
            got = fn(r, term, trunc, nv, 0.97)
            np.testing.assert_allclose(
                got, reference.discounted_returns(r, term, trunc, nv, 0.97), rtol=1e-5, atol=1e-5
            )

    @chex.variants(with_jit=True, without_jit=True)
    def test_gae(self):
        fn = self.variant(returns.gae)
        for seed in range(5):
            r, term, trunc, v, nv = random_window(seed)
            got = fn(r, v, nv, term, trunc, 0.99, 0.9)
            want = reference.gae(r, v, nv, term, trunc, 0.99, 0.9)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_episode_returns(self):
        fn = self.variant(returns.episode_returns)
        for seed in range(5):
            r, term, trunc, _, _ = random_window(seed)
            ret, complete = fn(r, term, trunc)
            want_ret, want_complete = reference.episode_returns(r, term, trunc)
            np.testing.assert_allclose(ret, want_ret, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(complete, want_complete)


def test_vmapped_over_environments_equals_a_loop():
    windows = [random_window(s) for s in range(6)]
    r, term, trunc, v, nv = (np.stack(x, axis=1) for x in zip(*windows, strict=True))  # [T, N]
    batched = jax.vmap(returns.gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)
    got = batched(r, v, nv, term, trunc, 0.99, 0.95)
    for n in range(6):
        want = reference.gae(r[:, n], v[:, n], nv[:, n], term[:, n], trunc[:, n], 0.99, 0.95)
        np.testing.assert_allclose(got[:, n], want, rtol=1e-5, atol=1e-5)
    rets = jax.vmap(returns.discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
        r, term, trunc, nv, 0.9
    )
    for n in range(6):
        want = reference.discounted_returns(r[:, n], term[:, n], trunc[:, n], nv[:, n], 0.9)
        np.testing.assert_allclose(rets[:, n], want, rtol=1e-5, atol=1e-5)


def test_reward_to_go_is_the_seeds_sum_over_the_rest_of_the_episode():
    r = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    term = jnp.array([False, True, False, False, True])
    z = jnp.zeros(5, bool)
    g = returns.discounted_returns(r, term, z, jnp.zeros(5), 1.0)
    np.testing.assert_allclose(g, [3.0, 2.0, 12.0, 9.0, 5.0])


def test_truncation_bootstraps_and_termination_does_not():
    r = jnp.ones(3)
    nv = jnp.array([0.0, 10.0, 7.0])
    only_trunc = returns.discounted_returns(
        r, jnp.zeros(3, bool), jnp.array([False, True, False]), nv, 0.5
    )
    only_term = returns.discounted_returns(
        r, jnp.array([False, True, False]), jnp.zeros(3, bool), nv, 0.5
    )
    # step 1 cut by a time limit: 1 + 0.5 * V(final obs) = 6; window end: 1 + 0.5 * 7 = 4.5
    np.testing.assert_allclose(only_trunc, [1 + 0.5 * 6.0, 6.0, 4.5])
    np.testing.assert_allclose(only_term, [1.5, 1.0, 4.5])


def test_episode_returns_marks_the_running_episode_incomplete():
    r = jnp.array([1.0, 1.0, 1.0, 2.0, 2.0])
    term = jnp.array([False, False, True, False, False])
    ret, complete = returns.episode_returns(r, term, jnp.zeros(5, bool))
    np.testing.assert_allclose(ret, [3.0, 3.0, 3.0, 4.0, 4.0])
    np.testing.assert_array_equal(complete, [True, True, True, False, False])


windows = st.integers(0, 10_000).map(random_window)


@settings(max_examples=30, deadline=None)
@given(windows, st.floats(0.0, 1.0))
def test_gae_lambda_one_is_monte_carlo_advantage(window, gamma):
    r, term, trunc, v, nv = window
    adv = returns.gae(r, v, nv, term, trunc, gamma, 1.0)
    mc = returns.discounted_returns(r, term, trunc, nv, gamma) - v
    np.testing.assert_allclose(adv, mc, rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(windows, st.floats(0.0, 1.0))
def test_gae_lambda_zero_is_td_error(window, gamma):
    r, term, trunc, v, nv = window
    adv = returns.gae(r, v, nv, term, trunc, gamma, 0.0)
    np.testing.assert_allclose(adv, r + gamma * (~term) * nv - v, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(windows)
def test_gamma_zero_gives_the_reward(window):
    r, term, trunc, _, nv = window
    np.testing.assert_allclose(returns.discounted_returns(r, term, trunc, nv, 0.0), r)


@settings(max_examples=30, deadline=None)
@given(windows)
def test_episode_returns_sum_to_the_window_total(window):
    r, term, trunc, _, _ = window
    ret, _ = returns.episode_returns(r, term, trunc)
    # every step carries its episode's total, so Σ_t R_t / len(episode) adds up to Σ r
    done = term | trunc
    episode_id = np.concatenate([[0], np.cumsum(done)[:-1]])
    lengths = np.bincount(episode_id)[episode_id]
    np.testing.assert_allclose(np.sum(np.asarray(ret) / lengths), r.sum(), rtol=1e-4, atol=1e-4)


def test_rank_is_checked():
    with pytest.raises(AssertionError):
        returns.discounted_returns(
            jnp.zeros((3, 2)), jnp.zeros((3, 2)), jnp.zeros((3, 2)), jnp.zeros((3, 2)), 0.9
        )
