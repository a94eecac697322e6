"""What the benchmark scripts share: a timed vmapped run and its summary over seeds."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from pgjax import Config, make_train
from pgjax.tools.chunks import final_return
from pgjax.tools.folders import SAVING, write_atomic
from pgjax.tools.session import StopOnSignals, exit_status, signal_name
from pgjax.tools.sweep import confidence_interval

RESULTS = os.path.join(os.path.dirname(__file__), "results")


def machine() -> str:
    """One line naming where a benchmark ran: the device, its backend and count, the host's
    processor and cores, the JAX version and the pgjax commit."""
    device = jax.devices()[0]
    host = platform.processor() or platform.machine()
    return (
        f"device: {device.device_kind} ({jax.default_backend()}) x {jax.device_count()}, "
        f"host {host} with {os.cpu_count()} cores, jax {jax.__version__}, pgjax {revision()}"
    )


def _git(folder: str, *args: str) -> str:
    """``git -C folder args``'s output, stripped; raises ``OSError`` or
    ``subprocess.CalledProcessError`` outside a checkout."""
    return subprocess.run(
        ["git", "-C", folder, *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def revision() -> str:
    """The pgjax commit the scripts run (short hash, ``+changes`` if the library's files differ
    from it), or ``unknown`` outside a git checkout."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        changed = _git(here, "status", "--porcelain", "--", "pgjax")
        return _git(here, "rev-parse", "--short", "HEAD") + ("+changes" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def committed_in(path: str) -> str:
    """The commit that last changed ``path`` (short hash), or ``unknown``."""
    folder, name = os.path.split(os.path.abspath(path))
    try:
        return _git(folder, "log", "-1", "--format=%h", "--", name) or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def out_dir(given: str | None, quick: bool) -> str:
    """Where a script writes: ``given``; else a fresh temporary folder for ``--quick`` (a smoke
    test must not replace committed results), else ``benchmarks/results``."""
    if given is None:
        given = tempfile.mkdtemp(prefix="pgjax-quick-") if quick else RESULTS
    os.makedirs(given, exist_ok=True)
    return given


def compile_timed(fn, *args):
    """``jax.jit(fn)`` compiled for ``args``, and the seconds compiling took."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def vmapped_train(config: Config, seeds: int, key: int = 0):
    """Train ``seeds`` runs of ``config`` in one compiled call (keys split from
    ``jax.random.key(key)``): (the result, its leaves ``[seeds, ...]``, compile seconds, run
    seconds)."""
    keys = jax.random.split(jax.random.key(key), seeds)
    compiled, compile_s = compile_timed(jax.vmap(make_train(config)), keys)
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(keys))
    return result, compile_s, time.perf_counter() - start


def vmapped_run(
    config: Config, seeds: int, key: int = 0
) -> tuple[dict[str, np.ndarray], float, float]:
    """``vmapped_train``'s host metrics ``[seeds, num_updates]``, compile and run seconds."""
    result, compile_s, run_s = vmapped_train(config, seeds, key)
    return {k: np.asarray(v) for k, v in result.metrics.items()}, compile_s, run_s


def final_returns(metrics: dict[str, np.ndarray], last: int = 10) -> np.ndarray:
    """Per seed, ``pgjax.tools.chunks.final_return`` of that seed's run ``[seeds]``."""
    return np.array(
        [final_return({"episode_return": r}, last) for r in np.asarray(metrics["episode_return"])]
    )


def mean_and_ci(values: np.ndarray) -> str:
    """ "mean ± half-width of a 95% normal-approximation interval" over the finite values
    (``pgjax.tools.sweep.confidence_interval``)."""
    mean, half = confidence_interval(values)
    digits = 2 if abs(mean) < 10 else 1  # returns in [0, 1] (the grid worlds) need two
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


WRITTEN: list[str] = []
"""The files this script has written (``write_table``, ``save_npz``), for the line a signal
prints (``script``)."""


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (through a temporary file: a signal or a
    full disk never leaves a committed result half written), and name it in ``WRITTEN``."""
    write_atomic(Path(path), data)
    WRITTEN.append(path)


def write_table(lines: list[str], out: str | None) -> None:
    """Write ``lines`` to ``out`` (``write_file``)."""
    if out:
        write_file(out, ("\n".join(lines) + "\n").encode())


def save_npz(path: str, **arrays) -> None:
    """``np.savez_compressed(path, **arrays)``, whole or not at all (``write_file``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_file(path, buffer.getvalue())


def script(main: Callable[[], int | None]) -> int | None:
    """Run a benchmark script's ``main`` with Ctrl-C, SIGTERM and SIGHUP heard at once, even
    inside a compiled call: one line naming the signal, the files written before it (each
    written whole as its part finished) and the command to run again, then the exit status of
    that signal (130, 143, 129). The compiled call in flight is lost; a file being written is
    finished first (``pgjax.tools.folders.SAVING``)."""
    name = os.path.relpath(sys.argv[0])

    def quit_now() -> None:
        SAVING.acquire(timeout=10)
        kept = ", ".join(os.path.relpath(p) for p in dict.fromkeys(WRITTEN)) or "none yet"
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
            print(
                f"\n{name}: {signal_name(stop.signum)}: stopped; the files it wrote: {kept}. "
                f"Run again with: python {' '.join([name, *map(shlex.quote, sys.argv[1:])])}",
                file=sys.stderr,
                flush=True,
            )
        os._exit(exit_status(stop.signum))

    stop = StopOnSignals(quit_now, quit_on=1)
    with stop:
        return main()


def smooth_returns(returns: np.ndarray, before: float = 0.0) -> np.ndarray:
    """Carry the last known return forward over updates in which no episode ended
    (``[seeds, updates]``; ``before`` until a seed's first episode ends)."""
    out = np.array(returns, dtype=float)
    for i in range(1, out.shape[1]):
        out[:, i] = np.where(np.isnan(out[:, i]), out[:, i - 1], out[:, i])
    return np.where(np.isnan(out), before, out)


def band(ax, x: np.ndarray, returns: np.ndarray, label: str, color: str | None = None) -> None:
    """Mean over seeds of ``smooth_returns(returns)`` against ``x``, with a 95% band; nothing
    is drawn before every seed has finished an episode."""
    curve = smooth_returns(returns, before=np.nan)
    mean = curve.mean(0)
    half = 1.96 * curve.std(0, ddof=1) / np.sqrt(len(curve)) if len(curve) > 1 else 0 * mean
    line = ax.plot(x, mean, label=label, color=color)[0]
    ax.fill_between(x, mean - half, mean + half, alpha=0.2, color=line.get_color())
