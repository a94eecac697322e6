"""``Trajectory``: what a rollout collects and what an algorithm's estimator and learner read.
It sits with the algorithms, which consume it; ``pgjax.pipeline.rollout`` fills it."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from pgjax.nets import Memory

Array = jax.Array


class Trajectory(NamedTuple):
    """One rollout; every field has leading axes ``[T, N]``.

    ``obs``: the observation acted on (raw, not normalised). ``action``: the sampled, unclipped
    action. ``log_prob``: log π_old(a|s). ``dist_params``: π_old(·|s)'s distribution
    parameters (logits, or mean and log-std), kept for exact KLs. ``reward``, ``terminated``,
    ``truncated``: as the environment returned them. ``next_obs``: the true next observation,
    the final one where the episode ended (never the reset observation), so ``V(next_obs)``
    is the bootstrap value at a truncation. ``memory``: a recurrent policy's
    ``pgjax.nets.Memory`` (the hidden states at the window's start ``[N, ...]`` and
    ``first [T, N]``), what replays the window; ``None`` for a feed-forward one.
    ``waiting``: bool ``[T, N]``, the steps of grouped environments (``pgjax.envs.groups``)
    whose member was waiting for its group, which belong to no episode; ``None`` where
    the environments are not grouped.
    """

    obs: Array
    action: Array
    log_prob: Array
    dist_params: Any
    reward: Array
    terminated: Array
    truncated: Array
    next_obs: Array
    memory: Memory | None = None
    waiting: Array | None = None
