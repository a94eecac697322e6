"""Final returns of the presets, over seeds trained together with vmap.

    python benchmarks/learning.py                          # every preset, 4 seeds
    python benchmarks/learning.py --env Pendulum-v1 --seeds 8
    python benchmarks/learning.py --quick                  # CartPole only, short: a smoke test
    python benchmarks/learning.py --out benchmarks/results/learning_cpu.md

For each preset: the final return (per seed, the mean episode return over the last 10 updates;
then the mean over seeds with a 95% confidence interval), the budget in environment steps,
and the wall-clock time of the vmapped run with and without compilation.
"""

from __future__ import annotations

import argparse
import platform

import jax
from common import final_returns, mean_and_ci, vmapped_run, write_table

from pgjax.presets import preset, presets

ANCHORS = {  # gymnax's published PPO checkpoints, where they exist
    "CartPole-v1": 500.0,
    "Pendulum-v1": -130.0,
    "Breakout-MinAtar": 28.0,
}


def run(env: str, algo: str, seeds: int, quick: bool) -> dict:
    config = preset(env, algo)
    if quick:
        config = config.replace(total_timesteps=min(config.total_timesteps, 100_000))
    metrics, compile_s, run_s = vmapped_run(config, seeds)
    finals = final_returns(metrics)
    return {
        "env": env,
        "algo": algo,
        "steps": config.num_updates * config.batch_size,
        "seeds": seeds,
        "final": mean_and_ci(finals),
        "per_seed": finals,
        "compile_s": compile_s,
        "run_s": run_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", action="append", help="an environment (repeatable)")
    parser.add_argument("--algo", default="ppo_clip")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="CartPole, 100k steps, 2 seeds")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    envs = args.env or [e for e, a in presets() if a == args.algo]
    seeds = args.seeds
    if args.quick:
        envs, seeds = ["CartPole-v1"], 2
    device = f"{jax.devices()[0].device_kind} ({jax.default_backend()})"
    lines = [
        f"device: {device}, {platform.processor() or platform.machine()}, jax {jax.__version__}",
        "",
        "| env | algo | steps | seeds | final return (95% CI) | per seed | anchor | run s "
        "| compile s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    for env in envs:
        r = run(env, args.algo, seeds, args.quick)
        per_seed = ", ".join(f"{x:.1f}" for x in r["per_seed"])
        line = (
            f"| {env} | {r['algo']} | {r['steps']:,} | {r['seeds']} | "
            f"{r['final']} | {per_seed} | {ANCHORS.get(env, '')} | "
            f"{r['run_s']:.1f} | {r['compile_s']:.1f} |"
        )
        print(line, flush=True)
        lines.append(line)
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
