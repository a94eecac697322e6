"""Training in jit-compiled chunks of updates, with a report after each chunk.

``train_in_chunks`` gives the same ``TrainResult`` as ``jax.jit(make_train(config))(key)``,
but returns to Python every chunk: to print progress, to save a checkpoint, to stop cleanly.
The math stays inside jit; only the per-update scalar metrics cross to the host.
"""

from __future__ import annotations

import math
import sys
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
        metrics of every update so far (host arrays): what a checkpoint needs.
      state, metrics: continue a run from this state, with these metrics so far (resume).
      hparams: traced hyperparameters, as for ``train``; defaults to ``config.hparams()``.
      on_update: host function called after every update, from inside the compiled chunk
        (see ``make_pipeline``); e.g. a ``ProgressBar``.
      should_stop: checked after each chunk (and its ``on_chunk``); when it returns True the
        run stops there and the result so far is returned (``state.update`` tells how far).

    Returns:
      ``TrainResult`` with host (numpy) metrics of shape ``[updates done]``.
    """
    pipeline = make_pipeline(config, on_update)
    hp = config.hparams() if hparams is None else hparams
    chunk = max(1, math.ceil(config.num_updates / num_chunks))

    @jax.jit
    def init(key: Array) -> TrainState:
        return pipeline.init(key, hp)

    def run(state: TrainState):
        # every chunk has the same length, so one compilation serves them all; updates past
        # the end of the run (in the last chunk) are skipped, and their rows dropped
        def step(state: TrainState, _):
            return jax.lax.cond(
                state.update < config.num_updates,
                lambda s: pipeline.update(s, hp),
                lambda s: (s, skipped),
                state,
            )

        return jax.lax.scan(step, state, None, length=chunk)

    run = jax.jit(run)
    if state is None:
        state = init(key)
    # what a skipped update reports: zeros of each metric's shape and dtype
    shapes = jax.eval_shape(lambda s: pipeline.update(s, hp)[1], state)
    skipped = jax.tree.map(lambda x: jax.numpy.zeros(x.shape, x.dtype), shapes)
    history: list[dict[str, np.ndarray]] = [metrics] if metrics else []
    done = int(state.update)
    start = time.perf_counter()
    while done < config.num_updates:
        length = min(chunk, config.num_updates - done)
        tick = time.perf_counter()
        state, chunk_metrics = run(state)
        chunk_metrics = {k: v[:length] for k, v in jax.device_get(chunk_metrics).items()}
        history = [_merge([*history, chunk_metrics])]
        done += length
        if on_chunk is not None:
            seconds = time.perf_counter() - tick
            count = chunk_metrics["episode_count"].sum()
            total = np.nansum(chunk_metrics["episode_return"] * chunk_metrics["episode_count"])
            report = ChunkReport(
                updates_done=done,
                num_updates=config.num_updates,
                timesteps=done * config.batch_size,
                steps_per_second=length * config.batch_size / seconds,
                recent_return=float(total / count) if count else math.nan,
                elapsed=time.perf_counter() - start,
            )
            on_chunk(report, state, history[0])
        if should_stop is not None and should_stop():
            break
    merged = history[0] if history else {}
    return TrainResult(state, merged)


class ProgressBar:
    """A live progress line for ``on_update``: bar, steps, steps/s, recent mean return, ETA.

    On a terminal the line is redrawn in place (at most ``hz`` times a second); otherwise a
    line is printed at every tenth of the run. Call ``close()`` at the end.
    """

    def __init__(self, num_updates: int, batch_size: int, *, hz: float = 10.0, file=None):
        self.num_updates, self.batch_size = num_updates, batch_size
        self.file = file or sys.stdout
        self.tty = self.file.isatty()
        self.interval = 1.0 / hz
        self.recent: list[tuple[float, float]] = []  # (return total, count) of recent updates
        self.start = None
        self.last_draw = -math.inf
        self.drawn = 0  # the last update drawn
        self.start_update = 0
        self.update = 0
        self.next_line = 0.1

    def __call__(self, info: dict) -> None:
        now = time.perf_counter()
        update = int(np.max(info["update"]))
        if self.start is None:  # first call: after compilation; rates count from here
            self.start, self.start_update = now, update - 1
        self.update = max(self.update, update)
        count = float(np.sum(info["episode_count"]))
        if count:
            total = float(np.nansum(info["episode_return"] * info["episode_count"]))
            self.recent = [*self.recent, (total, count)][-20:]
        fraction = self.update / self.num_updates
        if self.update <= self.drawn:  # under vmap: one call per run of the same update
            return
        if self.tty:
            if now - self.last_draw >= self.interval or fraction >= 1:
                self.last_draw, self.drawn = now, self.update
                self.file.write("\r" + self.line(now))
                self.file.flush()
        elif fraction >= self.next_line:
            self.next_line = math.floor(fraction * 10 + 1) / 10
            self.drawn = self.update
            print(self.line(now), file=self.file, flush=True)

    def line(self, now: float) -> str:
        width = 24
        fraction = self.update / self.num_updates
        filled = int(width * fraction)
        elapsed = now - self.start
        done = self.update - self.start_update
        rate = done * self.batch_size / elapsed if elapsed > 0 else 0.0
        eta = (self.num_updates - self.update) * elapsed / done if done > 0 else math.nan
        totals = sum(t for t, _ in self.recent), sum(c for _, c in self.recent)
        ret = totals[0] / totals[1] if totals[1] else math.nan
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.update * self.batch_size:>11,} steps "
            f"| {rate:>9,.0f} steps/s | return {ret:8.1f} | ETA {_duration(eta)}"
        )

    def close(self) -> None:
        if self.tty and self.start is not None:
            self.file.write("\n")
            self.file.flush()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


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
    which no episode ended are skipped). If no episode ended in them (long episodes that all
    end together, as Freeway's time limit makes them), the return of the last update in which
    episodes did end; NaN if none ever did."""
    returns = np.asarray(metrics["episode_return"])
    window = returns[..., -last:]
    if np.isfinite(window).any():
        return float(np.nanmean(window))
    finite = returns[np.isfinite(returns)] if returns.ndim == 1 else []
    return float(finite[-1]) if len(finite) else math.nan


__all__ = ["ChunkReport", "ProgressBar", "final_return", "format_report", "train_in_chunks"]
