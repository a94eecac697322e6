"""Critic-free baselines from a group of episodes that start from the same state.

The seed's first tip subtracts a baseline b from R(τ) so that the weights are not all positive;
a learned critic b(s) needs a second network. When k episodes start from one state, the other
episodes of the group estimate E[R | s_0] without one. Each function takes one group's
returns ``[k]`` (whole-episode returns R(τ), or the reward-to-go G_t of the group's members at
the same step of their episodes) and gives their weights ``[k]``; the caller vmaps it over
groups and steps.

    leave_one_out       RLOO:      A_i = R_i − 1/(k−1) Σ_{j≠i} R_j
    group_normalised    GRPO:      A_i = (R_i − mean R) / (std R + ε)
    group_centred       Dr. GRPO:  A_i = R_i − mean R
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


def _group(returns: Array, least: int) -> Array:
    chex.assert_rank(returns, 1)
    if returns.shape[0] < least:
        raise ValueError(f"a group of {returns.shape[0]} returns; these baselines need {least}+")
    return jnp.asarray(returns, jnp.float32)


def leave_one_out(returns: Array) -> Array:
    """REINFORCE Leave-One-Out (Kool, van Hoof and Welling 2019, "Buy 4 REINFORCE samples, get
    a baseline for free!"; Ahmadian et al. 2024): each member's baseline is the mean return of
    the other k − 1 members,

        A_i = R_i − 1/(k−1) Σ_{j≠i} R_j = k/(k−1) (R_i − mean R),

    independent of R_i, so E[A_i ∇log π(τ_i)] is the policy gradient, unbiased.
    ``returns [k]``, k ≥ 2 → ``[k]``, without gradient."""
    r = jax.lax.stop_gradient(_group(returns, 2))
    k = r.shape[0]
    return r - (jnp.sum(r) - r) / (k - 1)


def group_normalised(returns: Array, eps: float | Array = 1e-4) -> Array:
    """GRPO's group-relative advantage (Shao et al. 2024, "DeepSeekMath", section 4.1):

        A_i = (R_i − mean R) / (std R + ε),

    with std the sample standard deviation (k − 1 in its denominator, as TRL's GRPO trainer
    computes it); ε keeps a group of equal returns finite (its A_i are 0). Biased: R_i is in
    its own baseline and the division weights groups by the inverse of their spread (Liu et
    al. 2025). ``returns [k]``, k ≥ 2 → ``[k]``, without gradient."""
    r = jax.lax.stop_gradient(_group(returns, 2))
    mean = jnp.mean(r)
    return (r - mean) / (jnp.std(r, ddof=1) + eps)


def group_centred(returns: Array) -> Array:
    """Dr. GRPO's advantage (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical
    Perspective"): GRPO without the division by the group's standard deviation,

        A_i = R_i − mean R = (k−1)/k · RLOO's A_i,

    so a group is weighted by its returns, not by their spread. (Its other correction, no
    division of an episode's loss by its length, is the caller's: pgjax's losses are means
    over steps, never over episodes first.) ``returns [k]``, k ≥ 1 → ``[k]``, without
    gradient."""
    r = jax.lax.stop_gradient(_group(returns, 1))
    return r - jnp.mean(r)


__all__ = ["group_centred", "group_normalised", "leave_one_out"]
