"""Probe environments whose values are known in closed form (after Rejax and Andy Jones'
debugging probes), registered with gymnax so that ``Config(env=...)`` can name them."""

import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control.cartpole import CartPole


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
    from pgjax.pipeline.static import actor_critic_for

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


# ---- structured observations and action masks ------------------------------------------------


class SplitCartPole(CartPole):
    """CartPole whose observation is a dict: ``{"cart": [x, ẋ], "pole": [θ, θ̇]}``; with
    ``one_leaf``, the whole array under one name (``{"state": [x, ẋ, θ, θ̇]}``)."""

    one_leaf = False

    def _split(self, obs):
        return {"state": obs} if self.one_leaf else {"cart": obs[:2], "pole": obs[2:]}

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = super().step_env(key, state, action, params)
        return self._split(obs), state, reward, done, info

    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return self._split(obs), state

    def observation_space(self, params):
        box = super().observation_space(params)
        if self.one_leaf:
            return spaces.Dict({"state": box})
        half = spaces.Box(box.low[:2], box.high[:2], (2,), jnp.float32)
        return spaces.Dict({"cart": half, "pole": spaces.Box(box.low[2:], box.high[2:], (2,))})


class OneLeafCartPole(SplitCartPole):
    one_leaf = True


@struct.dataclass
class PickState(environment.EnvState):
    time: int
    legal: jax.Array


@struct.dataclass
class PickParams(environment.EnvParams):
    max_steps_in_episode: int = 8


class PickLegal(environment.Environment):
    """Four actions, a fresh random set of them legal at every step (never none), shown in the
    observation and given by ``action_mask``. Reward 1 for the highest legal action, 0 for any
    other legal one, and −10 for an illegal one (which a masked policy never takes). Eight
    steps an episode: a return of 8 is the most, a random legal choice makes about 4."""

    @property
    def default_params(self):
        return PickParams()

    def _legal(self, key, time):
        legal = jax.random.bernoulli(key, 0.5, (4,))
        return legal.at[time % 4].set(True)

    def step_env(self, key, state, action, params):
        best = 3 - jnp.argmax(state.legal[::-1])
        reward = jnp.where(state.legal[action], (action == best).astype(jnp.float32), -10.0)
        state = PickState(state.time + 1, self._legal(key, state.time + 1))
        return self.get_obs(state), state, reward, jnp.bool_(False), {}

    def reset_env(self, key, params):
        state = PickState(0, self._legal(key, 0))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return state.legal.astype(jnp.float32)

    def action_mask(self, state, params):
        return state.legal

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    def action_space(self, params=None):
        return spaces.Discrete(4)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (4,), jnp.float32)


def first_rollout(config, key):
    """The first rollout of a run of ``config`` (``pgjax.pipeline.rollout.Trajectory``,
    ``[T, N, ...]``) and the net and parameters that collected it."""
    from pgjax.pipeline.rollout import collect
    from pgjax.pipeline.static import make_static
    from pgjax.pipeline.train import init

    static = make_static(config)
    state = init(static, key, config.hparams())
    _, traj, _ = collect(static, state.params, state.obs_norm, state.env, state.key)
    return traj, static.net, state.params


def check_masks_honoured(config, key=None):
    """Over the first rollout of a run of ``config`` (a masked environment): no masked action
    taken; log π(a|s) the masked distribution's, ``l_a − log Σ_{b legal} exp l_b`` from the
    unmasked logits; masked probabilities exactly 0; replayed from the stored observation
    (mask included) before any step, the importance ratio 1. Returns the trajectory."""
    import numpy as np

    from pgjax.envs.base import MASK

    traj, net, params = first_rollout(config, jax.random.key(0) if key is None else key)
    mask = np.asarray(traj.obs[MASK])
    action = np.asarray(traj.action)
    assert np.take_along_axis(mask, action[..., None], -1).all(), "a masked action was taken"
    unmasked = {**traj.obs, MASK: jnp.ones_like(traj.obs[MASK])}
    logits = np.asarray(net.policy(params, unmasked), np.float64)
    legal = np.where(mask, logits, -np.inf)
    top = legal.max(-1, keepdims=True)
    log_norm = top[..., 0] + np.log(np.exp(legal - top).sum(-1))
    direct = np.take_along_axis(legal, action[..., None], -1)[..., 0] - log_norm
    np.testing.assert_allclose(traj.log_prob, direct, rtol=1e-5, atol=1e-5)
    masked_logits = net.policy(params, traj.obs)
    assert (np.asarray(jax.nn.softmax(masked_logits))[~mask] == 0.0).all()
    replay = net.dist.log_prob(masked_logits, traj.action)
    np.testing.assert_allclose(np.exp(replay - traj.log_prob), 1.0, atol=1e-6)
    return traj
