"""Per-element surrogate losses of the policy-gradient family.

Each function maps arrays of one shape ``[...]`` to a loss of the same shape, to be
*minimised*; the caller reduces (``jnp.mean``) in one place. Weights and advantages are
treated as constants (``stop_gradient``) where the estimator says so.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class PolicyTerms(NamedTuple):
    """Per-element inputs to a policy surrogate, all of one minibatch shape ``[B]`` (the
    surrogate's signature is ``policy_loss(terms, hparams) -> [B]``, ``pgjax.algorithms``).

    ``log_prob``: log π_θ(a|s) under the parameters being learned. ``old_log_prob``: under the
    policy that collected the data. ``advantages``: the weights (advantages, returns).
    ``kl``: exact KL(π_old(·|s)‖π_θ(·|s)) per state (0 unless the algorithm ``uses_kl``).
    A surrogate's own settings are in ``hparams.settings`` (PPO-Penalty's β:
    ``hparams.settings["kl_beta"]``).
    """

    log_prob: Array
    old_log_prob: Array
    advantages: Array
    kl: Array


def policy_gradient_loss(log_prob: Array, weights: Array) -> Array:
    """The seed's weighted classification loss: L = −w · log π_θ(a|s).

    Its gradient −w ∇log π_θ(a|s) is (minus) one term of the policy-gradient estimator
    ∇R̄ ≈ 1/N Σ_n Σ_t w_t^n ∇log p_θ(a_t^n|s_t^n), with w = R(τ), a reward-to-go, or an
    advantage. ``weights`` carry no gradient.  Shapes: ``[...]`` → ``[...]``.
    """
    return -log_prob * jax.lax.stop_gradient(weights)


def importance_ratio(log_prob: Array, old_log_prob: Array) -> Array:
    """r = p_θ(a|s) / p_θ'(a|s) = exp(log p_θ − log p_θ').  Shapes: ``[...]`` → ``[...]``."""
    return jnp.exp(log_prob - old_log_prob)


def importance_sampled_pg_loss(ratio: Array, advantages: Array) -> Array:
    """The seed's off-policy objective J^{θ'}(θ) = E_{θ'}[(p_θ/p_θ') A^{θ'}], as a loss.

    L = −r · A.  At r = 1 its gradient equals that of ``policy_gradient_loss(log_prob, A)``.
    Shapes: ``[...]`` → ``[...]``.
    """
    return -ratio * jax.lax.stop_gradient(advantages)


def clipped_surrogate_loss(ratio: Array, advantages: Array, epsilon: float | Array) -> Array:
    """PPO-Clip (seed: PPO2; Schulman et al. 2017, eq. 7).

    L = −min( r A, clip(r, 1 − ε, 1 + ε) A ).

    With A > 0 the gradient vanishes once r > 1 + ε; with A < 0 once r < 1 − ε.
    Shapes: ``[...]`` → ``[...]``.
    """
    adv = jax.lax.stop_gradient(advantages)
    clipped = jnp.clip(ratio, 1.0 - epsilon, 1.0 + epsilon)
    return -jnp.minimum(ratio * adv, clipped * adv)


def kl_penalty_loss(ratio: Array, advantages: Array, kl: Array, beta: float | Array) -> Array:
    """PPO-Penalty (seed: PPO1; Schulman et al. 2017, eq. 8): L = −r A + β KL(θ', θ).

    ``kl`` is the per-state KL between the old and the new action distribution (the seed's
    behaviour distance). β is a constant here (adapted outside by ``kl_control``).
    Shapes: ``[...]`` → ``[...]``.
    """
    return -ratio * jax.lax.stop_gradient(advantages) + jax.lax.stop_gradient(beta) * kl


def approx_kl(log_prob: Array, old_log_prob: Array) -> Array:
    """Per-sample estimate of KL(π_old‖π) from actions drawn by π_old.

    k3 = (r − 1) − log r,  r = π(a|s)/π_old(a|s).  Unbiased and ≥ 0 (since log r ≤ r − 1).
    Shapes: ``[...]`` → ``[...]``.
    """
    log_ratio = log_prob - old_log_prob
    return jnp.expm1(log_ratio) - log_ratio


def value_loss(
    values: Array,
    targets: Array,
    old_values: Array | None = None,
    clip: float | Array | None = None,
) -> Array:
    """Critic regression L = ½ (V(s) − target)², optionally clipped as in PPO's code.

    With ``clip`` and ``old_values``: V_clip = V_old + clip(V − V_old, −c, c) and
    L = ½ max((V − target)², (V_clip − target)²).  ``targets`` carry no gradient.
    Shapes: ``[...]`` → ``[...]``.
    """
    targets = jax.lax.stop_gradient(targets)
    loss = (values - targets) ** 2
    if clip is not None:
        if old_values is None:
            raise ValueError("value_loss: clip was given without old_values; pass both or neither")
        clipped = old_values + jnp.clip(values - old_values, -clip, clip)
        loss = jnp.maximum(loss, (clipped - targets) ** 2)
    return 0.5 * loss


def entropy_bonus(entropy: Array) -> Array:
    """The entropy bonus as a loss term: L = −H(π(·|s)).

    Adding ``ent_coef · L`` to the loss rewards exploration.  Shapes: ``[...]`` → ``[...]``.
    """
    return -entropy
