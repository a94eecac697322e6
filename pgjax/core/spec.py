"""What a network and the pipeline know of an environment: ``EnvSpec`` (its spaces),
``MASK`` (the name of a legal-action mask) and ``example_obs`` (observations to initialise a
network on). Kept apart from ``pgjax.envs`` so that the networks' layer needs no suite."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp


class EnvSpec(NamedTuple):
    """What the pipeline needs to know of an environment's spaces.

    ``obs_shape``: one observation's shape. ``discrete``: a ``Discrete`` action space.
    ``num_actions``: K for discrete, else the action dimension A. ``low``/``high``: action
    bounds ``[A]`` (continuous only, else ``None``). ``action_shape``: the space's own shape.
    ``time_limit``: the steps after which an episode is truncated (``None``: unknown).
    ``episode_info``: the names of ``TimeStep.info``, the statistics each ended episode reports.
    ``obs_spec``: for a structured observation, a dict ``{name: jax.ShapeDtypeStruct}`` of one
    observation's leaves (``obs_shape`` is then ``()``); ``None`` for one array. A leaf named
    ``action_mask`` (``MASK``), ``bool [num_actions]``, is the legal actions: masked actions
    have probability 0.
    """

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    low: Any = None
    high: Any = None
    action_shape: tuple[int, ...] = ()
    time_limit: int | None = None
    episode_info: tuple[str, ...] = ()
    obs_spec: Any = None

    @property
    def masked(self) -> bool:
        """Whether the observation carries a legal-action mask (``MASK``)."""
        return self.obs_spec is not None and MASK in self.obs_spec


MASK = "action_mask"
"""The name of a structured observation's legal-action mask, ``bool [num_actions]``."""


def example_obs(spec: EnvSpec, batch_shape: tuple[int, ...] = ()) -> Any:
    """Zeros shaped as observations of ``spec`` with leading axes ``batch_shape`` (an array of
    float32, or a dict of its leaves; a mask all true): what networks are initialised on."""
    if spec.obs_spec is None:
        return jnp.zeros((*batch_shape, *spec.obs_shape), jnp.float32)
    return {
        k: (jnp.ones if k == MASK else jnp.zeros)((*batch_shape, *v.shape), v.dtype)
        for k, v in spec.obs_spec.items()
    }
