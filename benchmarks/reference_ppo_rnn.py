"""A recurrent PPO-Clip written the way PureJaxRL's ``ppo_rnn.py`` writes it, as a timing
reference for ``throughput.py --memory``.

PureJaxRL's program cannot run here as it is (gymnax 1.0's step returns six values); this is
pgjax's own re-statement of its structure, timed side by side with pgjax in one process:

- a Dense torso (relu) applied to the whole window ``[T, B, F]`` at once, then one GRU cell
  scanned over time with ``nn.scan``, its carry reset to zeros where ``done`` flags a new
  episode, then a policy head and a value head (Dense + relu each) on the cell's output:
  actor and critic share the torso and the cell;
- the rollout calls that network on windows of one step ``[1, B]``, carrying the hidden state
  and the previous step's ``done``;
- GAE by a reverse ``lax.scan`` with ``done = terminated or truncated``;
- ``num_epochs`` × ``num_minibatches`` optax steps, each minibatch a set of whole
  environments (time order kept), replayed from the hidden state the window started with.

It is not part of the library and is used by nothing but the benchmark.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant, orthogonal
from reference_ppo import _entropy, _log_prob, gae, ppo_settings
from reference_ppo import make_env as _gymnax_env

from pgjax.envs.memory_tasks import NAMES as MEMORY_TASKS


def make_env(name: str):
    """(env, params, discrete, num_actions, obs_shape): gymnax's, or a pgjax memory task (a
    gymnax environment itself)."""
    if name not in MEMORY_TASKS:
        return _gymnax_env(name)
    env = MEMORY_TASKS[name]()
    params = env.default_params
    shape = tuple(env.observation_space(params).shape)
    return env, params, True, env.action_space(params).n, shape


class ScannedGRU(nn.Module):
    """One GRU cell scanned over the window's leading axis; ``resets [T, B]`` zero the carry
    before the step they flag."""

    @functools.partial(
        nn.scan, variable_broadcast="params", in_axes=0, out_axes=0, split_rngs={"params": False}
    )
    @nn.compact
    def __call__(self, carry, inputs):
        x, resets = inputs
        carry = jnp.where(resets[:, None], jnp.zeros_like(carry), carry)
        carry, y = nn.GRUCell(features=carry.shape[-1])(carry, x)
        return carry, y


class ActorCriticRNN(nn.Module):
    num_actions: int
    hidden: int = 128
    torso: int = 128

    @nn.compact
    def __call__(self, carry, obs, resets):
        """``obs [T, B, F]``, ``resets [T, B]`` → (carry, logits ``[T, B, K]``, V ``[T, B]``)."""
        x = nn.relu(
            nn.Dense(self.torso, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(obs)
        )
        carry, x = ScannedGRU()(carry, (x, resets))
        a = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(2), bias_init=constant(0.0))(x))
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(a)
        c = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(2), bias_init=constant(0.0))(x))
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
        return carry, logits, value[..., 0]


class Transition(NamedTuple):
    done: jax.Array  # this step's observation starts an episode (the previous step's done)
    ended: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array


def make_train(config: dict):
    """``config``: reference_ppo's keys (PureJaxRL's names), ``GRU_HIDDEN_DIM``, the width of
    the cell and the heads' layers (PureJaxRL's is 128) and ``TORSO_DIM`` the torso's (by
    default the same). gymnax's discrete environments and pgjax's memory tasks."""
    num_envs, num_steps = config["NUM_ENVS"], config["NUM_STEPS"]
    num_updates = config["TOTAL_TIMESTEPS"] // num_steps // num_envs
    env, env_params, discrete, num_actions, obs_shape = make_env(config["ENV_NAME"])
    size = config.get("GRU_HIDDEN_DIM", 128)
    mb_envs = num_envs // config["NUM_MINIBATCHES"]

    def schedule(count):
        frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / num_updates
        return config["LR"] * frac

    def train(rng):
        network = ActorCriticRNN(num_actions, size, config.get("TORSO_DIM", size))
        rng, init_rng = jax.random.split(rng)
        zeros = jnp.zeros((1, num_envs, *obs_shape))
        h0 = jnp.zeros((num_envs, size))
        params = network.init(init_rng, h0, zeros, jnp.zeros((1, num_envs), bool))
        lr = schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(
            optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5)
        )
        opt_state = tx.init(params)
        rng, reset_rng = jax.random.split(rng)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_rng, num_envs), env_params
        )
        last_done = jnp.zeros(num_envs, bool)

        def update_step(runner, _):
            params, opt_state, env_state, obs, last_done, hstate, rng = runner
            start_h = hstate

            def env_step(runner, _):
                params, env_state, obs, last_done, hstate, rng = runner
                rng, a_rng, s_rng = jax.random.split(rng, 3)
                hstate, logits, value = network.apply(params, hstate, obs[None], last_done[None])
                logits, value = logits[0], value[0]
                action = jax.random.categorical(a_rng, logits)
                log_prob = _log_prob(logits, action, discrete)
                next_obs, env_state, reward, term, trunc, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None)
                )(jax.random.split(s_rng, num_envs), env_state, action, env_params)
                done = jnp.logical_or(term, trunc)
                t = Transition(last_done, done, action, value, reward, log_prob, obs)
                return (params, env_state, next_obs, done, hstate, rng), t

            inner = (params, env_state, obs, last_done, hstate, rng)
            inner, traj = jax.lax.scan(env_step, inner, None, num_steps)
            _, env_state, obs, last_done, hstate, rng = inner
            _, _, last_val = network.apply(params, hstate, obs[None], last_done[None])
            last_val = last_val[0]

            advantages = gae(traj.reward, traj.value, traj.ended, last_val, config)
            targets = advantages + traj.value

            def loss_fn(params, h, t, adv, tgt):
                _, logits, value = network.apply(params, h, t.obs, t.done)
                log_prob = _log_prob(
                    logits.reshape(-1, num_actions), t.action.reshape(-1), discrete
                ).reshape(t.action.shape)
                v_clip = t.value + (value - t.value).clip(-config["CLIP_EPS"], config["CLIP_EPS"])
                v_loss = 0.5 * jnp.maximum((value - tgt) ** 2, (v_clip - tgt) ** 2).mean()
                ratio = jnp.exp(log_prob - t.log_prob)
                a = (adv - adv.mean()) / (adv.std() + 1e-8)
                clipped = jnp.clip(ratio, 1 - config["CLIP_EPS"], 1 + config["CLIP_EPS"])
                pi_loss = -jnp.minimum(ratio * a, clipped * a).mean()
                entropy = _entropy(logits.reshape(-1, num_actions), discrete).mean()
                return pi_loss + config["VF_COEF"] * v_loss - config["ENT_COEF"] * entropy

            def epoch(carry, _):
                params, opt_state, rng = carry

                def minibatch_step(carry, batch):
                    params, opt_state = carry
                    grads = jax.grad(loss_fn)(params, *batch)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                rng, p_rng = jax.random.split(rng)
                perm = jax.random.permutation(p_rng, num_envs)

                def split(x, axis):  # whole environments: [T, N, ...] -> [M, T, N/M, ...]
                    x = jnp.take(x, perm, axis=axis)
                    x = jnp.reshape(x, (*x.shape[:axis], config["NUM_MINIBATCHES"], mb_envs,
                                        *x.shape[axis + 1 :]))  # fmt: skip
                    return jnp.moveaxis(x, axis, 0)

                data = (
                    split(start_h, 0),
                    *jax.tree.map(lambda x: split(x, 1), (traj, advantages, targets)),
                )
                (params, opt_state), _ = jax.lax.scan(minibatch_step, (params, opt_state), data)
                return (params, opt_state, rng), None

            (params, opt_state, rng), _ = jax.lax.scan(
                epoch, (params, opt_state, rng), None, config["UPDATE_EPOCHS"]
            )
            ended = traj.ended.sum()
            metric = {"episodes": ended}
            return (params, opt_state, env_state, obs, last_done, hstate, rng), metric

        runner = (params, opt_state, env_state, obs, last_done, h0, rng)
        runner, metrics = jax.lax.scan(update_step, runner, None, num_updates)
        return runner[0], metrics

    return train


def from_pgjax(config, size: int = 128, torso: int | None = None) -> dict:
    """The reference's config for the run a ``pgjax.Config`` describes (its sizes, budget and
    PPO settings); the reference's own network: a GRU and heads of ``size`` units after a torso
    of ``torso`` (default ``size``)."""
    return {
        "GRU_HIDDEN_DIM": size,
        "TORSO_DIM": size if torso is None else torso,
        **ppo_settings(config),
    }
