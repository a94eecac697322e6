"""Tasks that need memory: what the policy sees now does not say what to do.

``Cue-v0``: the first observation shows a cue, ±1; then ``delay`` steps show nothing; at the
last step a query flag asks for the action that matches the cue (reward +1, else −1; 0 at
every other step). An episode is ``delay + 1`` steps and ends by termination. A policy without
memory can only guess: expected return 0; with memory, 1. Observation ``[cue, query]``.

``MaskedCartPole-v1``: gymnax's CartPole with the velocities hidden: the observation is the
cart's position and the pole's angle ``[x, θ]``. Balancing needs the velocities, which a
policy with memory can infer from successive observations.

Both are registered by name when ``pgjax.envs`` is imported; options replace their params
(``Cue-v0:delay=16``, ``MaskedCartPole-v1:max_steps_in_episode=200``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control.cartpole import CartPole

Array = jax.Array


@struct.dataclass
class CueState:
    cue: Array  # int32, 0 or 1: the action that will be rewarded
    time: Array  # int32, steps taken in the episode


@struct.dataclass
class CueParams:
    delay: int = 8
    """Steps between the cue and the query (the memory needed)."""


class Cue(environment.Environment):
    """The cue-then-query task (see the module's docstring)."""

    @property
    def default_params(self) -> CueParams:
        return CueParams()

    def step_env(self, key: Array, state: CueState, action: Any, params: CueParams):
        asked = state.time == params.delay
        right = jnp.where(action == state.cue, 1.0, -1.0)
        reward = jnp.where(asked, right, 0.0)
        state = CueState(state.cue, state.time + 1)
        return self.get_obs(state, params), state, reward, asked, {}

    def reset_env(self, key: Array, params: CueParams):
        state = CueState(jax.random.bernoulli(key).astype(jnp.int32), jnp.zeros((), jnp.int32))
        return self.get_obs(state, params), state

    def get_obs(self, state: CueState, params: CueParams | None = None, key=None) -> Array:
        params = self.default_params if params is None else params
        cue = jnp.where(state.time == 0, 2.0 * state.cue - 1.0, 0.0)
        query = (state.time == params.delay).astype(jnp.float32)
        return jnp.stack([cue, query])

    def is_truncated(self, state: CueState, params: CueParams) -> Array:
        return jnp.zeros((), bool)  # every episode ends by its query

    @property
    def name(self) -> str:
        return "Cue-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: CueParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: CueParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)


class MaskedCartPole(CartPole):
    """gymnax's CartPole observing ``[x, θ]`` only (velocities hidden)."""

    def get_obs(self, state: Any, params: Any = None, key=None) -> Array:
        return jnp.array([state.x, state.theta])

    @property
    def name(self) -> str:
        return "MaskedCartPole-v1"

    def observation_space(self, params: Any) -> spaces.Box:
        full = super().observation_space(params)
        return spaces.Box(full.low[::2], full.high[::2], (2,), jnp.float32)


NAMES = {"Cue-v0": Cue, "MaskedCartPole-v1": MaskedCartPole}
"""The memory tasks, by the name ``Config.env`` takes."""
