"""The ``pgjax`` command.

    pgjax train                                   # PPO-Clip on CartPole-v1, well under a minute
    pgjax train --env Breakout-MinAtar            # with the settings that learn it (its preset)
    pgjax train --env Pendulum-v1 --no-presets    # the bare defaults (CartPole's settings)
    pgjax train --lr 1e-3 --num-envs 16           # any Config field is a flag
    pgjax train --resume runs/X --total-timesteps 1000000
    pgjax train --run-dir runs/job --requeue      # start there, or resume: a job's one line
    pgjax eval runs/X --episodes 32 --greedy --render cartpole.gif
    pgjax sweep --seeds 8 --lr 1e-4,3e-4,1e-3 --clip-eps 0.1,0.2
    pgjax export runs/X exported --format onnx    # the policy, for a runtime without pgjax

Flags, defaults and help text come from ``Config`` and its field docstrings (through tyro).
A ``Config`` flag counts as given when it is on the command line; the fields not given
resolve as ``Config`` resolves them (the environment's preset, its settings, the algorithm's
defaults, ``pgjax.pipeline.config.DEFAULTS``), and ``pgjax train`` prints those that differ from
``DEFAULTS``.
A user's mistake ends with a one-line ``pgjax: …`` message on stderr and exit status 2, never
a traceback; a failed run (diverged, a full disk) with status 1; Ctrl-C, SIGTERM and SIGHUP
save the work done and end with 130, 143 and 129. The persistent JAX compilation cache is on
(``PGJAX_CACHE_DIR``, default ``~/.cache/pgjax``), so running the same configuration again
starts without recompiling.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import inspect
import itertools
import os
import re
import shutil
import signal
import sys
import textwrap
import threading
import time
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import tyro

from pgjax.algorithms import names as algorithm_names
from pgjax.algorithms import settings_of
from pgjax.core.hparams import COMMON
from pgjax.core.settings import Setting
from pgjax.pipeline.config import DEFAULTS, Config, check_seed

EXIT_FAILED = 1
"""Exit status of a run that failed (diverged, or an environment's fault)."""
EXIT_USAGE = 2
"""Exit status of a user's mistake: a one-line message, nothing written."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (SIGTERM: 143, SIGHUP: 129, ``session.exit_status``)."""


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
        if f.name == "settings":  # the algorithm's own flags: split_settings, settings_help
            continue
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
    from pgjax.envs.playground import TASKS
    from pgjax.envs.registry import SUITES

    return _documented(
        Config,
        {
            "algo": (
                f"Algorithm: {', '.join(algorithm_names())}, or your own, registered by "
                "pgjax.algorithms.register in a module named by --import MODULE."
            ),
            "env": (
                "Environment: a gymnax (>= 1.0) id, <suite>/<name> of a suite installed by "
                f"its extra (pip install 'pgjax[<suite>]'; suites: {', '.join(SUITES[1:])}), "
                "or your own, registered by pgjax.envs.register in a module named by --import "
                "MODULE; options after a colon (brax/ant:backend=positional). gymnax's: "
                f"{', '.join(env_names())}. MuJoCo Playground's (the DeepMind Control Suite): "
                f"{', '.join(f'playground/{t}' for t in TASKS)}."
            ),
        },
        DEFAULTS,
    )


ConfigFlags = _config_flags()
"""``Config`` as tyro shows it: the same fields, their documentation as help."""


Tracker = str
"""Where ``--log`` sends the metrics besides the run folder's metrics.csv: ``csv`` and each
sink of ``pgjax.tools.tracking.TRACKERS`` (checked after ``--import``, which may register more)."""


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
    requeue: bool = False
    """Start the run in --run-dir if the folder holds none (new or empty), else resume the one
    it holds: one command for a job that a scheduler stops and starts again (the flags must
    give the run's own config and seed, --total-timesteps aside)."""
    chunks: int = 20
    """Checkpoints per run: training runs as this many compiled chunks, saving after each
    (each chunk costs a return to Python and a checkpoint written to disk: more than
    about 100 is warned about)."""
    progress: bool = True
    """A live progress bar fed by host callbacks from inside the compiled chunks, which also
    ask before every update whether Ctrl-C, SIGTERM or SIGHUP came (a stop saves within one
    update). With --no-progress, one line per chunk instead, and a stop waits for the chunk in
    flight; the compiled chunks can then be kept in the compilation cache (JAX does not cache
    programs that contain host callbacks)."""
    log: Annotated[tuple[Tracker, ...], tyro.conf.UseAppendAction] = ()
    """Also log every metric per update to tensorboard (<run folder>/tensorboard; pip install
    'pgjax[tensorboard]') or wandb (pip install 'pgjax[wandb]'; WANDB_MODE=offline without a
    network), or a sink of your own registered by pgjax.tools.tracking.register in a module named
    by --import; repeatable. metrics.csv is always written. A resumed run continues the same
    tracked run (give --log again)."""
    wandb_project: str = "pgjax"
    """The W&B project of --log wandb."""


@dataclasses.dataclass(frozen=True)
class _EvalArgs:
    """Evaluate a trained run: mean ± std return over vmapped episodes; optionally a GIF."""

    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """The run folder written by `pgjax train`."""
    episodes: int = 16
    """Episodes to run, vmapped, --batch at a time (at most 1,000,000)."""
    batch: int = 4096
    """Episodes run together in one compiled call; more run as several batches, with a
    progress line after each. Lower it where the environments' states do not fit."""
    greedy: bool = False
    """Take the most likely action instead of sampling."""
    render: str | None = None
    """Also draw one episode to this file: a GIF (CartPole, Acrobot, Pendulum, MountainCar,
    MinAtar, Craftax), or for Brax an HTML page (.html)."""
    seed: int = 0
    """PRNG seed of the evaluation episodes."""


@dataclasses.dataclass(frozen=True)
class _ExportArgs:
    """Write a trained run's policy as a file that runs without pgjax: its greedy and its
    sampling action function (the sample's noise an input), observation normalisation and a
    recurrent state included, with signature.json naming every input and output."""

    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """The run folder written by `pgjax train` (its last checkpoint is exported)."""
    out: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="OUT")]
    """A new or empty folder for greedy.<format>, sample.<format> and signature.json."""
    format: typing.Literal["stablehlo", "onnx"] = "stablehlo"
    """stablehlo: jax.export's serialisation, run by any Python with jax and flatbuffers
    (CPU, CUDA, TPU); onnx: through jax2onnx (the [onnx] extra), run by onnxruntime."""
    overwrite: bool = False
    """Write into an OUT folder that is not empty (files of the same names are replaced)."""


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
    resume: bool = False
    """Continue the sweep in --out (stopped by a signal, or killed): the settings it finished
    are kept, the rest trained, and the table is the one an uninterrupted sweep writes; give
    the same grid, seeds and flags. Where --out holds no sweep yet, start it there."""
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
ExportArgs = _documented(_ExportArgs)
"""``pgjax export``'s flags."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, no traceback (``trace``: the frames of
    the user's own code that raised it, printed before the line, where there are any)."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


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


def _flags_config(args: TrainArgs | SweepArgs, argv: list[str], own: dict | None = None) -> Config:
    """The ``Config`` the flags give: the flags on the command line set their fields and
    ``own`` the algorithm's settings (``split_settings``), the rest resolve (``Config``)."""
    given = given_fields(argv) | {f.name for f in dataclasses.fields(Config)} - set(DEFAULTS)
    values = {name: getattr(args.config, name) for name in given if name != "settings"}
    return Config.from_dict({**values, "settings": own or None})


def _all_settings() -> dict[str, Setting]:
    """Every registered algorithm's settings by name (the first declaration of a name)."""
    out: dict[str, Setting] = {}
    for name in algorithm_names():
        for key, setting in settings_of(name).items():
            out.setdefault(key, setting)
    return out


def _flag_value(argv: list[str], flag: str, default: str | None = None) -> str | None:
    """The value given to ``flag`` in ``argv`` (``--flag V`` or ``--flag=V``), the last one."""
    value = default
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.partition("=")[2]
    return value


def split_settings(argv: list[str], sweeping: bool = False) -> tuple[list[str], dict, dict]:
    """Take the algorithm's settings out of ``argv`` (``--max-kl 0.02``, ``--max_kl=0.02``;
    the algorithm that ``--algo`` names, ``ppo_clip`` if none): (the rest, the settings,
    and, ``sweeping``, the grid of the traced ones given as comma-separated lists). A
    ``UserError`` for a setting the algorithm does not declare, or a value not of its kind."""
    known = _all_settings()
    flags = {f"--{n.replace('_', '-')}": n for n in known} | {f"--{n}": n for n in known}
    algo = _flag_value(argv, "--algo", "ppo_clip")
    declared = settings_of(algo) if algo in algorithm_names() else {}
    if "--resume" in argv or any(a.startswith("--resume=") for a in argv):
        declared = known  # the run's own algorithm: _resumed refuses any change
    rest, own, grid, i = [], {}, {}, 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name not in flags or (not eq and i + 1 >= len(argv)):
            rest.append(argv[i])
            i += 1
            continue
        if not eq:
            i, value = i + 1, argv[i + 1]
        i += 1
        setting = declared.get(flags[name])
        if setting is None:
            raise UserError(
                f"{name}: algo {algo!r} has no setting {flags[name]!r}; its settings: "
                f"{', '.join(declared) or 'none'} (the algorithms that have it: "
                f"{', '.join(a for a in algorithm_names() if flags[name] in settings_of(a))})"
            )
        if sweeping and "," in value:
            if not setting.traced:
                raise UserError(f"{name}: {algo}'s setting {setting.name} is static (it shapes "
                                "the program): it cannot be swept without recompiling")  # fmt: skip
            grid[setting.name] = _numbers(name, value)
            continue
        try:
            own[setting.name] = setting.parse(value)
        except ValueError as error:
            raise UserError(str(error)) from None
    return rest, own, grid


def _numbers(flag: str, value: str) -> list[float]:
    """The distinct numbers of a comma-separated list (a warning for one given twice)."""
    try:
        values = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} {value}: expected numbers separated by commas") from None
    unique = list(dict.fromkeys(values))
    if len(unique) < len(values):
        twice = sorted({f"{v:g}" for v in values if values.count(v) > 1})
        print(f"pgjax: {flag} {value}: {', '.join(twice)} given more than once; each value "
              "is trained once", file=sys.stderr)  # fmt: skip
    return unique


def settings_help(argv: list[str]) -> str:
    """The ``--help`` section of the chosen algorithm's settings (``--algo``)."""
    algo = _flag_value(argv, "--algo", "ppo_clip")
    if algo not in algorithm_names():
        return ""
    declared = settings_of(algo)
    lines = [f"{algo}'s settings (--algo {algo}; each also in config.json's \"settings\"):"]
    for setting in declared.values():
        kind = "traced, sweepable" if setting.traced else "static"
        lines.append(f"  --{setting.name.replace('_', '-')} {setting.kind.upper()}")
        text = f"{setting.doc} ({kind}; {setting.allowed()}; default: {setting.default!r})"
        lines.append(textwrap.fill(text, 80, initial_indent=" " * 6, subsequent_indent=" " * 6))
    if not declared:
        lines.append("  none")
    others = [a for a in algorithm_names() if settings_of(a) and a != algo]
    lines.append(f"Other algorithms' settings: --algo {{{','.join(others)}}} --help")
    return "\n".join(lines)


def _enable_compilation_cache() -> None:
    """JAX's persistent compilation cache, in ``$PGJAX_CACHE_DIR`` (else ``~/.cache/pgjax``),
    unless JAX's own is already set (``JAX_COMPILATION_CACHE_DIR``): then that one."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
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


def run_train(args: TrainArgs, argv: list[str], own: dict | None = None) -> int:
    from pgjax.tools import folders
    from pgjax.tools.session import preflight

    if args.chunks < 1:
        raise UserError(f"--chunks={args.chunks}: must be a positive integer")
    _require_trackers(args.log)  # before a folder is made
    if args.requeue:
        if args.resume or args.overwrite or not args.run_dir:
            raise UserError(
                "--requeue starts the run in --run-dir DIR, or resumes the one DIR holds: give "
                "--run-dir DIR, without --resume or --overwrite"
            )
        if (Path(args.run_dir) / folders.CONFIG_FILE).is_file():
            return _continue(args, argv, Path(args.run_dir), "--requeue", own)
    elif args.resume:
        if args.overwrite:
            raise UserError("--overwrite makes a new run; --resume continues one: give one")
        return _continue(args, argv, Path(args.resume), "--resume", own)
    config = _flags_config(args, argv, own)
    seed = check_seed(args.seed, "--seed")
    preflight(config)  # nothing is written before the config and the environment pass
    stamp = time.strftime("%Y%m%d-%H%M%S")
    env = re.sub(r"[^\w.-]+", "_", config.env)  # brax/ant:backend=spring: one folder
    run_dir = Path(args.run_dir or f"runs/{env}-{config.algo}-{stamp}")
    with folders.new_run(run_dir, args.overwrite, "--run-dir"):
        return _train(args, config, seed, run_dir, None, None)


def _continue(args: TrainArgs, argv: list[str], run_dir: Path, flag: str, own=None) -> int:
    """Continue the run ``run_dir`` holds (``--resume``, or ``--requeue`` of a folder that
    holds a run), held by this process."""
    from pgjax.tools import config_file, folders

    import_run_modules(run_dir)
    config_file.load_config(run_dir)  # a clear error if it is not a run folder
    folders.check_writable(run_dir, flag)
    with folders.hold(run_dir):  # one process at a time in a run folder
        if flag == "--requeue":
            config, seed, state, metrics = _requeued(args, argv, run_dir, own)
        else:
            config, seed, state, metrics = _resumed(args, argv, run_dir, own)
        if state is not None and int(state.update) >= config.num_updates:
            print(f"pgjax: {run_dir} already has {int(state.update)} of {config.num_updates}"
                  " updates")  # fmt: skip
            return 0
        return _train(args, config, seed, run_dir, state, metrics)


def _requeued(args: TrainArgs, argv: list[str], run_dir: Path, own: dict | None = None):
    """``_resumed`` for ``--requeue``: the flags (the same job script line at every start)
    must give the run's own config and seed, ``--total-timesteps`` aside; a ``UserError``
    naming each field that differs."""
    from pgjax.tools import config_file

    recorded, seed = config_file.load_config(run_dir)
    given = _flags_config(args, argv, own)
    differ = [
        f"{f.name}={getattr(given, f.name)!r} (the run's: {getattr(recorded, f.name)!r})"
        for f in dataclasses.fields(Config)
        if f.name != "total_timesteps" and getattr(given, f.name) != getattr(recorded, f.name)
    ]
    if args.seed != seed:
        differ.append(f"seed={args.seed} (the run's: {seed})")
    if differ:
        raise UserError(
            f"--requeue: {run_dir} holds a run of another config; the flags give "
            f"{', '.join(differ)}: give the run's own flags, or another --run-dir"
        )
    return _restored(run_dir, recorded.replace(total_timesteps=given.total_timesteps), seed)


def _resumed(args: TrainArgs, argv: list[str], run_dir: Path, own: dict | None = None):
    """The held run's config (with a new --total-timesteps), seed, state and metrics; state
    and metrics ``None`` where it saved no checkpoint yet (it starts from update 0)."""
    from pgjax.tools import config_file

    config, seed = config_file.load_config(run_dir)
    given = given_fields(argv) - {"total_timesteps"}
    changed = [
        f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(Config) if f.name in given
    ]
    changed += [f"--{n.replace('_', '-')}" for n in own or {}]
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
    return _restored(run_dir, config, seed)


def _restored(run_dir: Path, config: Config, seed: int):
    """``config``'s run in ``run_dir``: (config, seed, state, metrics), state and metrics
    ``None`` where it saved no checkpoint yet."""
    from pgjax.pipeline.train import num_devices
    from pgjax.tools import checkpoint, folders

    num_devices(config)
    if not (run_dir / folders.CHECKPOINT_FILE).exists():
        print(f"pgjax: resuming {run_dir} from the start (it saved no checkpoint)")
        return config, seed, None, None
    state, metrics = checkpoint.restore(run_dir, config, seed)
    if int(state.update) < config.num_updates:
        print(f"pgjax: resuming {run_dir} at update {int(state.update)} of {config.num_updates}")
    return config, seed, state, metrics


def _train(args: TrainArgs, config: Config, seed: int, run_dir: Path, state, metrics) -> int:
    from pgjax.tools import folders
    from pgjax.tools.chunks import final_return
    from pgjax.tools.loggers import ChunkLines, ProgressBar
    from pgjax.tools.session import StopOnSignals, exit_status, run, signal_name

    print(f"pgjax: {_describe(config)}")
    settings = ", ".join(
        f"{name}={value!r} ({source})" for name, value, source in config.resolved()
    )
    print(f"pgjax: settings besides pgjax.pipeline.config.DEFAULTS: {settings or 'none'}")
    print(f"pgjax: run folder {run_dir}")
    _warn_chunks(args.chunks, config.num_updates)
    line = ProgressBar if args.progress else ChunkLines
    trackers = _trackers(args, run_dir, config, seed)
    start = time.perf_counter()
    stop = StopOnSignals(_quit_now(
        f"pgjax: quit; {run_dir} keeps its last checkpoint (if one was saved). Continue with: "
        f"pgjax train --resume {run_dir}", lambda: stop.signum,
    ), after="this update" if args.progress else "this chunk")  # fmt: skip
    with stop:
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
            f"pgjax: {signal_name(stop.signum or signal.SIGINT)}: stopped after {done} of "
            f"{config.num_updates} updates; saved the checkpoint of update {done} in {run_dir}. "
            f"Continue with: pgjax train --resume {run_dir}",
            flush=True,
        )
        return exit_status(stop.signum or signal.SIGINT)
    final = final_return(result.metrics)
    outcome = (
        f"final return (mean of the last 10 updates) {final:.1f}"
        if final == final
        else f"no episode finished in {done * config.batch_size:,} steps"
    )
    print(
        f"pgjax: done in {seconds:.1f}s: {outcome}; wrote {run_dir}/"
        f"{{{folders.CONFIG_FILE}, {folders.METRICS_FILE}, {folders.CURVE_FILE}, "
        f"{folders.CHECKPOINT_FILE}}}"
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


def _quit_now(message: str, signum: Callable[[], int | None]) -> Callable[[], None]:
    """What a second signal does (``StopOnSignals``): wait up to 10 s for a file being written
    (``folders.SAVING``: a checkpoint and its metrics.csv are never left apart), print
    ``message`` and end the process with the exit status of the first signal (``signum()``:
    130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    from pgjax.tools import folders
    from pgjax.tools.session import exit_status

    def quit_now() -> None:
        folders.SAVING.acquire(timeout=10)
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
            print(message, file=sys.stderr, flush=True)
            sys.stdout.flush()
        os._exit(exit_status(signum() or signal.SIGINT))

    return quit_now


def _require_trackers(trackers: tuple[str, ...]) -> None:
    """A ``UserError`` naming the sinks there are for a ``--log`` name none is registered
    as, and the install where a tracker's library is missing."""
    from pgjax.tools.tracking import check_names, require

    try:
        check_names(trackers)
    except ValueError as error:
        raise UserError(str(error)) from None
    for tracker in dict.fromkeys(trackers):
        if tracker != "csv":
            try:
                require(tracker)
            except ModuleNotFoundError as error:
                raise UserError(str(error)) from None


def _trackers(args: TrainArgs, run_dir: Path, config: Config, seed: int) -> list:
    """The ``--log`` loggers of a run, writing into its folder."""
    from pgjax.tools.tracking import make_loggers

    return make_loggers(list(args.log), run_dir, config, seed, project=args.wandb_project)


# ---- eval ---------------------------------------------------------------------------------


def run_eval(args: EvalArgs) -> int:
    import jax
    import numpy as np

    from pgjax.tools import checkpoint, config_file, folders
    from pgjax.tools.evaluate import MAX_EPISODES, evaluate, record_episode
    from pgjax.tools.render import can_render, check_path, renderable, save

    if not 1 <= args.episodes <= MAX_EPISODES:
        raise UserError(
            f"--episodes={args.episodes}: must be an integer in [1, {MAX_EPISODES:,}] (run more "
            "as several evaluations with other --seed values)"
        )
    if args.batch < 1:
        raise UserError(f"--batch={args.batch}: must be a positive integer")
    import_run_modules(args.run_dir)
    config, seed = config_file.load_config(args.run_dir)
    if args.render:
        if not can_render(config.env):
            raise UserError(f"cannot render {config.env}; renderable: {', '.join(renderable())}")
        check_path(config.env, args.render)
        folders.check_writable(Path(args.render).parent, "--render")
    state, _ = checkpoint.restore(args.run_dir, config, seed)
    key = jax.random.key(args.seed)
    batches = -(-args.episodes // args.batch)
    returns = evaluate(
        config, state, key, episodes=args.episodes, greedy=args.greedy, batch=args.batch,
        on_batch=_EvalLines(args.episodes, batches) if batches > 1 else None,
    )  # fmt: skip
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


class _EvalLines:
    """``evaluate``'s ``on_batch`` for ``pgjax eval``: a progress line after each batch."""

    def __init__(self, episodes: int, batches: int) -> None:
        self.episodes, self.batches, self.start = episodes, batches, time.perf_counter()
        print(f"pgjax: {episodes:,} episodes in {batches} batches", flush=True)

    def __call__(self, done: int) -> None:
        filled = 24 * done // self.episodes
        seconds = time.perf_counter() - self.start
        print(f"[{'#' * filled}{'.' * (24 - filled)}] {done:>11,} of {self.episodes:,} episodes"
              f" | {seconds:.1f}s", flush=True)  # fmt: skip


# ---- export -------------------------------------------------------------------------------


def run_export(args: ExportArgs) -> int:
    from pgjax.tools import export
    from pgjax.tools.folders import CheckpointError

    import_run_modules(args.run_dir)
    try:
        signature = export.export(
            args.run_dir, args.out, format=args.format, overwrite=args.overwrite
        )
    except export.ExportError as error:
        raise UserError(str(error)) from None
    except CheckpointError as error:  # OUT not empty: the flag to say so
        raise CheckpointError(str(error).replace("overwrite=True", "--overwrite")) from None
    wrote = []
    for mode, function in signature["functions"].items():
        path = Path(args.out) / function["file"]
        ports = ", ".join(p["name"] for p in function["inputs"])
        try:
            loads = f"loads in {export.load_seconds(path) * 1e3:.1f} ms"
        except ImportError:  # jax2onnx without onnxruntime: nothing here runs the file
            loads = "onnxruntime not installed to load it"
        wrote.append(f"{path} ({mode}({ports}); {path.stat().st_size / 1e3:.1f} kB, {loads})")
    print(
        f"pgjax: exported {signature['algo']} on {signature['env']} after "
        f"{signature['update']} updates: " + ", ".join(wrote) + f"; "
        f"{Path(args.out) / export.SIGNATURE_FILE} names the inputs and outputs"
    )
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
        if field not in COMMON:
            raise UserError(
                f"Config.{field} cannot be swept without recompiling; sweepable fields: "
                f"{', '.join(COMMON)}, and the algorithm's traced settings"
            )
        grid[field] = _numbers(name, value)
    return rest, grid


def run_sweep(
    args: SweepArgs, grid: dict[str, list[float]], argv: list[str], own: dict | None = None
) -> int:
    from pgjax.tools import folders, sweep
    from pgjax.tools.session import preflight

    if args.seeds < 1:
        raise UserError(f"--seeds={args.seeds}: must be a positive integer")
    if args.per_call < 1:
        raise UserError(f"--per-call={args.per_call}: must be a positive integer")
    if args.resume and (args.overwrite or not args.out):
        raise UserError("--resume continues the sweep in --out DIR (or starts it there): give "
                        "--out DIR, without --overwrite")  # fmt: skip
    config = _flags_config(args, argv, own)
    config.validate()
    points = sweep.grid_points(grid, config)
    for point in points:  # every value checked before anything trains
        config.replace(**point).validate()
    per_call = min(args.per_call, max(len(points), 1))
    check_sweep_size(len(points), args.seeds)
    preflight(config, copies=per_call * args.seeds)
    _require_trackers(args.log)
    out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    asked = sweep.request(config, grid, args.seeds, per_call)
    if not (args.resume and (out / sweep.SWEEP_FILE).is_file()):
        folders.check_new_folder(out, args.overwrite, "--out")
    folders.check_writable(out, "--out")
    with folders.hold(out):  # one process at a time in a sweep folder
        parts = _sweep_folder(out, asked, args, points or [{}], per_call)
        return _sweep(args, config, grid, points, per_call, out, parts)


def check_sweep_size(settings: int, seeds: int) -> None:
    """A ``UserError`` for a sweep of more runs than ``MAX_SWEEP_RUNS``."""
    if max(settings, 1) * seeds > MAX_SWEEP_RUNS:
        raise UserError(
            f"sweep of {settings} settings x {seeds} seeds = {max(settings, 1) * seeds:,} runs: "
            f"at most {MAX_SWEEP_RUNS:,} in one sweep (each run's metrics are kept for the "
            "table and the plot); split the grid over several --out folders"
        )


MAX_SWEEP_RUNS = 100_000
"""The most (setting, seed) runs one ``pgjax sweep`` trains: each keeps its curve on the host
(a row per update, 20-odd metrics) for the table and the plot."""


def _sweep_folder(out: Path, asked: dict, args: SweepArgs, points: list, per_call: int) -> list:
    """Make ``out`` ready for the sweep ``asked``, held: the calls it finished already where
    it is continued (``--resume``; a ``UserError`` naming what differs from the sweep it
    recorded), else none, the sweep it holds removed (``--overwrite``) and ``asked`` recorded
    (``sweep.json``)."""
    import json

    from pgjax.tools import folders, sweep

    recorded = out / sweep.SWEEP_FILE
    if args.resume and recorded.is_file():
        try:
            before = json.loads(recorded.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"--resume: {recorded} cannot be read ({error})") from None
        differ = sweep.difference(before, asked)
        if differ:
            raise UserError(
                f"--resume: {out} holds another sweep: {differ}; give the same grid, seeds and "
                "flags as the sweep it holds, or another --out"
            )
        parts = sweep.load_calls(out, points, per_call)
        print(f"pgjax: continuing the sweep in {out}: {sum(len(p.settings) for p in parts)} of "
              f"{len(points)} settings finished")  # fmt: skip
        return parts
    if args.overwrite and ((out / "sweep.md").is_file() or recorded.is_file()):
        # the sweep it holds is replaced; a folder that holds none keeps its files
        for name in ("sweep.md", "sweep.png", sweep.SWEEP_FILE):
            (out / name).unlink(missing_ok=True)
        for name in ("runs", sweep.CALLS_FOLDER):
            shutil.rmtree(out / name, ignore_errors=True)
    folders.write_atomic(recorded, json.dumps(asked, indent=2).encode())
    return []


def _sweep(args, config, grid, points, per_call, out: Path, parts: list) -> int:
    """Train the calls of the sweep not in ``parts`` yet, each saved as it finishes; write the
    table and the plot; the exit status."""
    from pgjax.tools import sweep
    from pgjax.tools.loggers import ProgressBar
    from pgjax.tools.session import StopOnSignals, exit_status, signal_name

    calls = -(-max(len(points), 1) // per_call)
    print(f"pgjax: sweep of {len(points)} settings x {args.seeds} seeds: {_describe(config)}")
    print(f"pgjax: sweep folder {out}")
    left = calls - len(parts)
    bar = ProgressBar(config.num_updates * left, config.batch_size * per_call * args.seeds)
    written = threading.Lock()  # the results are written once: at the end, or on a quit

    def write(stopped: bool) -> int:
        why = signal_name(stop.signum or signal.SIGINT) if stopped else None
        with written:
            code = _write_sweep(config, parts, len(points), out, why)
        return exit_status(stop.signum) if code == EXIT_INTERRUPTED and stop.signum else code

    def quit_now() -> None:  # a second signal, from the watcher thread
        with contextlib.suppress(OSError, ValueError):
            print("pgjax: quitting now", file=sys.stderr, flush=True)
        code = write(True)
        sys.stdout.flush()
        os._exit(code)

    stopped = False
    stop = StopOnSignals(quit_now, after="this call")
    try:
        with stop:
            for part in sweep.iter_sweep(
                config, grid, args.seeds, on_update=bar, per_call=per_call, skip=len(parts)
            ):
                sweep.save_call(out, len(parts), part)
                parts.append(part)
                if set(args.log) - {"csv"}:
                    from pgjax.tools.tracking import log_sweep

                    log_sweep(list(args.log), out, config, part, project=args.wandb_project)
                if stop():
                    break
    except KeyboardInterrupt:
        stopped = True
    finally:
        bar.close()
    done = sum(len(p.settings) for p in parts)
    return write(stopped or done < max(len(points), 1))


def _write_sweep(
    config: Config, parts: list, num_points: int, out: Path, stopped: str | None
) -> int:
    """Print the table of the settings finished (``parts``), save it and the plot in ``out``;
    the exit status. ``stopped``: what stopped the sweep early (``SIGTERM``...), if it was."""
    from pgjax.tools import folders, sweep

    done = sum(len(p.settings) for p in parts)
    if not parts:
        print("pgjax: interrupted before any setting finished; nothing to write")
        return EXIT_INTERRUPTED
    result = sweep.merge(list(parts))
    text = sweep.table(result, config)
    print(text)
    try:
        folders.write_atomic(out / "sweep.md", text.encode())
        sweep.plot(result, config, out / "sweep.png")
    except OSError as error:
        print(f"pgjax: the table above could not be saved: {_os_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"pgjax: wrote {out / 'sweep.md'} and {out / 'sweep.png'}")
    if stopped:
        print(
            f"pgjax: {stopped}: {done} of {num_points} settings finished, each kept in "
            f"{out / sweep.CALLS_FOLDER}. Continue with the same command and --out {out} --resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


# ---- main ---------------------------------------------------------------------------------


def _os_error(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _out_of_memory(error: Exception) -> str:
    """One line for XLA's out-of-memory error (``RESOURCE_EXHAUSTED``): how much it asked for,
    and the sizes that set it."""
    asked = re.search(r"allocating (\d+) bytes", str(error))
    size = f" {int(asked.group(1)) / 2**30:,.1f} GiB" if asked else ""
    return (
        f"out of memory: XLA could not allocate{size} here; a run's memory grows with "
        "num_envs x num_steps (and with --seeds x --per-call in a sweep, --batch in eval): "
        "lower them"
    )


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
    (the flag, or the run folder that recorded them) for one that cannot be: the module, and
    for an error its own code raised, the file and line of the raise and the message (with
    the traceback of the user's frames for an error other than a ``ValueError``)."""
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            frames = user_frames(error)
            if isinstance(error, ModuleNotFoundError) and not frames:
                raise UserError(f"{what} {module}: {error}") from None
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
            trace = "" if isinstance(error, ValueError) else _user_traceback(frames)
            raise UserError(
                f"{what} {module}: {type(error).__name__} raised{where}: {error}", trace
            ) from None
        if module not in IMPORTED:
            IMPORTED.append(module)


_LIBRARY = tuple(
    {str(Path(__file__).parent), *(str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix))}
)


def user_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``error``'s traceback in the user's own files: outside pgjax, Python and
    the installed packages (an ``--import`` module in the working folder, a script), outermost
    first."""
    frames = traceback.extract_tb(error.__traceback__)
    return [
        f for f in frames
        if not f.filename.startswith("<")
        and not str(Path(f.filename).resolve()).startswith(_LIBRARY)
    ]  # fmt: skip


def _user_traceback(frames: list[traceback.FrameSummary]) -> str:
    return "Traceback (the frames of your code):\n" + "".join(traceback.format_list(frames))


def import_run_modules(run_dir: str | Path) -> None:
    """Import the modules a run folder records (it was trained with ``--import``), before its
    config is read: its environment or algorithm may be registered there."""
    from pgjax.tools import config_file

    _import(config_file.load_imports(run_dir), f"{run_dir} was trained with --import")


def _parse(argv: list[str]):
    """tyro's parse of ``argv``; its ``--help`` of ``train`` and ``sweep`` is followed by the
    chosen algorithm's settings (``settings_help``)."""
    try:
        return tyro.extras.subcommand_cli_from_dict(
            {"train": TrainArgs, "eval": EvalArgs, "sweep": SweepArgs, "export": ExportArgs},
            args=argv,
            prog="pgjax",
        )
    except SystemExit as done:
        asked = {"--help", "-h"} & set(argv)
        if done.code in (0, None) and asked and argv[:1] in (["train"], ["sweep"]):
            print(settings_help(argv))
        raise


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from pgjax.tools.folders import CheckpointError, SaveError

    try:
        argv = import_modules(argv)
        grid: dict[str, list[float]] = {}
        own: dict = {}
        if argv[:1] in (["train"], ["sweep"]):
            argv, own, grid = split_settings(argv, sweeping=argv[0] == "sweep")
        if argv[:1] == ["sweep"]:
            argv, common = split_grid(argv)
            grid = {**common, **grid}
        args = _parse(argv)
        _enable_compilation_cache()
        if isinstance(args, TrainArgs):
            return run_train(args, argv, own)
        if isinstance(args, EvalArgs):
            return run_eval(args)
        if isinstance(args, ExportArgs):
            return run_export(args)
        return run_sweep(args, grid, argv, own)
    except (UserError, CheckpointError, ValueError) as error:
        frames = [] if isinstance(error, UserError | CheckpointError) else user_frames(error)
        where = f" (raised at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        print(f"{getattr(error, 'trace', '')}pgjax: {error}{where}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as error:
        from pgjax.tools.chunks import DivergedError  # here: --help needs no training code

        if not isinstance(error, DivergedError):
            raise
        print(f"pgjax: {error}", file=sys.stderr)
        return EXIT_FAILED
    except SaveError as error:  # a full disk while saving: the last checkpoint stays intact
        print(f"pgjax: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a full disk, a folder that vanished: the files before it stay
        print(f"pgjax: cannot write: {_os_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        if "RESOURCE_EXHAUSTED" not in str(error):
            raise
        print(f"pgjax: {_out_of_memory(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pgjax: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
