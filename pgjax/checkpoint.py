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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from pgjax.config import DEFAULTS, Config
from pgjax.train import TrainState, make_pipeline

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.msgpack"
CURVE_FILE = "curve.png"
_FORMAT = 2  # bumped when the checkpoint's layout changes (2: each algorithm's own state)


class CheckpointError(ValueError):
    """A run folder or checkpoint that cannot be used; the message names the file and why."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed over
    ``path`` when complete. On any failure (a full disk, say) the temporary file is removed
    and the old ``path``, if any, is left as it was."""
    tmp = path.with_name(f".{path.name}.tmp")
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


def save_config(run_dir: str | Path, config: Config, seed: int) -> None:
    """Write ``config.json``: every ``Config`` field and the seed."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {"config": dataclasses.asdict(config), "seed": seed}
    write_atomic(run_dir / CONFIG_FILE, json.dumps(body, indent=2).encode())


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
        return Config.from_dict(values), int(body["seed"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged or not a pgjax config ({error})") from None


# ---- checkpoint ---------------------------------------------------------------------------


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(state: TrainState) -> TrainState:
    # typed PRNG keys (the run's, and any an environment's state holds, as Craftax's does)
    # are stored as their raw uint32 data
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, state)


def save_checkpoint(run_dir: str | Path, state: TrainState, metrics: dict[str, np.ndarray]) -> Path:
    """Write ``state`` and ``metrics`` (dict of ``[updates]`` arrays) to the run's checkpoint,
    atomically. Returns the checkpoint's path."""
    path = Path(run_dir) / CHECKPOINT_FILE
    host = jax.device_get(_to_host(state))
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
        }
    )
    digest = hashlib.sha256(payload).hexdigest()
    body = {"format": _FORMAT, "sha256": digest, "payload": payload}
    write_atomic(path, serialization.msgpack_serialize(body))
    return path


def load_checkpoint(
    run_dir: str | Path, template: TrainState
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """Read the run's checkpoint into the structure of ``template``: a ``TrainState`` of the
    same config, or its shapes (``jax.eval_shape(make_pipeline(config).init, key, hp)``).

    Raises ``CheckpointError`` naming the file if it is missing, truncated, damaged or of
    another configuration.
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint (the run saved none yet)")
    try:
        body = serialization.msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack raises several types for damaged bytes
        raise CheckpointError(f"{path}: damaged checkpoint, cannot be read ({error})") from None
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        raise CheckpointError(
            f"{path}: not a pgjax checkpoint of format {_FORMAT} (format {_FORMAT} is written "
            "since the algorithms carry their own state; an older run cannot be resumed)"
        )
    payload = body.get("payload")
    if not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != body.get("sha256"):
        raise CheckpointError(f"{path}: damaged checkpoint (its checksum does not match)")
    body = serialization.msgpack_restore(payload)
    shapes = jax.tree.map(
        lambda x: jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x, template
    )
    try:
        host = serialization.from_state_dict(shapes, body["state"])
        _check_same_structure(shapes, host)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(
            f"{path}: does not match this run's configuration ({error})"
        ) from None
    state = jax.tree.map(
        lambda t, h: jax.random.wrap_key_data(np.asarray(h)) if _is_key(t) else h, template, host
    )
    metrics = {k: np.asarray(v) for k, v in body["metrics"].items()}
    return jax.tree.map(jax.numpy.asarray, state), metrics


def restore(
    run_dir: str | Path, config: Config, seed: int
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """``load_checkpoint`` with the template's shapes from ``config`` and ``seed`` (traced,
    not computed): the run's saved ``TrainState`` and metrics."""
    init = make_pipeline(config).init
    template = jax.eval_shape(init, jax.random.key(seed), config.hparams())
    return load_checkpoint(run_dir, template)


def _check_same_structure(template: TrainState, loaded: TrainState) -> None:
    for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(loaded), strict=True):
        if tuple(a.shape) != np.shape(b):
            raise ValueError(f"an array of shape {np.shape(b)} where {a.shape} is expected")


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
    "CheckpointError",
    "check_writable",
    "hold",
    "load_checkpoint",
    "load_config",
    "plot_curve",
    "read_metrics_csv",
    "restore",
    "save_checkpoint",
    "save_config",
    "write_atomic",
    "write_metrics_csv",
]
