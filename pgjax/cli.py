"""The ``pgjax`` command.

    pgjax train                                   # PPO-Clip on CartPole-v1, well under a minute
    pgjax train --env Breakout-MinAtar --preset   # the preset that learns that environment
    pgjax train --lr 1e-3 --num-envs 16           # any Config field is a flag
    pgjax train --resume runs/X --total-timesteps 1000000
    pgjax eval runs/X --episodes 32 --greedy --render cartpole.gif
    pgjax sweep --seeds 8 --lr 1e-4,3e-4,1e-3 --clip-eps 0.1,0.2

Flags, defaults and help text come from ``Config`` and its field docstrings (through tyro).
A user's mistake ends with a one-line ``pgjax: …`` message on stderr and exit status 2, never
a traceback. The persistent JAX compilation cache is on (``PGJAX_CACHE_DIR``, default
``~/.cache/pgjax``), so running the same configuration again starts without recompiling.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import tyro

from pgjax.config import Config, HParams

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train one run, with a live progress bar, into a run folder (config.json, metrics.csv,
    curve.png, checkpoint.msgpack); resumable."""

    config: Annotated[Config, tyro.conf.arg(name="")]
    seed: int = 0
    """PRNG seed."""
    use_preset: Annotated[bool, tyro.conf.arg(name="preset")] = False
    """Start from the tuned preset for --env (and --algo); other flags still override it."""
    run_dir: str | None = None
    """Run folder to create. Default: runs/<env>-<algo>-<date>-<time>."""
    resume: str | None = None
    """Continue the run in this folder from its last checkpoint (only --total-timesteps may
    change; with anneal_lr a longer run anneals over the new length)."""
    chunks: int = 20
    """Checkpoints per run: training runs as this many compiled chunks, saving after each."""
    progress: bool = True
    """A live progress bar fed by host callbacks from inside the compiled chunks. With
    --no-progress, one line per chunk instead; the compiled chunks can then be kept in the
    compilation cache (JAX does not cache programs that contain host callbacks)."""


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate a trained run: mean ± std return over vmapped episodes; optionally a GIF."""

    run_dir: tyro.conf.Positional[str]
    """The run folder written by `pgjax train`."""
    episodes: int = 16
    """Episodes to run (all at once, vmapped)."""
    greedy: bool = False
    """Take the most likely action instead of sampling."""
    render: str | None = None
    """Also draw one episode to this GIF file (CartPole, Acrobot, Pendulum, MountainCar,
    MinAtar)."""
    seed: int = 0
    """PRNG seed of the evaluation episodes."""


@dataclasses.dataclass(frozen=True)
class SweepArgs:
    """Train a grid of hyperparameters × seeds as one vmapped, compiled function; writes a
    table (mean and 95% CI of the final return per setting) and a plot of the curves.

    Give a comma-separated list to any of lr, gamma, gae-lambda, clip-eps, ent-coef,
    vf-coef, max-grad-norm, reward-scale, kl-beta, max-kl to sweep it, e.g. --lr 1e-4,3e-4."""

    config: Annotated[Config, tyro.conf.arg(name="")]
    seeds: int = 4
    """Seeds per setting (the same seeds for every setting)."""
    use_preset: Annotated[bool, tyro.conf.arg(name="preset")] = False
    """Start from the tuned preset for --env (and --algo); other flags still override it."""
    out: str = "sweep"
    """Folder for sweep.md and sweep.png."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, no traceback."""


# ---- helpers ------------------------------------------------------------------------------


def _with_preset(config: Config) -> Config:
    from pgjax.presets import preset

    # a flag counts as given where it differs from the default (the preset wins on ties)
    plain = Config(algo=config.algo, env=config.env)
    given = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(Config)
        if getattr(config, f.name) != getattr(plain, f.name)
    }
    return preset(config.env, config.algo).replace(**given)


def _enable_compilation_cache() -> None:
    import jax

    cache = os.environ.get("PGJAX_CACHE_DIR", str(Path.home() / ".cache" / "pgjax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _describe(config: Config) -> str:
    import jax

    return (
        f"{config.algo} on {config.env}, {config.num_updates * config.batch_size:,} steps "
        f"({config.num_envs} envs x {config.num_steps} steps x {config.num_updates} updates) "
        f"on {jax.default_backend()}"
    )


class _StopOnSigint:
    """First Ctrl-C: finish the chunk in flight, save, stop. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> _StopOnSigint:
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\npgjax: stopping after this chunk (Ctrl-C again to quit now)", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)


# ---- train --------------------------------------------------------------------------------


def run_train(args: TrainArgs, argv: list[str]) -> int:
    import jax

    from pgjax import checkpoint
    from pgjax.progress import ProgressBar, final_return, format_report, train_in_chunks

    if args.chunks < 1:
        raise UserError(f"--chunks={args.chunks}: must be a positive integer")
    if args.resume:
        run_dir = Path(args.resume)
        config, seed = checkpoint.load_config(run_dir)
        changed = [
            f.name
            for f in dataclasses.fields(Config)
            if f.name != "total_timesteps"
            and getattr(args.config, f.name) != getattr(Config(), f.name)
        ]
        if changed or args.use_preset or args.run_dir:
            raise UserError(
                f"--resume continues {run_dir} with its own config; only --total-timesteps may "
                f"change (also given: {', '.join(changed) or '--preset/--run-dir'})"
            )
        if any(a.split("=")[0] in ("--total-timesteps", "--total_timesteps") for a in argv):
            config = config.replace(total_timesteps=args.config.total_timesteps)
        config.validate()
        state, metrics = checkpoint.restore(run_dir, config, seed)
        done = int(state.update)
        if done >= config.num_updates:
            print(f"pgjax: {run_dir} already has {done} of {config.num_updates} updates")
            return 0
        print(f"pgjax: resuming {run_dir} at update {done} of {config.num_updates}")
    else:
        config = _with_preset(args.config) if args.use_preset else args.config
        config.validate()
        seed, state, metrics = args.seed, None, None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.run_dir or f"runs/{config.env}-{config.algo}-{stamp}")
        if (run_dir / checkpoint.CONFIG_FILE).exists():
            raise UserError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir}, "
                "or choose another --run-dir"
            )
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError(f"--run-dir {run_dir}: exists and is not a folder")
    checkpoint.save_config(run_dir, config, seed)
    print(f"pgjax: {_describe(config)}")
    print(f"pgjax: run folder {run_dir}")

    def save(report, state, metrics) -> None:
        checkpoint.save_checkpoint(run_dir, state, metrics)
        checkpoint.write_metrics_csv(run_dir, metrics)
        if not args.progress:
            print(format_report(report), flush=True)

    bar = ProgressBar(config.num_updates, config.batch_size)
    start = time.perf_counter()
    with _StopOnSigint() as stop:
        result = train_in_chunks(
            config,
            jax.random.key(seed),
            num_chunks=args.chunks,
            on_chunk=save,
            on_update=bar if args.progress else None,
            should_stop=lambda: stop.requested,
            state=state,
            metrics=metrics,
        )
    bar.close()
    seconds = time.perf_counter() - start
    metrics = result.metrics
    checkpoint.plot_curve(run_dir, metrics, f"{config.algo} on {config.env}")
    done = int(result.state.update)
    if done < config.num_updates:
        print(
            f"pgjax: interrupted after {done} of {config.num_updates} updates; checkpoint saved. "
            f"Continue with: pgjax train --resume {run_dir}"
        )
        return EXIT_INTERRUPTED
    print(
        f"pgjax: done in {seconds:.1f}s: final return (mean of the last 10 updates) "
        f"{final_return(metrics):.1f}; wrote {run_dir}/"
        f"{{{checkpoint.CONFIG_FILE}, {checkpoint.METRICS_FILE}, {checkpoint.CURVE_FILE}, "
        f"{checkpoint.CHECKPOINT_FILE}}}"
    )
    return 0


# ---- eval ---------------------------------------------------------------------------------


def run_eval(args: EvalArgs) -> int:
    import jax
    import numpy as np

    from pgjax import checkpoint
    from pgjax.evaluate import evaluate, record_episode
    from pgjax.render import can_render, renderable, save_gif

    if args.episodes < 1:
        raise UserError(f"--episodes={args.episodes}: must be a positive integer")
    config, seed = checkpoint.load_config(args.run_dir)
    if args.render and not can_render(config.env):
        raise UserError(f"cannot render {config.env}; renderable: {', '.join(renderable())}")
    state, _ = checkpoint.restore(args.run_dir, config, seed)
    key = jax.random.key(args.seed)
    returns = evaluate(config, state, key, episodes=args.episodes, greedy=args.greedy)
    mode = "greedy" if args.greedy else "sampled"
    print(
        f"pgjax: {config.algo} on {config.env} after {int(state.update)} updates, {mode} "
        f"actions: return {np.mean(returns):.1f} ± {np.std(returns):.1f} over {args.episodes} "
        f"episodes (min {np.min(returns):.1f}, max {np.max(returns):.1f})"
    )
    if args.render:
        episode = record_episode(config, state, key, greedy=args.greedy)
        path = save_gif(config.env, episode, args.render)
        steps, total = len(episode.rewards), float(episode.rewards.sum())
        print(f"pgjax: wrote {path} ({steps} steps, return {total:.1f})")
    return 0


# ---- sweep --------------------------------------------------------------------------------


def split_grid(argv: list[str]) -> tuple[list[str], dict[str, list[float]]]:
    """Take the comma-separated hyperparameter lists out of ``argv``: (the rest, grid)."""
    fields = [f.name for f in dataclasses.fields(Config)]
    flags = {f"--{f.replace('_', '-')}": f for f in fields} | {f"--{f}": f for f in fields}
    rest, grid, i = [], {}, 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name in flags and not eq and i + 1 < len(argv):
            i, value = i + 1, argv[i + 1]
        elif not (name in flags and eq):
            rest.append(argv[i])
            i += 1
            continue
        i += 1
        if "," not in value:
            rest += [name, value]
            continue
        field = flags[name]
        if field not in HParams._fields:
            raise UserError(
                f"Config.{field} cannot be swept without recompiling; sweepable fields: "
                f"{', '.join(HParams._fields)}"
            )
        try:
            grid[field] = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"{name} {value}: expected numbers separated by commas") from None
    return rest, grid


def run_sweep(args: SweepArgs, grid: dict[str, list[float]]) -> int:
    from pgjax import sweep
    from pgjax.progress import ProgressBar

    if args.seeds < 1:
        raise UserError(f"--seeds={args.seeds}: must be a positive integer")
    config = _with_preset(args.config) if args.use_preset else args.config
    config.validate()
    points = sweep.grid_points(grid)
    print(f"pgjax: sweep of {len(points)} settings x {args.seeds} seeds: {_describe(config)}")
    bar = ProgressBar(config.num_updates, config.batch_size * len(points) * args.seeds)
    result = sweep.sweep(config, grid, args.seeds, on_update=bar)
    bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = sweep.table(result, config)
    (out / "sweep.md").write_text(text)
    sweep.plot(result, config, out / "sweep.png")
    print(text)
    print(f"pgjax: wrote {out / 'sweep.md'} and {out / 'sweep.png'}")
    return 0


# ---- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from pgjax.checkpoint import CheckpointError

    try:
        grid: dict[str, list[float]] = {}
        if argv[:1] == ["sweep"]:
            argv, grid = split_grid(argv)
        args = tyro.extras.subcommand_cli_from_dict(
            {"train": TrainArgs, "eval": EvalArgs, "sweep": SweepArgs}, args=argv, prog="pgjax"
        )
        _enable_compilation_cache()
        if isinstance(args, TrainArgs):
            return run_train(args, argv)
        if isinstance(args, EvalArgs):
            return run_eval(args)
        return run_sweep(args, grid)
    except (UserError, CheckpointError, ValueError) as error:
        print(f"pgjax: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pgjax: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
