"""Run folders: the files a run folder holds, writing a file atomically, checking a folder is
writable and new, and holding it for one process (an ``flock``).

A run folder holds ``config.json`` (``pgjax.tools.config_file``), ``metrics.csv`` and
``curve.png`` (``pgjax.tools.metrics_files``) and ``checkpoint.msgpack``
(``pgjax.tools.checkpoint``). Every file is written to a temporary name in the same folder and
renamed over the old one when complete (``os.replace`` is atomic on POSIX), so a crash leaves
the previous good file in place, never a half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.msgpack"
CURVE_FILE = "curve.png"


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
"""The files of a run folder (``wandb_id.txt``: ``pgjax.tools.tracking``'s W&B run id), besides the
folders ``RUN_FOLDERS``."""
RUN_FOLDERS = ("tensorboard", "wandb")
"""The folders ``pgjax.tools.tracking`` writes into a run folder."""


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
    if path in _HELD:  # this process holds it already (the CLI around ``session.run``)
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
