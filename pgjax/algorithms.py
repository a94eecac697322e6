"""The registry: each algorithm of the seed named as data — its policy surrogate, where its
weights come from (its estimator), how it learns from a batch (its learner), its default sizes
and the state it carries between updates. The stages are shared (``rollout.collect``,
``estimators.estimate``, ``learners.learn``); a new variant is a new entry here, never a copied
pipeline, and a new surrogate touches ``losses.py`` and this file only.

| algo          | weights (estimator)   | batch use              | learner       | seed            |
| ------------- | --------------------- | ---------------------- | ------------- | --------------- |
| reinforce     | R(τ) or reward-to-go  | once, full batch       | policy step¹  | REINFORCE, tips |
| a2c           | GAE(λ) advantage      | once, full batch       | joint         | actor-critic    |
| is_pg         | GAE, ratio p_θ/p_θ'   | epochs × minibatches   | joint         | importance samp.|
| ppo_penalty   | GAE, ratio, − β KL    | epochs × minibatches   | joint         | PPO1, adaptive β|
| ppo_clip      | GAE, clipped ratio    | epochs × minibatches   | joint         | PPO2            |
| trpo          | GAE, ratio, KL ≤ δ    | once (policy)          | natural grad. | TRPO            |

¹ one full-batch gradient step on the policy alone, with its own Adam state; the critic (the
baseline b(s)) is regressed on the returns apart, by epochs × minibatches of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax import kl_control, losses
from pgjax.hparams import HParams

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


class MeanBaseline(NamedTuple):
    """REINFORCE's running mean of the returns, the seed's tip 1 baseline b ≈ E[R] (scalar)."""

    mean_return: Array


def update_mean_baseline(state: MeanBaseline, batch_mean: Array, valid: Array, first: Array):
    """b ← batch mean at the first update, else b ← 0.9 b + 0.1 · batch mean; unchanged when
    the batch had no valid weight (``valid == 0``). All scalars; returns a new state."""
    mean = jnp.where(first, batch_mean, 0.9 * state.mean_return + 0.1 * batch_mean)
    return MeanBaseline(jnp.where(valid > 0, mean, state.mean_return))


class AlgoState(NamedTuple):
    """How an algorithm's own state is born and moves (the style of optax's transforms).

    ``init(hparams) → state``: the state at the start of a run (``()`` for none).
    ``after_update(state, kl, kl_target) → state``: after each update, from the measured mean
    KL(π_old‖π_new) of that update and ``Config.kl_target``.
    ``beta(state, hparams) → scalar``: the KL penalty's weight the surrogate reads.
    """

    init: Callable[[HParams], Any]
    after_update: Callable[[Any, Array, float | None], Any]
    beta: Callable[[Any, HParams], Array]


def _fixed_beta(state: Any, hp: HParams) -> Array:
    return kl_control.init_adaptive_kl(hp.kl_beta).beta


STATELESS = AlgoState(lambda hp: (), lambda state, kl, target: state, _fixed_beta)
MEAN_BASELINE = AlgoState(
    lambda hp: MeanBaseline(jnp.zeros(())), lambda state, kl, target: state, _fixed_beta
)
"""REINFORCE's: the estimator moves it (``update_mean_baseline``), before the update."""
ADAPTIVE_BETA = AlgoState(
    lambda hp: kl_control.init_adaptive_kl(hp.kl_beta),
    kl_control.update_adaptive_kl,
    lambda state, hp: state.beta,
)
"""PPO-Penalty's β, adapted after each update by the seed's rule (``kl_control``)."""


class Algorithm(NamedTuple):
    """An entry of the registry.

    ``policy_loss(terms, hparams) → [B]``: the per-element surrogate to minimise.
    ``estimator``: ``"gae"`` (GAE(γ, λ) with a critic) or ``"monte_carlo"`` (REINFORCE's
    R(τ) or reward-to-go, chosen by ``Config.return_type``, minus ``Config.baseline``); see
    ``pgjax.estimators``.
    ``learner``: ``"joint"`` (optax on the joint policy + critic loss); ``"policy_gradient"``
    (one full-batch optax step on the policy's loss alone, with its own optimiser state, the
    critic fit apart by ``num_epochs`` × ``num_minibatches`` steps); or
    ``"natural_gradient"`` (TRPO's step within KL ≤ δ; the critic fit apart likewise); see
    ``pgjax.learners``.
    ``reuse``: several epochs of minibatches per batch; else one full-batch step.
    ``uses_kl``: the surrogate reads ``PolicyTerms.kl`` (else it is left at 0, not computed).
    ``defaults``: the ``Config`` fields this algorithm sets when the user leaves them unset.
    ``state``: what it carries between updates (``AlgoState``).
    """

    name: str
    policy_loss: Callable[[PolicyTerms, HParams], Array]
    estimator: str = "gae"
    learner: str = "joint"
    reuse: bool = True
    uses_kl: bool = False
    defaults: Mapping[str, Any] = MappingProxyType({})
    state: AlgoState = STATELESS


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


# Default sizes: PPO's are PureJaxRL's published CartPole settings; the others learn
# CartPole-v1 (see benchmarks/family.py).
def _sizes(num_envs, num_steps, num_epochs, num_minibatches, **rest) -> Mapping[str, Any]:
    sizes = dict(num_envs=num_envs, num_steps=num_steps, num_epochs=num_epochs)
    return MappingProxyType(dict(sizes, num_minibatches=num_minibatches, **rest))


PPO_DEFAULTS = _sizes(4, 128, 4, 4, lr=2.5e-4, vf_clip=True)

REGISTRY: dict[str, Algorithm] = {
    "reinforce": Algorithm(
        "reinforce",
        _log_prob_weighted,
        "monte_carlo",
        "policy_gradient",
        reuse=False,
        # its epochs and minibatches fit the critic; the policy takes one step per batch
        defaults=_sizes(8, 500, 4, 4, lr=2.5e-3, vf_clip=False),
        state=MEAN_BASELINE,
    ),
    "a2c": Algorithm(
        "a2c",
        _log_prob_weighted,
        reuse=False,
        defaults=_sizes(16, 32, 1, 1, lr=2.5e-3, vf_clip=True),
    ),
    "is_pg": Algorithm(
        "is_pg", _importance_sampled, defaults=_sizes(4, 128, 4, 4, lr=1e-4, vf_clip=True)
    ),
    "ppo_penalty": Algorithm(
        "ppo_penalty", _kl_penalised, uses_kl=True, defaults=PPO_DEFAULTS, state=ADAPTIVE_BETA
    ),
    "ppo_clip": Algorithm("ppo_clip", _clipped, defaults=PPO_DEFAULTS),
    "trpo": Algorithm(
        "trpo",
        _importance_sampled,
        learner="natural_gradient",
        reuse=False,
        defaults=_sizes(8, 128, 5, 4, lr=1e-3, vf_clip=True),
    ),
}
