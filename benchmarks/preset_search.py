"""The search behind a preset: candidate settings for one (environment, algorithm) pair, each
trained over seeds split from a search key (never the tables' held-out key), summarised as the
tables summarise (interquartile mean with its bootstrap interval, mean, worst seed), with the
CPU time the search cost.

    python benchmarks/preset_search.py --env CartPole-v1 --algo vtrace --seeds 16 \\
        --static '{}' --static '{"num_epochs": 1}' --grid '{"lr": [2.5e-4, 5e-4]}'
    python benchmarks/preset_search.py --env CartPole-v1 --algo vtrace --quick   # smoke test

Each ``--static`` is a dict of ``Config`` fields or algorithm settings that shape the program
(sizes, epochs, network; ``{}``: ``Config(algo, env)`` as it is), trained for every point of
``--grid`` (traced hyperparameters, ``pgjax.tools.sweep``: one compiled call per static
candidate, every point with the same seeds). Results are appended to
``benchmarks/results/searches/<env>__<algo>.md`` with the command, so that a preset's
comment can point at the search that chose it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

import jax
import numpy as np
from common import RESULTS, machine, out_dir, script, write_table
from learning import file_name
from report import SEARCH_KEYS, TABLE_KEY, finite, iqm_cell, number, row_stats

from pgjax import Config
from pgjax.tools.sweep import summarize, sweep


def candidate_rows(
    env: str, algo: str, static: dict, grid: dict, seeds: int, key: int, steps: int | None
) -> list[str]:
    """One table row per grid point of ``static``: its summary over the seeds."""
    config = Config(algo=algo, env=env, **static)
    if steps is not None:
        config = config.replace(total_timesteps=steps)
    wall, cpu = time.perf_counter(), time.process_time()
    result = sweep(config, grid, seeds, key=jax.random.key(key))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = []
    for row in summarize(result):  # each seed's final return, NaN where it diverged
        finals = np.array(row.per_seed)
        s = row_stats(finals)
        point = row.setting
        label = json.dumps({**static, **point}) if static or point else "Config(algo, env)"
        per_seed = " ".join(number(x) for x in np.sort(finite(finals)))
        rows.append(
            f"| `{label}` | {config.num_updates * config.batch_size:,} | {iqm_cell(s)} | "
            f"{number(s['mean'])} | {number(s['worst'])} | {row.diverged} | "
            f"{per_seed} | {wall / len(result.settings):.0f} | {cpu / len(result.settings):.0f} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--algo", required=True)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument(
        "--key", type=int, default=SEARCH_KEYS[-1], help=f"a search key, {SEARCH_KEYS}"
    )
    parser.add_argument("--total-timesteps", type=int, help="instead of the preset's budget")
    parser.add_argument(
        "--static", action="append", type=json.loads, help="(repeatable) a JSON dict; default {}"
    )
    parser.add_argument("--grid", type=json.loads, default={}, help='JSON, e.g. {"lr": [1e-3]}')
    parser.add_argument("--out", help="default: benchmarks/results/searches/<env>__<algo>.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2 seeds, 20k steps, a temporary file"
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.total_timesteps = 2, 20_000
        args.out = args.out or os.path.join(out_dir(None, quick=True), "search.md")
    if args.key == TABLE_KEY or args.key not in SEARCH_KEYS:
        sys.exit(
            f"preset_search.py: --key {args.key}: searches use a search key, one of "
            f"{SEARCH_KEYS}; {TABLE_KEY} is held out for the tables"
        )
    out = args.out or os.path.join(RESULTS, "searches", f"{file_name(args.env)}__{args.algo}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    command = "python benchmarks/preset_search.py " + shlex.join(sys.argv[1:])
    lines = [
        f"## {args.algo} on {args.env}, {args.seeds} seeds from key {args.key}",
        "",
        f"Command: `{command}`",
        "",
        machine(),
        "",
        "| setting | steps | IQM [95% CI] | mean | worst seed | diverged | seeds, sorted "
        "| wall s | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    for static in args.static or [{}]:
        lines += candidate_rows(
            args.env, args.algo, static, args.grid, args.seeds, args.key, args.total_timesteps
        )
    before = []
    if os.path.exists(out):
        with open(out) as f:
            before = [*f.read().rstrip("\n").splitlines(), ""]
    write_table(before + lines, out)


if __name__ == "__main__":
    script(main)
