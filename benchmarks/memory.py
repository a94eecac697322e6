"""Memory is needed and used: tasks whose right action depends on an earlier observation,
learned by PPO-Clip with a GRU and without one (the same settings, ``network`` aside), seeds
vmapped.

    python benchmarks/memory.py                    # the three tasks, 8 seeds
    python benchmarks/memory.py --env Cue-v0 --seeds 16
    python benchmarks/memory.py --quick            # Cue-v0, 2 seeds, 20k steps: smoke test

The tasks: ``Cue-v0`` (a cue seen once, the action asked for 8 steps later: chance 0, solved
1), bsuite's ``MemoryChain-bsuite`` in gymnax (the context seen at the start, asked for 5
steps later: chance 0, solved 1), and ``MaskedCartPole-v1`` (CartPole with the velocities
hidden: 500 is the maximum). Each trains with its preset (``pgjax.pipeline.presets``, a GRU), then
the same with ``network="auto"`` (feed-forward). Per seed the final return is the mean episode
return over the last 10 updates (the training episodes, actions sampled). On MaskedCartPole
each seed's final parameters are also evaluated (``pgjax.tools.evaluate``, 32 episodes per seed,
actions sampled and greedy), the mean over seeds. Writes ``memory_<backend>.md`` and the curves
``memory_<backend>.png`` into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import matplotlib
import numpy as np
from common import (
    band,
    final_returns,
    machine,
    mean_and_ci,
    out_dir,
    script,
    vmapped_train,
    write_table,
)

from pgjax.pipeline.config import preset
from pgjax.tools.evaluate import evaluate

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# what a policy without memory can expect, and what solving means
TASKS = {
    "Cue-v0": {"chance": 0.0, "solved": 0.9},
    "MemoryChain-bsuite": {"chance": 0.0, "solved": 0.9},
    "MaskedCartPole-v1": {"chance": None, "solved": 475.0, "evaluate": True},
}


def evaluated(config, state, seeds: int, greedy: bool) -> np.ndarray:
    """Per seed, the mean return of 32 evaluation episodes from its final parameters."""
    one = lambda i: jax.tree.map(lambda x: x[i], state)  # noqa: E731
    key = jax.random.key(1)
    return np.array([evaluate(config, one(i), key, episodes=32, greedy=greedy).mean()
                     for i in range(seeds)])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", action="append", choices=list(TASKS), help="(repeatable)")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="Cue-v0, 2 seeds, 20k steps")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    envs, seeds = args.env or list(TASKS), args.seeds
    if args.quick:
        envs, seeds = ["Cue-v0"], 2
    folder = out_dir(args.out_dir, args.quick)
    lines = [
        f"Command: `python benchmarks/memory.py {' '.join(sys.argv[1:])}`",
        "",
        machine(),
        "",
        "| task | network | steps | seeds | final return (95% CI) | seeds solved | chance "
        "| evaluated: sampled, greedy (seeds solved greedy) | run s | compile s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    fig, axes = plt.subplots(1, len(envs), figsize=(4.4 * len(envs), 3.4), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=True):
        recurrent = preset(env)
        if args.quick:
            recurrent = recurrent.replace(total_timesteps=20_480)
        task = TASKS[env]
        for config in (recurrent, recurrent.replace(network="auto")):
            result, compile_s, run_s = vmapped_train(config, seeds)
            metrics = {k: np.asarray(v) for k, v in result.metrics.items()}
            finals = final_returns(metrics)
            scores = ""
            if task.get("evaluate"):
                sampled, greedy = (evaluated(config, result.state, seeds, g) for g in (0, 1))
                scores = (
                    f"{mean_and_ci(sampled)}, {mean_and_ci(greedy)} "
                    f"({int(np.sum(greedy >= task['solved']))} of {seeds})"
                )
            label = f"{config.network} {config.rnn_size}" if config.network != "auto" else "mlp"
            solved = int(np.sum(finals >= task["solved"]))
            chance = "" if task["chance"] is None else task["chance"]
            line = (
                f"| {env} | {label} | {config.num_updates * config.batch_size:,} | {seeds} | "
                f"{mean_and_ci(finals)} | {solved} of {seeds} (≥ {task['solved']}) | {chance} "
                f"| {scores} | {run_s:.0f} | {compile_s:.0f} |"
            )
            print(line, flush=True)
            lines.append(line)
            band(ax, metrics["timesteps"][0], metrics["episode_return"], label)
        ax.axhline(task["solved"], color="k", ls=":", lw=1, label="solved")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("episode return")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    backend = jax.default_backend()
    fig.savefig(os.path.join(folder, f"memory_{backend}.png"), dpi=90)
    write_table(lines, os.path.join(folder, f"memory_{backend}.md"))


if __name__ == "__main__":
    script(main)
