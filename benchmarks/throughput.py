"""Training throughput against the raw environment-stepping ceiling, measured side by side.

    python benchmarks/throughput.py                    # PureJaxRL's CartPole configuration
    python benchmarks/throughput.py --env Breakout-MinAtar --num-envs 64 --quick

Prints the device, the training rate (environment steps per second, compile excluded), the
rate of stepping the same number of environments with random actions in a jit-compiled
``lax.scan`` (the ceiling: no network, no learning), their ratio, and the compile time.
"""

from __future__ import annotations

import argparse
import time

import jax

from pgjax import Config, make_train
from pgjax.envs import make_env


def raw_stepping(env_name: str, num_envs: int, num_steps: int):
    """A jit-compiled function stepping ``num_envs`` environments ``num_steps`` times with
    uniformly random actions; returns a scalar so nothing large is kept."""
    env, params, _ = make_env(env_name)
    space = env.action_space(params)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_envs), params
        )

        def body(carry, k):
            state, total = carry
            k_act, k_env = jax.random.split(k)
            action = jax.vmap(space.sample)(jax.random.split(k_act, num_envs))
            _, state, reward, _, _, _ = step(
                jax.random.split(k_env, num_envs), state, action, params
            )
            return (state, total + reward.sum()), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(k_run, num_steps))
        return total

    return jax.jit(run)


def timed(fn, *args, repeats: int = 3) -> float:
    """Best wall-clock seconds of ``repeats`` calls (after one warm-up call)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def measure(config: Config, repeats: int) -> dict[str, float]:
    key = jax.random.key(0)
    start = time.perf_counter()
    train = jax.jit(make_train(config)).lower(key).compile()
    compile_s = time.perf_counter() - start
    steps = config.num_updates * config.batch_size
    raw = raw_stepping(config.env, config.num_envs, steps // config.num_envs)
    # interleave the two so that a noisy neighbour slows both alike; keep each one's best
    train_s = raw_s = float("inf")
    for _ in range(repeats):
        train_s = min(train_s, timed(train, key, repeats=1))
        raw_s = min(raw_s, timed(raw, key, repeats=1))
    return {
        "train_sps": steps / train_s,
        "raw_sps": steps / raw_s,
        "ratio": raw_s / train_s,
        "compile_s": compile_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help="100k steps, one timed repeat")
    args = parser.parse_args()
    total = 100_000 if args.quick else args.total_timesteps
    config = Config(
        env=args.env,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=total,
    )
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), jax {jax.__version__}"
    )
    print(
        f"config: {config.env}, {config.num_envs} envs x {config.num_steps} steps, "
        f"{config.num_updates * config.batch_size} steps, {config.num_epochs} epochs x "
        f"{config.num_minibatches} minibatches"
    )
    r = measure(config, repeats=1 if args.quick else 5)
    print(f"train:   {r['train_sps']:>12,.0f} steps/s")
    print(f"ceiling: {r['raw_sps']:>12,.0f} steps/s (random actions, same envs)")
    print(f"ratio:   {r['ratio']:>12.1%} of the ceiling")
    print(f"compile: {r['compile_s']:>12.2f} s")


if __name__ == "__main__":
    main()
