"""Seconds from SIGTERM (or SIGHUP, Ctrl-C) to the exit of ``pgjax train``, the work done so
far saved: what a scheduler's grace period (Slurm's and Kubernetes' default: 30 s) must cover.

    python benchmarks/stop_time.py                 # CartPole's default run, 5 stops
    python benchmarks/stop_time.py --signal HUP --env Breakout-MinAtar

Each repetition starts ``pgjax train`` (with its live bar) in a fresh folder, waits for the
bar's line at a tenth of the run (the compiled chunk is running), sends the signal and times
the exit; it checks the exit status (128 + the signal's number) and that the checkpoint saved
holds the updates ``metrics.csv`` says were done.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from common import machine, out_dir, script, write_table

from pgjax.tools import checkpoint, config_file, metrics_files


def stop_once(signum: int, env: str, folder: str) -> tuple[float, int]:
    """(seconds from the signal to the exit, updates saved) of one run stopped mid-chunk."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pgjax.tools.cli", "train", "--env", env, "--run-dir", folder],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGJAX_CACHE_DIR": os.path.join(folder + "-cache")},
    )
    for line in process.stdout:
        if line.startswith("[##"):  # the line at a tenth: training, not compiling
            break
    sent = time.perf_counter()
    process.send_signal(signum)
    process.communicate(timeout=300)
    seconds = time.perf_counter() - sent
    if process.returncode != 128 + signum:
        raise SystemExit(f"exit status {process.returncode}, expected {128 + signum}")
    config, seed = config_file.load_config(folder)
    state, _ = checkpoint.restore(folder, config, seed)
    saved = len(metrics_files.read_metrics_csv(os.path.join(folder, "metrics.csv"))["update"])
    if saved != int(state.update):
        raise SystemExit(f"metrics.csv has {saved} updates, the checkpoint {int(state.update)}")
    return seconds, saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signal", default="TERM", choices=["TERM", "HUP", "INT"])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one stop")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    signum = getattr(signal, f"SIG{args.signal}")
    repeats = 1 if args.quick else args.repeats
    scratch = tempfile.mkdtemp(prefix="pgjax-stop-")
    times, saved = [], []
    for i in range(repeats):
        seconds, updates = stop_once(signum, args.env, os.path.join(scratch, f"run{i}"))
        times.append(seconds)
        saved.append(updates)
        print(f"stop {i + 1}: {seconds:.2f} s, {updates} updates saved", flush=True)
    lines = [
        f"Command: `python benchmarks/stop_time.py --signal {args.signal} --env {args.env} "
        f"--repeats {repeats}`",
        "",
        machine(),
        "",
        f"SIG{args.signal} to exit of `pgjax train --env {args.env}` (its live bar on), the "
        f"checkpoint of the updates done saved: median {np.median(times):.2f} s, max "
        f"{max(times):.2f} s over {repeats} stops (updates saved: {', '.join(map(str, saved))})",
    ]
    print(lines[-1])
    folder = out_dir(args.out_dir, args.quick)
    write_table(lines, os.path.join(folder, f"stop_time_{args.env}_{args.signal}.md"))


if __name__ == "__main__":
    script(main)
