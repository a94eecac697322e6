"""Final returns and learning curves: every algorithm on eight gymnax environments, seeds
trained together with vmap, beside gymnax's published PPO checkpoints.

    python benchmarks/learning.py                                  # everything, 8 seeds
    python benchmarks/learning.py --algo ppo_clip                  # one algorithm, all envs
    python benchmarks/learning.py --env Pendulum-v1 --env Acrobot-v1 --seeds 16
    python benchmarks/learning.py --quick                          # CartPole, short: smoke test
    python benchmarks/learning.py --reference --env Breakout-MinAtar   # PureJaxRL's structure

Seeds are split from ``--key`` (default ``report.TABLE_KEY``, 99: held out, no preset was
searched on it; presets are searched on ``report.SEARCH_KEYS``), recorded in each run.

Each (environment, algorithm) trains with ``Config(algo=algo, env=env)`` and nothing else set
(what a user gets; ``pgjax.pipeline.config``): the pair's preset (``pgjax.pipeline.presets``)
where there is one; else the environment's settings taken from its PPO preset (budget, γ,
entropy bonus, reward scale, observation normalisation, network:
``pgjax.pipeline.presets.ENV_FIELDS``) with the algorithm's own sizes and learning rate; the
table's "setting" column says which. Per seed the final return is the mean episode return over
the last 10 updates; the table gives, for each row, the interquartile mean over seeds with its 95%
bootstrap interval, the mean and the worst seed (``report.table``), the budget, the run's
seconds (compile excluded) and the compile seconds.
Each environment's uniformly random policy's return is measured once beside the runs
(``random_returns.json``), the zero of ``report``'s normalised scores. Curves are the mean over
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
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import reference_ppo
from common import (
    final_returns,
    machine,
    mean_and_ci,
    out_dir,
    revision,
    save_npz,
    script,
    vmapped_run,
    write_file,
    write_table,
)
from report import (
    ENVS,
    RANDOM_FILE,
    TABLE_KEY,
    curves_plot,
    load_runs,
    saved_runs,
    table,
)

from pgjax import Config
from pgjax.algorithms import names as algorithm_names
from pgjax.envs import make_env
from pgjax.envs.base import env_action
from pgjax.pipeline.config import config_for as presets_config_for
from pgjax.tools.chunks import final_return


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
    env: str,
    algo: str,
    seeds: int,
    quick: bool,
    runs_dir: str,
    total_timesteps: int | None,
    key: int,
) -> str:
    """Train (seeds split from ``key``), save the run's curves, return the path."""
    config, setting = config_for(env, algo, quick, total_timesteps)
    metrics, compile_s, run_s = vmapped_run(config, seeds, key)
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
        key=key,
    )
    return path


RANDOM_EPISODES = 256


def measure_random(env: str, runs_dir: str, episodes: int = RANDOM_EPISODES) -> float:
    """The uniformly random policy's mean return over ``episodes`` episodes of ``env``, one
    per environment copy, each run until it ends (key 0; uniform over the discrete actions,
    or over the action box), saved in ``runs_dir/random_returns.json`` (measured once per
    environment: the saved figure is returned when there is one)."""
    path = os.path.join(runs_dir, RANDOM_FILE)
    saved = {}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
    if env in saved:
        return saved[env]["mean"]
    e = make_env(env)
    spec = e.spec

    def act(key):
        if spec.discrete:
            return jax.random.randint(key, (episodes,), 0, spec.num_actions)
        shape = (episodes, spec.num_actions)
        return jax.random.uniform(key, shape, minval=spec.low, maxval=spec.high)

    def body(c):
        state, total, done, key = c
        key, k_act, k_env = jax.random.split(key, 3)
        keys = jax.random.split(k_env, (episodes, 2))
        state, ts = e.step(keys, state, env_action(spec, act(k_act)))
        total = total + jnp.where(done, 0.0, ts.reward)
        return state, total, done | ts.terminated | ts.truncated, key

    @jax.jit
    def returns(key):
        k_reset, key = jax.random.split(key)
        state, _ = e.reset(jax.random.split(k_reset, episodes))
        init = (state, jnp.zeros(episodes), jnp.zeros(episodes, bool), key)
        return jax.lax.while_loop(lambda c: ~jnp.all(c[2]), body, init)[1]

    values = np.asarray(returns(jax.random.key(0)))
    saved[env] = dict(mean=float(values.mean()), episodes=episodes, key=0)
    write_table([json.dumps(saved, indent=1, sort_keys=True)], path)
    return saved[env]["mean"]


def plot(runs: list[dict], path: str, wall_clock: bool) -> None:
    """Every environment's curves (``report.curves_plot``) written to ``path``, whole."""
    write_file(path, curves_plot(runs, list(dict.fromkeys(r["env"] for r in runs)), wall_clock))
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
        "--key",
        type=int,
        default=TABLE_KEY,
        help=f"the key seeds are split from (default {TABLE_KEY}, held out from every preset "
        "search), recorded in the run",
    )
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
        measure_random(env, runs_dir)
        for algo in algos:
            path = run(env, algo, seeds, args.quick, runs_dir, args.total_timesteps, args.key)
            r = load_runs([path])[0]
            print(table([r])[-1], flush=True)
    runs = saved_runs(runs_dir)
    lines = [
        "Each row: `python benchmarks/learning.py --env <env> --algo <algo> --seeds <seeds> "
        "--key <key>` (the table and plots hold every run saved in learning_runs/; "
        "`python benchmarks/learning.py --plot-only` rebuilds them). Per row, over its seeds' "
        "final returns (each the mean episode return over the seed's last 10 updates): the "
        "interquartile mean with its 95% bootstrap interval, the mean and the worst seed. "
        f"`key`: the key the seeds were split from; {TABLE_KEY} is held out from every preset "
        "search, and a key marked 'searched on' is one that presets were tuned on. The "
        "suites' aggregates: the results pages of the docs site (docs/results/).",
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
