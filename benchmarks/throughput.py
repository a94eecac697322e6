"""Training throughput against the raw environment-stepping ceiling, measured side by side.

    python benchmarks/throughput.py                    # PureJaxRL's CartPole configuration
    python benchmarks/throughput.py --env Breakout-MinAtar --preset   # pgjax's preset
    python benchmarks/throughput.py --env Breakout-MinAtar --preset --separate
                                                       # PureJaxRL's MinAtar settings
    python benchmarks/throughput.py --env Breakout-MinAtar --num-envs 64 --quick
    python benchmarks/throughput.py --agents 2048      # 2048 runs vmapped, each side (as
                                                       # PureJaxRL published its speed)
    python benchmarks/throughput.py --scaling          # every algorithm, 1...4096 envs and
                                                       # 1...1024 seeds, CartPole and Breakout
    python benchmarks/throughput.py --scaling --quick  # a smoke test of the scaling mode
    python benchmarks/throughput.py --memory           # recurrent PPO against PureJaxRL's
                                                       # PPO-RNN, three networks, side by side
    python benchmarks/throughput.py --memory-cost      # GRU and LSTM against feed-forward,
                                                       # CartPole and Breakout-MinAtar

Single mode prints the device; the training rate (environment steps per second, compile
excluded) and compile time of pgjax's PPO-Clip and, in the same process, of the same run
written the way PureJaxRL writes it (``reference_ppo.py``); the rate of stepping the same
number of environments with random actions in a jit-compiled ``lax.scan`` (the ceiling: no
network, no learning); and the ratios. The reference's actor and critic are always separate
networks: where pgjax's config shares a torso (``--preset`` on Breakout) the two differ in
that alone, and ``--separate`` makes pgjax's separate too. The three are timed interleaved,
best of 5; the two compiles are timed three times each, alternating which goes first, caches
cleared, best of 3. With ``--agents N`` each side trains ``N`` runs in one call (``jax.vmap``
over seeds), the ceiling steps ``N`` times the environments, and steps count over all runs.

Scaling mode measures, for each environment and algorithm (the sizes and network that
``learning.py`` trains it with), the
same numbers as the environments of one run grow (``num_envs`` 1 ... 4096) and as the seeds
vmapped together grow (1 ... 1024; steps counted over all runs, the ceiling steps
``seeds * num_envs`` environments), for ``--updates`` updates per point, plus the peak memory
of the compiled program (XLA's buffer assignment: arguments + outputs + temporaries, which is
what the device must hold). It writes a table and one plot per environment into ``--out-dir``
(``throughput_<envs>_<backend>.md``, ``throughput_<env>_<backend>.png``).

Memory mode times pgjax's recurrent PPO-Clip side by side with PureJaxRL's PPO-RNN
restated (``reference_ppo_rnn.py``: a shared torso and GRU cell, ``nn.scan`` over the cell),
interleaved, best of 5, compiles best of 3, on: (a) the reference's own network and sizes on
CartPole (relu torso of 128, GRU 128, heads of 128; pgjax with ``shared_torso``), 4 envs x 128
steps, 4 x 4 minibatches; (b) pgjax's default recurrent network (``network="gru"``: separate
actor and critic, two tanh layers of 64 and a GRU 128 each) against the reference's default,
the same sizes; (c) the MaskedCartPole preset against the reference at the preset's widths.
It writes ``throughput_memory_reference_<backend>.md``.

Memory-cost mode measures what a recurrent policy costs: PPO-Clip with each environment's
settings (``learning.py``'s), feed-forward, and with a GRU and an LSTM cell (``--rnn-size``
units) after the same torso, their training rate (interleaved, best of 3) and compile time, into
``throughput_memory_<backend>.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import matplotlib
import numpy as np
import reference_ppo
import reference_ppo_rnn
from common import compile_timed, machine, out_dir, script, write_table

from pgjax import Config, make_train
from pgjax.algorithms import names as algorithm_names
from pgjax.envs import make_env
from pgjax.pipeline.config import config_for, preset

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def raw_stepping(env_name: str, num_envs: int, num_steps: int):
    """A jit-compiled function stepping ``num_envs`` environments ``num_steps`` times with
    uniformly random actions; returns a scalar so nothing large is kept."""
    if env_name.startswith("brax/"):  # Brax's own auto-reset (reference_ppo's wrapper)
        env, params = reference_ppo.BraxGymnaxWrapper(env_name), None
        size = env.action_size

        def sample(k):
            return jax.random.uniform(k, (size,), minval=-1.0, maxval=1.0)
    else:
        made = make_env(env_name)  # a gymnax environment: its raw env and params
        env, params = made.env, made.params
        sample = env.action_space(params).sample
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_envs), params
        )

        def body(carry, k):
            state, total = carry
            k_act, k_env = jax.random.split(k)
            action = jax.vmap(sample)(jax.random.split(k_act, num_envs))
            obs, state, reward, _, _, _ = step(
                jax.random.split(k_env, num_envs), state, action, params
            )
            # the observations too: a reward that is constant (inverted_pendulum's) would let
            # the compiler drop the physics
            return (state, total + reward.sum() + obs.sum()), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(k_run, num_steps))
        return total

    return jax.jit(run)


def timed(fn, *args) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def peak_bytes(compiled) -> int:
    """Bytes the compiled program holds at once: arguments + outputs + temporaries (XLA's
    buffer assignment, the same on every backend)."""
    m = compiled.memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes


def measure(config: Config, repeats: int, seeds: int = 0) -> dict[str, float]:
    """Train rate, ceiling, their ratio, compile seconds and peak bytes for ``config``; with
    ``seeds > 0``, of ``seeds`` runs vmapped together (steps counted over all of them)."""
    keys = jax.random.split(jax.random.key(0), max(seeds, 1))
    key = keys if seeds else keys[0]
    fn = jax.vmap(make_train(config)) if seeds else make_train(config)
    train, compile_s = compile_timed(fn, key)
    runs = max(seeds, 1)
    steps = config.num_updates * config.batch_size * runs
    raw = raw_stepping(config.env, config.num_envs * runs, steps // (config.num_envs * runs))
    jax.block_until_ready(raw(keys[0]))  # compile the ceiling
    # interleave the two so that a noisy neighbour slows both alike; keep each one's best
    train_s = raw_s = float("inf")
    for _ in range(repeats):
        train_s = min(train_s, timed(train, key))
        raw_s = min(raw_s, timed(raw, keys[0]))
    return {
        "train_sps": steps / train_s,
        "raw_sps": steps / raw_s,
        "ratio": raw_s / train_s,
        "compile_s": compile_s,
        "peak_mb": peak_bytes(train) / 2**20,
    }


def scaling(args: argparse.Namespace) -> None:
    lines = [
        f"Command: `python benchmarks/throughput.py {' '.join(args.argv)}`",
        "",
        machine(),
        "",
        f"Each point runs at least {args.updates} updates and {args.min_steps:,} steps (over all "
        "runs), each algorithm with the config learning.py trains it with; steps/s count "
        "environment steps of all runs, compile excluded, best of "
        f"{args.repeats}; ceiling: random actions on as many environments, as many steps; "
        "peak: XLA's buffers of the program (arguments + outputs + temporaries).",
        "",
        "| env | algo | axis | n | envs x steps | updates | train steps/s | ceiling steps/s "
        "| ratio | compile s | peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    rows = []
    for env in args.env:
        for algo in args.algo:
            base, _ = config_for(env, algo)
            axes = [("envs", n) for n in args.num_envs] + [("seeds", n) for n in args.seeds]
            for axis, n in axes:
                num_envs = n if axis == "envs" else base.num_envs
                batch = num_envs * base.num_steps
                minibatches = min(base.num_minibatches, batch)
                runs = n if axis == "seeds" else 1
                updates = max(args.updates, -(-args.min_steps // (batch * runs)))
                config = base.replace(
                    num_envs=num_envs, num_minibatches=minibatches, total_timesteps=batch * updates
                )
                r = measure(config, repeats=args.repeats, seeds=n if axis == "seeds" else 0)
                rows.append({"env": env, "algo": algo, "axis": axis, "n": n, **r})
                line = (
                    f"| {env} | {algo} | {axis} | {n} | {num_envs} x {base.num_steps} | "
                    f"{updates} | "
                    f"{r['train_sps']:,.0f} | {r['raw_sps']:,.0f} | {r['ratio']:.1%} | "
                    f"{r['compile_s']:.1f} | {r['peak_mb']:,.1f} |"
                )
                print(line, flush=True)
                lines.append(line)
    backend = jax.default_backend()
    name = "_".join(args.env)
    write_table(lines, os.path.join(args.out_dir, f"throughput_{name}_{backend}.md"))
    for env in args.env:
        plot_scaling([r for r in rows if r["env"] == env], env, args.out_dir, backend)


def plot_scaling(rows: list[dict], env: str, folder: str, backend: str) -> None:
    """Steps/s against environments (left) and vmapped seeds (right), one line per algorithm,
    the ceiling dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    labels = {"envs": "environments in one run", "seeds": "seeds vmapped together"}
    for ax, (axis, label) in zip(axes, labels.items(), strict=True):
        ceiling = {}
        for algo in dict.fromkeys(r["algo"] for r in rows):
            pts = [r for r in rows if r["algo"] == algo and r["axis"] == axis]
            if pts:
                ax.plot([p["n"] for p in pts], [p["train_sps"] for p in pts], "o-", label=algo)
                for p in pts:
                    ceiling.setdefault(p["n"], []).append(p["raw_sps"])
        if ceiling:
            n = sorted(ceiling)
            ax.plot(n, [np.mean(ceiling[k]) for k in n], "k--", label="ceiling (random actions)")
        ax.set(xscale="log", yscale="log", xlabel=label, title=f"{env}: scaling {axis}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("environment steps / s (compile excluded)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(folder, f"throughput_{env}_{backend}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def single(args: argparse.Namespace) -> None:
    total = 100_000 if args.quick else args.total_timesteps
    # the global defaults at these sizes (not the environment's settings), or its PPO preset
    config = Config(
        env=args.env[0],
        num_envs=args.single_num_envs,
        num_steps=args.num_steps,
        total_timesteps=total,
        presets=False,
    )
    if args.preset:
        config = preset(config.env).replace(total_timesteps=total)
        if args.num_envs:  # the preset at another size (Brax at 2048 environments)
            config = config.replace(num_envs=args.num_envs[0])
    if args.hidden_sizes:
        config = config.replace(hidden_sizes=tuple(args.hidden_sizes))
    if args.separate:
        config = config.replace(shared_torso=False)
    same_work = ""
    if not make_env(config.env).spec.discrete:
        # the reference's policy (a Gaussian clipped for the environment, raw observations), so
        # that the two differ in their structure alone
        config = config.replace(action_dist="gaussian", normalize_obs=False)
        same_work = ", a Gaussian policy clipped to the bounds, raw observations (as the reference)"
    networks = "one shared torso" if config.shared_torso else "separate actor and critic"
    command = " ".join(["python benchmarks/throughput.py", *args.argv])
    lines = [f"Command: `{command}`", "", machine()]
    lines.append(
        f"config: {config.env}, {config.num_envs} envs x {config.num_steps} steps, "
        f"{config.num_updates * config.batch_size} steps, {config.num_epochs} epochs x "
        f"{config.num_minibatches} minibatches, {config.activation}, "
        f"{'x'.join(map(str, config.hidden_sizes))} wide, {networks}{same_work}"
    )
    print("\n".join(lines), flush=True)
    agents = args.agents
    if agents > 1:
        lines.append(f"agents: {agents} runs vmapped on each side (seeds), steps over all runs")
    key = jax.random.split(jax.random.key(0), agents) if agents > 1 else jax.random.key(0)
    steps = config.num_updates * config.batch_size * agents
    raw = raw_stepping(config.env, config.num_envs * agents, config.num_steps * config.num_updates)
    jax.block_until_ready(raw(jax.random.key(0)))  # JAX's start-up, paid by neither side
    # compile each three times, alternating which goes first, caches cleared: the best of each
    # (whichever compiles first in a process pays more, by up to a second)
    sources = {
        "pgjax": make_train(config),
        "reference": reference_ppo.make_train(
            reference_ppo.from_pgjax(config.replace(shared_torso=False))
        ),
    }
    if agents > 1:
        sources = {name: jax.vmap(fn) for name, fn in sources.items()}
    compiled, compile_best = {}, {name: float("inf") for name in sources}
    for round_ in range(args.compiles):
        for name in sorted(sources, reverse=round_ % 2 == 1):
            jax.clear_caches()
            compiled[name], seconds = compile_timed(sources[name], key)
            compile_best[name] = min(compile_best[name], seconds)
    train, reference = compiled["pgjax"], compiled["reference"]
    compile_s, reference_compile_s = compile_best["pgjax"], compile_best["reference"]
    # interleaved, so that a noisy neighbour slows all three alike; the best of each
    best = {"pgjax": float("inf"), "reference": float("inf"), "ceiling": float("inf")}
    for _ in range(args.rounds):
        for name, fn in (("pgjax", train), ("reference", reference), ("ceiling", raw)):
            best[name] = min(best[name], timed(fn, jax.random.key(0) if fn is raw else key))
    sps = {name: steps / seconds for name, seconds in best.items()}
    results = [
        f"pgjax:     {sps['pgjax']:>10,.0f} steps/s, {sps['pgjax'] / sps['ceiling']:.1%} of "
        f"the ceiling, compile {compile_s:.2f} s, peak {peak_bytes(train) / 2**20:.1f} MB",
        f"reference: {sps['reference']:>10,.0f} steps/s, "
        f"{sps['reference'] / sps['ceiling']:.1%} of the ceiling, compile "
        f"{reference_compile_s:.2f} s (benchmarks/reference_ppo.py, PureJaxRL's structure, "
        "separate actor and critic)",
        f"ceiling:   {sps['ceiling']:>10,.0f} steps/s (random actions, same envs)",
        f"pgjax / reference: {sps['pgjax'] / sps['reference']:.2f}x the speed, "
        f"{compile_s / reference_compile_s:.2f}x the compile time",
    ]
    print("\n".join(results))
    suffix = "" if args.hidden_sizes is None else "_" + "x".join(map(str, args.hidden_sizes))
    suffix += "_separate" if args.separate else ""
    suffix += f"_{agents}agents" if agents > 1 else ""
    env = config.env.replace("/", "_").replace(":", "_")
    name = f"throughput_single_{env}{suffix}_{jax.default_backend()}.txt"
    write_table(lines + results, os.path.join(args.out_dir, name))


def memory_reference(args: argparse.Namespace) -> None:
    """Recurrent PPO against PureJaxRL's PPO-RNN restated: steps/s and compile, side by side."""
    total = 2048 if args.quick else args.total_timesteps
    sizes = dict(env="CartPole-v1", num_envs=4, num_steps=128, num_epochs=4, num_minibatches=4)
    theirs = Config(**sizes, network="gru", rnn_size=128, hidden_sizes=(128,), head_sizes=(128,),
                    activation="relu", shared_torso=True, presets=False)  # fmt: skip
    rows = {
        "(a) CartPole, the reference's network": (theirs, 128, 128),
        "(b) CartPole, pgjax's default recurrent": (
            Config(**sizes, network="gru", presets=False), 128, 128),
        "(c) MaskedCartPole-v1 preset": (preset("MaskedCartPole-v1"), 64, 32),
    }  # fmt: skip
    command = " ".join(["python benchmarks/throughput.py", *args.argv])
    lines = [f"Command: `{command}`", "", machine(), ""]
    lines += [
        "| configuration | pgjax network | envs x steps | pgjax steps/s | reference steps/s | "
        "pgjax / reference | compile s (pgjax / reference) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    key = jax.random.key(0)
    for label, (config, torso, cell) in rows.items():
        config = config.replace(total_timesteps=total)
        reference = reference_ppo_rnn.from_pgjax(config, cell, torso)
        sources = {
            "pgjax": make_train(config),
            "reference": reference_ppo_rnn.make_train(reference),
        }
        compiled, compile_best = {}, dict.fromkeys(sources, float("inf"))
        for round_ in range(args.compiles):
            for name in sorted(sources, reverse=round_ % 2 == 1):
                jax.clear_caches()
                compiled[name], seconds = compile_timed(sources[name], key)
                compile_best[name] = min(compile_best[name], seconds)
        best = dict.fromkeys(sources, float("inf"))
        for _ in range(args.rounds):  # interleaved: a noisy neighbour slows both
            for name, fn in compiled.items():
                best[name] = min(best[name], timed(fn, key))
        steps = config.num_updates * config.batch_size
        rate = {name: steps / seconds for name, seconds in best.items()}
        net = (
            f"{'shared' if config.shared_torso else 'separate'}, "
            f"{config.activation} {'x'.join(map(str, config.hidden_sizes))}, "
            f"gru {config.rnn_size}, heads {'x'.join(map(str, config.head_sizes)) or '-'}"
        )
        row = (
            f"| {label} | {net} | {config.num_envs} x {config.num_steps} | "
            f"{rate['pgjax']:,.0f} | {rate['reference']:,.0f} | "
            f"{rate['pgjax'] / rate['reference']:.2f}x | {compile_best['pgjax']:.1f} / "
            f"{compile_best['reference']:.1f} |"
        )
        lines.append(row)
        print(row, flush=True)
    lines += [
        "",
        "The reference: `benchmarks/reference_ppo_rnn.py` (PureJaxRL's PPO-RNN restated: relu "
        "torso, one GRU shared by actor and critic, relu heads; at (b) its default widths of "
        "128, at (c) a torso of 64, GRU 32, heads of 32).",
    ]
    name = f"throughput_memory_reference_{jax.default_backend()}.md"
    write_table(lines, os.path.join(args.out_dir, name))


def memory(args: argparse.Namespace) -> None:
    """Recurrent against feed-forward: steps/s and compile seconds, side by side."""
    lines = [f"Command: `python benchmarks/throughput.py {' '.join(args.argv)}`", "", machine()]
    lines += [
        "",
        "| env | network | envs x steps | steps/s | of feed-forward | compile s | "
        "of feed-forward |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    key = jax.random.key(0)
    for env in args.env:
        base, _ = config_for(env, "ppo_clip")
        base = base.replace(total_timesteps=100_000 if args.quick else args.total_timesteps)
        configs = {"feed-forward": base}
        torso = f"{base.network}_" if base.network in ("mlp", "cnn") else ""  # the same torso
        for cell in ("gru", "lstm"):
            configs[cell] = base.replace(network=torso + cell, rnn_size=args.rnn_size)
        compiled = {name: compile_timed(make_train(c), key) for name, c in configs.items()}
        best = dict.fromkeys(configs, float("inf"))
        for _ in range(1 if args.quick else 3):  # interleaved: a noisy neighbour slows all
            for name, (fn, _) in compiled.items():
                best[name] = min(best[name], timed(fn, key))
        steps = base.num_updates * base.batch_size
        for name, c in configs.items():
            ff_rate, rate = steps / best["feed-forward"], steps / best[name]
            compile_s, ff_compile = compiled[name][1], compiled["feed-forward"][1]
            label = name if name == "feed-forward" else f"{name} {args.rnn_size}"
            row = (
                f"| {env} | {label} | {c.num_envs} x {c.num_steps} | {rate:,.0f} | "
                f"{rate / ff_rate:.2f}x | {compile_s:.1f} | {compile_s / ff_compile:.2f}x |"
            )
            lines.append(row)
            print(row, flush=True)
    write_table(lines, os.path.join(args.out_dir, f"throughput_memory_{jax.default_backend()}.md"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scaling", action="store_true", help="grow envs and seeds")
    parser.add_argument("--memory", action="store_true", help="recurrent against PPO-RNN")
    parser.add_argument("--memory-cost", action="store_true", help="GRU, LSTM, feed-forward")
    parser.add_argument("--rnn-size", type=int, default=128, help="memory: the cell's units")
    parser.add_argument("--env", action="append", help="environment (repeatable)")
    parser.add_argument("--algo", action="append", choices=algorithm_names(), help="(repeatable)")
    parser.add_argument("--num-envs", type=int, nargs="+", help="single: one; scaling: a list")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024])
    parser.add_argument("--num-steps", type=int, default=128, help="single mode")
    parser.add_argument("--agents", type=int, default=1, help="single: runs vmapped per side")
    parser.add_argument("--total-timesteps", type=int, default=500_000, help="single mode")
    parser.add_argument("--updates", type=int, default=2, help="scaling: least updates a point")
    parser.add_argument("--min-steps", type=int, default=65_536, help="scaling: least steps")
    parser.add_argument("--repeats", type=int, default=2, help="scaling: timed calls per point")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="a short smoke test")
    parser.add_argument("--preset", action="store_true", help="single: the env's PPO preset")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", help="single: layer widths")
    parser.add_argument(
        "--separate", action="store_true", help="single: pgjax's actor and critic separate"
    )
    parser.add_argument("--rounds", type=int, default=5, help="single, memory: timed rounds")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    args.rounds = 1 if args.quick else args.rounds
    args.compiles = min(3, args.rounds)  # compiles timed per side, best of them
    args.out_dir = out_dir(args.out_dir, args.quick)
    if args.memory:
        if args.total_timesteps == parser.get_default("total_timesteps"):
            args.total_timesteps = 20_480  # 40 updates: a recurrent step is slow on a CPU
        return memory_reference(args)
    if args.memory_cost:
        args.env = args.env or ["CartPole-v1", "Breakout-MinAtar"]
        return memory(args)
    if not args.scaling:
        args.env = args.env or ["CartPole-v1"]
        args.single_num_envs = (args.num_envs or [4])[0]
        return single(args)
    args.env = args.env or ["CartPole-v1", "Breakout-MinAtar"]
    args.algo = args.algo or algorithm_names()
    args.num_envs = args.num_envs or [1, 4, 16, 64, 256, 1024, 4096]
    if args.quick:
        args.env, args.algo = args.env[:1], ["ppo_clip"]
        args.num_envs, args.seeds, args.updates, args.repeats = [1, 16], [1, 4], 1, 1
        args.min_steps = 4096
    scaling(args)


if __name__ == "__main__":
    script(main)
