"""The seed's whole family on CartPole-v1 with ``Config(algo=A, env="CartPole-v1")`` alone.

    python benchmarks/family.py                       # 1M steps, 4 seeds, every algorithm
    python benchmarks/family.py --algo trpo --seeds 8
    python benchmarks/family.py --quick               # 50k steps, 2 seeds: a smoke test

``Config(algo=A, env="CartPole-v1")`` alone, seeds trained together with vmap; the final
return is each seed's mean episode return over the last 10 updates, then the mean over seeds
with a 95% confidence interval. The bars: reinforce, a2c, is_pg ≥ 400; ppo_penalty,
ppo_clip, trpo ≥ 475.
"""

from __future__ import annotations

import argparse

import jax
from common import final_returns, mean_and_ci, script, vmapped_run, write_table

from pgjax import Config
from pgjax.algorithms import names as algorithm_names

# the bar each algorithm must pass; a new one is held to 400 until it states its own
BARS = {
    "reinforce": 400,
    "a2c": 400,
    "is_pg": 400,
    "ppo_penalty": 475,
    "ppo_clip": 475,
    "trpo": 475,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", action="append", choices=algorithm_names())
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--total-timesteps", type=int, default=1_000_000)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    steps, seeds = (50_000, 2) if args.quick else (args.total_timesteps, args.seeds)
    lines = [
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}",
        "",
        "| algo | steps | seeds | final return (95% CI) | per seed | bar | run s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    for algo in args.algo or algorithm_names():
        config = Config(algo=algo, env=args.env, total_timesteps=steps)
        metrics, _, seconds = vmapped_run(config, seeds)
        finals = final_returns(metrics)
        per_seed = ", ".join(f"{x:.1f}" for x in finals)
        line = (
            f"| {algo} | {config.num_updates * config.batch_size:,} | {seeds} | "
            f"{mean_and_ci(finals)} | {per_seed} | {BARS.get(algo, 400)} | {seconds:.0f} |"
        )
        print(line, flush=True)
        lines.append(line)
    write_table(lines, args.out)


if __name__ == "__main__":
    script(main)
