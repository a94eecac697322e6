"""The ``pgjax`` command.

    pgjax train                                   # PPO-Clip on CartPole-v1, well under a minute
    pgjax train --env Breakout-MinAtar            # with the settings that learn it (its preset)
    pgjax train --env Pendulum-v1 --no-presets    # the bare defaults (CartPole's settings)
    pgjax train --lr 1e-3 --num-envs 16           # any Config field is a flag
    pgjax train --resume runs/X --total-timesteps 1000000
    pgjax eval runs/X --episodes 32 --greedy --render cartpole.gif
    pgjax sweep --seeds 8 --lr 1e-4,3e-4,1e-3 --clip-eps 0.1,0.2

Flags, defaults and help text come from ``Config`` and its field docstrings (through tyro).
A ``Config`` flag counts as given when it is on the command line; the fields not given
resolve as ``Config`` resolves them (the environment's preset, its settings, the algorithm's
defaults, ``pgjax.config.DEFAULTS``), and ``pgjax train`` prints those that differ from
``DEFAULTS``.
A user's mistake ends with a one-line ``pgjax: …`` message on stderr and exit status 2, never
a traceback. The persistent JAX compilation cache is on (``PGJAX_CACHE_DIR``, default
``~/.cache/pgjax``), so running the same configuration again starts without recompiling.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import os
import re
import shutil
import sys
import textwrap
import threading
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import tyro

from pgjax.algorithms import names as algorithm_names
from pgjax.config import DEFAULTS, Config, check_seed
from pgjax.hparams import HParams
from pgjax.tracking import TRACKERS
from pgjax.train import num_devices

EXIT_FAILED = 1
"""Exit status of a run that failed (diverged, or an environment's fault)."""
EXIT_USAGE = 2
"""Exit status of a user's mistake: a one-line message, nothing written."""
EXIT_INTERRUPTED = 130
"""Exit status after a second Ctrl-C."""


def _field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal after it in the class body), joined into one
    line: tyro breaks a docstring's line wherever the next starts with a non-letter, and an
    indented continuation line starts with a space."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body, docs = tree.body[0].body, {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _documented(
    cls: type, helps: dict[str, str] | None = None, resolved: dict[str, object] | None = None
) -> type:
    """A copy of the frozen dataclass ``cls`` whose fields carry their documentation as tyro's
    help (``helps`` replaces a field's), each a paragraph that the terminal wraps. A field of
    ``resolved`` (``Optional`` in ``cls``, unset meaning "resolve it") shows as its plain type
    with that default, said to apply only where the environment's settings do not."""
    helps = {**_field_docs(cls), **(helps or {})}
    resolved = resolved or {}
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for f in dataclasses.fields(cls):
        hint, default_value = hints[f.name], f.default
        behavior = None
        if f.name in resolved:
            (hint,) = (a for a in typing.get_args(hint) if a is not type(None))  # X | None → X
            default_value = resolved[f.name]
            behavior = f"(default: --env's and --algo's settings, else {default_value!r})"
        if f.name in helps:
            base, marks = hint, ()
            if typing.get_origin(hint) is Annotated:
                base, *marks = typing.get_args(hint)
            args = [m for m in marks if isinstance(m, type(tyro.conf.arg()))]
            others = [m for m in marks if m not in args]
            arg = dataclasses.replace(args[0] if args else tyro.conf.arg(), help=helps[f.name])
            if behavior:
                arg = dataclasses.replace(arg, help_behavior_hint=behavior)
            hint = Annotated[(base, *others, arg)]
        default = (
            dataclasses.field(default_factory=f.default_factory)
            if f.default_factory is not dataclasses.MISSING
            else dataclasses.field(default=default_value)
        )
        fields.append((f.name, hint, default))
    made = dataclasses.make_dataclass(cls.__name__, fields, frozen=True)
    made.__doc__ = cls.__doc__
    return made


def _config_flags() -> type:
    from pgjax.envs import env_names

    return _documented(
        Config,
        {
            "algo": (
                f"Algorithm: {', '.join(algorithm_names())}, or your own, registered by "
                "pgjax.algorithms.register in a module named by --import MODULE."
            ),
            "env": (
                "Environment: a gymnax (>= 1.0) id, brax/<name> (pip install 'pgjax[brax]'), "
                "craftax/<name> (pip install 'pgjax[craftax]'), or your own, registered by "
                "pgjax.envs.register in a module named by --import MODULE; options after a "
                f"colon (brax/ant:backend=positional). gymnax's: {', '.join(env_names())}."
            ),
        },
        DEFAULTS,
    )


ConfigFlags = _config_flags()
"""``Config`` as tyro shows it: the same fields, their documentation as help."""


Tracker = Literal[("csv", *TRACKERS)]  # type: ignore[valid-type]  (read from the table)
"""Where ``--log`` sends the metrics besides the run folder's metrics.csv: ``csv`` and each
sink of ``pgjax.tracking.TRACKERS``."""


@dataclasses.dataclass(frozen=True)
class _TrainArgs:
    """Train one run, with a live progress bar, into a run folder (config.json, metrics.csv,
    curve.png, checkpoint.msgpack); resumable."""

    config: Annotated[ConfigFlags, tyro.conf.arg(name="")]
    seed: int = 0
    """PRNG seed (a resumed run keeps its own)."""
    run_dir: str | None = None
    """Run folder to create, new or empty. Default: runs/<env>-<algo>-<date>-<time>."""
    overwrite: bool = False
    """Write into a --run-dir that is not empty: a run it holds is replaced (its files and
    its tensorboard and wandb folders), other files of the names a run writes are replaced,
    the rest stay."""
    resume: str | None = None
    """Continue the run in this folder from its last checkpoint, or from the start if it saved
    none (only --total-timesteps may change; with anneal_lr a longer run anneals over the new
    length)."""
    chunks: int = 20
    """Checkpoints per run: training runs as this many compiled chunks, saving after each
    (each chunk costs a return to Python and a checkpoint written to disk: more than
    about 100 is warned about)."""
    progress: bool = True
    """A live progress bar fed by host callbacks from inside the compiled chunks. With
    --no-progress, one line per chunk instead; the compiled chunks can then be kept in the
    compilation cache (JAX does not cache programs that contain host callbacks)."""
    log: Annotated[tuple[Tracker, ...], tyro.conf.UseAppendAction] = ()
    """Also log every metric per update to tensorboard (<run folder>/tensorboard; pip install
    'pgjax[tensorboard]') or wandb (pip install 'pgjax[wandb]'; WANDB_MODE=offline without a
    network); repeatable. metrics.csv is always written. A resumed run continues the same
    tracked run (give --log again)."""
    wandb_project: str = "pgjax"
    """The W&B project of --log wandb."""


@dataclasses.dataclass(frozen=True)
class _EvalArgs:
    """Evaluate a trained run: mean ± std return over vmapped episodes; optionally a GIF."""

    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """The run folder written by `pgjax train`."""
    episodes: int = 16
    """Episodes to run (all at once, vmapped)."""
    greedy: bool = False
    """Take the most likely action instead of sampling."""
    render: str | None = None
    """Also draw one episode to this file: a GIF (CartPole, Acrobot, Pendulum, MountainCar,
    MinAtar, Craftax), or for Brax an HTML page (.html)."""
    seed: int = 0
    """PRNG seed of the evaluation episodes."""


@dataclasses.dataclass(frozen=True)
class _SweepArgs:
    """Train a grid of hyperparameters × seeds as vmapped, compiled calls; writes a table (mean
    and 95% CI of the final return per setting) and a plot of the curves.

    Give a comma-separated list to any of lr, gamma, gae-lambda, clip-eps, ent-coef,
    vf-coef, max-grad-norm, reward-scale, kl-beta, max-kl to sweep it, e.g. --lr 1e-4,3e-4."""

    config: Annotated[ConfigFlags, tyro.conf.arg(name="")]
    seeds: int = 4
    """Seeds per setting (the same seeds for every setting)."""
    out: str | None = None
    """Folder for sweep.md and sweep.png, new or empty. Default: runs/sweep-<date>-<time>."""
    overwrite: bool = False
    """Write into an --out folder that is not empty, replacing sweep.md, sweep.png and the
    runs of --log."""
    per_call: int = 1
    """Settings trained together in one compiled call (vmapped), all with the same compiled
    function. 1: Ctrl-C keeps every setting finished so far; more: faster where one setting
    does not fill the device."""
    log: Annotated[tuple[Tracker, ...], tyro.conf.UseAppendAction] = ()
    """Also log each (setting, seed) as its own run, in <out>/runs/<setting>-seed<k>, to
    tensorboard or wandb (grouped by the --out folder's name), as each call finishes;
    repeatable."""
    wandb_project: str = "pgjax"
    """The W&B project of --log wandb."""


TrainArgs = _documented(_TrainArgs)
"""``pgjax train``'s flags: every ``Config`` field and the run's own."""
EvalArgs = _documented(_EvalArgs)
"""``pgjax eval``'s flags."""
SweepArgs = _documented(_SweepArgs)
"""``pgjax sweep``'s flags: ``Config`` fields, each one value or a comma-separated list."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, no traceback."""


# ---- helpers ------------------------------------------------------------------------------


def _config_flag_names() -> dict[str, str]:
    """Each spelling of each ``Config`` flag (``--num-envs``, ``--num_envs``, and a boolean's
    ``--no-…``) → its field."""
    names = {}
    for f in dataclasses.fields(Config):
        for name in {f.name, f.name.replace("_", "-")}:
            names[f"--{name}"] = names[f"--no-{name}"] = names[f"--no_{name}"] = f.name
    return names


def given_fields(argv: list[str]) -> set[str]:
    """The ``Config`` fields whose flags are in ``argv`` (also as ``--flag=value``)."""
    names = _config_flag_names()
    return {names[a.split("=")[0]] for a in argv if a.split("=")[0] in names}


def _flags_config(args: TrainArgs | SweepArgs, argv: list[str]) -> Config:
    """The ``Config`` the flags give: the flags on the command line set their fields, the rest
    resolve (``Config``)."""
    given = given_fields(argv) | {f.name for f in dataclasses.fields(Config)} - set(DEFAULTS)
    return Config.from_dict({name: getattr(args.config, name) for name in given})


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


# ---- train --------------------------------------------------------------------------------


def _given(argv: list[str], *flags: str) -> bool:
    """Whether any of ``flags`` (``--name``, also as ``--name=value``) is in ``argv``."""
    return any(a.split("=")[0] in flags for a in argv)


def run_train(args: TrainArgs, argv: list[str]) -> int:
    from pgjax import checkpoint
    from pgjax.runner import preflight

    if args.chunks < 1:
        raise UserError(f"--chunks={args.chunks}: must be a positive integer")
    _require_trackers(args.log)  # before a folder is made
    if args.resume:
        if args.overwrite:
            raise UserError("--overwrite makes a new run; --resume continues one: give one")
        run_dir = Path(args.resume)
        import_run_modules(run_dir)
        checkpoint.load_config(run_dir)  # a clear error if it is not a run folder
        checkpoint.check_writable(run_dir, "--resume")
        with checkpoint.hold(run_dir):  # one process at a time in a run folder
            config, seed, state, metrics = _resumed(args, argv, run_dir)
            if state is not None and int(state.update) >= config.num_updates:
                print(f"pgjax: {run_dir} already has {int(state.update)} of {config.num_updates}"
                      " updates")  # fmt: skip
                return 0
            return _train(args, config, seed, run_dir, state, metrics)
    config = _flags_config(args, argv)
    seed = check_seed(args.seed, "--seed")
    preflight(config)  # nothing is written before the config and the environment pass
    stamp = time.strftime("%Y%m%d-%H%M%S")
    env = re.sub(r"[^\w.-]+", "_", config.env)  # brax/ant:backend=spring: one folder
    run_dir = Path(args.run_dir or f"runs/{env}-{config.algo}-{stamp}")
    with checkpoint.new_run(run_dir, args.overwrite, "--run-dir"):
        return _train(args, config, seed, run_dir, None, None)


def _resumed(args: TrainArgs, argv: list[str], run_dir: Path):
    """The held run's config (with a new --total-timesteps), seed, state and metrics; state
    and metrics ``None`` where it saved no checkpoint yet (it starts from update 0)."""
    from pgjax import checkpoint

    config, seed = checkpoint.load_config(run_dir)
    given = given_fields(argv) - {"total_timesteps"}
    changed = [
        f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(Config) if f.name in given
    ]
    changed += ["--run-dir"] * bool(args.run_dir)
    if _given(argv, "--seed") and args.seed != seed:
        changed.append(f"--seed (the run's seed is {seed})")
    if changed:
        raise UserError(
            f"--resume continues {run_dir} with its own config and seed; only "
            f"--total-timesteps may change (also given: {', '.join(changed)})"
        )
    if _given(argv, "--total-timesteps", "--total_timesteps"):
        config = config.replace(total_timesteps=args.config.total_timesteps)
    num_devices(config)
    if not (run_dir / checkpoint.CHECKPOINT_FILE).exists():
        print(f"pgjax: resuming {run_dir} from the start (it saved no checkpoint)")
        return config, seed, None, None
    state, metrics = checkpoint.restore(run_dir, config, seed)
    if int(state.update) < config.num_updates:
        print(f"pgjax: resuming {run_dir} at update {int(state.update)} of {config.num_updates}")
    return config, seed, state, metrics


def _train(args: TrainArgs, config: Config, seed: int, run_dir: Path, state, metrics) -> int:
    from pgjax import checkpoint
    from pgjax.loggers import ChunkLines, ProgressBar
    from pgjax.progress import final_return
    from pgjax.runner import StopOnSigint, run

    print(f"pgjax: {_describe(config)}")
    settings = ", ".join(
        f"{name}={value!r} ({source})" for name, value, source in config.resolved()
    )
    print(f"pgjax: settings besides pgjax.config.DEFAULTS: {settings or 'none'}")
    print(f"pgjax: run folder {run_dir}")
    _warn_chunks(args.chunks, config.num_updates)
    line = ProgressBar if args.progress else ChunkLines
    trackers = _trackers(args, run_dir, config, seed)
    start = time.perf_counter()
    quit_now = _quit_now(
        f"pgjax: quit; {run_dir} keeps its last checkpoint (if one was saved). Continue with: "
        f"pgjax train --resume {run_dir}"
    )
    with StopOnSigint(quit_now) as stop:
        result = run(
            config,
            seed,
            run_dir=run_dir,
            resume=True,  # the folder's checks were made above, under the same hold
            loggers=[line(config.num_updates, config.batch_size), *trackers],
            num_chunks=args.chunks,
            should_stop=stop,
            state=state,
            metrics=metrics,
            imports=IMPORTED,
        )
    seconds = time.perf_counter() - start
    done = int(result.state.update)
    if done < config.num_updates:
        print(
            f"pgjax: interrupted after {done} of {config.num_updates} updates; checkpoint saved. "
            f"Continue with: pgjax train --resume {run_dir}"
        )
        return EXIT_INTERRUPTED
    final = final_return(result.metrics)
    outcome = (
        f"final return (mean of the last 10 updates) {final:.1f}"
        if final == final
        else f"no episode finished in {done * config.batch_size:,} steps"
    )
    print(
        f"pgjax: done in {seconds:.1f}s: {outcome}; wrote {run_dir}/"
        f"{{{checkpoint.CONFIG_FILE}, {checkpoint.METRICS_FILE}, {checkpoint.CURVE_FILE}, "
        f"{checkpoint.CHECKPOINT_FILE}}}"
    )
    return 0


CHUNKS_THAT_PAY = 100
"""More chunks than this are warned about: each costs a return to Python and a checkpoint and
metrics.csv written (fsync'd) to disk, about 25 ms on a 2-core CPU (`pgjax train --chunks
1000 --no-progress` against `--chunks 1`, compiled programs cached: 33.5 s against 9.2 s for
CartPole's 976 updates), so that 100 chunks add seconds to a run of that size."""


def _warn_chunks(chunks: int, num_updates: int) -> None:
    """Say (once, on stderr) when ``--chunks`` asks for more chunks than pay."""
    made = -(-num_updates // -(-num_updates // chunks))  # chunks of ceil(updates / chunks)
    if made > CHUNKS_THAT_PAY:
        print(
            f"pgjax: --chunks {chunks}: {made} chunks of {-(-num_updates // made)} update(s); "
            "each returns to Python and writes a checkpoint and metrics.csv, which costs more "
            f"than it saves past about {CHUNKS_THAT_PAY} (the default is 20)",
            file=sys.stderr,
        )


def _quit_now(message: str) -> Callable[[], None]:
    """What a second Ctrl-C does (``StopOnSigint``): wait up to 10 s for a file being written
    (``checkpoint.SAVING``: a checkpoint and its metrics.csv are never left apart), print
    ``message`` and end the process with exit status 130."""
    from pgjax import checkpoint

    def quit_now() -> None:
        checkpoint.SAVING.acquire(timeout=10)
        print(message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)

    return quit_now


def _require_trackers(trackers: tuple[str, ...]) -> None:
    """A ``UserError`` naming the install where a ``--log`` tracker's library is missing."""
    from pgjax.tracking import require

    for tracker in dict.fromkeys(trackers):
        if tracker != "csv":
            try:
                require(tracker)
            except ModuleNotFoundError as error:
                raise UserError(str(error)) from None


def _trackers(args: TrainArgs, run_dir: Path, config: Config, seed: int) -> list:
    """The ``--log`` loggers of a run, writing into its folder."""
    from pgjax.tracking import make_loggers

    return make_loggers(list(args.log), run_dir, config, seed, project=args.wandb_project)


# ---- eval ---------------------------------------------------------------------------------


def run_eval(args: EvalArgs) -> int:
    import jax
    import numpy as np

    from pgjax import checkpoint
    from pgjax.evaluate import evaluate, record_episode
    from pgjax.render import can_render, check_path, renderable, save

    if args.episodes < 1:
        raise UserError(f"--episodes={args.episodes}: must be a positive integer")
    import_run_modules(args.run_dir)
    config, seed = checkpoint.load_config(args.run_dir)
    if args.render:
        if not can_render(config.env):
            raise UserError(f"cannot render {config.env}; renderable: {', '.join(renderable())}")
        check_path(config.env, args.render)
        checkpoint.check_writable(Path(args.render).parent, "--render")
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
        path = save(config.env, episode, args.render)
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
            values = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"{name} {value}: expected numbers separated by commas") from None
        grid[field] = list(dict.fromkeys(values))
        if len(grid[field]) < len(values):
            twice = sorted({f"{v:g}" for v in values if values.count(v) > 1})
            print(f"pgjax: {name} {value}: {', '.join(twice)} given more than once; each value "
                  "is trained once", file=sys.stderr)  # fmt: skip
    return rest, grid


def run_sweep(args: SweepArgs, grid: dict[str, list[float]], argv: list[str]) -> int:
    from pgjax import checkpoint, sweep
    from pgjax.loggers import ProgressBar
    from pgjax.runner import StopOnSigint, preflight

    if args.seeds < 1:
        raise UserError(f"--seeds={args.seeds}: must be a positive integer")
    if args.per_call < 1:
        raise UserError(f"--per-call={args.per_call}: must be a positive integer")
    config = _flags_config(args, argv)
    config.validate()
    points = sweep.grid_points(grid)
    for point in points:  # every value checked before anything trains
        config.replace(**point).validate()
    per_call = min(args.per_call, max(len(points), 1))
    preflight(config, copies=per_call * args.seeds)
    _require_trackers(args.log)
    out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    checkpoint.check_new_folder(out, args.overwrite, "--out")
    checkpoint.check_writable(out, "--out")
    if args.overwrite and (out / "sweep.md").is_file():  # the sweep it holds is replaced
        for name in ("sweep.md", "sweep.png"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "runs", ignore_errors=True)
    calls = -(-max(len(points), 1) // per_call)
    print(f"pgjax: sweep of {len(points)} settings x {args.seeds} seeds: {_describe(config)}")
    print(f"pgjax: sweep folder {out}")
    bar = ProgressBar(config.num_updates * calls, config.batch_size * per_call * args.seeds)
    parts: list = []
    written = threading.Lock()  # the results are written once: at the end, or on a quit

    def write(stopped: bool) -> int:
        with written:
            return _write_sweep(config, parts, len(points), out, stopped)

    def quit_now() -> None:  # a second Ctrl-C, from the watcher thread
        print("pgjax: quitting now", file=sys.stderr, flush=True)
        code = write(True)
        sys.stdout.flush()
        os._exit(code)

    stopped = False
    try:
        with StopOnSigint(quit_now) as stop:
            for part in sweep.iter_sweep(
                config, grid, args.seeds, on_update=bar, per_call=per_call
            ):
                parts.append(part)
                if set(args.log) - {"csv"}:
                    from pgjax.tracking import log_sweep

                    log_sweep(list(args.log), out, config, part, project=args.wandb_project)
                if stop():
                    break
    except KeyboardInterrupt:
        stopped = True
    finally:
        bar.close()
    done = sum(len(p.settings) for p in parts)
    return write(stopped or done < max(len(points), 1))


def _write_sweep(config: Config, parts: list, num_points: int, out: Path, stopped: bool) -> int:
    """Print the table of the settings finished (``parts``), save it and the plot in ``out``;
    the exit status."""
    from pgjax import checkpoint, sweep

    done = sum(len(p.settings) for p in parts)
    if not parts:
        print("pgjax: interrupted before any setting finished; nothing to write")
        return EXIT_INTERRUPTED
    result = sweep.merge(list(parts))
    text = sweep.table(result, config)
    print(text)
    try:
        checkpoint.write_atomic(out / "sweep.md", text.encode())
        sweep.plot(result, config, out / "sweep.png")
    except OSError as error:
        print(f"pgjax: the table above could not be saved: {_os_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"pgjax: wrote {out / 'sweep.md'} and {out / 'sweep.png'}")
    if stopped:
        print(f"pgjax: interrupted: {done} of {num_points} settings finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


# ---- main ---------------------------------------------------------------------------------


def _os_error(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"


def import_modules(argv: list[str]) -> list[str]:
    """Import each module named by ``--import MODULE`` (anywhere in ``argv``, repeatable; the
    current folder searched first, as ``python -m`` does), so that the environments it
    registers can be named; returns the other arguments."""
    rest, modules = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--import":
            module = next(args, None)
            if module is None:
                raise UserError("--import needs a module name, e.g. --import mypkg.envs")
            modules.append(module)
        elif arg.startswith("--import="):
            modules.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    _import(modules, "--import")
    return rest


IMPORTED: list[str] = []
"""The modules ``--import`` named in this process (recorded in a run folder's config.json)."""


def _import(modules: list[str], what: str) -> None:
    """Import ``modules`` (the current folder searched first), a ``UserError`` naming ``what``
    (the flag, or the run folder that recorded them) for one that cannot be."""
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise UserError(f"{what} {module}: {error}") from None
        if module not in IMPORTED:
            IMPORTED.append(module)


def import_run_modules(run_dir: str | Path) -> None:
    """Import the modules a run folder records (it was trained with ``--import``), before its
    config is read: its environment or algorithm may be registered there."""
    from pgjax import checkpoint

    _import(checkpoint.load_imports(run_dir), f"{run_dir} was trained with --import")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from pgjax.checkpoint import CheckpointError
    from pgjax.progress import DivergedError

    try:
        argv = import_modules(argv)
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
        return run_sweep(args, grid, argv)
    except (UserError, CheckpointError, ValueError) as error:
        print(f"pgjax: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DivergedError as error:
        print(f"pgjax: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a full disk, a folder that vanished: the files before it stay
        print(f"pgjax: cannot write: {_os_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pgjax: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
