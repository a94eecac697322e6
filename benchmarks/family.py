"""The seed's whole family on CartPole-v1 with each algorithm's own defaults.

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
import time

import jax
import numpy as np

from pgjax import Config, make_train
from pgjax.config import ALGORITHMS

BARS = {
    "reinforce": 400,
    "a2c": 400,
    "is_pg": 400,
    "ppo_penalty": 475,
    "ppo_clip": 475,
    "trpo": 475,
}


def final_returns(metrics: dict, last: int = 10) -> np.ndarray:
    """Per seed: the mean over the last ``last`` updates of the episode return ``[seeds]``."""
    r = np.asarray(metrics["episode_return"])[:, -last:]
    return np.array([np.nanmean(x) if np.isfinite(x).any() else np.nan for x in r])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", action="append", choices=ALGORITHMS)
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
    for algo in args.algo or ALGORITHMS:
        config = Config(algo=algo, env=args.env, total_timesteps=steps)
        keys = jax.random.split(jax.random.key(0), seeds)
        train = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
        start = time.perf_counter()
        result = jax.block_until_ready(train(keys))
        seconds = time.perf_counter() - start
        finals = final_returns(result.metrics)
        ok = finals[np.isfinite(finals)]
        ci = 1.96 * ok.std(ddof=1) / np.sqrt(len(ok)) if len(ok) > 1 else 0.0
        per_seed = ", ".join(f"{x:.1f}" for x in finals)
        line = (
            f"| {algo} | {config.num_updates * config.batch_size:,} | {seeds} | "
            f"{np.nanmean(finals):.1f} ± {ci:.1f} | {per_seed} | {BARS[algo]} | {seconds:.0f} |"
        )
        print(line, flush=True)
        lines.append(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
