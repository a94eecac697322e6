"""Final returns and learning curves: every algorithm on eight gymnax environments, seeds
trained together with vmap, beside gymnax's published PPO checkpoints.

    python benchmarks/learning.py                                  # everything, 8 seeds
    python benchmarks/learning.py --algo ppo_clip                  # one algorithm, all envs
    python benchmarks/learning.py --env Pendulum-v1 --env Acrobot-v1 --seeds 16
    python benchmarks/learning.py --quick                          # CartPole, short: smoke test
    python benchmarks/learning.py --reference --env Breakout-MinAtar   # PureJaxRL's structure

Each (environment, algorithm) trains with ``Config(algo=algo, env=env)`` and nothing else set
(what a user gets; ``pgjax.pipeline.config``): the pair's preset (``pgjax.pipeline.presets``)
where there is one; else the environment's settings taken from its PPO preset (budget, γ,
entropy bonus, reward scale, observation normalisation, network:
``pgjax.pipeline.presets.ENV_FIELDS``) with the algorithm's own sizes and learning rate; the
table's "setting" column says which. Per seed the final return is the mean episode return over
the last 10 updates; the table gives the mean over seeds with a 95% confidence interval, the
budget, the run's seconds (compile excluded) and the compile seconds. Curves are the mean over
seeds with a 95% band, against environment steps and against wall-clock seconds (compile
included: the curve starts when the compiled run starts; a run is one compiled call whose
updates all take the same time, so update ``i`` of ``n`` ends at ``compile + run * i / n``).

``--reference`` trains, instead, PPO-Clip written the way PureJaxRL writes it
(``reference_ppo.py``) on each discrete environment's PPO preset with the same seeds, and
writes ``learning_reference_<backend>.md``: its final return as pgjax reports returns and as
PureJaxRL's curves do, beside pgjax's saved run.

Each run's curves are saved to ``<out-dir>/learning_runs/<backend>/<env>__<algo>.npz``; the
table and the plots are rebuilt from every saved run, so separate invocations (say, one per
environment) add up to one table. ``--plot-only`` rebuilds them without training.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import jax
import matplotlib
import numpy as np
import reference_ppo
from common import (
    band,
    committed_in,
    final_returns,
    machine,
    mean_and_ci,
    out_dir,
    revision,
    save_npz,
    script,
    vmapped_run,
    write_table,
)

from pgjax import Config
from pgjax.algorithms import names as algorithm_names
from pgjax.envs import make_env
from pgjax.pipeline.config import config_for as presets_config_for
from pgjax.tools.chunks import final_return

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# gymnax's published PPO checkpoints (its README's table), for comparison
ANCHORS = {
    "CartPole-v1": 500.0,
    "Acrobot-v1": -80.0,
    "Pendulum-v1": -130.0,
    "MountainCarContinuous-v0": 92.0,
    "Breakout-MinAtar": 28.0,
    "SpaceInvaders-MinAtar": 131.0,
    "Asterix-MinAtar": 15.0,
    "Freeway-MinAtar": 58.0,
}
ENVS = list(ANCHORS)
# Other suites, trained only when named (--env), with their extras installed; their anchors
# (Brax's inverted_pendulum: 1 per step for 1000 steps) and the published results they are
# compared with are in the README
SUITE_ANCHORS = {"brax/inverted_pendulum": 1000.0}


def file_name(env: str) -> str:
    """An environment's name as part of a file name (``brax/ant:backend=spring`` has a slash)."""
    return env.replace("/", "_").replace(":", "_")


def config_for(
    env: str, algo: str, quick: bool, total_timesteps: int | None = None
) -> tuple[Config, str]:
    """``Config(algo=algo, env=env)`` (``pgjax.pipeline.presets.config_for``), capped at 100k
    steps for ``--quick``, or with the budget ``total_timesteps`` when given."""
    config, setting = presets_config_for(env, algo)
    if total_timesteps is not None:
        config = config.replace(total_timesteps=total_timesteps)
    if quick:
        config = config.replace(total_timesteps=min(config.total_timesteps, 100_000))
    return config, setting


def run(
    env: str, algo: str, seeds: int, quick: bool, runs_dir: str, total_timesteps: int | None
) -> str:
    """Train, save the run's curves, return the path."""
    config, setting = config_for(env, algo, quick, total_timesteps)
    metrics, compile_s, run_s = vmapped_run(config, seeds)
    path = os.path.join(runs_dir, f"{file_name(env)}__{algo}.npz")
    save_npz(
        path,
        env=env,
        algo=algo,
        steps=metrics["timesteps"][0],
        returns=metrics["episode_return"],
        finals=final_returns(metrics),
        compile_s=compile_s,
        run_s=run_s,
        setting=setting,
        revision=revision(),
    )
    return path


def load_runs(paths: list[str]) -> list[dict]:
    """The saved runs, in the order of ``ENVS`` and ``pgjax.algorithms.names()``."""
    runs = []
    for path in paths:
        with np.load(path) as f:
            r = {k: f[k].item() if f[k].ndim == 0 else f[k] for k in f.files}
        # from the saved curves, so that a rebuilt table follows final_return's definition
        r["finals"] = final_returns({"episode_return": r["returns"]})
        if "revision" not in r:  # saved before runs recorded it: the commit that added it
            r["revision"] = committed_in(path)
        runs.append(r)
    order = {e: i for i, e in enumerate(ENVS)}
    algos = {a: i for i, a in enumerate(algorithm_names())}
    return sorted(runs, key=lambda r: (order.get(r["env"], 99), algos.get(r["algo"], 99)))


def table(runs: list[dict]) -> list[str]:
    lines = [
        "| env | algo | setting | steps | seeds | first return | final return (95% CI) | anchor "
        "| run s | compile s | pgjax |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r['env']} | {r['algo']} | {r['setting']} | "
            f"{int(r['steps'][-1]):,} | {len(r['finals'])} | "
            f"{number(first_return(r['returns']))} | "
            f"{mean_and_ci(r['finals'])} | "
            f"{ANCHORS.get(r['env'], SUITE_ANCHORS.get(r['env'], ''))} | "
            f"{r['run_s']:.0f} | {r['compile_s']:.0f} | "
            f"{r['revision']} |"
        )
    return lines


def number(x: float) -> str:
    """A return as the tables print it: two decimals below 10 (returns in [0, 1]), else one."""
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def first_return(returns: np.ndarray) -> float:
    """The untrained policy's return, a random policy's (the policy head starts near uniform,
    or at mean 0): the mean over seeds of the episodes that ended in the first 10 updates
    (``final_return`` of the curve read backwards)."""
    return float(np.mean([final_return({"episode_return": r[::-1]}) for r in returns]))


def plot(runs: list[dict], path: str, wall_clock: bool) -> None:
    envs = list(dict.fromkeys(r["env"] for r in runs))
    cols = min(4, len(envs))
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=False):
        for r in (r for r in runs if r["env"] == env):
            n = len(r["steps"])
            seconds = r["compile_s"] + r["run_s"] * np.arange(1, n + 1) / n
            color = (
                f"C{algorithm_names().index(r['algo'])}"  # one colour per algorithm, every panel
            )
            band(ax, seconds if wall_clock else r["steps"], r["returns"], r["algo"], color)
        if env in ANCHORS:
            ax.axhline(ANCHORS[env], color="k", ls=":", lw=1, label="gymnax PPO checkpoint")
        if env in SUITE_ANCHORS:
            ax.axhline(SUITE_ANCHORS[env], color="k", ls=":", lw=1, label="maximum")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("wall-clock seconds" if wall_clock else "environment steps")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(envs) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("episode return")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path}")


def reference(envs: list[str], seeds: int, quick: bool, out: str, runs_dir: str) -> None:
    """PPO-Clip written the way PureJaxRL writes it (``reference_ppo.py``) on each env's PPO
    preset, the same keys as pgjax's runs, one seed at a time (flax's QR initialiser can
    deadlock under vmap on a small CPU). Final return per seed both as pgjax reports it (the
    episodes that ended) and as PureJaxRL plots it (every environment's last finished return
    at every step), beside pgjax's saved run of the same preset. The reference's actor and
    critic are separate networks even where the preset shares a torso (Breakout)."""
    lines = [
        f"Command: `python benchmarks/learning.py --reference --seeds {seeds} "
        + " ".join(f"--env {e}" for e in envs)
        + "`",
        "",
        machine(),
        "",
        "| env | steps | seeds | pgjax ppo_clip | reference, episodes ended | reference, "
        "PureJaxRL's curve | reference s per seed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    for env in envs:
        config = config_for(env, "ppo_clip", quick)[0]
        separate = config.replace(shared_torso=False)  # PureJaxRL's networks
        train = jax.jit(reference_ppo.make_train(reference_ppo.from_pgjax(separate)))
        ended, curve, seconds = [], [], []
        for key in jax.random.split(jax.random.key(0), seeds):  # as common.vmapped_run
            start = time.perf_counter()
            metrics = jax.block_until_ready(train(key))[1]
            seconds.append(time.perf_counter() - start)
            ended.append(final_return({"episode_return": np.asarray(metrics["episode_return"])}))
            curve.append(float(np.mean(np.asarray(metrics["returned_episode_return"])[-10:])))
        saved = os.path.join(runs_dir, f"{file_name(env)}__ppo_clip.npz")
        ours = mean_and_ci(load_runs([saved])[0]["finals"]) if os.path.exists(saved) else ""
        line = (
            f"| {env} | {config.num_updates * config.batch_size:,} | {seeds} | {ours} | "
            f"{mean_and_ci(np.array(ended))} | {mean_and_ci(np.array(curve))} | "
            f"{np.median(seconds[1:] or seconds):.0f} |"
        )
        print(line, flush=True)
        lines.append(line)
    write_table(lines, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--env",
        action="append",
        help=f"(repeatable) default: {', '.join(ENVS)}; any other name Config.env takes, "
        "e.g. brax/ant:backend=spring or craftax/Craftax-Classic-Symbolic-v1",
    )
    parser.add_argument("--algo", action="append", choices=algorithm_names(), help="(repeatable)")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument(
        "--total-timesteps", type=int, help="the budget, instead of the preset's (per seed)"
    )
    parser.add_argument("--quick", action="store_true", help="CartPole, ppo_clip, 100k steps")
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    parser.add_argument("--plot-only", action="store_true", help="rebuild table and plots")
    parser.add_argument(
        "--reference", action="store_true", help="PPO-Clip in PureJaxRL's structure, per env"
    )
    args = parser.parse_args()
    envs, algos, seeds = args.env or ENVS, args.algo or algorithm_names(), args.seeds
    if args.quick:
        envs, algos, seeds = ["CartPole-v1"], ["ppo_clip"], 2
    backend = jax.default_backend()
    args.out_dir = out_dir(args.out_dir, args.quick)
    runs_dir = os.path.join(args.out_dir, "learning_runs", backend)
    os.makedirs(runs_dir, exist_ok=True)
    if args.reference:
        envs = [e for e in envs if make_env(e).spec.discrete]  # reference_ppo: discrete only
        out = os.path.join(args.out_dir, f"learning_reference_{backend}.md")
        return reference(envs[:1] if args.quick else envs, seeds, args.quick, out, runs_dir)
    print(machine(), flush=True)
    for env in [] if args.plot_only else envs:
        for algo in algos:
            r = load_runs([run(env, algo, seeds, args.quick, runs_dir, args.total_timesteps)])[0]
            print(table([r])[-1], flush=True)
    runs = load_runs(glob.glob(os.path.join(runs_dir, "*.npz")))
    lines = [
        "Each row: `python benchmarks/learning.py --env <env> --algo <algo> --seeds <seeds>` "
        "(the table and plots hold every run saved in learning_runs/; "
        "`python benchmarks/learning.py --plot-only` rebuilds them).",
        "",
        machine(),
        "",
        *table(runs),
    ]
    write_table(lines, os.path.join(args.out_dir, f"learning_{backend}.md"))
    plot(runs, os.path.join(args.out_dir, f"learning_steps_{backend}.png"), wall_clock=False)
    plot(runs, os.path.join(args.out_dir, f"learning_time_{backend}.png"), wall_clock=True)


if __name__ == "__main__":
    script(main)
