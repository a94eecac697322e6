"""The PPO paper's Table 1 study (Schulman et al. 2017) on pgjax's continuous environments.

    python benchmarks/ppo_variants.py                 # Pendulum and MountainCarContinuous, 4 seeds
    python benchmarks/ppo_variants.py --env Pendulum-v1 --seeds 8
    python benchmarks/ppo_variants.py --quick         # Pendulum, 2 seeds, short: a smoke test

Surrogate objectives, each on the environment's PPO preset (same sizes, epochs, learning rate
and the same seeds for all): no clipping or penalty (``is_pg``: the importance-sampled
surrogate alone); clipping with ε = 0.1, 0.2, 0.3; the KL penalty with adaptive β for
d_targ = 0.003, 0.01, 0.03; the KL penalty with fixed β = 0.3, 1, 3, 10; and TRPO (δ = 0.01)
beside them. Settings that differ only in a traceable hyperparameter (ε, β) run as one
vmapped sweep.

Scores as in the paper: per environment, a setting's score is the mean over seeds of its
final return (the last 10 updates), normalised so that a uniformly random policy scores 0
and the best setting 1; the table averages the normalised scores over environments and gives
the paper's average (7 MuJoCo environments, 1M steps, 3 seeds) beside them.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from common import final_returns, machine, out_dir, script, write_table

from pgjax.envs import make_env
from pgjax.pipeline.config import HParams, preset
from pgjax.tools.sweep import confidence_interval, sweep

ENVS = ["Pendulum-v1", "MountainCarContinuous-v0"]

# (label, algo, fixed Config changes, swept field, values, the paper's averages per value)
SETTINGS = [
    ("no clipping or penalty", "is_pg", {}, None, [None], [-0.39]),
    ("clipping, ε =", "ppo_clip", {}, "clip_eps", [0.1, 0.2, 0.3], [0.76, 0.82, 0.70]),
    ("adaptive KL, d_targ =", "ppo_penalty", {}, "kl_target", [0.003, 0.01, 0.03],
     [0.68, 0.74, 0.71]),
    ("fixed KL, β =", "ppo_penalty", {"kl_target": None}, "kl_beta", [0.3, 1.0, 3.0, 10.0],
     [0.62, 0.71, 0.72, 0.69]),
    ("TRPO, δ =", "trpo", {}, "max_kl", [0.01], [None]),
]  # fmt: skip


def random_return(env_name: str, episodes: int = 64) -> float:
    """Mean undiscounted return of uniformly random actions over ``episodes`` episodes."""
    made = make_env(env_name)  # a gymnax environment: its raw env and params
    env, params = made.env, made.params
    space = env.action_space(params)

    def one(key):
        k_reset, key = jax.random.split(key)
        _, state = env.reset(k_reset, params)

        def body(c):
            state, total, _, key = c
            key, k_act, k_env = jax.random.split(key, 3)
            _, state, r, term, trunc, _ = env.step(k_env, state, space.sample(k_act), params)
            return state, total + r, term | trunc, key

        c = jax.lax.while_loop(lambda c: ~c[2], body, (state, 0.0, jnp.bool_(False), key))
        return c[1]

    keys = jax.random.split(jax.random.key(123), episodes)
    return float(jax.jit(jax.vmap(one))(keys).mean())


def finals(episode_returns: np.ndarray) -> np.ndarray:
    """Final return per seed from ``[seeds, updates]``."""
    return final_returns({"episode_return": episode_returns})


def run_env(env: str, seeds: int, quick: bool) -> list[dict]:
    """One row per setting: label, value, per-seed finals."""
    base = preset(env, "ppo_clip")
    if quick:
        base = base.replace(total_timesteps=50_000)
    rows = []
    for label, algo, fixed, field, values, paper in SETTINGS:
        config = base.replace(algo=algo, **fixed)
        if field not in HParams._fields:  # not traceable (or nothing to sweep): one call each
            for value, p in zip(values, paper, strict=True):
                c = config.replace(**({field: value} if field else {}))
                r = sweep(c, {}, seeds).metrics["episode_return"][0]
                rows.append(dict(label=label, value=value, paper=p, finals=finals(r)))
        else:
            result = sweep(config, {field: values}, seeds)
            for i, (value, p) in enumerate(zip(values, paper, strict=True)):
                r = result.metrics["episode_return"][i]
                rows.append(dict(label=label, value=value, paper=p, finals=finals(r)))
        print(f"  {env}: {label} done", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", action="append", choices=ENVS)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="Pendulum, 50k steps, 2 seeds")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    envs, seeds = args.env or ENVS, args.seeds
    if args.quick:
        envs, seeds = ["Pendulum-v1"], 2
    args.out_dir = out_dir(args.out_dir, args.quick)
    print(machine(), flush=True)
    per_env = {}
    for env in envs:
        rows = run_env(env, seeds, args.quick)
        rand = random_return(env)
        best = max(np.nanmean(r["finals"]) for r in rows)
        for r in rows:
            r["score"] = (np.nanmean(r["finals"]) - rand) / (best - rand)
        per_env[env] = (rand, rows)
    head = " | ".join(f"{e} return (95% CI) | score" for e in envs)
    lines = [
        f"Command: `python benchmarks/ppo_variants.py {' '.join(sys.argv[1:])}`",
        "",
        machine(),
        "",
        f"{seeds} seeds per setting (the same for all); each environment's PPO preset, "
        f"{preset(envs[0]).total_timesteps:,} steps{' (quick: 50k)' if args.quick else ''}. "
        "Random policy: "
        + ", ".join(f"{e} {rand:.1f}" for e, (rand, _) in per_env.items())
        + ". Score: 0 random, 1 best setting.",
        "",
        f"| setting | {head} | average score | paper's average |",
        "| --- | " + "--- | --- | " * len(envs) + "--- | --- |",
    ]
    for i, first in enumerate(per_env[envs[0]][1]):
        cells, scores = [], []
        for env in envs:
            r = per_env[env][1][i]
            mean, half = confidence_interval(r["finals"])
            cells.append(f"{mean:.1f} ± {half:.1f} | {r['score']:.2f}")
            scores.append(r["score"])
        value = "" if first["value"] is None else f" {first['value']:g}"
        paper = "" if first["paper"] is None else f"{first['paper']:.2f}"
        lines.append(
            f"| {first['label'].replace(' =', '')}{value} | {' | '.join(cells)} | "
            f"{np.mean(scores):.2f} | {paper} |"
        )
    print("\n".join(lines[4:]))
    write_table(lines, os.path.join(args.out_dir, f"ppo_variants_{jax.default_backend()}.md"))


if __name__ == "__main__":
    script(main)
