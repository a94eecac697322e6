"""``make_train``: the pieces composed into one pure, jit-compiled ``train(key[, hparams])``.

Each update: a rollout of ``num_steps`` steps of ``num_envs`` environments (``lax.scan``; the
policy alone inside the loop, its randomness drawn before it); values of every observation and
of every true next observation in batched critic passes after it;
the algorithm's weights (GAE with bootstrapping at truncations and at the rollout's end, or
REINFORCE's returns); then ``num_epochs`` passes of ``num_minibatches`` shuffled minibatches
of optax steps on the algorithm's loss (one full-batch step for A2C). REINFORCE's and TRPO's
policies step apart, once per batch (a gradient step with its own Adam state; a
natural-gradient step), while those passes fit their critic alone. Metrics are reduced to
scalars per update: nothing per step is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import PartitionSpec as P

from pgjax import envs, kl_control, losses, returns, trpo
from pgjax.algorithms import REGISTRY, PolicyTerms
from pgjax.config import Config, HParams
from pgjax.distributions import CATEGORICAL, GAUSSIAN
from pgjax.networks import init_params, make_networks, policy_and_value, value
from pgjax.returns import gae
from pgjax.rollout import EnvCarry, Trajectory, rollout

Array = jax.Array


class Params(NamedTuple):
    """Network parameters: the actor's and the critic's flax variable trees."""

    actor: Any
    critic: Any


class AlgoState(NamedTuple):
    """What an algorithm carries between updates: ``kl``, PPO-Penalty's β (an
    ``AdaptiveKL``); ``mean_return``, REINFORCE's running-mean baseline (scalar)."""

    kl: kl_control.AdaptiveKL
    mean_return: Array


class OptState(NamedTuple):
    """Optax states: ``sgd``, of the loss fit by epochs × minibatches (policy and critic
    together, or the critic alone where the policy steps apart); ``policy``, of the policy's
    own gradient step (``policy_step="gradient"``; else ``()``)."""

    sgd: Any
    policy: Any


class TrainState(NamedTuple):
    """Everything a run needs to continue.

    ``params``; ``opt_state`` (``OptState``); ``env`` (environment states, current observations
    ``[N, ...]``, running episode statistics); ``obs_norm`` (running observation statistics);
    ``algo`` (``AlgoState``); ``key``; ``update``: updates done so far (scalar int).
    """

    params: Params
    opt_state: Any
    env: EnvCarry
    obs_norm: envs.ObsNorm
    algo: AlgoState
    key: Array
    update: Array


class TrainResult(NamedTuple):
    """``state``: the final ``TrainState``. ``metrics``: dict of ``[num_updates]`` arrays (with
    leading vmapped axes, if any)."""

    state: TrainState
    metrics: dict[str, Array]


class Pipeline(NamedTuple):
    """``init(key, hparams) → TrainState`` and ``update(state, hparams) → (state, metrics)``,
    the two halves of ``train``; run ``update`` in chunks to report progress or checkpoint."""

    init: Callable[[Array, HParams], TrainState]
    update: Callable[[TrainState, HParams], tuple[TrainState, dict[str, Array]]]


def _optimizer(config: Config, hp: HParams, steps_per_update: int) -> optax.GradientTransformation:

    def lr(count: Array) -> Array:
        if not config.anneal_lr:
            return jnp.asarray(hp.lr, jnp.float32)
        return hp.lr * (1.0 - (count // steps_per_update) / config.num_updates)

    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_adam(eps=1e-5),
        optax.scale_by_learning_rate(lr),
    )


def _permutation(key: Array, n: int) -> Array:
    """A uniformly random permutation of ``range(n)``, by sorting random keys.

    Each round gives every element ``b = 32 − ⌈log₂ n⌉`` random bits, packed above its
    position into one ``uint32`` and sorted as a single array (no key–value sort), which XLA's
    CPU backend runs about four times faster than ``lax.top_k`` or ``argsort`` of the keys.
    A later round breaks its ties by the order of the earlier ones, so ``r`` rounds sort by an
    ``r·b``-bit key; there are enough rounds for at least 32 bits (ties between two elements
    then have probability ≤ 2⁻³², as for a sort of 32-bit keys). ``n`` ≤ 2³¹.
    """
    index_bits = max(1, (n - 1).bit_length())
    random_bits = 32 - index_bits
    mask = jnp.uint32((1 << index_bits) - 1)
    position = jnp.arange(n, dtype=jnp.uint32)
    perm = jnp.arange(n, dtype=jnp.int32)
    for bits in jax.random.bits(key, (-(-32 // random_bits), n), jnp.uint32):
        perm = perm[(jnp.sort((bits & ~mask) | position) & mask).astype(jnp.int32)]
    return perm


def _explained_variance(pred: Array, target: Array) -> Array:
    """1 − Var[target − pred] / Var[target]."""
    return 1.0 - jnp.var(target - pred) / (jnp.var(target) + 1e-8)


def _mean_or_nan(total: Array, count: Array) -> Array:
    """``total / count``, NaN where ``count == 0`` (no episode ended: not a return of 0)."""
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def _monte_carlo_weights(config, hp, traj, values, next_values, mean_return):
    """REINFORCE's weights ``[T, N]``, their regression targets and validity mask.

    ``return_type="episode"``: R(τ) of each step's episode; ``"reward_to_go"``: G_t. The
    baseline is subtracted: 0, the running mean ``mean_return`` (computed before this batch,
    so it stays independent of it: unbiased), or the critic's V(s_t).

    A step whose episode is still running at the end of the window has no R(τ) and no full
    reward-to-go: it is masked out, except for reward-to-go with a critic, where the window's
    end is bootstrapped with V(s_T) like any cut.
    """
    rewards = traj.reward * hp.reward_scale
    per_env = lambda f, *a: jax.vmap(f, in_axes=(1,) * len(a), out_axes=1)(*a)  # noqa: E731
    episode_return, complete = per_env(
        returns.episode_returns, rewards, traj.terminated, traj.truncated
    )
    bootstrap = config.return_type == "reward_to_go" and config.baseline == "critic"
    if config.return_type == "episode":
        weights = episode_return
    else:
        nv = next_values if bootstrap else jnp.zeros_like(next_values)
        weights = jax.vmap(returns.discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
            rewards, traj.terminated, traj.truncated, nv, hp.gamma
        )
    mask = jnp.ones_like(weights) if bootstrap else complete.astype(weights.dtype)
    baseline = {"none": 0.0, "mean": mean_return, "critic": values}[config.baseline]
    return weights - baseline, weights, mask


def make_pipeline(
    config: Config,
    on_update: Callable[[dict[str, Array]], None] | None = None,
    axis_name: str | None = None,
    num_shards: int = 1,
) -> Pipeline:
    """Validate ``config`` and build its ``init`` and ``update`` functions.

    ``on_update``, if given, is called on the host after every update (through
    ``jax.debug.callback``, from inside the compiled code) with a dict of scalars:
    ``update``, ``timesteps``, ``episode_return``, ``episode_count``. Without it the
    functions are pure.

    Data parallel (``num_shards > 1``, run under ``shard_map`` over ``axis_name``): each
    shard steps ``num_envs / num_shards`` environments and learns on its share of every
    minibatch; gradients, advantage and observation statistics, the KL and the metrics are
    averaged (or summed) over the axis, so every shard takes the same step as one device on
    the whole batch would, and holds the same parameters.
    """
    config.validate()
    env, env_params, spec = envs.make_env(config.env)
    actor, critic = make_networks(config, spec)
    dist = CATEGORICAL if spec.discrete else GAUSSIAN
    algorithm = REGISTRY[config.algo]
    monte_carlo = algorithm.advantages == "monte_carlo"
    trpo_policy = algorithm.policy_step == "trpo"
    gradient_policy = algorithm.policy_step == "gradient"
    critic_apart = trpo_policy or gradient_policy  # the sgd loop fits the critic alone
    # REINFORCE without the critic baseline never reads V(s): nothing to fit
    fit_critic = not (monte_carlo and config.baseline != "critic")
    num_envs, num_steps = config.num_envs // num_shards, config.num_steps
    batch = num_envs * num_steps  # this shard's share of the batch
    if axis_name is None:
        mean_all = sum_all = max_all = lambda x: x
        shard_key = lambda key: key  # noqa: E731
    else:
        mean_all = lambda x: jax.lax.pmean(x, axis_name)  # noqa: E731
        sum_all = lambda x: jax.lax.psum(x, axis_name)  # noqa: E731
        max_all = lambda x: jax.lax.pmax(x, axis_name)  # noqa: E731
        # environments differ across shards; everything else (params, shuffles) agrees
        shard_key = lambda key: jax.random.fold_in(key, jax.lax.axis_index(axis_name))  # noqa: E731
    # the optax loop: every epoch a fresh permutation cut into minibatches, or one full batch
    sgd_epochs, sgd_minibatches = (
        (config.num_epochs, config.num_minibatches) if algorithm.reuse or critic_apart else (1, 1)
    )
    normalize_advantages = config.normalize_advantages and not monte_carlo

    def norm(obs_norm: envs.ObsNorm, obs: Array) -> Array:
        return envs.normalize(obs_norm, obs) if config.normalize_obs else obs

    def reset(key: Array) -> EnvCarry:
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, num_envs), env_params
        )
        return EnvCarry(env_state, obs, envs.init_episode_stats(num_envs))

    def init(key: Array, hp: HParams) -> TrainState:
        k_params, k_env, k_next = jax.random.split(key, 3)
        params = Params(*init_params(actor, critic, k_params, spec.obs_shape))
        policy_opt = ()
        if gradient_policy:
            policy_opt = _optimizer(config, hp, 1).init(ravel_pytree(params.actor)[0])
        return TrainState(
            params=params,
            opt_state=OptState(
                _optimizer(config, hp, sgd_epochs * sgd_minibatches).init(ravel_pytree(params)[0]),
                policy_opt,
            ),
            env=reset(shard_key(k_env)),
            obs_norm=envs.init_obs_norm(spec.obs_shape),
            algo=AlgoState(kl_control.init_adaptive_kl(hp.kl_beta), jnp.zeros(())),
            key=k_next,
            update=jnp.zeros((), jnp.int32),
        )

    def policy_terms(dist_params, mb: dict[str, Array], beta: Array) -> PolicyTerms:
        log_prob = dist.log_prob(dist_params, mb["action"])
        adv = mb["advantages"]
        if normalize_advantages:  # over the whole minibatch, all shards
            mean = mean_all(adv.mean())
            std = jnp.sqrt(jnp.maximum(mean_all(jnp.mean(adv**2)) - mean**2, 0.0))
            adv = (adv - mean) / (std + 1e-8)
        kl = dist.kl(mb["old_dist_params"], dist_params) if algorithm.uses_kl else jnp.zeros(())
        return PolicyTerms(log_prob, mb["log_prob"], adv, kl, beta)

    def masked_mean(x: Array, mb: dict[str, Array]) -> Array:
        # only REINFORCE masks steps out (its unfinished episodes); the rest use every step
        if "mask" not in mb:
            return jnp.mean(x)
        return jnp.sum(x * mb["mask"]) / jnp.maximum(jnp.sum(mb["mask"]), 1.0)

    def policy_objective(dist_params, mb: dict[str, Array], hp: HParams, beta: Array):
        terms = policy_terms(dist_params, mb, beta)
        policy_loss = masked_mean(algorithm.policy_loss(terms, hp), mb)
        return policy_loss, jnp.mean(dist.entropy(dist_params))

    def policy_loss_fn(actor_params, mb: dict[str, Array], hp: HParams, beta: Array):
        # the policy alone, for a policy that steps apart from its critic
        policy_loss, entropy = policy_objective(actor.apply(actor_params, mb["obs"]), mb, hp, beta)
        total = policy_loss + hp.ent_coef * losses.entropy_bonus(entropy)
        return total, {"policy_loss": policy_loss, "entropy": entropy}

    def loss_fn(params: Params, mb: dict[str, Array], hp: HParams, beta: Array):
        if critic_apart:
            values = value(actor, critic, params.actor, params.critic, mb["obs"])
        else:  # a shared torso is passed through once, for both heads
            dist_params, values = policy_and_value(
                actor, critic, params.actor, params.critic, mb["obs"]
            )
        value_loss = masked_mean(
            losses.value_loss(
                values,
                mb["targets"],
                mb["values"] if config.vf_clip else None,
                hp.clip_eps if config.vf_clip else None,
            ),
            mb,
        )
        if critic_apart:  # the policy moves by its own step
            return hp.vf_coef * value_loss, {"value_loss": value_loss}
        policy_loss, entropy = policy_objective(dist_params, mb, hp, beta)
        total = policy_loss + hp.vf_coef * value_loss + hp.ent_coef * losses.entropy_bonus(entropy)
        return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

    def sgd(loss, params, opt_state, data, key, hp: HParams, beta: Array, epochs, minibatches):
        # ``epochs`` × ``minibatches`` optax steps on ``loss(params, mb, hp, beta)``.
        # Optimise one flat parameter vector: on a CPU, the per-leaf work of Adam and of the
        # gradient clip over a dozen small arrays costs more than the arithmetic.
        optimizer = _optimizer(config, hp, epochs * minibatches)
        minibatch = batch // minibatches
        flat, unravel = ravel_pytree(params)
        grad_fn = jax.value_and_grad(lambda f, mb: loss(unravel(f), mb, hp, beta), has_aux=True)

        def sgd_step(carry, mb: dict[str, Array]):
            flat, opt_state = carry
            (loss, aux), grads = grad_fn(flat, mb)
            grads, loss, aux = mean_all(grads), mean_all(loss), mean_all(aux)
            updates, opt_state = optimizer.update(grads, opt_state, flat)
            return (flat + updates, opt_state), {
                "loss": loss,
                "grad_norm": optax.tree.norm(grads),
                **aux,
            }

        def epoch(carry, k: Array):
            # shuffle once per epoch, then slice: one gather per field per epoch, not per step
            perm = _permutation(k, batch)
            shuffled = jax.tree.map(
                lambda x: x[perm].reshape((minibatches, minibatch, *x.shape[1:])), data
            )
            return jax.lax.scan(sgd_step, carry, shuffled)

        if minibatches == 1 and epochs == 1:  # one full-batch step: nothing to shuffle
            carry, stats = sgd_step((flat, opt_state), data)
        else:
            carry, stats = jax.lax.scan(epoch, (flat, opt_state), jax.random.split(key, epochs))
        flat, opt_state = carry
        return unravel(flat), opt_state, jax.tree.map(jnp.mean, stats)

    def natural_step(actor_params, data: dict[str, Array], hp: HParams):
        flat, unravel = ravel_pytree(actor_params)

        def surrogate(f):
            terms = policy_terms(actor.apply(unravel(f), data["obs"]), data, jnp.zeros(()))
            return -jnp.mean(algorithm.policy_loss(terms, hp))

        def mean_kl(f):
            return jnp.mean(dist.kl(data["old_dist_params"], actor.apply(unravel(f), data["obs"])))

        new_flat, info = trpo.trpo_step(
            surrogate,
            mean_kl,
            flat,
            hp.max_kl,
            cg_iters=config.cg_iters,
            damping=config.cg_damping,
            line_search_steps=config.line_search_steps,
        )
        stats = {
            "policy_loss": -surrogate(new_flat),
            "step_accepted": info.accepted.astype(jnp.float32),
            "step_fraction": info.step_fraction,
            "line_search_steps": info.line_search_steps.astype(jnp.float32),
        }
        return unravel(new_flat), stats

    def update(state: TrainState, hp: HParams) -> tuple[TrainState, dict[str, Array]]:
        key, k_roll, k_learn, k_reset = jax.random.split(state.key, 4)
        k_roll, k_reset = shard_key(k_roll), shard_key(k_reset)
        params, obs_norm, algo = state.params, state.obs_norm, state.algo
        # REINFORCE collects whole episodes from fresh starts, so R(τ) means the whole episode
        start = reset(k_reset) if monte_carlo else state.env

        def policy(obs):
            return actor.apply(params.actor, norm(obs_norm, obs))

        carry, traj, ends = rollout(k_roll, start, policy, dist, env, env_params, spec, num_steps)
        traj: Trajectory
        obs = norm(obs_norm, traj.obs)
        values = value(actor, critic, params.actor, params.critic, obs)
        next_values = value(
            actor, critic, params.actor, params.critic, norm(obs_norm, traj.next_obs)
        )
        if monte_carlo:
            advantages, targets, mask = _monte_carlo_weights(
                config, hp, traj, values, next_values, algo.mean_return
            )
            valid = sum_all(jnp.sum(mask))
            batch_mean = sum_all(jnp.sum(targets * mask)) / jnp.maximum(valid, 1.0)
            # running average of the weights (the seed's b ≈ E[R]), for the next batch
            mean_return = jnp.where(
                valid > 0,
                jnp.where(state.update == 0, batch_mean, 0.9 * algo.mean_return + 0.1 * batch_mean),
                algo.mean_return,
            )
        else:
            advantages = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
                traj.reward * hp.reward_scale,
                values,
                next_values,
                traj.terminated,
                traj.truncated,
                hp.gamma,
                hp.gae_lambda,
            )
            targets, mean_return = advantages + values, jnp.zeros(())
        data = {
            "obs": obs,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "advantages": advantages,
            "targets": targets,
            "values": values,
        }
        if monte_carlo:
            data["mask"] = mask
        if algorithm.uses_kl:
            data["old_dist_params"] = traj.dist_params
        data = jax.tree.map(lambda x: x.reshape((batch, *x.shape[2:])), data)
        old_dist_params = jax.tree.map(lambda x: x.reshape((batch, *x.shape[2:])), traj.dist_params)
        opt_state, stats = state.opt_state, {}
        new_params = params
        if fit_critic:
            new_params, sgd_opt, stats = sgd(
                loss_fn,
                params,
                opt_state.sgd,
                data,
                k_learn,
                hp,
                algo.kl.beta,
                sgd_epochs,
                sgd_minibatches,
            )
            opt_state = opt_state._replace(sgd=sgd_opt)
        if gradient_policy:
            # one full-batch step on the policy alone, with its own Adam state and norm clip
            new_actor, policy_opt, policy_stats = sgd(
                policy_loss_fn,
                params.actor,
                opt_state.policy,
                data,
                k_learn,
                hp,
                algo.kl.beta,
                1,
                1,
            )
            new_params = Params(new_actor, new_params.critic)
            opt_state = opt_state._replace(policy=policy_opt)
            stats = {**stats, **policy_stats}  # loss and grad_norm: the policy's
        if trpo_policy:
            new_actor, trpo_stats = natural_step(
                params.actor, {**data, "old_dist_params": old_dist_params}, hp
            )
            new_params = Params(new_actor, new_params.critic)
            stats = {**stats, **trpo_stats}
        # how far this update moved the policy, over the batch: the exact KL (behaviour
        # distance) and the importance ratios of the taken actions under the final policy
        new_dist_params = actor.apply(new_params.actor, data["obs"])
        kl = mean_all(jnp.mean(dist.kl(old_dist_params, new_dist_params)))
        new_log_prob = dist.log_prob(new_dist_params, data["action"])
        ratio = losses.importance_ratio(new_log_prob, data["log_prob"])
        beta = algo.kl
        if algorithm.adapts_beta:
            beta = kl_control.update_adaptive_kl(beta, kl, config.kl_target)
        if config.normalize_obs:
            obs_norm = envs.update_obs_norm(
                obs_norm, traj.obs.reshape((batch, *spec.obs_shape)), axis_name
            )
        ends = jax.tree.map(sum_all, ends)
        metrics = {
            "episode_return": _mean_or_nan(ends.return_total, ends.count),
            "episode_length": _mean_or_nan(ends.length_total, ends.count),
            "episode_count": ends.count,
            "timesteps": (state.update + 1) * batch * num_shards,
            "explained_variance": mean_all(_explained_variance(values, targets)),
            "kl": kl,
            "approx_kl": mean_all(jnp.mean(losses.approx_kl(new_log_prob, data["log_prob"]))),
            "clip_fraction": mean_all(jnp.mean(jnp.abs(ratio - 1.0) > hp.clip_eps)),
            "ratio_mean": mean_all(jnp.mean(ratio)),
            "ratio_std": mean_all(jnp.std(ratio)),
            "ratio_max": max_all(jnp.max(ratio)),
            "beta": algo.kl.beta,
            **stats,
        }
        if on_update is not None:
            report = ("update", "timesteps", "episode_return", "episode_count")
            jax.debug.callback(
                on_update, {"update": state.update + 1, **{k: metrics[k] for k in report[1:]}}
            )
        new_state = TrainState(
            new_params,
            opt_state,
            carry,
            obs_norm,
            AlgoState(beta, mean_return),
            key,
            state.update + 1,
        )
        return new_state, metrics

    return Pipeline(init, update)


def make_train(
    config: Config, on_update: Callable[[dict[str, Array]], None] | None = None
) -> Callable[..., TrainResult]:
    """Build ``train(key, hparams=None) → TrainResult`` for ``config``.

    ``train`` is pure: jit it, vmap it over keys (seeds) and over ``HParams`` (sweeps).
    ``hparams`` defaults to ``config.hparams()``; pass a ``HParams`` of traced (or batched)
    scalars to sweep without recompiling::

        hp = config.hparams()._replace(lr=jnp.array([1e-4, 3e-4, 1e-3]))
        axes = HParams(*[0 if f == "lr" else None for f in HParams._fields])
        jax.jit(jax.vmap(make_train(config), in_axes=(None, axes)))(key, hp)

    ``on_update``: an optional host function called after every update with a few scalars
    (see ``make_pipeline``), e.g. ``pgjax.progress.ProgressBar``; without it ``train`` is pure.

    Raises ``ValueError`` for a bad ``config`` (the field, the value and what is allowed).
    """
    shards = num_devices(config)
    if shards > 1:
        return _data_parallel_train(config, on_update, shards)
    pipeline = make_pipeline(config, on_update)

    def train(key: Array, hparams: HParams | None = None) -> TrainResult:
        hp = config.hparams() if hparams is None else hparams
        state = pipeline.init(key, hp)
        state, metrics = jax.lax.scan(
            lambda s, _: pipeline.update(s, hp), state, None, length=config.num_updates
        )
        return TrainResult(state, metrics)

    return train


def num_devices(config: Config) -> int:
    """The devices ``config`` runs on: ``config.devices``, or all of them for 0; a
    ``ValueError`` if there are not that many, or the run does not split evenly."""
    available = len(jax.devices())
    if isinstance(config.devices, int) and config.devices > available:
        raise ValueError(
            f"Config.devices={config.devices}: only {available} {jax.default_backend()} "
            f"device(s) here; allowed: 1 to {available}, or 0 for all"
        )
    config.validate()
    wanted = available if config.devices == 0 else config.devices
    if wanted > 1:
        config.check_shards(wanted)
    return wanted


def _data_parallel_train(config: Config, on_update, shards: int) -> Callable[..., TrainResult]:
    """One run over ``shards`` devices (see ``data_parallel``). Parameters, optimiser state and
    metrics come back replicated; environment states concatenated along the environment
    axis."""
    pipeline = make_pipeline(config, on_update, axis_name=AXIS, num_shards=shards)

    def run(key: Array, hp: HParams):
        state = pipeline.init(key, hp)
        return jax.lax.scan(
            lambda s, _: pipeline.update(s, hp), state, None, length=config.num_updates
        )

    sharded = data_parallel(run, shards, (P(), P()), (STATE_SPEC, P()))

    def train(key: Array, hparams: HParams | None = None) -> TrainResult:
        hp = config.hparams() if hparams is None else hparams
        state, metrics = sharded(key, jax.tree.map(jnp.asarray, hp))
        return TrainResult(state, metrics)

    return train


AXIS = "devices"
"""The mesh axis a data-parallel pipeline averages over (``make_pipeline(axis_name=AXIS)``)."""
STATE_SPEC = TrainState(P(), P(), P(AXIS), P(), P(), P(), P())
"""How a data-parallel ``TrainState`` lies on the devices: environment states split along the
environment axis, everything else replicated."""


def data_parallel(fn: Callable, shards: int, in_specs: Any, out_specs: Any) -> Callable:
    """``fn`` under ``shard_map`` over the first ``shards`` devices, on the axis ``AXIS``: each
    device runs ``fn`` on its share of the arguments laid out by ``in_specs`` (e.g.
    ``STATE_SPEC``), so that a pipeline built with ``axis_name=AXIS, num_shards=shards``
    averages over all of them."""
    from jax.sharding import Mesh

    mesh = Mesh(np.array(jax.devices()[:shards]), (AXIS,))
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def train_seeds(
    config: Config, keys: Array, hparams: HParams | None = None, devices: Any = None
) -> TrainResult:
    """One run per key, the seed axis sharded over all devices (``NamedSharding``).

    Returns what ``jax.vmap(make_train(config))(keys)`` returns, with every array left
    sharded along its leading (seed) axis. ``len(keys)`` must be a multiple of the number of
    devices. With ``jax.distributed.initialize()`` on every host first, ``jax.devices()``
    spans all hosts and the seeds are spread over all of them. ``devices``: a list of devices
    to use instead of all.
    """
    if config.devices != 1:
        raise ValueError(
            f"Config.devices={config.devices}: train_seeds shards seeds, one device per run; "
            "use devices=1 here (or make_train for one data-parallel run)"
        )
    devices = jax.devices() if devices is None else list(devices)
    if len(keys) % len(devices):
        raise ValueError(
            f"train_seeds: {len(keys)} keys do not split evenly over {len(devices)} devices; "
            f"pass a multiple of {len(devices)}"
        )
    train, sharding = _seed_sharded(config, tuple(devices))
    hp = config.hparams() if hparams is None else hparams
    # every process holds all the keys; each places the rows of its own devices
    raw = np.asarray(jax.random.key_data(keys))
    global_raw = jax.make_array_from_callback(raw.shape, sharding, lambda index: raw[index])
    return train(global_raw, hp)


@functools.lru_cache(maxsize=16)
def _seed_sharded(config: Config, devices: tuple) -> tuple[Callable, Any]:
    """The jit-compiled, seed-sharded ``vmap(train)`` for ``config`` on ``devices`` (cached,
    so that calling ``train_seeds`` again does not recompile)."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    sharding = NamedSharding(Mesh(np.array(devices), ("seeds",)), P("seeds"))
    run = jax.vmap(make_train(config), in_axes=(0, None))
    train = jax.jit(
        lambda raw, hp: run(jax.random.wrap_key_data(raw), hp),
        in_shardings=(sharding, None),
        out_shardings=sharding,
    )
    return train, sharding
