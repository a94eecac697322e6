"""A PPO-Clip written the way PureJaxRL writes it, as a timing reference for ``throughput.py``.

PureJaxRL's ``ppo.py`` cannot run here as it is: it unpacks five values from ``env.step``, and
gymnax 1.0 returns six. This file is pgjax's own re-statement of that program's structure, so
that pgjax can be timed against it side by side, in one process, on the same machine:

- one ``make_train(config) → train(rng)`` of nested closures over a dict config;
- a network that computes π(·|s) and V(s) together at every rollout step;
- a ``LogWrapper``-like running episode return carried per environment;
- GAE by a reverse ``lax.scan`` with ``done = terminated or truncated`` (no bootstrapping at a
  time limit, as PureJaxRL does);
- ``num_epochs`` × ``num_minibatches`` optax steps (global-norm clip, Adam eps 1e-5, linear
  annealing), each epoch a fresh permutation of the whole batch, the clipped value loss.

For Brax (``ENV_NAME`` ``brax/<name>``, options as pgjax's names take them) the environment
is wrapped as PureJaxRL's ``BraxGymnaxWrapper`` wraps it: Brax's ``EpisodeWrapper`` (1000
steps) and ``AutoResetWrapper``, ``done`` for a fall and for the time limit alike, and the
observation that ended an episode replaced by the first of the next (nothing bootstraps from
it); the policy a diagonal Gaussian, its sample clipped to [-1, 1] for the environment
(PureJaxRL's ``ClipAction``).

It is not part of the library and is used by nothing but the benchmark.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant, orthogonal


class BraxGymnaxWrapper:
    """A Brax environment behind gymnax 1.0's six-value step, the way PureJaxRL wraps it."""

    def __init__(self, name: str):
        from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper

        from pgjax.envs.brax import _envs
        from pgjax.envs.registry import parse

        base, options = parse(name)
        length = options.pop("episode_length", 1000)
        with warnings.catch_warnings():  # Brax's notice that its pipelines are unmaintained
            warnings.simplefilter("ignore")
            env = _envs().get_environment(base.removeprefix("brax/"), **options)
        self.action_size, self.observation_size = env.action_size, env.observation_size
        self._env = AutoResetWrapper(EpisodeWrapper(env, episode_length=length, action_repeat=1))

    def reset(self, key, params=None):
        state = self._env.reset(key)
        return state.obs, state

    def step(self, key, state, action, params=None):
        state = self._env.step(state, action)
        return state.obs, state, state.reward, state.done > 0.5, jnp.zeros((), bool), {}


class ActorCritic(nn.Module):
    num_actions: int
    activation: str = "tanh"
    hidden: int = 64
    discrete: bool = True

    @nn.compact
    def __call__(self, x):
        act = nn.relu if self.activation == "relu" else nn.tanh
        x = x.reshape((x.shape[0], -1))
        h = self.hidden
        a = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        a = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(a))
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(a)
        if not self.discrete:  # (mean, log_std) of a diagonal Gaussian
            logits = (logits, self.param("log_std", constant(0.0), (self.num_actions,)))
        c = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        c = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(c))
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
        return logits, jnp.squeeze(value, axis=-1)


def _sample(key, dist, discrete):
    if discrete:
        return jax.random.categorical(key, dist)
    mean, log_std = dist
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def _log_prob(dist, action, discrete):
    if discrete:
        return jnp.take_along_axis(jax.nn.log_softmax(dist), action[:, None], axis=-1)[:, 0]
    mean, log_std = dist
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def _entropy(dist, discrete):
    if discrete:
        return -jnp.sum(jax.nn.softmax(dist) * jax.nn.log_softmax(dist), -1)
    mean, log_std = dist
    return jnp.broadcast_to(jnp.sum(log_std + 0.5 * (jnp.log(2 * jnp.pi) + 1)), mean.shape[:1])


def make_env(name: str):
    """(env, params, discrete, num_actions, obs_shape): gymnax's, or Brax's wrapped as
    PureJaxRL wraps it."""
    if name.startswith("brax/"):
        env = BraxGymnaxWrapper(name)
        return env, None, False, env.action_size, (env.observation_size,)
    env, params = gymnax.make(name)
    space = env.action_space(params)
    return env, params, True, space.n, tuple(env.observation_space(params).shape)


def gae(reward, value, done, last_value, config):
    """GAE by a reverse scan over ``[T, N]``, ``done`` ending an episode whatever ended it (no
    bootstrapping at a time limit, as PureJaxRL does)."""

    def step(carry, t):
        advantage, next_value = carry
        r, v, d = t
        delta = r + config["GAMMA"] * next_value * (1 - d) - v
        advantage = delta + config["GAMMA"] * config["GAE_LAMBDA"] * (1 - d) * advantage
        return (advantage, v), advantage

    start = (jnp.zeros_like(last_value), last_value)
    return jax.lax.scan(step, start, (reward, value, done), reverse=True)[1]


class Transition(NamedTuple):
    done: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array
    episode_return: jax.Array


def make_train(config: dict):
    """``config``: ENV_NAME, NUM_ENVS, NUM_STEPS, TOTAL_TIMESTEPS, UPDATE_EPOCHS,
    NUM_MINIBATCHES, LR, ANNEAL_LR, GAMMA, GAE_LAMBDA, CLIP_EPS, ENT_COEF, VF_COEF,
    MAX_GRAD_NORM, ACTIVATION (PureJaxRL's names), and HIDDEN (the width of its two layers;
    PureJaxRL's is 64). gymnax's discrete environments, and Brax's (continuous)."""
    num_updates = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"]
    minibatch_size = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    env, env_params, discrete, num_actions, obs_shape = make_env(config["ENV_NAME"])
    num_envs = config["NUM_ENVS"]

    def schedule(count):
        frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / num_updates
        return config["LR"] * frac

    def train(rng):
        network = ActorCritic(num_actions, config["ACTIVATION"], config.get("HIDDEN", 64), discrete)
        rng, init_rng = jax.random.split(rng)
        init_x = jnp.zeros((1, *obs_shape))
        params = network.init(init_rng, init_x)
        lr = schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(
            optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5)
        )
        opt_state = tx.init(params)
        rng, reset_rng = jax.random.split(rng)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_rng, num_envs), env_params
        )
        running = jnp.zeros(num_envs)
        returned = jnp.zeros(num_envs)

        def update_step(runner, _):
            def env_step(runner, _):
                params, opt_state, env_state, obs, running, returned, rng = runner
                rng, a_rng, s_rng = jax.random.split(rng, 3)
                logits, value = network.apply(params, obs)
                action = _sample(a_rng, logits, discrete)
                log_prob = _log_prob(logits, action, discrete)
                sent = action if discrete else jnp.clip(action, -1.0, 1.0)
                next_obs, env_state, reward, term, trunc, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None)
                )(jax.random.split(s_rng, num_envs), env_state, sent, env_params)
                done = jnp.logical_or(term, trunc)
                running = running + reward
                returned = jnp.where(done, running, returned)
                running = jnp.where(done, 0.0, running)
                t = Transition(done, action, value, reward, log_prob, obs, returned)
                return (params, opt_state, env_state, next_obs, running, returned, rng), t

            runner, traj = jax.lax.scan(env_step, runner, None, config["NUM_STEPS"])
            params, opt_state, env_state, obs, running, returned, rng = runner
            _, last_val = network.apply(params, obs)

            advantages = gae(traj.reward, traj.value, traj.done, last_val, config)
            targets = advantages + traj.value

            def epoch(carry, _):
                params, opt_state, rng = carry

                def minibatch_step(carry, batch):
                    params, opt_state = carry
                    t, adv, tgt = batch

                    def loss_fn(params):
                        logits, value = network.apply(params, t.obs)
                        log_prob = _log_prob(logits, t.action, discrete)
                        v_clip = t.value + (value - t.value).clip(
                            -config["CLIP_EPS"], config["CLIP_EPS"]
                        )
                        v_loss = 0.5 * jnp.maximum((value - tgt) ** 2, (v_clip - tgt) ** 2).mean()
                        ratio = jnp.exp(log_prob - t.log_prob)
                        a = (adv - adv.mean()) / (adv.std() + 1e-8)
                        clipped = jnp.clip(ratio, 1 - config["CLIP_EPS"], 1 + config["CLIP_EPS"])
                        pi_loss = -jnp.minimum(ratio * a, clipped * a).mean()
                        entropy = _entropy(logits, discrete).mean()
                        return pi_loss + config["VF_COEF"] * v_loss - config["ENT_COEF"] * entropy

                    grads = jax.grad(loss_fn)(params)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                rng, p_rng = jax.random.split(rng)
                size = minibatch_size * config["NUM_MINIBATCHES"]
                perm = jax.random.permutation(p_rng, size)
                data = jax.tree.map(
                    lambda x: x.reshape((size, *x.shape[2:]))[perm].reshape(
                        (config["NUM_MINIBATCHES"], minibatch_size, *x.shape[2:])
                    ),
                    (traj, advantages, targets),
                )
                (params, opt_state), _ = jax.lax.scan(minibatch_step, (params, opt_state), data)
                return (params, opt_state, rng), None

            (params, opt_state, rng), _ = jax.lax.scan(
                epoch, (params, opt_state, rng), None, config["UPDATE_EPOCHS"]
            )
            # PureJaxRL's curve: the last finished episode's return of every environment at
            # every step, averaged (0 until an environment's first episode ends); beside it the
            # mean return of the episodes that ended during this update, as pgjax reports
            ended = traj.done.sum()
            metric = {
                "returned_episode_return": jnp.mean(traj.episode_return),
                "episode_return": jnp.where(
                    ended > 0,
                    jnp.sum(jnp.where(traj.done, traj.episode_return, 0.0)) / jnp.maximum(ended, 1),
                    jnp.nan,
                ),
            }
            return (params, opt_state, env_state, obs, running, returned, rng), metric

        runner = (params, opt_state, env_state, obs, running, returned, rng)
        runner, metrics = jax.lax.scan(update_step, runner, None, num_updates)
        return runner[0], metrics

    return train


def from_pgjax(config) -> dict:
    """The same run as a ``pgjax.Config`` of PPO-Clip with an MLP of two equal layers, actor
    and critic separate (PureJaxRL has no shared torso)."""
    if config.shared_torso:
        raise ValueError(
            "reference_ppo: shared_torso=True; its actor and critic are separate networks, "
            "so pass config.replace(shared_torso=False)"
        )
    if len(config.hidden_sizes) != 2 or len(set(config.hidden_sizes)) != 1:
        raise ValueError(
            f"reference_ppo: hidden_sizes={config.hidden_sizes}; it has two layers of one width"
        )
    return {"HIDDEN": config.hidden_sizes[0], **ppo_settings(config)}


def ppo_settings(config) -> dict:
    """A ``pgjax.Config``'s environment, sizes, budget and PPO settings under PureJaxRL's
    names."""
    return {
        "ENV_NAME": config.env,
        "NUM_ENVS": config.num_envs,
        "NUM_STEPS": config.num_steps,
        "TOTAL_TIMESTEPS": config.total_timesteps,
        "UPDATE_EPOCHS": config.num_epochs,
        "NUM_MINIBATCHES": config.num_minibatches,
        "LR": config.lr,
        "ANNEAL_LR": config.anneal_lr,
        "GAMMA": config.gamma,
        "GAE_LAMBDA": config.gae_lambda,
        "CLIP_EPS": config.clip_eps,
        "ENT_COEF": config.ent_coef,
        "VF_COEF": config.vf_coef,
        "MAX_GRAD_NORM": config.max_grad_norm,
        "ACTIVATION": config.activation,
    }
