"""A run as a person runs it: in chunks, with loggers, a run folder with checkpoints, resume,
and a clean stop; what ``pgjax train`` does, for a notebook or a script too.

    from pgjax import Config
    from pgjax.tools.loggers import ProgressBar
    from pgjax.tools.session import run
    config = Config(total_timesteps=200_000)
    result = run(config, seed=0, run_dir="runs/a",
                 loggers=[ProgressBar(config.num_updates, config.batch_size)])
    run(config.replace(total_timesteps=400_000), seed=0, run_dir="runs/a", resume=True)

A run folder holds ``config.json``, ``metrics.csv``, ``curve.png`` and
``checkpoint.msgpack`` (``pgjax.tools.checkpoint``); it is held by one process at a time.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pgjax.envs import Env, make_env
from pgjax.pipeline.config import Config, check_seed
from pgjax.pipeline.train import TrainResult, TrainState, num_devices
from pgjax.tools import checkpoint, config_file, folders, metrics_files
from pgjax.tools.chunks import ChunkReport, train_in_chunks
from pgjax.tools.loggers import CsvLogger, Logger
from pgjax.tools.metrics_files import merge


def run(
    config: Config,
    seed: int = 0,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    loggers: Sequence[Logger] = (),
    num_chunks: int = 20,
    should_stop: Callable[[], bool] | None = None,
    state: TrainState | None = None,
    metrics: dict[str, np.ndarray] | None = None,
    imports: Sequence[str] = (),
) -> TrainResult:
    """Train ``config`` from ``jax.random.key(seed)`` in ``num_chunks`` compiled chunks,
    handing every logger the metrics (live ones every update, the others every chunk).

    Everything is checked before anything is written: the config, the seed, the environment
    (``preflight``) and the folder.

    With ``run_dir``: the folder is held for the run, checked writable first; ``config.json``
    is written, then after each chunk the checkpoint and ``metrics.csv`` (the checkpoint is
    never replaced by a non-finite one: a diverging run stops with
    ``pgjax.tools.chunks.DivergedError``), and ``curve.png`` at the end. A new run's folder must be
    new or empty (``CheckpointError`` otherwise, naming what it holds); ``overwrite`` writes
    into it anyway, replacing a run it holds (pgjax's own files; the others stay). If the run
    fails before its first checkpoint, the files it made (and the folder, if it made it) are
    removed, so the corrected call can use the same folder. ``resume``: continue the folder's
    run from its checkpoint (from update 0 if it saved none; the checkpoint must have been
    made with ``config`` and ``seed``, ``total_timesteps`` aside). ``state``, ``metrics``:
    continue from these instead (what ``checkpoint.restore`` gives).

    ``should_stop`` is asked after each chunk; the result's ``state.update`` says how far the
    run got. ``imports``: modules that register the run's parts, recorded in ``config.json``
    (``pgjax train --import``).
    """
    loggers = list(loggers)
    check_seed(seed)
    try:
        if run_dir is None:
            preflight(config)
            return _chunks(config, seed, None, loggers, num_chunks, should_stop, state, metrics)
        if resume:
            folder = _held(folders.check_writable(run_dir, "run_dir"))
        else:
            preflight(config)
            folder = folders.new_run(run_dir, overwrite, "run_dir")
        with folder as run_dir:
            if resume and state is None and (run_dir / folders.CHECKPOINT_FILE).exists():
                state, metrics = checkpoint.restore(run_dir, config, seed)
            config_file.save_config(run_dir, config, seed, imports)
            loggers.append(CsvLogger(run_dir, metrics))
            result = _chunks(
                config, seed, run_dir, loggers, num_chunks, should_stop, state, metrics
            )
            metrics_files.plot_curve(run_dir, result.metrics, f"{config.algo} on {config.env}")
            return result
    finally:
        for logger in loggers:
            logger.close()


@contextlib.contextmanager
def _held(run_dir: Path) -> Iterator[Path]:
    with folders.hold(run_dir):
        yield run_dir


def preflight(config: Config, copies: int = 1) -> None:
    """Everything that can be checked before a run is compiled and before anything is
    written, each failure a ``ValueError`` naming what is wrong and what is allowed: the config
    (``Config.validate``) and the devices it asks for; the environment made with its options
    (a registered one's first reset and step checked against its declared spaces); the
    memory that ``copies`` runs trained together (vmapped seeds and settings) need at least
    (``estimate_memory``, and ``METRIC_BYTES`` per update), against what this machine has free
    (``available_memory``)."""
    num_devices(config)
    env = make_env(config.env)
    rollout, curves = estimate_memory(config, env), config.num_updates * METRIC_BYTES
    needed, available = copies * (rollout + curves), available_memory()
    if available is not None and needed > available:
        times = f" x {copies} runs trained together" if copies > 1 else ""
        if curves > rollout:
            raise ValueError(
                f"Config.total_timesteps={config.total_timesteps:,} in batches of "
                f"num_envs * num_steps = {config.batch_size:,}: {config.num_updates:,} updates"
                f"{times}, whose metrics alone (kept for every update) need at least "
                f"{needed / 2**30:,.1f} GiB, more than the {available / 2**30:,.1f} GiB free "
                "here; lower total_timesteps or raise num_envs or num_steps"
            )
        raise ValueError(
            f"Config.num_envs={config.num_envs} x num_steps={config.num_steps}{times}: needs at "
            f"least {needed / 2**30:,.1f} GiB (environment states, observations and the "
            f"rollout kept for learning), more than the {available / 2**30:,.1f} GiB free here "
            f"({jax.default_backend()}); lower num_envs or num_steps"
        )


METRIC_BYTES = 64
"""A lower bound on the bytes of metrics a run keeps per update (16-odd float32 scalars: the
losses, the episode statistics, the timesteps...), on the device while a chunk runs and on the
host for metrics.csv and the curve."""


def _bytes(tree: Any) -> int:
    def size(x) -> int:
        itemsize = 8 if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x.dtype.itemsize
        return math.prod(x.shape) * itemsize

    return sum(size(x) for x in jax.tree.leaves(tree))


def estimate_memory(config: Config, env: Env) -> int:
    """A lower bound, in bytes, on the memory a run of ``config`` holds during an update: the
    ``num_envs`` environments' states and observations, and the rollout's ``[T, N]`` arrays
    that learning reads (``pgjax.pipeline.rollout.Trajectory``: two observations, the action, the
    distribution's parameters and four scalars per step); learning's own arrays come on top.
    Found from shapes alone (``jax.eval_shape``): nothing is allocated."""
    n, spec = config.num_envs, env.spec
    state, obs = jax.eval_shape(lambda k: env.reset(jax.random.split(k, n)), jax.random.key(0))
    # an action and its distribution's parameters: an index and K logits, or A numbers, A means
    # and A log-stds
    action = 4 * (1 + spec.num_actions) if spec.discrete else 4 * 3 * spec.num_actions
    # the observation acted on and the next one, log π, the reward, terminated and truncated
    per_step = 2 * _bytes(obs) // n + action + 4 + 4 + 1 + 1
    return _bytes(state) + _bytes(obs) + config.batch_size * per_step


def available_memory() -> int | None:
    """Bytes free for a run here: the accelerators' free memory where JAX reports it, else the
    host's (``MemAvailable``, within a cgroup's limit and the address-space limit, where set);
    ``None`` if nothing says."""
    devices = jax.devices()
    stats = [d.memory_stats() or {} for d in devices] if devices[0].platform != "cpu" else []
    if stats and all("bytes_limit" in m for m in stats):
        return sum(m["bytes_limit"] - m.get("bytes_in_use", 0) for m in stats)
    free = []
    meminfo = _read_numbers("/proc/meminfo", "MemAvailable:")
    if meminfo is not None:
        free.append(meminfo * 1024)
    limit = _read_text("/sys/fs/cgroup/memory.max")
    used = _read_text("/sys/fs/cgroup/memory.current")
    if limit and limit.isdigit() and used and used.isdigit():
        free.append(int(limit) - int(used))
    address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
    size = _read_numbers("/proc/self/status", "VmSize:")
    if address_space != resource.RLIM_INFINITY and size is not None:
        free.append(address_space - size * 1024)
    return min(free) if free else None


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _read_numbers(path: str, label: str) -> int | None:
    """The number after ``label`` in a ``/proc`` file (``MemAvailable:  123 kB`` → 123)."""
    for line in (_read_text(path) or "").splitlines():
        if line.startswith(label):
            return int(line.split()[1])
    return None


def _chunks(config, seed, run_dir, loggers, num_chunks, should_stop, state, metrics):
    parts = [metrics] if metrics else []
    live = [logger for logger in loggers if logger.live]

    def on_update(info: dict) -> None:
        rows = {k: np.asarray(v)[None] for k, v in info.items()}
        for logger in live:
            logger.log(int(info["timesteps"]), rows)

    saved = [int(state.update) if state is not None and run_dir is not None else None]

    def on_chunk(report: ChunkReport, state: TrainState, rows: dict[str, np.ndarray]) -> None:
        parts[:] = [merge([*parts, rows])]
        n = len(next(iter(rows.values())))
        done = report.updates_done
        rows = {"update": np.arange(done - n + 1, done + 1), **rows}
        try:
            with folders.SAVING:  # the checkpoint and metrics.csv together, or neither
                if run_dir is not None:
                    checkpoint.save_checkpoint(run_dir, state, parts[0], config, seed)
                    saved[0] = done
                for logger in loggers:
                    if not logger.live:
                        logger.log(report.timesteps, rows)
        except OSError as error:
            if run_dir is None:
                raise
            raise folders.SaveError(run_dir, done, saved[0], error) from error

    return train_in_chunks(
        config,
        jax.random.key(seed),
        num_chunks=num_chunks,
        on_chunk=on_chunk,
        on_update=on_update if live else None,
        should_stop=should_stop,
        state=state,
        metrics=metrics,
    )


SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
"""The signals a run stops cleanly on: Ctrl-C; SIGTERM, what Slurm, Kubernetes, systemd and
``timeout`` send before they kill (Slurm's and Kubernetes' default grace: 30 s); SIGHUP, a
terminal closed or an SSH session dropped."""


def signal_name(signum: int) -> str:
    """How a message names a signal: ``Ctrl-C`` for SIGINT, else its name (``SIGTERM``)."""
    return SIGNALS.get(signum) or signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """The exit status a shell expects of a process that a signal ended: 128 + its number
    (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signum)


ECHO_SECONDS = 1.0
"""A SIGTERM or SIGHUP that follows the same signal within this many seconds is the same
request, not a second one: ``timeout`` sends its signal to the process and then to the
process's group, and a job's scheduler may signal both the job's shell and its steps."""


class StopOnSignals:
    """A ``should_stop`` for Ctrl-C, SIGTERM and SIGHUP (``SIGNALS``), heard at once even while
    a compiled chunk runs: the first signal says so within a moment and stops the run after the
    update in flight where the chunk asks (``train_in_chunks`` asks every update when it has
    host callbacks, as ``pgjax train``'s progress bar gives it), else after the chunk; the run
    then saves and stops. A second signal (any of them) quits. ``signum`` is the first signal
    heard (``None`` before one), for the exit status (``exit_status``).

    Python runs a signal handler only when its main thread runs Python again, which a compiled
    chunk holds for as long as it runs (minutes on Brax or Craftax). So the signals are heard
    by a thread of their own, woken through ``signal.set_wakeup_fd`` as a signal arrives. What
    the second does: ``quit_now()`` at once, from that thread, where given (``pgjax train``
    waits for any file being written, ``pgjax.tools.folders.SAVING``, and ends the process keeping
    the last checkpoint); else ``KeyboardInterrupt`` in the main thread when it next runs
    Python (after the chunk: a notebook's kernel is never ended from here).

    ``quit_on``: the signal that calls ``quit_now`` (the second; 1 for a script that has
    nothing to save at a stop, a benchmark's, whose files are each written as they finish).

    A signal that was ignored when the block was entered (``SIG_IGN``: SIGHUP under ``nohup``,
    SIGTERM under a supervisor that ignores it) stays ignored; SIGINT is always heard. The
    handlers there before are restored on exit.

        with StopOnSignals() as stop:
            run(config, run_dir="runs/a", should_stop=stop)
    """

    def __init__(
        self,
        quit_now: Callable[[], None] | None = None,
        file: Any = None,
        *,
        after: str = "this update",
        quit_on: int = 2,
    ) -> None:
        self.requested = False
        self.quit_on = quit_on
        self.quit_now = quit_now
        self.file = file
        self.after = after
        self.signum: int | None = None  # the first signal heard
        # (signal, time.monotonic()) of the last signal the watcher and the handler counted
        self.heard_last: tuple[int | None, float] = (None, -math.inf)
        self.handled_last: tuple[int | None, float] = (None, -math.inf)
        self.heard = 0  # signals heard by the watcher thread
        self.handled = 0  # calls of the main thread's handler (signals that came together: one)

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopOnSignals:
        self.previous = {}
        for signum in SIGNALS:
            before = signal.getsignal(signum)
            if before is signal.SIG_IGN and signum != signal.SIGINT:
                continue
            self.previous[signum] = signal.signal(signum, self._handle)
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write
        self._previous_fd = signal.set_wakeup_fd(write)
        self._thread = threading.Thread(target=self._watch, name="pgjax-signals", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while data := os.read(self._read, 64):  # one byte per signal; b"" once closed
            for signum in data:
                if signum in self.previous:
                    self._heard(signum)

    def _heard(self, signum: int) -> None:
        if _echoed(self.heard_last, signum):
            return
        self.heard_last = (signum, time.monotonic())
        self.heard += 1
        if self.heard == 1:
            self.signum, self.requested = signum, True
        if self.heard >= self.quit_on and self.quit_now is not None:
            self.quit_now()
        elif self.heard == 1:
            again = "Ctrl-C" if signum == signal.SIGINT else "a second signal"
            _say(
                f"\npgjax: {signal_name(signum)}: stopping after {self.after}, saving what is "
                f"done ({again} to quit now)",
                self.file,
            )

    def _handle(self, signum, frame) -> None:
        if _echoed(self.handled_last, signum):
            return
        self.handled_last = (signum, time.monotonic())
        if self.signum is None:
            self.signum = signum
        self.requested = True
        self.handled += 1
        if self.quit_now is None and max(self.heard, self.handled) >= 2:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum, before in self.previous.items():
            signal.signal(signum, before)
        os.close(self._write)  # the watcher reads the end of the pipe and returns
        self._thread.join()
        os.close(self._read)


def _echoed(last: tuple[int | None, float], signum: int) -> bool:
    """Whether ``signum`` repeats ``last`` (a signal and when it came) within
    ``ECHO_SECONDS``: the same SIGTERM or SIGHUP sent to the process and to its group
    (``timeout``), one request. Ctrl-C always counts."""
    return (
        signum != signal.SIGINT and signum == last[0] and time.monotonic() - last[1] < ECHO_SECONDS
    )


StopOnSigint = StopOnSignals
"""The earlier name of ``StopOnSignals`` (it now hears SIGTERM and SIGHUP too)."""


def _say(message: str, file: Any = None) -> None:
    """Print ``message`` to ``file`` (stderr), never raising: after SIGHUP the terminal may be
    gone, and the run must still save."""
    try:
        print(message, file=file or sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


__all__ = ["SIGNALS", "StopOnSigint", "StopOnSignals", "exit_status", "run", "signal_name"]
