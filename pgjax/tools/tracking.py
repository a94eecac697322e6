"""Experiment tracking: TensorBoard and Weights & Biases as ``pgjax.tools.loggers.Logger`` sinks.

Both hear each chunk's rows once the chunk is done (host side, between the compiled chunks:
nothing is added to the compiled training) and record every scalar metric of every update
against the environment steps done after it (the rows' ``timesteps``). NaN values (an
update in which no episode ended has no ``episode_return``) are left out rather than drawn
as gaps. The config and seed are the run's hyperparameters.

    TensorBoardLogger   event files in ``<run_dir>/tensorboard``   pip install 'pgjax[tensorboard]'
    WandbLogger         a W&B run, its id kept in the run folder   pip install 'pgjax[wandb]'

A resumed run continues the same tracked run: TensorBoard's events from the resumed update
on are purged (a run stopped after its last checkpoint logged nothing past it; one killed
between a checkpoint and its log is continued without a gap), and W&B resumes the run whose
id the folder holds. ``pgjax train --log tensorboard --log wandb`` (the CSV is always kept).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import queue
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pgjax.pipeline.config import Config

TRACKERS: dict[str, str | None] = {"tensorboard": "tensorboardX", "wandb": "wandb"}
"""``--log`` name → the module it needs (installed by the extra of the same name), or ``None``
for a sink that needs none (``register``)."""

WANDB_ID_FILE = "wandb_id.txt"


def require(tracker: str) -> ModuleType | None:
    """The module ``tracker`` writes with (``None`` for a sink that needs none);
    ``ModuleNotFoundError`` naming the install."""
    if TRACKERS[tracker] is None:
        return None
    try:
        return importlib.import_module(TRACKERS[tracker])
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"logging to {tracker} needs {TRACKERS[tracker]}: pip install 'pgjax[{tracker}]'"
        ) from None


def hyperparameters(config: Config, seed: int, **extra: Any) -> dict[str, Any]:
    """The run's settings as flat scalars (tuples as text), as trackers' hparams want them."""
    values = {**dataclasses.asdict(config), "seed": seed, **extra}
    return {
        k: v if isinstance(v, bool | int | float | str) else json.dumps(v)
        for k, v in values.items()
        if v is not None
    }


def scalar_rows(rows: dict[str, np.ndarray]) -> Iterator[tuple[int, dict[str, float]]]:
    """Per update: (environment steps after it, its finite scalar metrics)."""
    names = [k for k in rows if k not in ("timesteps", "update")]
    for i, steps in enumerate(np.asarray(rows["timesteps"])):
        values = {k: float(rows[k][i]) for k in names}
        yield int(steps), {k: v for k, v in values.items() if math.isfinite(v)}


class TensorBoardLogger:
    """TensorBoard event files (tensorboardX's writer) in ``log_dir``: each metric as
    ``<group>/<name>`` against environment steps; the config as the run's hparams (on a new
    run) and as a text table. See the module's docstring for resumption."""

    live = False

    def __init__(self, log_dir: str | Path, config: Config, seed: int = 0, **extra: Any):
        self.module = require("tensorboard")
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import hparams  # imported here, not inside the first log

        self.hparams, self.Summary, self.Value = hparams, Summary, Summary.Value
        self.log_dir = Path(log_dir)
        self.params = hyperparameters(config, seed, **extra)
        self.writer = None

    def _open(self, first_step: int, first_update: int) -> None:
        resumed = first_update > 1  # events at or after this step are a stopped run's
        self.writer = self.module.SummaryWriter(  # a file of its own, though in the same
            str(self.log_dir),  # second as another (the name has the time in seconds)
            purge_step=first_step if resumed else None,
            filename_suffix=f".{secrets.token_hex(4)}",
        )
        if not resumed:
            for summary in self.hparams(self.params, {"charts/episode_return": math.nan}):
                self.writer.file_writer.add_summary(summary)
            table = "\n".join(f"| {k} | {v} |" for k, v in self.params.items())
            self.writer.add_text("config", "| field | value |\n| --- | --- |\n" + table)

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None:
        for steps, values in scalar_rows(rows):
            if self.writer is None:
                first_update = int(rows["update"][0]) if "update" in rows else 1
                self._open(steps, first_update)
            # one event per update holding all its scalars (as many events as scalars cost
            # 10x the host time); TensorBoard reads each value as that tag's point
            values = [self.Value(tag=tag(k), simple_value=v) for k, v in values.items()]
            self.writer.file_writer.add_summary(self.Summary(value=values), global_step=steps)
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class WandbLogger:
    """A Weights & Biases run: each metric as ``<group>/<name>`` against ``env_steps``; the
    config as the run's config; files under ``run_dir`` (``run_dir/wandb``), the run's id
    in ``run_dir/wandb_id.txt`` so that a resumed folder continues the same W&B run. Offline
    with ``WANDB_MODE=offline`` (sync later with ``wandb sync``)."""

    live = False

    def __init__(
        self,
        run_dir: str | Path,
        config: Config,
        seed: int = 0,
        *,
        project: str = "pgjax",
        name: str | None = None,
        group: str | None = None,
        **extra: Any,
    ):
        wandb = require("wandb")
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file = run_dir / WANDB_ID_FILE
        if id_file.exists():
            run_id = id_file.read_text().strip()
        else:
            run_id = secrets.token_hex(6)
            id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=project,
            name=name or run_dir.name,
            group=group,
            id=run_id,
            resume="allow",
            dir=str(run_dir.resolve()),  # W&B's service process may have another cwd
            config=hyperparameters(config, seed, **extra),
            reinit="create_new",
        )
        self.run.define_metric("env_steps")
        self.run.define_metric("*", step_metric="env_steps")

        # run.log takes about 0.1 ms a row: a thread of its own writes them while the next
        # chunk trains (XLA releases the GIL), in order; close() waits for it
        self.queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (rows := self.queue.get()) is not None:
            try:
                for steps, values in scalar_rows(rows):
                    self.run.log({"env_steps": steps, **{tag(k): v for k, v in values.items()}})
            except BaseException as error:  # raised in the training thread, at the next call
                self.error = error

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def log(self, step: int, rows: dict[str, np.ndarray]) -> None:
        self._raise()
        self.queue.put(rows)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.run.finish()
        self._raise()


def tag(name: str) -> str:
    """The tracker's name for a metric: episode statistics under ``charts/``, the rest (losses,
    KL, ratios, the critic's fit) under ``train/``."""
    return f"charts/{name}" if name.startswith("episode_") else f"train/{name}"


def sweep_run_dir(out: str | Path, setting: dict[str, float], seed: int) -> Path:
    """The folder of one (setting, seed) of a sweep: ``<out>/runs/lr=0.001,ent_coef=0-seed0``."""
    label = ",".join(f"{k}={v:g}" for k, v in setting.items()) or "config"
    return Path(out) / "runs" / f"{label}-seed{seed}"


def log_sweep(
    trackers: list[str], out: str | Path, config: Config, part: Any, **kwargs: Any
) -> None:
    """Log a finished ``pgjax.tools.sweep.SweepResult`` part: every (setting, seed) as its own
    tracked run in ``sweep_run_dir`` (W&B: grouped by the sweep's folder name), the swept
    values and seed among its hyperparameters."""
    trackers = [t for t in trackers if t != "csv"]
    metrics = part.metrics
    for s, setting in enumerate(part.settings):
        for seed in range(metrics["timesteps"].shape[1]):
            rows = {k: v[s, seed] for k, v in metrics.items()}
            rows["update"] = np.arange(1, len(rows["timesteps"]) + 1)
            run_dir = sweep_run_dir(out, setting, seed)
            loggers = make_loggers(
                trackers, run_dir, config.replace(**setting), seed,
                group=Path(out).resolve().name, **kwargs,
            )  # fmt: skip
            for logger in loggers:
                logger.log(int(rows["timesteps"][-1]), rows)
                logger.close()


def make_loggers(
    trackers: list[str], run_dir: str | Path, config: Config, seed: int = 0, **kwargs: Any
) -> list:
    """A logger per name in ``trackers`` (``tensorboard``, ``wandb``; ``csv`` is the run
    folder's own and skipped here), writing into ``run_dir``. ``ValueError`` for another name;
    ``ModuleNotFoundError`` naming the install for a missing library, before any is made."""
    check_names(trackers)
    for tracker in trackers:
        if tracker != "csv":
            require(tracker)
    return [
        MAKERS[tracker](Path(run_dir), config, seed, **kwargs)
        for tracker in dict.fromkeys(trackers)
        if tracker != "csv"
    ]


MAKERS: dict[str, Any] = {
    "tensorboard": lambda run_dir, config, seed, **_: TensorBoardLogger(
        run_dir / "tensorboard", config, seed
    ),
    "wandb": lambda run_dir, config, seed, **kwargs: WandbLogger(run_dir, config, seed, **kwargs),
}
"""``--log`` name → ``(run folder, config, seed, **options) → Logger``: with ``TRACKERS``, the
table a new sink is added to (``register``; ``pgjax train --log`` takes its name from there,
after ``--import``)."""


def register(name: str, maker: Any = None, module: str | None = None):
    """Make ``--log name`` (and ``make_loggers([name], ...)``) log to ``maker(run_dir, config,
    seed, **options) → Logger`` (``pgjax.tools.loggers.Logger``: ``live``, ``log(step, rows)``,
    ``close()``); ``module``: the library it needs, imported (with a clear error naming it)
    before any logger is made. Usable as a decorator on a class or function; registering a
    name again replaces it. ``ValueError`` for a name that is not a word or ``csv``."""
    if not isinstance(name, str) or not name.isidentifier() or name == "csv":
        raise ValueError(f"tracking.register: name {name!r} must be a word other than 'csv'")

    def add(maker: Any) -> Any:
        if not callable(maker):
            raise ValueError(f"tracking.register({name!r}): {maker!r} is not callable")
        MAKERS[name], TRACKERS[name] = maker, module
        return maker

    return add if maker is None else add(maker)


def check_names(trackers: list[str] | tuple[str, ...]) -> None:
    """``ValueError`` naming each name of ``trackers`` that no sink is registered as."""
    unknown = [t for t in trackers if t not in (*TRACKERS, "csv")]
    if unknown:
        raise ValueError(
            f"--log {', '.join(unknown)}: unknown; choose from csv, {', '.join(TRACKERS)}, or "
            "a sink of your own: pgjax.tools.tracking.register(name, maker) in a module that "
            "--import names"
        )


__all__ = [
    "TRACKERS",
    "TensorBoardLogger",
    "WandbLogger",
    "check_names",
    "log_sweep",
    "make_loggers",
    "register",
    "require",
    "sweep_run_dir",
    "tag",
]
