"""Where a run's metrics go: the ``Logger`` seam and its sinks.

A logger hears ``log(step, rows)``: ``step`` the environment steps done after the last row,
``rows`` a dict of host arrays ``[n]``, one entry per scalar metric of each of the ``n``
updates, with ``update`` (the updates done after each row) among them. A *live* logger
(``live = True``) hears every update as it happens, through a host callback from inside the
compiled training (``n = 1``); the others hear each chunk's rows once the chunk is done, at no
cost inside the compiled code. ``close()`` ends it.

    ProgressBar      the live line on a terminal (or a line per tenth of the run elsewhere)
    ChunkLines       one line per chunk (``pgjax train --no-progress``)
    CsvLogger        ``metrics.csv`` in a run folder, one row per update
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from pgjax.tools import metrics_files
from pgjax.tools.metrics_files import merge


class Logger(Protocol):
    """A sink for metrics (see the module's docstring)."""

    live: bool

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None: ...

    def close(self) -> None: ...


class ProgressBar:
    """A live progress line: bar, steps, steps/s, recent mean return, ETA. A live ``Logger``;
    also usable as ``make_train``'s ``on_update`` (a call with one update's dict).

    On a terminal the line is redrawn in place (at most ``hz`` times a second); otherwise a
    line is printed at every tenth of the run. Call ``close()`` at the end.
    """

    live = True

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
        if self.start is None:  # first call: after compilation; rates count from here, and
            # the first line is drawn once there is a rate (a resumed run starts mid-way)
            self.start, self.start_update = now, update
            self.drawn = self.update = update
            self.next_line = math.floor(update / self.num_updates * 10 + 1) / 10
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

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None:
        for i in range(len(rows["update"])):
            self({k: v[i] for k, v in rows.items()})

    def line(self, now: float) -> str:
        width = 24
        fraction = self.update / self.num_updates
        filled = int(width * fraction)
        elapsed = now - self.start
        done = self.update - self.start_update
        rate = done * self.batch_size / elapsed if elapsed > 0 else 0.0
        eta = (self.num_updates - self.update) * elapsed / done if done > 0 else math.nan
        totals = sum(t for t, _ in self.recent), sum(c for _, c in self.recent)
        ret = f"{totals[0] / totals[1]:8.1f}" if totals[1] else f"{'--':>8}"
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.update * self.batch_size:>11,} steps "
            f"| {rate:>9,.0f} steps/s | return {ret} | ETA {_duration(eta)}"
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


class ChunkLines:
    """One line per chunk: updates, steps, steps/s over the chunk (the first includes
    compilation), the mean return of the episodes that ended in it, elapsed time, ETA."""

    live = False

    def __init__(self, num_updates: int, batch_size: int, *, file=None):
        self.num_updates, self.batch_size = num_updates, batch_size
        self.file = file or sys.stdout
        self.start = self.tick = time.perf_counter()
        self.first = None  # the update the run (or its resumption) started from

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None:
        now = time.perf_counter()
        done, n = int(rows["update"][-1]), len(rows["update"])
        if self.first is None:
            self.first = done - n
        count = float(np.sum(rows["episode_count"]))
        total = float(np.nansum(rows["episode_return"] * rows["episode_count"]))
        ret = f"{total / count:8.1f}" if count else f"{'--':>8}"
        elapsed = now - self.start
        rate = n * self.batch_size / max(now - self.tick, 1e-9)
        avg = (done - self.first) * self.batch_size / max(elapsed, 1e-9)
        left = (self.num_updates - done) * elapsed / max(done - self.first, 1)
        self.tick = now
        print(
            f"[{done:>5}/{self.num_updates} updates] {step:>11,} steps | {rate:>9,.0f} steps/s | "
            f"return {ret} | elapsed {elapsed:5.1f}s | ETA {left:5.1f}s "
            f"(avg {avg:,.0f} steps/s)",
            file=self.file,
            flush=True,
        )

    def close(self) -> None:
        pass


class CsvLogger:
    """``metrics.csv`` in ``run_dir``: every row so far (``history``: the rows a resumed run
    already has), rewritten atomically after each chunk, so that the file always matches a
    checkpoint's metrics."""

    live = False

    def __init__(self, run_dir: str | Path, history: dict[str, np.ndarray] | None = None):
        self.run_dir = Path(run_dir)
        self.parts = [history] if history else []

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None:
        self.parts = [merge([*self.parts, {k: v for k, v in rows.items() if k != "update"}])]
        metrics_files.write_metrics_csv(self.run_dir, self.parts[0])

    def close(self) -> None:
        pass
