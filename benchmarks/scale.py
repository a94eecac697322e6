"""Throughput as devices grow: seeds sharded over devices (``train_seeds``) and one run's
environments split over devices (``Config.devices``), side by side in one process.

    python benchmarks/scale.py                      # 1, 2, 4 devices (on a CPU: simulated)
    python benchmarks/scale.py --quick
    python benchmarks/scale.py --devices 1 2 4 8 --out benchmarks/results/scale_gpu.md

On a CPU the devices are made by ``--xla_force_host_platform_device_count`` over the same
cores, so this measures the machinery's overhead, not a speed-up; on a multi-GPU or TPU host
the devices are real. Steps per second count environment steps of all runs, compile excluded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds-per-device", type=int, default=4)
    parser.add_argument("--envs-per-device", type=int, default=16)
    parser.add_argument("--total-timesteps", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20k steps, devices 1 and 2")
    parser.add_argument("--out", help="also write the table to this markdown file")
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.quick:
        args.devices, args.total_timesteps = [1, 2], 20_000
    # on a CPU, make enough devices (must happen before JAX starts)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = f"--xla_force_host_platform_device_count={max(args.devices)}"
        os.environ["XLA_FLAGS"] = f"{flags} {count}".strip()
    sys.path.insert(0, os.path.dirname(__file__))
    from common import script  # imports JAX: after the flags

    script(lambda: _measure(args))


def _measure(args) -> None:
    """The table of ``main``, once JAX has started with the devices asked for."""
    import jax
    from common import write_table

    from pgjax import Config, make_train, train_seeds

    def timed(fn, *args) -> float:
        """Seconds of the second call (the first compiles)."""
        jax.block_until_ready(fn(*args))
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return time.perf_counter() - start

    platform = jax.devices()[0]
    lines = [
        f"device: {platform.device_kind} ({jax.default_backend()}) x {len(jax.devices())}, "
        f"jax {jax.__version__}; PPO-Clip on CartPole-v1, {args.total_timesteps:,} steps per run",
        "",
        "| devices | mode | runs | envs per run | steps/s (all runs) | vs 1 device |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    base: dict[str, float] = {}
    for n in args.devices:
        if n > len(jax.devices()):
            print(f"skipping {n} devices: only {len(jax.devices())}", flush=True)
            continue
        # seeds: n x seeds_per_device independent runs, seed axis sharded
        config = Config(total_timesteps=args.total_timesteps)
        keys = jax.random.split(jax.random.key(0), n * args.seeds_per_device)
        seconds = timed(train_seeds, config, keys, None, jax.devices()[:n])
        steps = len(keys) * config.num_updates * config.batch_size
        rows = [("seeds", len(keys), config.num_envs, steps / seconds)]
        # data parallel: one run, n x envs_per_device environments split over n devices
        config = Config(
            total_timesteps=args.total_timesteps,
            num_envs=n * args.envs_per_device,
            num_steps=32,
            devices=n,
        )
        train = jax.jit(make_train(config))
        seconds = timed(train, jax.random.key(0))
        rows.append(
            ("data parallel", 1, config.num_envs, config.num_updates * config.batch_size / seconds)
        )
        for mode, runs, envs, sps in rows:
            base.setdefault(mode, sps / n)  # per-device rate at the smallest count
            line = (
                f"| {n} | {mode} | {runs} | {envs} | {sps:,.0f} | "
                f"{sps / (base[mode] * n):.2f} of linear |"
            )
            print(line, flush=True)
            lines.append(line)
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
