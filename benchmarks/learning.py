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
import time

import jax
import numpy as np

from pgjax import make_train
from pgjax.presets import preset, presets

ANCHORS = {  # gymnax's published PPO checkpoints, where they exist
    "CartPole-v1": 500.0,
    "Pendulum-v1": -130.0,
    "Breakout-MinAtar": 28.0,
}


def confidence_interval(values: np.ndarray) -> float:
    """Half-width of a 95% normal-approximation interval of the mean (0 for one value)."""
    if len(values) < 2:
        return 0.0
    return float(1.96 * values.std(ddof=1) / np.sqrt(len(values)))


def run(env: str, algo: str, seeds: int, quick: bool) -> dict:
    config = preset(env, algo)
    if quick:
        config = config.replace(total_timesteps=min(config.total_timesteps, 100_000))
    keys = jax.random.split(jax.random.key(0), seeds)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - start
    returns = np.asarray(result.metrics["episode_return"])[:, -10:]
    finals = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in returns])
    return {
        "env": env,
        "algo": algo,
        "steps": config.num_updates * config.batch_size,
        "seeds": seeds,
        "final": float(np.nanmean(finals)),
        "ci": confidence_interval(finals[np.isfinite(finals)]),
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
            f"{r['final']:.1f} ± {r['ci']:.1f} | {per_seed} | {ANCHORS.get(env, '')} | "
            f"{r['run_s']:.1f} | {r['compile_s']:.1f} |"
        )
        print(line, flush=True)
        lines.append(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
