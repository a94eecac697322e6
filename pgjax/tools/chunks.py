"""Training in jit-compiled chunks of updates, with a report after each chunk.

``train_in_chunks`` gives the same ``TrainResult`` as ``jax.jit(make_train(config))(key)``,
but returns to Python every chunk: to print progress, to save a checkpoint, to stop cleanly.
The math stays inside jit; only the per-update scalar metrics cross to the host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jax.sharding import PartitionSpec as P

from pgjax.core.hparams import HParams
from pgjax.pipeline.config import Config
from pgjax.pipeline.train import (
    AXIS,
    STATE_SPEC,
    TrainResult,
    TrainState,
    data_parallel,
    make_pipeline,
    num_devices,
)
from pgjax.tools.metrics_files import merge

Array = jax.Array


class ChunkReport(NamedTuple):
    """What a caller hears after each chunk.

    ``updates_done`` / ``num_updates``; ``timesteps`` done; ``steps_per_second`` over the
    chunk (the first chunk includes compilation); ``recent_return``: mean return of the
    episodes that ended in the chunk (NaN if none); ``elapsed``: seconds since the start.
    """

    updates_done: int
    num_updates: int
    timesteps: int
    steps_per_second: float
    recent_return: float
    elapsed: float


def _compiled(config: Config, on_update, hp: HParams, chunk: int, poll=None):
    """``init(key) → state`` and ``run_chunk(state) → (state, metrics [chunk], params
    finite)``, jit-compiled, on one device or data parallel (``Config.devices``). ``poll``: a
    host function asked before every update (``io_callback``) whether to stop; once it says
    yes, the chunk's remaining updates are skipped (every shard skips them together)."""
    shards = num_devices(config)  # a ValueError names the field if the devices are not there
    pipeline = make_pipeline(
        config, on_update, axis_name=AXIS if shards > 1 else None, num_shards=shards
    )

    def run(state: TrainState, hp: HParams):
        # every chunk has the same length, so one compilation serves them all; updates past
        # the end of the run (in the last chunk) are skipped, and their rows dropped
        update = lambda s: pipeline.update(s, hp)  # noqa: E731
        # what a skipped update reports: zeros of each metric's shape and dtype
        skipped = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(update, state))

        def step(state: TrainState, _):
            go = state.update < config.num_updates
            if poll is not None:
                go = go & ~_asked(poll, shards)
            return jax.lax.cond(go, update, lambda s: (s, skipped[1]), state)

        state, metrics = jax.lax.scan(step, state, None, length=chunk)
        return state, metrics, params_finite(state.params)

    if shards > 1:  # environments split over the devices, as make_train splits them
        traced = jax.tree.map(jnp.asarray, hp)  # passed in, as make_train passes them
        init_dp = jax.jit(data_parallel(pipeline.init, shards, (P(), P()), STATE_SPEC))
        run_dp = jax.jit(data_parallel(run, shards, (STATE_SPEC, P()), (STATE_SPEC, P(), P())))
        return (lambda k: init_dp(k, traced)), (lambda s: run_dp(s, traced))
    # the hyperparameters are constants, as in make_train's single-device train
    return jax.jit(lambda k: pipeline.init(k, hp)), jax.jit(lambda s: run(s, hp))


def _asked(poll: Callable[[], bool], shards: int) -> Array:
    """``poll()`` on the host, as a traced boolean; over ``shards`` devices, True where any
    shard heard True, so that they all skip together (a shard that went on alone would wait
    for the others' gradients forever)."""
    stop = io_callback(lambda: np.bool_(poll()), jax.ShapeDtypeStruct((), jnp.bool_))
    if shards > 1:
        stop = jax.lax.pmax(stop.astype(jnp.int32), AXIS) > 0
    return stop


def train_in_chunks(
    config: Config,
    key: Array,
    *,
    num_chunks: int = 20,
    on_chunk: Callable[[ChunkReport, TrainState, dict[str, np.ndarray]], None] | None = None,
    state: TrainState | None = None,
    metrics: dict[str, np.ndarray] | None = None,
    hparams: HParams | None = None,
    on_update: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Run ``config.num_updates`` updates as about ``num_chunks`` jit-compiled chunks.

    Args:
      config: the run.
      key: PRNG key (ignored when ``state`` is given).
      num_chunks: how many times to report; chunks are of equal length but the last.
      on_chunk: called after each chunk with a ``ChunkReport``, the ``TrainState`` and the
        chunk's own rows of metrics (host arrays ``[updates in the chunk]``).
      state: continue a run from this state (resume).
      metrics: the run's metrics so far, when continuing it.
      hparams: traced hyperparameters, as for ``train``; defaults to ``config.hparams()``.
      on_update: host function called after every update, from inside the compiled chunk
        (see ``make_pipeline``); e.g. a ``ProgressBar``.
      should_stop: checked after each chunk (and its ``on_chunk``); when it returns True the
        run stops there and the result so far is returned (``state.update`` tells how far).
        With ``on_update`` it is also asked before every update from inside the compiled
        chunk (the chunk has host callbacks then anyway), and the chunk ends early, after the
        update in flight, once it says True: a stop (SIGTERM's 30 s of grace) loses at most
        one update, never a chunk. The updates are the same either way: a run stopped there
        and resumed equals one never stopped, bit for bit.

    Raises:
      DivergedError: a chunk produced a non-finite loss or parameters; raised before that
        chunk reaches ``on_chunk``, so a checkpoint written there is never a non-finite one.

    Returns:
      ``TrainResult`` with host (numpy) metrics of shape ``[updates done]``.
    """
    hp = config.hparams() if hparams is None else hparams
    chunk = max(1, math.ceil(config.num_updates / num_chunks))
    poll = should_stop if on_update is not None else None
    init, run_chunk = _compiled(config, on_update, hp, chunk, poll)
    if state is None:
        state = init(key)
    parts: list[dict[str, np.ndarray]] = [metrics] if metrics else []
    done = int(state.update)
    start = time.perf_counter()
    while done < config.num_updates:
        tick = time.perf_counter()
        state, chunk_metrics = _checked_chunk(config, run_chunk, state, done)
        parts.append(chunk_metrics)
        done = int(state.update)
        if on_chunk is not None:
            report = _report(config, chunk_metrics, done, tick, start)
            on_chunk(report, state, chunk_metrics)
        if should_stop is not None and should_stop():
            break
    return TrainResult(state, merge(parts) if parts else {})


def _checked_chunk(config: Config, run_chunk, state: TrainState, done: int):
    """Run one chunk from update ``done``: the state, and the host rows of the updates it made
    (fewer than a chunk at the end of the run, or where it stopped early), checked finite
    (``DivergedError`` otherwise)."""
    state, metrics, finite = run_chunk(state)
    length = int(state.update) - done
    metrics = {k: v[:length] for k, v in jax.device_get(metrics).items()}
    _check_finite(config, metrics, bool(finite), done)
    return state, metrics


def _report(
    config: Config, rows: dict[str, np.ndarray], done: int, tick: float, start: float
) -> ChunkReport:
    """The ``ChunkReport`` of a chunk whose ``rows`` end at update ``done``, begun at ``tick``
    of a run begun at ``start`` (``time.perf_counter`` values)."""
    now = time.perf_counter()
    count = rows["episode_count"].sum()
    total = np.nansum(rows["episode_return"] * rows["episode_count"])
    return ChunkReport(
        updates_done=done,
        num_updates=config.num_updates,
        timesteps=done * config.batch_size,
        steps_per_second=len(rows["episode_count"]) * config.batch_size / (now - tick),
        recent_return=float(total / count) if count else math.nan,
        elapsed=now - start,
    )


LOSS_METRICS = ("loss", "policy_loss", "value_loss", "grad_norm")
"""The metrics that are finite in every healthy update (the episode statistics are NaN where
no episode ended, and are not among them)."""


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss or non-finite parameters. ``update`` is the first
    update (1-based) at which it was seen; the message names the likely cause."""

    def __init__(self, message: str, update: int):
        super().__init__(message)
        self.update = update


def params_finite(params) -> Array:
    """True (a scalar) where every parameter is finite: one reduction, cheap inside jit."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))


def diverged_updates(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean ``[..., updates]``: where a loss or gradient norm (``LOSS_METRICS``) is not
    finite."""
    bad = [~np.isfinite(np.asarray(metrics[k])) for k in LOSS_METRICS if k in metrics]
    return np.any(bad, axis=0)


def _check_finite(config: Config, chunk: dict[str, np.ndarray], finite: bool, done: int):
    # called before the chunk is handed on (to a checkpoint): a non-finite state is never saved
    bad = np.flatnonzero(diverged_updates(chunk))
    env = np.flatnonzero(np.asarray(chunk.get("env_nonfinite", 0)) > 0)
    if finite and not len(bad) and not len(env):
        return
    length = len(chunk["timesteps"])
    first = min([*bad[:1], *env[:1], length - 1])
    update = done + 1 + int(first)
    start = f"training diverged at update {update} of {config.num_updates}"
    good = f"the last good state is that of update {done}"
    if len(env) and env[0] == first:
        steps = int(chunk["env_nonfinite"][first])
        raise DivergedError(
            f"{start}: the environment ({config.env}) returned an inf or NaN reward or "
            f"observation at {steps} of the update's "
            f"{config.batch_size} steps; {good}. The "
            "environment's step is at fault, not the learning rate: check its rewards and "
            "observations",
            update,
        )
    what = "the loss" if len(bad) else "the parameters"
    raise DivergedError(
        f"{start}: {what} became non-finite (inf or NaN) while the environment's rewards and "
        f"observations stayed finite; {good}. Likely cause: steps too large for this problem "
        f"(lr={config.lr:g}, reward_scale={config.reward_scale:g}, "
        f"max_grad_norm={config.max_grad_norm:g}); lower lr or reward_scale",
        update,
    )


def final_return(metrics: dict[str, np.ndarray], last: int = 10) -> float:
    """Mean over the last ``last`` updates of the per-update mean episode return (updates in
    which no episode ended are skipped). If no episode ended in them (long episodes that all
    end together, as Freeway's time limit makes them), the return of the last update in which
    episodes did end; NaN if none ever did."""
    returns = np.asarray(metrics["episode_return"])
    window = returns[..., -last:]
    if np.isfinite(window).any():
        return float(np.nanmean(window))
    finite = returns[np.isfinite(returns)] if returns.ndim == 1 else []
    return float(finite[-1]) if len(finite) else math.nan


__all__ = [
    "LOSS_METRICS",
    "ChunkReport",
    "DivergedError",
    "diverged_updates",
    "final_return",
    "params_finite",
    "train_in_chunks",
]
