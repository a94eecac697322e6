"""Evaluating a trained policy: returns over many episodes (vmapped), and one episode's frames.

from pgjax.evaluate import evaluate
returns = evaluate(config, result.state, jax.random.key(1), episodes=32, greedy=True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax import envs
from pgjax.config import Config
from pgjax.distributions import CATEGORICAL, GAUSSIAN
from pgjax.networks import make_networks
from pgjax.train import TrainState

Array = jax.Array


def _policy(config: Config, state: TrainState, greedy: bool):
    env, env_params, spec = envs.make_env(config.env)
    actor, _ = make_networks(config, spec)
    dist = CATEGORICAL if spec.discrete else GAUSSIAN

    def act(key: Array, obs: Array) -> Array:
        if config.normalize_obs:
            obs = envs.normalize(state.obs_norm, obs)
        params = actor.apply(state.params.actor, obs)
        action = dist.mode(params) if greedy else dist.sample(key, params)
        return envs.env_action(spec, action)

    return env, env_params, act


def evaluate(
    config: Config, state: TrainState, key: Array, *, episodes: int = 16, greedy: bool = False
) -> np.ndarray:
    """Undiscounted returns ``[episodes]`` of the policy in ``state``, one episode per
    environment, all run together (vmapped) until each has ended once (terminated or
    truncated by the environment's time limit). ``greedy``: the most likely action instead
    of a sample."""
    env, env_params, act = _policy(config, state, greedy)

    def one(key: Array) -> Array:
        k_reset, k_run = jax.random.split(key)
        obs, env_state = env.reset(k_reset, env_params)

        def cond(c):
            return ~c[3]

        def body(c):
            obs, env_state, total, _, key = c
            key, k_act, k_env = jax.random.split(key, 3)
            obs, env_state, reward, term, trunc, _ = env.step(
                k_env, env_state, act(k_act, obs), env_params
            )
            return obs, env_state, total + reward, jnp.logical_or(term, trunc), key

        init = (obs, env_state, jnp.zeros(()), jnp.zeros((), bool), k_run)
        return jax.lax.while_loop(cond, body, init)[2]

    returns = jax.jit(jax.vmap(one))(jax.random.split(key, episodes))
    return np.asarray(returns)


class Episode(NamedTuple):
    """One episode, step by step (host arrays, leading axis ``[T]``): ``env_states`` (the
    gymnax state before each step), ``obs`` (the observation acted on), ``rewards``."""

    env_states: Any
    obs: np.ndarray
    rewards: np.ndarray


def record_episode(
    config: Config, state: TrainState, key: Array, *, greedy: bool = False
) -> Episode:
    """Run one episode of at most the environment's time limit and keep every step."""
    env, env_params, act = _policy(config, state, greedy)
    max_steps = int(getattr(env_params, "max_steps_in_episode", 1000))

    def run(key: Array):
        k_reset, k_run = jax.random.split(key)
        obs, env_state = env.reset(k_reset, env_params)

        def step(c, k):
            obs, env_state, done = c
            k_act, k_env = jax.random.split(k)
            next_obs, next_state, reward, term, trunc, _ = env.step(
                k_env, env_state, act(k_act, obs), env_params
            )
            out = (env_state, obs, reward, done)
            return (next_obs, next_state, done | term | trunc), out

        init = (obs, env_state, jnp.zeros((), bool))
        _, out = jax.lax.scan(step, init, jax.random.split(k_run, max_steps))
        return out

    env_states, obs, rewards, done_before = jax.device_get(jax.jit(run)(key))
    length = int(np.sum(~np.asarray(done_before)))  # steps up to and including the last one
    cut = lambda x: np.asarray(x)[:length]  # noqa: E731
    return Episode(jax.tree.map(cut, env_states), cut(obs), cut(rewards))


__all__ = ["Episode", "evaluate", "record_episode"]
