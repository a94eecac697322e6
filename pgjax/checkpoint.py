"""Run folders and checkpoints.

A run folder holds ``config.json`` (the ``Config`` and the seed), ``metrics.csv`` (one row per
update), ``curve.png`` (the learning curve) and ``checkpoint.msgpack``: the ``TrainState`` and
the metrics so far, in flax's msgpack serialisation with a SHA-256 checksum. msgpack holds
only arrays, numbers and strings, so loading a checkpoint from elsewhere cannot run code
(pickle could).

Every file is written to a temporary name in the same folder and renamed over the old one when
complete (``os.replace`` is atomic on POSIX), so a crash leaves the previous good file in place,
never a half-written one.

    from pgjax import checkpoint
    checkpoint.save_checkpoint("runs/a", state, metrics)
    state, metrics = checkpoint.load_checkpoint("runs/a", template)   # template: a TrainState
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from pgjax.config import DEFAULTS, Config, check_seed
from pgjax.train import TrainState, make_pipeline

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.msgpack"
CURVE_FILE = "curve.png"
_FORMAT = 3  # bumped when the checkpoint's layout changes (3: the config it was made with)
_READABLE = (2, 3)  # 2: each algorithm's own state, no config recorded (checked less)
RESUMABLE_CHANGES = ("total_timesteps", "devices", "presets")
"""The ``Config`` fields a checkpoint may be resumed or evaluated under with another value than
it was made with: the run's length, the devices it is split over, and whether unset fields
resolved from presets (every field of a saved config is given)."""


class CheckpointError(ValueError):
    """A run folder or checkpoint that cannot be used; the message names the file and why."""


class SaveError(OSError):
    """Saving a run's files after a chunk failed (a full disk, a folder that vanished): the
    message says what failed and which checkpoint the folder still holds, intact (every file
    is written through ``write_atomic``)."""

    def __init__(self, run_dir: Path, update: int, intact: int | None, error: OSError) -> None:
        reason = error.strerror or str(error)
        where = f" ({error.filename})" if error.filename else ""
        kept = (
            f"{run_dir} keeps its checkpoint of update {intact}, intact; continue from it with "
            f"pgjax train --resume {run_dir} once there is room"
            if intact is not None
            else f"{run_dir} holds no checkpoint yet"
        )
        super().__init__(error.errno, f"saving update {update} failed: {reason}{where}; {kept}")
        self.update, self.intact = update, intact

    def __str__(self) -> str:
        return self.strerror


SAVING = threading.RLock()
"""Held while pgjax writes a file (``write_atomic``) or a chunk's files (the runner holds it
across the checkpoint and metrics.csv): a process that must quit at once (a second Ctrl-C)
takes it first, so that it never leaves a file half-written or a checkpoint without its
metrics.csv."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed over
    ``path`` when complete (holding ``SAVING``). On any failure (a full disk, say) the
    temporary file is removed and the old ``path``, if any, is left as it was."""
    tmp = path.with_name(f".{path.name}.tmp")
    with SAVING:
        _write_atomic(path, tmp, data)


def _write_atomic(path: Path, tmp: Path, data: bytes) -> None:
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_writable(folder: str | Path, what: str) -> Path:
    """Create ``folder`` (and its parents) and write and remove a file there, before any work
    that would be lost if the results could not be saved. ``CheckpointError`` naming ``what``
    (e.g. the flag that gave the folder) and the system's reason if that fails."""
    folder = Path(folder)
    probe = folder / f".pgjax-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or str(error)
        raise CheckpointError(f"{what}: cannot write to {folder} ({reason})") from None
    return folder


LOCK_FILE = ".lock"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CURVE_FILE, CHECKPOINT_FILE, "wandb_id.txt")
"""The files of a run folder (``wandb_id.txt``: ``pgjax.tracking``'s W&B run id), besides the
folders ``RUN_FOLDERS``."""
RUN_FOLDERS = ("tensorboard", "wandb")
"""The folders ``pgjax.tracking`` writes into a run folder."""


def check_new_folder(folder: str | Path, overwrite: bool, what: str) -> None:
    """``CheckpointError`` unless ``folder`` may receive a new run or sweep: it does not exist,
    is empty, or ``overwrite`` says so. The message names what the folder holds and the ways
    on (``what`` is the flag or argument that named it: ``--run-dir``, ``run_dir``...)."""
    folder = Path(folder)
    if not folder.exists() or overwrite:
        return
    if not folder.is_dir():
        raise CheckpointError(f"{what}: {folder} is a file, not a folder")
    # a run's trackers may be made before it starts (from Python): theirs count as empty
    ours = {LOCK_FILE, *RUN_FILES[4:], *RUN_FOLDERS}
    held = sorted(
        p.name for p in folder.iterdir()
        if p.name not in ours and not p.name.startswith(".pgjax-write-test-")
    )  # fmt: skip
    if not held:
        return
    flag = what.startswith("--")
    again = "--overwrite" if flag else "overwrite=True"
    if CONFIG_FILE in held:
        resume = f"--resume {folder}" if flag else "resume=True"
        raise CheckpointError(
            f"{what}: {folder} already holds a run; continue it with {resume}, choose another "
            f"folder, or replace it with {again}"
        )
    if "sweep.md" in held or "sweep.json" in held:
        resume = "continue it with --resume, " if flag else ""
        raise CheckpointError(
            f"{what}: {folder} already holds a sweep; {resume}choose another folder, or "
            f"replace it with {again}"
        )
    shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
    raise CheckpointError(
        f"{what}: {folder} is not empty and not a pgjax run (it holds {shown}); choose a new or "
        f"empty folder, or write into it anyway with {again} (files of the names pgjax writes "
        "are replaced)"
    )


@contextlib.contextmanager
def new_run(run_dir: str | Path, overwrite: bool, what: str) -> Iterator[Path]:
    """Hold ``run_dir`` for a new run while the block runs: it must be new or empty, or
    ``overwrite`` must say so (``check_new_folder``; a run it holds is removed, ``clear_run``);
    it is made and checked writable (``check_writable``). If the block fails before the run's
    first checkpoint, the run's files are removed, and the folder too if this made it, so
    that the corrected command can use the same folder. Ctrl-C (``KeyboardInterrupt``) keeps
    them: the run resumes from update 0."""
    run_dir = Path(run_dir)
    check_new_folder(run_dir, overwrite, what)
    made = not run_dir.exists()
    check_writable(run_dir, what)
    failed = False
    try:
        with hold(run_dir):
            check_new_folder(run_dir, overwrite, what)  # again, now that no other can write
            clear_run(run_dir)
            try:
                yield run_dir
            except Exception:
                failed = not (run_dir / CHECKPOINT_FILE).exists()
                if failed:
                    clear_run(run_dir)
                raise
    finally:
        if failed and made and {p.name for p in run_dir.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(run_dir)


def clear_run(run_dir: str | Path) -> None:
    """Remove the run held in ``run_dir`` (``RUN_FILES`` and ``RUN_FOLDERS``), if it holds one
    (a ``config.json``); any other file stays."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        return
    with SAVING:
        for name in RUN_FILES[1:]:
            (run_dir / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(run_dir / name, ignore_errors=True)
        (run_dir / CONFIG_FILE).unlink()  # last: a folder half cleared still says it is a run


_HELD: set[Path] = set()  # the lock files this process holds


@contextlib.contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir`` for this process while the block runs: a second ``pgjax train`` (or
    ``hold``) of the same folder is refused with a ``CheckpointError`` naming the holder's pid.

    The hold is an ``flock`` on ``run_dir/.lock``, which the system releases when the holding
    process ends, however it ends (``kill -9`` included): a lock file left behind by a dead
    process is stale and is simply taken over. Holding a folder this process holds already is
    allowed (the inner hold does nothing).
    """
    path = (Path(run_dir) / LOCK_FILE).resolve()
    if path in _HELD:  # this process holds it already (the CLI around ``runner.run``)
        yield
        return
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise CheckpointError(
                f"{run_dir} is in use by another pgjax process (pid {holder}); wait for it to "
                "finish or stop it"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ---- config -------------------------------------------------------------------------------


def save_config(
    run_dir: str | Path, config: Config, seed: int, imports: Sequence[str] = ()
) -> None:
    """Write ``config.json``: every ``Config`` field, the seed, and the modules imported to
    name its parts (``pgjax train --import``: those a run folder was made with, and any
    ``imports`` given now), so that evaluating or resuming it imports them again."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    modules = list(dict.fromkeys([*load_imports(run_dir), *imports]))
    body = {"config": dataclasses.asdict(config), "seed": seed}
    if modules:
        body["imports"] = modules
    write_atomic(run_dir / CONFIG_FILE, json.dumps(body, indent=2).encode())


def load_imports(run_dir: str | Path) -> list[str]:
    """The modules ``config.json`` says the run was made with (``[]`` if none, or no run)."""
    try:
        body = json.loads((Path(run_dir) / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return []
    modules = body.get("imports", []) if isinstance(body, dict) else []
    return [m for m in modules if isinstance(m, str)] if isinstance(modules, list) else []


def load_config(run_dir: str | Path) -> tuple[Config, int]:
    """Read ``config.json``; ``CheckpointError`` if ``run_dir`` is not a run folder. Every
    field it holds counts as given; a field it lacks (saved before the field existed) takes
    its global default, the value such a run had."""
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir}: not a pgjax run folder (it has no {CONFIG_FILE}; "
            "run folders are made by `pgjax train`)"
        )
    try:
        body = json.loads(path.read_text())
        values = {**DEFAULTS, **body["config"]}
        config = Config.from_dict(values)
        seed = check_seed(body["seed"], "seed")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged or not a pgjax config ({error})") from None
    try:
        config.validate()
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return config, seed


# ---- checkpoint ---------------------------------------------------------------------------


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(state: TrainState) -> TrainState:
    # typed PRNG keys (the run's, and any an environment's state holds, as Craftax's does)
    # are stored as their raw uint32 data
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, state)


def save_checkpoint(
    run_dir: str | Path,
    state: TrainState,
    metrics: dict[str, np.ndarray],
    config: Config | None = None,
    seed: int | None = None,
) -> Path:
    """Write ``state`` and ``metrics`` (dict of ``[updates]`` arrays) to the run's checkpoint,
    atomically, with the ``config`` and ``seed`` they were made with (so that loading it under
    another is refused). Returns the checkpoint's path."""
    path = Path(run_dir) / CHECKPOINT_FILE
    host = jax.device_get(_to_host(state))
    _register_dataclasses(host)
    for leaf in jax.tree.leaves((host.params, host.opt_state)):
        if np.issubdtype(np.asarray(leaf).dtype, np.inexact) and not np.isfinite(leaf).all():
            raise CheckpointError(
                f"{path}: not saved: the parameters or optimiser state hold inf or NaN "
                "(the run diverged); the checkpoint already there is kept"
            )
    payload = serialization.msgpack_serialize(
        {
            "state": serialization.to_state_dict(host),
            "metrics": {k: np.asarray(v) for k, v in metrics.items()},
            "made_with": json.dumps(
                {"config": None if config is None else dataclasses.asdict(config), "seed": seed}
            ),
        }
    )
    digest = hashlib.sha256(payload).hexdigest()
    body = {"format": _FORMAT, "sha256": digest, "payload": payload}
    write_atomic(path, serialization.msgpack_serialize(body))
    return path


def load_checkpoint(
    run_dir: str | Path,
    template: TrainState,
    config: Config | None = None,
    seed: int | None = None,
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """Read the run's checkpoint into the structure of ``template``: a ``TrainState`` of the
    same config, or its shapes (``jax.eval_shape(make_pipeline(config).init, key, hp)``).

    Raises ``CheckpointError`` naming the file and what is wrong if it is missing, truncated or
    damaged (its checksum), made with another ``config`` or ``seed`` than these (where given:
    the fields that differ, all but ``RESUMABLE_CHANGES``), or holds what no run saves: arrays
    of another shape or dtype than ``template``'s, non-finite parameters or optimiser state, an
    update counter below 0 or past the run it was made for, metrics missing or of another
    length than the updates done.
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    body = _read(path)
    made = _made_with(path, body, config, seed)
    shapes = jax.tree.map(
        lambda x: jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x, template
    )
    _register_dataclasses(shapes)
    try:
        host = serialization.from_state_dict(shapes, body["state"])
        _check_same_structure(shapes, host)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(
            f"{path}: does not match this run's configuration ({error})"
        ) from None
    metrics = _check_values(path, host, body.get("metrics"), made)
    state = jax.tree.map(
        lambda t, h: jax.random.wrap_key_data(np.asarray(h)) if _is_key(t) else h, template, host
    )
    return jax.tree.map(jax.numpy.asarray, state), metrics


def _register_dataclasses(tree: Any) -> None:
    """Teach flax's serialization every dataclass in ``tree`` it does not know, by its fields:
    an environment's state may be one (Jumanji's are chex dataclasses); flax's own, NamedTuples
    and dicts it knows already."""
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        try:
            serialization.register_serialization_state(
                type(tree), _dataclass_to_dict, _dataclass_from_dict
            )
        except ValueError:  # known already (a flax struct dataclass)
            pass
        children = [getattr(tree, f.name) for f in dataclasses.fields(tree)]
    elif isinstance(tree, dict):
        children = list(tree.values())
    elif isinstance(tree, (tuple, list)):
        children = list(tree)
    else:
        return
    for child in children:
        _register_dataclasses(child)


def _dataclass_to_dict(x: Any) -> dict[str, Any]:
    return {f.name: serialization.to_state_dict(getattr(x, f.name)) for f in dataclasses.fields(x)}


def _dataclass_from_dict(target: Any, state: dict[str, Any]) -> Any:
    fields = [f.name for f in dataclasses.fields(target)]
    if set(state) != set(fields):
        raise ValueError(f"{type(target).__name__} has fields {fields}, the file {sorted(state)}")
    return dataclasses.replace(
        target, **{k: serialization.from_state_dict(getattr(target, k), state[k]) for k in fields}
    )


def _read(path: Path) -> dict:
    """The checkpoint's payload (state, metrics, what it was made with), its format and
    checksum checked."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint (the run saved none yet)")
    try:
        body = serialization.msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack raises several types for damaged bytes
        raise CheckpointError(f"{path}: damaged checkpoint, cannot be read ({error})") from None
    if not isinstance(body, dict) or body.get("format") not in _READABLE:
        raise CheckpointError(
            f"{path}: not a pgjax checkpoint of format {_FORMAT} (format 2 is written since "
            "the algorithms carry their own state; an older run cannot be resumed)"
        )
    payload = body.get("payload")
    if not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != body.get("sha256"):
        raise CheckpointError(f"{path}: damaged checkpoint (its checksum does not match)")
    inner = serialization.msgpack_restore(payload)
    if not isinstance(inner, dict) or "state" not in inner:
        raise CheckpointError(f"{path}: damaged checkpoint (it holds no training state)")
    return inner


def _made_with(path: Path, body: dict, config: Config | None, seed: int | None) -> Config | None:
    """The ``Config`` the checkpoint records (``None`` for format 2, which records none);
    ``CheckpointError`` naming the fields that differ from ``config`` and the seed from
    ``seed``, where given."""
    try:
        made = json.loads(body.get("made_with", "null")) or {}
        recorded = made.get("config")
        recorded = None if recorded is None else Config.from_dict({**DEFAULTS, **recorded})
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint (its config: {error})") from None
    differ = []
    if recorded is not None and config is not None:
        for f in dataclasses.fields(Config):
            old, new = getattr(recorded, f.name), getattr(config, f.name)
            if f.name not in RESUMABLE_CHANGES and old != new:
                differ.append(f"{f.name}={old!r} (now {new!r})")
    if seed is not None and made.get("seed") is not None and made["seed"] != seed:
        differ.append(f"seed={made['seed']!r} (now {seed!r})")
    if differ:
        raise CheckpointError(
            f"{path}: made with {', '.join(differ)}; a checkpoint resumes and evaluates only "
            f"under the configuration it was made with (only {', '.join(RESUMABLE_CHANGES)} "
            "may change): restore the run's config.json, or start a new run"
        )
    return recorded


def _check_values(path: Path, host: Any, metrics: Any, made: Config | None) -> dict:
    """The checkpoint's metrics, after checking what no run saves: non-finite parameters or
    optimiser state, an update counter out of range, metrics missing or of another length."""
    for leaf in jax.tree.leaves((host.params, host.opt_state)):
        leaf = np.asarray(leaf)
        if np.issubdtype(leaf.dtype, np.inexact) and not np.isfinite(leaf).all():
            raise CheckpointError(
                f"{path}: its parameters or optimiser state hold inf or NaN, which no run saves"
            )
    update = int(np.asarray(host.update))
    limit = math.inf if made is None else made.num_updates
    if not 0 <= update <= limit:
        raise CheckpointError(
            f"{path}: its update counter is {update}, outside [0, {limit}] (the updates of the "
            "run it was made for)"
        )
    if not isinstance(metrics, dict) or not metrics:
        raise CheckpointError(f"{path}: holds no metrics (every checkpoint of a run has them)")
    for name, values in metrics.items():
        values = np.asarray(values)
        if values.ndim != 1 or len(values) != update or not np.issubdtype(values.dtype, np.number):
            raise CheckpointError(
                f"{path}: its metric {name!r} holds {values.shape} values of {values.dtype} "
                f"where {update} numbers (one per update done) are expected"
            )
    return {k: np.asarray(v) for k, v in metrics.items()}


def restore(
    run_dir: str | Path, config: Config, seed: int
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """``load_checkpoint`` with the template's shapes from ``config`` and ``seed`` (traced,
    not computed), checked to have been made with them: the run's saved ``TrainState`` and
    metrics."""
    init = make_pipeline(config).init
    template = jax.eval_shape(init, jax.random.key(seed), config.hparams())
    return load_checkpoint(run_dir, template, config, seed)


def _check_same_structure(template: TrainState, loaded: TrainState) -> None:
    for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(loaded), strict=True):
        if tuple(a.shape) != np.shape(b):
            raise ValueError(f"an array of shape {np.shape(b)} where {a.shape} is expected")
        if np.asarray(b).dtype != a.dtype:
            raise ValueError(f"an array of {np.asarray(b).dtype} where {a.dtype} is expected")


# ---- metrics ------------------------------------------------------------------------------


def write_metrics_csv(run_dir: str | Path, metrics: dict[str, np.ndarray]) -> Path:
    """``metrics.csv``: a header, then one row per update; floats written with ``repr``
    (exact: reading them back gives the same float32)."""
    path = Path(run_dir) / METRICS_FILE
    names = sorted(metrics)
    columns = [np.asarray(metrics[n]).tolist() for n in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["update", *names])
    for i, row in enumerate(zip(*columns, strict=True)):
        writer.writerow([i + 1, *(_cell(x) for x in row)])
    write_atomic(path, out.getvalue().encode())
    return path


def _cell(x: Any) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else repr(x)
    return str(x)


def read_metrics_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``metrics.csv`` back into ``[updates]`` arrays (``update`` included)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: np.array([float(r[i]) for r in body]) for i, name in enumerate(header)}


def plot_curve(run_dir: str | Path, metrics: dict[str, np.ndarray], title: str) -> Path:
    """``curve.png``: mean episode return per update against environment steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(run_dir) / CURVE_FILE
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(metrics["timesteps"], metrics["episode_return"], lw=1)
    if not np.isfinite(metrics["episode_return"]).any():
        steps = int(metrics["timesteps"][-1]) if len(metrics["timesteps"]) else 0
        ax.text(0.5, 0.5, f"no episode finished in {steps:,} steps", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "CURVE_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "RESUMABLE_CHANGES",
    "RUN_FILES",
    "RUN_FOLDERS",
    "SAVING",
    "CheckpointError",
    "SaveError",
    "check_new_folder",
    "check_writable",
    "clear_run",
    "hold",
    "load_checkpoint",
    "load_config",
    "load_imports",
    "new_run",
    "plot_curve",
    "read_metrics_csv",
    "restore",
    "save_checkpoint",
    "save_config",
    "write_atomic",
    "write_metrics_csv",
]
