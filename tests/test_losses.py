"""Surrogate losses: hand-checked values and the gradient facts of the seed's figures."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import distributions as D
from pgjax import kl_control, losses


class TestValues(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_checked(self):
        lp, old, adv = (
            jnp.log(jnp.array([0.5, 0.2])),
            jnp.log(jnp.array([0.25, 0.4])),
            jnp.array([2.0, -1.0]),
        )
        ratio = self.variant(losses.importance_ratio)(lp, old)
        np.testing.assert_allclose(ratio, [2.0, 0.5], rtol=1e-6)
        np.testing.assert_allclose(
            self.variant(losses.policy_gradient_loss)(lp, adv),
            [-2 * np.log(0.5), np.log(0.2)],
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            self.variant(losses.importance_sampled_pg_loss)(ratio, adv), [-4.0, 0.5], rtol=1e-6
        )
        # clip 0.2: min(2·2, 1.2·2) = 2.4; min(0.5·−1, 0.8·−1) = −0.8
        np.testing.assert_allclose(
            self.variant(losses.clipped_surrogate_loss)(ratio, adv, 0.2), [-2.4, 0.8], rtol=1e-6
        )
        np.testing.assert_allclose(
            self.variant(losses.kl_penalty_loss)(ratio, adv, jnp.array([0.1, 0.3]), 2.0),
            [-4.0 + 0.2, 0.5 + 0.6],
            rtol=1e-6,
        )
        np.testing.assert_allclose(self.variant(losses.entropy_bonus)(jnp.array([0.7])), [-0.7])

    @chex.variants(with_jit=True, without_jit=True)
    def test_value_loss_clipping(self):
        v, target, old = jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0]), jnp.array([0.0, 2.5])
        fn = self.variant(losses.value_loss, static_argnames=())
        np.testing.assert_allclose(fn(v, target), [0.5, 4.5])
        # clip 0.2: V_clip = [0.2, 2.7]; max((1)², 0.2²) = 1; max(9, 2.7²) = 9
        np.testing.assert_allclose(fn(v, target, old, 0.2), [0.5, 4.5], rtol=1e-6)
        # the clipped branch wins when V moved towards the target past the clip range
        np.testing.assert_allclose(
            fn(jnp.array([0.0]), jnp.array([0.0]), jnp.array([1.0]), 0.2), [0.5 * 0.8**2], rtol=1e-6
        )

    def test_value_clip_needs_old_values(self):
        with pytest.raises(ValueError, match="old_values"):
            losses.value_loss(jnp.zeros(2), jnp.zeros(2), clip=0.2)


def test_weights_and_advantages_carry_no_gradient():
    g = jax.grad(lambda w: losses.policy_gradient_loss(jnp.array(-1.0), w))(2.0)
    assert g == 0.0
    g = jax.grad(lambda a: losses.clipped_surrogate_loss(1.1, a, 0.2))(1.0)
    assert g == 0.0


@pytest.mark.parametrize("adv", [1.5, -1.5])
def test_clip_gradient_matches_the_seeds_figures(adv):
    eps = 0.2
    grad = jax.vmap(jax.grad(lambda r: losses.clipped_surrogate_loss(r, adv, eps)))
    ratios = jnp.array([0.5, 0.79, 0.9, 1.0, 1.1, 1.19, 1.21, 1.5, 2.0])
    g = np.asarray(grad(ratios))
    unclipped = np.asarray(
        jax.vmap(jax.grad(lambda r: losses.importance_sampled_pg_loss(r, adv)))(ratios)
    )
    inside = (ratios > 1 - eps) & (ratios < 1 + eps)
    np.testing.assert_allclose(g[inside], unclipped[inside])
    np.testing.assert_allclose(g[inside], -adv)
    # outside in the direction A pushes: no gradient; in the other direction: unclipped
    pushed_out = ratios >= 1 + eps if adv > 0 else ratios <= 1 - eps
    np.testing.assert_array_equal(g[pushed_out], 0.0)
    other = ~inside & ~pushed_out
    np.testing.assert_allclose(g[other], -adv)


def test_approx_kl_nonnegative_and_exact_in_expectation():
    k = jax.random.split(jax.random.key(0), 2)
    old_logits, new_logits = jax.random.normal(k[0], (4,)), jax.random.normal(k[1], (4,))
    old_lp, new_lp = jax.nn.log_softmax(old_logits), jax.nn.log_softmax(new_logits)
    k3 = losses.approx_kl(new_lp, old_lp)
    assert np.all(k3 >= 0)
    # E_{a~π_old}[(r − 1) − log r] = KL(π_old‖π) exactly, by enumeration over the 4 actions
    np.testing.assert_allclose(
        jnp.sum(jnp.exp(old_lp) * k3), D.categorical_kl(old_logits, new_logits), rtol=1e-5
    )


def test_penalty_gradient_pulls_back_towards_old_policy():
    old = jnp.array([0.0, 0.0])

    def loss(logits, beta):
        lp = jax.nn.log_softmax(logits)
        ratio = jnp.exp(lp[0] - jax.nn.log_softmax(old)[0])
        return losses.kl_penalty_loss(ratio, 0.0, D.categorical_kl(old, logits), beta)

    g = jax.grad(loss)(jnp.array([1.0, -1.0]), 1.0)
    assert g[0] > 0 > g[1]  # descending the loss moves logits back towards equal


class TestAdaptiveKL(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_the_seeds_rule(self):
        update = self.variant(kl_control.update_adaptive_kl)
        s = kl_control.init_adaptive_kl(1.0)
        target = 0.01
        table = [
            (0.02, 2.0),
            (0.0151, 2.0),
            (0.0149, 1.0),
            (0.01, 1.0),
            (0.0067, 1.0),
            (0.0066, 0.5),
            (0.0, 0.5),
        ]
        for kl, want in table:
            np.testing.assert_allclose(update(s, jnp.float32(kl), target).beta, want)

    def test_fixed_mode_and_sequences(self):
        s = kl_control.init_adaptive_kl(0.5)
        assert kl_control.update_adaptive_kl(s, 100.0, None).beta == 0.5
        for _ in range(3):
            s = kl_control.update_adaptive_kl(s, 1.0, 0.01)
        np.testing.assert_allclose(s.beta, 4.0)

    def test_beta_keeps_a_floor_and_recovers(self):
        s = kl_control.init_adaptive_kl(1.0)
        for _ in range(200):  # KL far below target for a long time
            s = kl_control.update_adaptive_kl(s, 0.0, 0.01)
        np.testing.assert_allclose(s.beta, 1e-6)
        s = kl_control.update_adaptive_kl(s, 1.0, 0.01)
        np.testing.assert_allclose(s.beta, 2e-6)

    def test_vmapped_over_targets(self):
        s = kl_control.AdaptiveKL(beta=jnp.ones(3))
        out = jax.vmap(kl_control.update_adaptive_kl)(
            s, jnp.full(3, 0.01), jnp.array([0.001, 0.01, 0.1])
        )
        np.testing.assert_allclose(out.beta, [2.0, 1.0, 0.5])
