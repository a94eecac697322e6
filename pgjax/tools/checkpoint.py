"""A run's checkpoint: the ``TrainState`` and the metrics so far, in flax's msgpack
serialisation with a SHA-256 checksum, written atomically, and read back only into the same
run (configuration recorded, dtypes, finiteness and counters checked). msgpack holds only
arrays, numbers and strings, so loading a checkpoint from elsewhere cannot run code (pickle
could).

    from pgjax.tools import checkpoint
    checkpoint.save_checkpoint("runs/a", state, metrics)
    state, metrics = checkpoint.load_checkpoint("runs/a", template)   # template: a TrainState
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from pgjax.pipeline.config import DEFAULTS, Config
from pgjax.pipeline.train import TrainState, make_pipeline
from pgjax.tools.folders import CHECKPOINT_FILE, CheckpointError, write_atomic

_FORMAT = 3  # bumped when the checkpoint's layout changes (3: the config it was made with)
_READABLE = (2, 3)  # 2: each algorithm's own state, no config recorded (checked less)
RESUMABLE_CHANGES = ("total_timesteps", "devices", "presets")
"""The ``Config`` fields a checkpoint may be resumed or evaluated under with another value than
it was made with: the run's length, the devices it is split over, and whether unset fields
resolved from presets (every field of a saved config is given)."""


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
