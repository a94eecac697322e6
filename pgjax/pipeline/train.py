"""``make_train``: the stages composed into one pure, jit-compiled ``train(key[, hparams])``.

Each update reads top to bottom (``update``): **collect** a rollout of ``num_steps`` steps of
``num_envs`` environments (``pgjax.pipeline.rollout``); **estimate** the weights and the critic's
targets (``pgjax.algorithms.estimators``: GAE with bootstrapping at truncations and at the
rollout's end, or REINFORCE's returns); **learn** by the algorithm's learner
(``pgjax.algorithms.learners``); **report** the update's metrics, reduced to scalars: nothing per
step is kept. The choices that shape the program are made once, in a
``pgjax.pipeline.static.Static``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from pgjax.algorithms.estimators import Batch, estimate
from pgjax.algorithms.learners import OptState, init_opt_state, learn
from pgjax.core.hparams import HParams
from pgjax.envs import ObsNorm, init_obs_norm, update_obs_norm
from pgjax.math import losses
from pgjax.nets import Params
from pgjax.pipeline.config import Config
from pgjax.pipeline.rollout import (
    EnvCarry,
    EpisodeEnds,
    Trajectory,
    collect,
    no_legal_action,
    nonfinite_steps,
    reset,
)
from pgjax.pipeline.static import Static, make_static

Array = jax.Array


class TrainState(NamedTuple):
    """Everything a run needs to continue.

    ``params`` (``pgjax.nets.Params``); ``opt_state``
    (``pgjax.algorithms.learners.OptState``); ``env`` (environment states, current
    observations ``[N, ...]``, running episode statistics, a recurrent policy's hidden
    states);
    ``obs_norm`` (running observation statistics); ``algo``: the algorithm's own state
    (``Algorithm.state``: PPO-Penalty's β, REINFORCE's running mean, or ``()``); ``key``;
    ``update``: updates done so far (scalar int).
    """

    params: Params
    opt_state: OptState
    env: EnvCarry
    obs_norm: ObsNorm
    algo: Any
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


def init(static: Static, key: Array, hp: HParams) -> TrainState:
    """A run's first state: parameters, optimisers, environments, statistics, the
    algorithm's state."""
    k_params, k_env, k_next = jax.random.split(key, 3)
    params = static.net.init(k_params)
    return TrainState(
        params=params,
        opt_state=init_opt_state(static, params, hp),
        env=reset(static.env, static.shard_key(k_env), static.num_envs, static.net),
        obs_norm=init_obs_norm(
            static.spec.obs_shape if static.spec.obs_spec is None else static.spec.obs_spec
        ),
        algo=static.algorithm.state.init(hp),
        key=k_next,
        update=jnp.zeros((), jnp.int32),
    )


def _explained_variance(pred: Array, target: Array) -> Array:
    """1 − Var[target − pred] / Var[target]."""
    return 1.0 - jnp.var(target - pred) / (jnp.var(target) + 1e-8)


def _mean_or_nan(total: Array, count: Array) -> Array:
    """``total / count``, NaN where ``count == 0`` (no episode ended: not a return of 0)."""
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def report(
    static: Static,
    state: TrainState,
    new_params: Params,
    batch: Batch,
    flat: Batch,
    ends: EpisodeEnds,
    stats: dict[str, Array],
    hp: HParams,
) -> tuple[dict[str, Array], Array]:
    """The update's metrics (scalars) and the measured KL(π_old‖π_new), over the whole batch:
    the episodes that ended, the critic's fit, and how far the update moved the policy (the
    exact KL, the behaviour distance, and the importance ratios of the taken actions under
    the new policy)."""
    dist = static.net.dist
    new_dist_params = static.net.policy(new_params, flat.obs, flat.memory)
    kl = static.mean_all(jnp.mean(dist.kl(flat.old_dist_params, new_dist_params)))
    new_log_prob = dist.log_prob(new_dist_params, flat.action)
    ratio = losses.importance_ratio(new_log_prob, flat.log_prob)
    ends = jax.tree.map(static.sum_all, ends)
    mean_all = static.mean_all
    metrics = {
        "episode_return": _mean_or_nan(ends.return_total, ends.count),
        "episode_length": _mean_or_nan(ends.length_total, ends.count),
        "episode_count": ends.count,
        **{f"episode_{k}": _mean_or_nan(t, ends.count) for k, t in ends.info_total.items()},
        "timesteps": (state.update + 1) * static.batch * static.num_shards,
        "explained_variance": mean_all(_explained_variance(batch.values, batch.targets)),
        "kl": kl,
        "approx_kl": mean_all(jnp.mean(losses.approx_kl(new_log_prob, flat.log_prob))),
        "clip_fraction": mean_all(jnp.mean(jnp.abs(ratio - 1.0) > hp.clip_eps)),
        "ratio_mean": mean_all(jnp.mean(ratio)),
        "ratio_std": mean_all(jnp.std(ratio)),
        "ratio_max": static.max_all(jnp.max(ratio)),
        **static.algorithm.state.metrics(state.algo),
        **stats,
    }
    return metrics, kl


def update(
    static: Static, state: TrainState, hp: HParams, on_update: Callable | None = None
) -> tuple[TrainState, dict[str, Array]]:
    """One update: collect → estimate → learn → report. ``on_update``, if given, hears every
    scalar metric on the host (``jax.debug.callback``), with ``update`` the updates done."""
    key, k_roll, k_learn, k_reset = jax.random.split(state.key, 4)
    k_roll, k_reset = static.shard_key(k_roll), static.shard_key(k_reset)
    params, obs_norm = state.params, state.obs_norm
    # REINFORCE collects whole episodes from fresh starts, so R(τ) means the whole episode
    start = state.env
    if static.algorithm.estimator.fresh_episodes:
        start = reset(static.env, k_reset, static.num_envs, static.net)
    carry, traj, ends = collect(static, params, obs_norm, start, k_roll)
    own = static.algorithm.state.hparams(state.algo, hp)  # e.g. PPO-Penalty's current β
    first = state.update == 0
    batch, algo, estimated = estimate(static, params, obs_norm, traj, state.algo, own, first)
    flat = batch if static.windows else batch.transitions()
    new_params, opt_state, stats = learn(static, params, state.opt_state, flat, k_learn, own)
    stats = {**estimated, **stats}
    metrics, kl = report(static, state, new_params, batch, flat, ends, stats, hp)
    metrics["env_nonfinite"] = static.sum_all(jnp.sum(nonfinite_steps(traj)))
    if static.spec.masked:
        metrics["no_legal_action"] = static.sum_all(jnp.sum(no_legal_action(traj)))
    algo = static.algorithm.state.after_update(algo, kl, static.config.settings)
    if static.config.normalize_obs:
        obs_norm = _update_norm(static, obs_norm, traj)
    if on_update is not None:
        jax.debug.callback(on_update, {"update": state.update + 1, **metrics})
    new_state = TrainState(new_params, opt_state, carry, obs_norm, algo, key, state.update + 1)
    return new_state, metrics


def _update_norm(static: Static, obs_norm: ObsNorm, traj: Trajectory) -> ObsNorm:
    raw = jax.tree.map(lambda x: x.reshape((static.batch, *x.shape[2:])), traj.obs)
    return update_obs_norm(obs_norm, raw, static.axis_name)


def make_pipeline(
    config: Config,
    on_update: Callable[[dict[str, Array]], None] | None = None,
    axis_name: str | None = None,
    num_shards: int = 1,
) -> Pipeline:
    """Validate ``config`` and build its ``init`` and ``update`` functions.

    ``on_update``, if given, is called on the host after every update (through
    ``jax.debug.callback``, from inside the compiled code) with a dict of scalars: ``update``
    (updates done) and every metric of the update. Without it the functions are pure.

    Data parallel (``num_shards > 1``, run under ``shard_map`` over ``axis_name``): each
    shard steps ``num_envs / num_shards`` environments and learns on its share of every
    minibatch; gradients, advantage and observation statistics, the KL and the metrics are
    averaged (or summed) over the axis, so every shard takes the same step as one device on
    the whole batch would, and holds the same parameters.
    """
    static = make_static(config, num_shards, axis_name)
    return Pipeline(
        functools.partial(init, static), functools.partial(update, static, on_update=on_update)
    )


def make_train(
    config: Config, on_update: Callable[[dict[str, Array]], None] | None = None
) -> Callable[..., TrainResult]:
    """Build ``train(key, hparams=None) → TrainResult`` for ``config``.

    ``train`` is pure: jit it, vmap it over keys (seeds) and over ``HParams`` (sweeps).
    ``hparams`` defaults to ``config.hparams()``; pass a ``HParams`` of traced (or batched)
    scalars to sweep without recompiling::

        hp = config.hparams().set(lr=jnp.array([1e-4, 3e-4, 1e-3]))
        jax.jit(jax.vmap(make_train(config), in_axes=(None, hp.axes(["lr"]))))(key, hp)

    The algorithm's traced settings sweep the same way (``hp.set(max_kl=...)``, for TRPO;
    a user's own knob by its name).

    ``on_update``: an optional host function called after every update with its scalars
    (see ``make_pipeline``), e.g. ``pgjax.tools.loggers.ProgressBar``; without it ``train`` is pure.

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
