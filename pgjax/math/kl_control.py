"""The adaptive KL coefficient β of PPO-Penalty, as state with a pure update.

Seed (PPO1): if KL(θ, θ^k) > KL_max, increase β; if KL(θ, θ^k) < KL_min, decrease β.
Schulman et al. (2017), section 4: with d_targ the target, KL_max = 1.5 d_targ and
KL_min = d_targ / 1.5; β ← 2β above, β ← β/2 below, unchanged in between.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class AdaptiveKL(NamedTuple):
    """β, the weight of the KL penalty.  ``beta``: scalar float array."""

    beta: Array


def init_adaptive_kl(beta: float | Array) -> AdaptiveKL:
    """Start the controller at ``beta`` (> 0)."""
    return AdaptiveKL(beta=jnp.asarray(beta, dtype=jnp.result_type(float)))


def update_adaptive_kl(
    state: AdaptiveKL,
    kl: Array,
    target: float | Array | None,
    *,
    tolerance: float = 1.5,
    factor: float = 2.0,
    bounds: tuple[float, float] = (1e-6, 1e6),
) -> AdaptiveKL:
    """One step of the seed's rule; returns a new state and changes nothing.

    β' = factor·β   if kl > tolerance·target,
    β' = β/factor   if kl < target/tolerance,
    β' = β          otherwise, and always when ``target is None`` (fixed-β mode);
    then β' is kept within ``bounds``. Without a floor, a run whose KL stays below target (a
    small learning rate does that) halves β to exactly 0 after ~150 updates, and 0 never
    doubles back: the controller would stop adapting for good.

    Args:
      state: the current ``AdaptiveKL``.
      kl: scalar, the measured mean KL(π_old‖π) of the update just made.
      target: scalar d_targ, or ``None`` for a fixed β.
      tolerance: KL_max / d_targ = d_targ / KL_min.
      factor: multiplicative step of β.
      bounds: the smallest and largest β.
    """
    if target is None:
        return state
    beta = state.beta
    beta = jnp.where(kl > tolerance * target, beta * factor, beta)
    beta = jnp.where(kl < target / tolerance, beta / factor, beta)
    return AdaptiveKL(beta=jnp.clip(beta, *bounds))
