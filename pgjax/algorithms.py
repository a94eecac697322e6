"""The registry: each algorithm named as data — its policy surrogate and how often it reuses
a batch. The pipeline in ``train.py`` is shared; a new variant is a new entry here."""

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
    policy that collected the data. ``advantages``: (normalised) advantages. ``kl``: exact
    KL(π_old(·|s)‖π_θ(·|s)) per state.
    """

    log_prob: Array
    old_log_prob: Array
    advantages: Array
    kl: Array


class Algorithm(NamedTuple):
    """An entry of the registry.

    ``policy_loss(terms, hparams) → [B]``: the per-element surrogate to minimise.
    """

    name: str
    policy_loss: Callable[[PolicyTerms, HParams], Array]


def _ppo_clip_loss(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.clipped_surrogate_loss(ratio, t.advantages, hp.clip_eps)


REGISTRY: dict[str, Algorithm] = {
    "ppo_clip": Algorithm("ppo_clip", _ppo_clip_loss),
}
