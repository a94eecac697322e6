"""The registry: each algorithm of the seed named as data — its policy surrogate, where its
advantages come from, whether it reuses a batch, and how its policy steps. The pipeline in
``train.py`` is shared; a new variant is a new entry here, never a copied pipeline.

| algo          | weights               | batch use              | policy step  | seed            |
| ------------- | --------------------- | ---------------------- | ------------ | --------------- |
| reinforce     | R(τ) or reward-to-go  | once, full batch       | gradient¹    | REINFORCE, tips |
| a2c           | GAE(λ) advantage      | once, full batch       | gradient     | actor-critic    |
| is_pg         | GAE, ratio p_θ/p_θ'   | epochs × minibatches   | gradient     | importance samp.|
| ppo_penalty   | GAE, ratio, − β KL    | epochs × minibatches   | gradient     | PPO1, adaptive β|
| ppo_clip      | GAE, clipped ratio    | epochs × minibatches   | gradient     | PPO2            |
| trpo          | GAE, ratio, KL ≤ δ    | once (policy)          | natural grad.| TRPO            |

¹ one full-batch gradient step on the policy alone, with its own Adam state; the critic (the
baseline b(s)) is regressed on the returns apart, by epochs × minibatches of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax

from pgjax import losses
from pgjax.config import HParams

Array = jax.Array


class PolicyTerms(NamedTuple):
    """Per-element inputs to a policy surrogate, all of one minibatch shape ``[B]``.

    ``log_prob``: log π_θ(a|s) under the parameters being learned. ``old_log_prob``: under the
    policy that collected the data. ``advantages``: the weights (advantages, returns).
    ``kl``: exact KL(π_old(·|s)‖π_θ(·|s)) per state. ``beta``: PPO-Penalty's β (scalar).
    """

    log_prob: Array
    old_log_prob: Array
    advantages: Array
    kl: Array
    beta: Array


class Algorithm(NamedTuple):
    """An entry of the registry.

    ``policy_loss(terms, hparams) → [B]``: the per-element surrogate to minimise.
    ``advantages``: ``"gae"`` (GAE(γ, λ) with a critic) or ``"monte_carlo"`` (REINFORCE's
    R(τ) or reward-to-go, chosen by ``Config.return_type``, minus ``Config.baseline``).
    ``reuse``: several epochs of minibatches per batch; else one full-batch step.
    ``policy_step``: ``"sgd"`` (optax on the joint policy + critic loss); ``"gradient"`` (one
    full-batch optax step on the policy's loss alone, with its own optimiser state, the critic
    fit apart by ``num_epochs`` × ``num_minibatches`` steps); or ``"trpo"`` (natural gradient
    within KL ≤ δ; the critic fit apart likewise).
    ``adapts_beta``: β follows the seed's rule after each update (when ``kl_target`` is set).
    ``uses_kl``: the surrogate reads ``PolicyTerms.kl`` (else it is left at 0, not computed).
    """

    name: str
    policy_loss: Callable[[PolicyTerms, HParams], Array]
    advantages: str = "gae"
    reuse: bool = True
    policy_step: str = "sgd"
    adapts_beta: bool = False
    uses_kl: bool = False


def _log_prob_weighted(t: PolicyTerms, hp: HParams) -> Array:
    return losses.policy_gradient_loss(t.log_prob, t.advantages)


def _importance_sampled(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.importance_sampled_pg_loss(ratio, t.advantages)


def _kl_penalised(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.kl_penalty_loss(ratio, t.advantages, t.kl, t.beta)


def _clipped(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.clipped_surrogate_loss(ratio, t.advantages, hp.clip_eps)


REGISTRY: dict[str, Algorithm] = {
    "reinforce": Algorithm(
        "reinforce", _log_prob_weighted, "monte_carlo", reuse=False, policy_step="gradient"
    ),
    "a2c": Algorithm("a2c", _log_prob_weighted, reuse=False),
    "is_pg": Algorithm("is_pg", _importance_sampled),
    "ppo_penalty": Algorithm("ppo_penalty", _kl_penalised, adapts_beta=True, uses_kl=True),
    "ppo_clip": Algorithm("ppo_clip", _clipped),
    "trpo": Algorithm("trpo", _importance_sampled, reuse=False, policy_step="trpo"),
}
