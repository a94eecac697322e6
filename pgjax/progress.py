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
import numpy as np

from pgjax.config import Config, HParams
from pgjax.train import TrainResult, TrainState, make_pipeline

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


def train_in_chunks(
    config: Config,
    key: Array,
    *,
    num_chunks: int = 20,
    on_chunk: Callable[[ChunkReport, TrainState], None] | None = None,
    state: TrainState | None = None,
    metrics: dict[str, np.ndarray] | None = None,
    hparams: HParams | None = None,
) -> TrainResult:
    """Run ``config.num_updates`` updates as about ``num_chunks`` jit-compiled chunks.

    Args:
      config: the run.
      key: PRNG key (ignored when ``state`` is given).
      num_chunks: how many times to report; chunks are of equal length but the last.
      on_chunk: called with a ``ChunkReport`` and the ``TrainState`` after each chunk.
      state, metrics: continue a run from this state, with these metrics so far (resume).
      hparams: traced hyperparameters, as for ``train``; defaults to ``config.hparams()``.

    Returns:
      ``TrainResult`` with host (numpy) metrics of shape ``[num_updates]``.
    """
    pipeline = make_pipeline(config)
    hp = config.hparams() if hparams is None else hparams
    chunk = max(1, math.ceil(config.num_updates / num_chunks))

    @jax.jit
    def init(key: Array) -> TrainState:
        return pipeline.init(key, hp)

    def run(state: TrainState, length: int):
        return jax.lax.scan(lambda s, _: pipeline.update(s, hp), state, None, length=length)

    run = jax.jit(run, static_argnums=1)
    if state is None:
        state = init(key)
    history: list[dict[str, np.ndarray]] = [metrics] if metrics else []
    done = int(state.update)
    start = time.perf_counter()
    while done < config.num_updates:
        length = min(chunk, config.num_updates - done)
        tick = time.perf_counter()
        state, chunk_metrics = run(state, length)
        chunk_metrics = jax.device_get(chunk_metrics)
        history.append(chunk_metrics)
        done += length
        if on_chunk is not None:
            seconds = time.perf_counter() - tick
            count = chunk_metrics["episode_count"].sum()
            total = np.nansum(chunk_metrics["episode_return"] * chunk_metrics["episode_count"])
            on_chunk(
                ChunkReport(
                    updates_done=done,
                    num_updates=config.num_updates,
                    timesteps=done * config.batch_size,
                    steps_per_second=length * config.batch_size / seconds,
                    recent_return=float(total / count) if count else math.nan,
                    elapsed=time.perf_counter() - start,
                ),
                state,
            )
    merged = {k: np.concatenate([h[k] for h in history]) for k in history[0]} if history else {}
    return TrainResult(state, merged)


def format_report(r: ChunkReport) -> str:
    """One line: progress, throughput, recent return, time left."""
    rate = r.timesteps / r.elapsed if r.elapsed > 0 else 0.0
    left = (r.num_updates - r.updates_done) / r.updates_done * r.elapsed
    return (
        f"[{r.updates_done:>5}/{r.num_updates} updates] {r.timesteps:>11,} steps | "
        f"{r.steps_per_second:>9,.0f} steps/s | return {r.recent_return:8.1f} | "
        f"elapsed {r.elapsed:5.1f}s | ETA {left:5.1f}s (avg {rate:,.0f} steps/s)"
    )


def final_return(metrics: dict[str, np.ndarray], last: int = 10) -> float:
    """Mean over the last ``last`` updates of the per-update mean episode return (updates in
    which no episode ended are skipped)."""
    returns = np.asarray(metrics["episode_return"])[..., -last:]
    return float(np.nanmean(returns)) if np.isfinite(returns).any() else math.nan


__all__ = ["ChunkReport", "final_return", "format_report", "train_in_chunks"]
