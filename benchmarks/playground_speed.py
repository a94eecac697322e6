"""Which MuJoCo Playground tasks run through pgjax on this machine, and how fast: for each
DeepMind Control Suite task Playground ships (``playground/<name>``), pgjax's adapter stepped
with uniform random actions in [-1, 1] over ``--envs`` environments (vmapped) for ``--steps``
steps inside one compiled ``lax.scan`` (time-limit resets included), timed after compiling.

    python benchmarks/playground_speed.py                      # every task, 64 envs x 200 steps
    python benchmarks/playground_speed.py --tasks CartpoleBalance --quick

Needs the ``[playground]`` extra. Writes ``benchmarks/results/playground_speed_cpu.md`` (a task
that fails to build or step is listed with its error's first line).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
from common import compile_timed, machine, out_dir, script, write_table

from pgjax import envs
from pgjax.envs.playground import TASKS


def steps_per_second(task: str, num_envs: int, steps: int) -> tuple[str, ...]:
    """(observation size, actions, compile seconds, steps per second) of one task."""
    env = envs.make_env(f"playground/{task}")
    size = env.spec.num_actions

    def run(key):
        state, _ = env.reset(jax.random.split(key, num_envs))

        def step(state, k):
            k_act, k_env = jax.random.split(k)
            action = jax.random.uniform(k_act, (num_envs, size), minval=-1.0, maxval=1.0)
            state, ts = env.step(jax.random.split(k_env, (num_envs, 2)), state, action)
            return state, ts.reward.mean()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].mean()

    compiled, compile_s = compile_timed(run, jax.random.key(0))
    jax.block_until_ready(compiled(jax.random.key(1)))  # warm
    start = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.key(2)))
    rate = num_envs * steps / (time.perf_counter() - start)
    return str(env.spec.obs_shape[0]), str(size), f"{compile_s:.1f}", f"{rate:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="8 envs x 20 steps")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    num_envs, steps = (8, 20) if args.quick else (args.envs, args.steps)
    rows = []
    for task in args.tasks:
        try:
            cells = steps_per_second(task, num_envs, steps)
        except Exception as error:  # a task that does not build or step here: say which
            first = (str(error).strip().splitlines() or [""])[0][:120]
            cells = ("-", "-", "-", f"fails: {type(error).__name__}: {first}")
        rows.append(f"| playground/{task} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    lines = [
        f"Command: `python benchmarks/playground_speed.py --envs {num_envs} --steps {steps}`",
        "",
        machine(),
        "",
        f"pgjax's adapter of each task, {num_envs} environments x {steps} steps of random "
        "actions in one compiled scan (MJX's JAX implementation, impl=jax), timed after "
        "compiling:",
        "",
        "| task | observation | actions | compile s | steps/s |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ]
    folder = out_dir(args.out_dir, args.quick)
    write_table(lines, os.path.join(folder, f"playground_speed_{jax.default_backend()}.md"))


if __name__ == "__main__":
    script(main)
