"""What experiment tracking costs: the same run with no tracker, with TensorBoard, with W&B
(offline) and with both, side by side in one process, in alternating order.

    python benchmarks/tracking.py             # PPO-Clip on CartPole, 500k steps, 20 chunks, x3
    python benchmarks/tracking.py --quick     # 50k steps, x1: a smoke test

The trackers hear each chunk's rows between the compiled chunks, so their cost is the host
time of writing those rows. steps/s is counted from the end of the first chunk (after the
compilation) to the end of the last, through every tracker's writing in between (W&B writes
on a thread of its own, overlapping the next chunk); then the seconds from the end of the
last chunk until the run has returned (the writing left, and closing: W&B's ``finish``); the
medians of the repeats. Writes ``tracking_<backend>.md`` into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from common import machine, out_dir, script, write_table

from pgjax import Config
from pgjax.tools.session import run
from pgjax.tools.tracking import TensorBoardLogger, WandbLogger


class Clock:
    """A chunk-time logger: the time and steps at the end of each chunk."""

    live = False

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def log(self, step: int, rows) -> None:
        self.marks.append((time.perf_counter(), step))

    def close(self) -> None:
        pass

    def rate(self) -> float:
        (t0, s0), (t1, s1) = self.marks[0], self.marks[-1]
        return (s1 - s0) / (t1 - t0)


def trackers(name: str, folder: str, config: Config) -> list:
    made = []
    if name in ("tensorboard", "both"):
        made.append(TensorBoardLogger(os.path.join(folder, "tensorboard"), config))
    if name in ("wandb", "both"):
        made.append(WandbLogger(folder, config))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="50k steps, one repeat")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    if args.quick:
        args.total_timesteps, args.repeats = 50_000, 1
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    config = Config(total_timesteps=args.total_timesteps)
    names = ["none", "tensorboard", "wandb", "both"]
    rates: dict[str, list[float]] = {n: [] for n in names}
    closes: dict[str, list[float]] = {n: [] for n in names}  # writing left, and closing
    scratch = tempfile.mkdtemp(prefix="pgjax-tracking-")
    for repeat in range(args.repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            clock = Clock()  # first: its interval includes the others' writing
            folder = os.path.join(scratch, f"{name}-{repeat}")
            loggers = [clock, *trackers(name, folder, config)]
            run(config, seed=0, num_chunks=args.chunks, loggers=loggers)
            rates[name].append(clock.rate())
            closes[name].append(time.perf_counter() - clock.marks[-1][0])
            print(
                f"repeat {repeat}: {name:<12} {rates[name][-1]:>10,.0f} steps/s, "
                f"{closes[name][-1]:.2f} s after the last chunk",
                flush=True,
            )
    base = float(np.median(rates["none"]))
    lines = [
        f"Command: `python benchmarks/tracking.py {' '.join(sys.argv[1:])}`",
        "",
        machine(),
        "",
        f"PPO-Clip on CartPole-v1, {config.num_updates * config.batch_size:,} steps in "
        f"{args.chunks} chunks, {args.repeats} repeat(s) in alternating order; steps/s from "
        "the end of the first chunk to the end of the last (median)",
        "",
        "| trackers | steps/s | of no tracker's | s after the last chunk (writing, closing) |",
        "| --- | --- | --- | --- |",
    ]
    for name in names:
        rate = float(np.median(rates[name]))
        close = float(np.median(closes[name]))
        lines.append(f"| {name} | {rate:,.0f} | {rate / base:.2f} | {close:.2f} |")
    print("\n".join(lines), flush=True)
    import jax

    folder = out_dir(args.out_dir, args.quick)
    write_table(lines, os.path.join(folder, f"tracking_{jax.default_backend()}.md"))


if __name__ == "__main__":
    script(main)
