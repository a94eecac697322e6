"""Probe environments whose values are known in closed form (after Rejax and Andy Jones'
debugging probes), registered with gymnax so that ``Config(env=...)`` can name them."""

import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class ProbeState(environment.EnvState):
    time: int


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 5


class ConstantReward(environment.Environment):
    """Reward 1 every step, a constant observation, never terminated, truncated after
    ``max_steps_in_episode`` steps. The true value is 1/(1 − γ) at every state: the time limit
    is not part of the task, so a critic that bootstraps at truncation learns exactly that."""

    @property
    def default_params(self):
        return ProbeParams()

    def step_env(self, key, state, action, params):
        state = ProbeState(time=state.time + 1)
        return self.get_obs(state), state, jnp.float32(1.0), jnp.bool_(False), {}

    def reset_env(self, key, params):
        state = ProbeState(time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.ones((1,), jnp.float32)

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    @property
    def num_actions(self):
        return 2

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


class OneStepTerminal(ConstantReward):
    """Reward 1, then the episode terminates: the true value is exactly 1, whatever γ."""

    def step_env(self, key, state, action, params):
        state = ProbeState(time=state.time + 1)
        return self.get_obs(state), state, jnp.float32(1.0), jnp.bool_(True), {}


def register() -> None:
    for name, cls in [("ConstantReward-probe", ConstantReward), ("OneStep-probe", OneStepTerminal)]:
        if name not in gymnax.registered_envs:
            gymnax.register(name, cls)


def critic_value(config, result, obs=None):
    """V(obs) under the trained critic of ``result`` (one run)."""
    from pgjax import envs
    from pgjax.static import actor_critic_for

    spec = envs.make_env(config.env).spec
    net = actor_critic_for(config, spec)
    obs = jnp.ones(spec.obs_shape) if obs is None else obs
    return jax.jit(net.value)(result.state.params, obs)


class OldConstantReward:
    """ConstantReward written against gymnax before 1.0, as many published JAX environments
    still are: not a gymnax subclass, and its ``step`` returns five values, ``done`` true at
    the 5-step time limit (nothing tells it from a termination), without resetting."""

    default_params = ProbeParams()

    def reset(self, key, params):
        return jnp.ones((1,), jnp.float32), ProbeState(time=0)

    def step(self, key, state, action, params):
        state = ProbeState(time=state.time + 1)
        done = state.time >= params.max_steps_in_episode
        return jnp.ones((1,), jnp.float32), state, jnp.float32(1.0), done, {}

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


class Countdown(environment.Environment):
    """A gymnax (>= 1.0) environment of the user's own, not registered with gymnax: the
    observation is the step count, action 1 ends the episode (a termination), and
    ``max_steps_in_episode`` = 5 truncates it. Its final observation tells it from a reset."""

    @property
    def default_params(self):
        return ProbeParams()

    def step_env(self, key, state, action, params):
        state = ProbeState(time=state.time + 1)
        return self.get_obs(state), state, jnp.float32(1.0), action == 1, {}

    def reset_env(self, key, params):
        state = ProbeState(time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.full((2,), state.time, jnp.float32)

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 100.0, (2,), jnp.float32)


class OldCountdown(Countdown):
    """Countdown with gymnax-before-1.0's ``step_env``: ``done`` for both ends, the action's
    and the time limit's."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, state, reward, terminated | (state.time >= params.max_steps_in_episode), info
