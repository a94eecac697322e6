"""A run as a person runs it: in chunks, with loggers, a run folder with checkpoints, resume,
and a clean stop; what ``pgjax train`` does, for a notebook or a script too.

    from pgjax import Config
    from pgjax.loggers import ProgressBar
    from pgjax.runner import run
    config = Config(total_timesteps=200_000)
    result = run(config, seed=0, run_dir="runs/a",
                 loggers=[ProgressBar(config.num_updates, config.batch_size)])
    run(config.replace(total_timesteps=400_000), seed=0, run_dir="runs/a", resume=True)

A run folder holds ``config.json``, ``metrics.csv``, ``curve.png`` and
``checkpoint.msgpack`` (``pgjax.checkpoint``); it is held by one process at a time.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from pgjax import checkpoint
from pgjax.config import Config
from pgjax.loggers import CsvLogger, Logger
from pgjax.progress import ChunkReport, merge, train_in_chunks
from pgjax.train import TrainResult, TrainState


def run(
    config: Config,
    seed: int = 0,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    loggers: Sequence[Logger] = (),
    num_chunks: int = 20,
    should_stop: Callable[[], bool] | None = None,
    state: TrainState | None = None,
    metrics: dict[str, np.ndarray] | None = None,
) -> TrainResult:
    """Train ``config`` from ``jax.random.key(seed)`` in ``num_chunks`` compiled chunks,
    handing every logger the metrics (live ones every update, the others every chunk).

    With ``run_dir``: the folder is held for the run, checked writable first; ``config.json``
    is written, then after each chunk the checkpoint and ``metrics.csv`` (the checkpoint is
    never replaced by a non-finite one: a diverging run stops with
    ``pgjax.progress.DivergedError``), and ``curve.png`` at the end. ``resume``: continue the
    folder's run from its checkpoint (from update 0 if it saved none); a folder that holds a
    run is otherwise refused (``CheckpointError``). ``state``, ``metrics``: continue from
    these instead (what ``checkpoint.restore`` gives).

    ``should_stop`` is asked after each chunk; the result's ``state.update`` says how far the
    run got.
    """
    loggers = list(loggers)
    try:
        if run_dir is None:
            return _chunks(config, seed, None, loggers, num_chunks, should_stop, state, metrics)
        run_dir = checkpoint.check_writable(run_dir, "run_dir")
        with checkpoint.hold(run_dir):
            if resume and state is None and (run_dir / checkpoint.CHECKPOINT_FILE).exists():
                state, metrics = checkpoint.restore(run_dir, config, seed)
            elif not resume and (run_dir / checkpoint.CONFIG_FILE).exists():
                raise checkpoint.CheckpointError(
                    f"{run_dir} already holds a run; resume it, or choose another folder"
                )
            checkpoint.save_config(run_dir, config, seed)
            loggers.append(CsvLogger(run_dir, metrics))
            result = _chunks(
                config, seed, run_dir, loggers, num_chunks, should_stop, state, metrics
            )
            checkpoint.plot_curve(run_dir, result.metrics, f"{config.algo} on {config.env}")
            return result
    finally:
        for logger in loggers:
            logger.close()


def _chunks(config, seed, run_dir, loggers, num_chunks, should_stop, state, metrics):
    parts = [metrics] if metrics else []
    live = [logger for logger in loggers if logger.live]

    def on_update(info: dict) -> None:
        rows = {k: np.asarray(v)[None] for k, v in info.items()}
        for logger in live:
            logger.log(int(info["timesteps"]), rows)

    def on_chunk(report: ChunkReport, state: TrainState, rows: dict[str, np.ndarray]) -> None:
        parts[:] = [merge([*parts, rows])]
        if run_dir is not None:
            checkpoint.save_checkpoint(run_dir, state, parts[0])
        n = len(next(iter(rows.values())))
        done = report.updates_done
        rows = {"update": np.arange(done - n + 1, done + 1), **rows}
        for logger in loggers:
            if not logger.live:
                logger.log(report.timesteps, rows)

    return train_in_chunks(
        config,
        jax.random.key(seed),
        num_chunks=num_chunks,
        on_chunk=on_chunk,
        on_update=on_update if live else None,
        should_stop=should_stop,
        state=state,
        metrics=metrics,
    )


class StopOnSigint:
    """A ``should_stop`` for Ctrl-C: the first finishes the chunk in flight (the run then
    saves and stops); the second raises ``KeyboardInterrupt`` at once.

        with StopOnSigint() as stop:
            run(config, run_dir="runs/a", should_stop=stop)
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopOnSigint:
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\npgjax: stopping after this chunk (Ctrl-C again to quit now)", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)


__all__ = ["StopOnSigint", "run"]
