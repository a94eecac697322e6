"""Evaluating a trained policy: returns over many episodes (vmapped), and one episode's frames.

from pgjax.tools.evaluate import evaluate
returns = evaluate(config, result.state, jax.random.key(1), episodes=32, greedy=True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.envs import env_action, make_env, normalize
from pgjax.pipeline.config import Config
from pgjax.pipeline.static import actor_critic_for
from pgjax.pipeline.train import TrainState

Array = jax.Array


def _policy(config: Config, state: TrainState, greedy: bool):
    """The environment, and ``act(keys [E], obs [E, ...], hidden, first [E]) → (hidden,
    actions [E])``: a batch of environments' actions, and a recurrent policy's hidden states
    moved by one step (``first``: episodes starting here; a feed-forward policy's ``hidden``
    is ``()``). ``start(E)``: the hidden states of ``E`` fresh episodes."""
    env = make_env(config.env)
    net = actor_critic_for(config, env.spec)

    def act(keys: Array, obs: Array, hidden, first: Array):
        if config.normalize_obs:
            obs = normalize(state.obs_norm, obs)
        if net.recurrent:
            hidden, params = net.policy_step(state.params, hidden, obs, first)
        else:
            params = net.policy(state.params, obs)
        action = net.dist.mode(params) if greedy else jax.vmap(net.dist.sample)(keys, params)
        return hidden, env_action(env.spec, net.dist.to_env(action))

    def start(episodes: int):
        return net.initial_hidden(episodes) if net.recurrent else ()

    return env, act, start


def _split(keys: Array, n: int) -> tuple[Array, ...]:
    """Each of ``keys [E]`` split in ``n``: ``n`` arrays ``[E]``."""
    parts = jax.vmap(lambda k: jax.random.split(k, n))(keys)
    return tuple(parts[:, i] for i in range(n))


MAX_EPISODES = 1_000_000
"""The most episodes one ``evaluate`` runs (``pgjax eval --episodes``): at ``EVAL_BATCH``
a batch, a million CartPole episodes of 500 steps take about a quarter of an hour on a 2-core
CPU; past that, evaluate in several calls with other keys."""
EVAL_BATCH = 4096
"""Episodes run together (vmapped) in one compiled call of ``evaluate``: the environments'
states, observations and a recurrent policy's hidden states of this many fit in memory for
every suite pgjax adapts; more episodes run as several such batches."""


def evaluate(
    config: Config,
    state: TrainState,
    key: Array,
    *,
    episodes: int = 16,
    greedy: bool = False,
    batch: int = EVAL_BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Undiscounted returns ``[episodes]`` of the policy in ``state``, one episode per
    environment, run together (vmapped) ``batch`` at a time until each has ended once
    (terminated or truncated by the environment's time limit). ``greedy``: the most likely
    action instead of a sample. Episode ``i`` runs from ``jax.random.split(key, episodes)[i]``
    whatever the batch. ``on_batch(done)``: called after each batch with the episodes done.
    ``ValueError`` for more than ``MAX_EPISODES`` episodes or fewer than one."""
    if not 1 <= episodes <= MAX_EPISODES:
        raise ValueError(
            f"episodes={episodes}: must be an integer in [1, {MAX_EPISODES:,}] (run more as "
            "several evaluations with other keys)"
        )
    if batch < 1:
        raise ValueError(f"batch={batch}: must be a positive integer")
    env, act, start = _policy(config, state, greedy)
    batch = min(batch, episodes)

    def run(keys: Array) -> Array:
        k_reset, k_run = _split(keys, 2)
        env_state, obs = env.reset(k_reset)

        def cond(c):
            return ~jnp.all(c[3])

        def body(c):
            obs, env_state, total, done, key, hidden, first = c
            key, k_act, k_env = _split(key, 3)
            env_keys = jax.vmap(jax.random.split)(k_env)
            hidden, action = act(k_act, obs, hidden, first)
            env_state, ts = env.step(env_keys, env_state, action)
            total = total + jnp.where(done, 0.0, ts.reward)  # an ended episode adds nothing
            ended = ts.terminated | ts.truncated
            return ts.obs, env_state, total, done | ended, key, hidden, ended

        fresh = jnp.ones(batch, bool)
        init = (obs, env_state, jnp.zeros(batch), ~fresh, k_run, start(batch), fresh)
        return jax.lax.while_loop(cond, body, init)[2]

    keys, run, returns = jax.random.split(key, episodes), jax.jit(run), []
    for begin in range(0, episodes, batch):
        part = keys[begin : begin + batch]
        if len(part) < batch:  # the last batch padded, so that one compilation serves all
            part = jnp.concatenate([part, keys[: batch - len(part)]])
        returns.append(np.asarray(run(part))[: episodes - begin])
        if on_batch is not None:
            on_batch(min(begin + batch, episodes))
    return np.concatenate(returns)


class Episode(NamedTuple):
    """One episode, step by step (host arrays, leading axis ``[T]``): ``env_states`` (the
    environment's state before each step), ``obs`` (the observation acted on; a dict of such
    arrays for a structured observation), ``rewards``."""

    env_states: Any
    obs: Any
    rewards: np.ndarray


def record_episode(
    config: Config, state: TrainState, key: Array, *, greedy: bool = False
) -> Episode:
    """Run one episode of at most the environment's time limit and keep every step."""
    env, act, start = _policy(config, state, greedy)
    max_steps = env.spec.time_limit or 1000

    def run(key: Array):
        k_reset, k_run = jax.random.split(key)
        env_state, obs = env.reset(k_reset[None])  # one environment: a batch of 1

        def step(c, k):
            obs, env_state, done, hidden = c
            k_act, k_env = jax.random.split(k)
            hidden, action = act(k_act[None], obs, hidden, jnp.zeros(1, bool))
            next_state, ts = env.step(jax.random.split(k_env)[None], env_state, action)
            out = (env_state, jax.tree.map(lambda x: x[0], obs), ts.reward[0], done)
            return (ts.obs, next_state, done | ts.terminated[0] | ts.truncated[0], hidden), out

        init = (obs, env_state, jnp.zeros((), bool), start(1))
        _, out = jax.lax.scan(step, init, jax.random.split(k_run, max_steps))
        return out

    env_states, obs, rewards, done_before = jax.device_get(jax.jit(run)(key))
    length = int(np.sum(~np.asarray(done_before)))  # steps up to and including the last one
    cut = lambda x: np.asarray(x)[:length]  # noqa: E731

    def first(x):  # the batch of 1 (a typed PRNG key, as Craftax's state holds, stays JAX's)
        return (
            x[:length, 0]
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
            else (np.asarray(x)[:length, 0])
        )

    return Episode(jax.tree.map(first, env_states), jax.tree.map(cut, obs), cut(rewards))


__all__ = ["EVAL_BATCH", "MAX_EPISODES", "Episode", "evaluate", "record_episode"]
