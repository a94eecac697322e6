"""A run's ``metrics.csv`` (one row per update, floats exact) and ``curve.png`` (its learning
curve), and ``merge``, which joins the metrics of consecutive stretches of a run."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from pgjax.tools.folders import CURVE_FILE, METRICS_FILE, write_atomic


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


def merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Metrics ``[n_i]`` of consecutive stretches of a run, as one ``[Σ n_i]``. A metric that a
    stretch lacks (one saved by an earlier pgjax, before the metric existed) is NaN there."""
    names = list(dict.fromkeys(k for p in parts for k in p))
    length = lambda p: len(next(iter(p.values()))) if p else 0  # noqa: E731
    return {
        k: np.concatenate(
            [np.asarray(p[k]) if k in p else np.full(length(p), np.nan) for p in parts]
        )
        for k in names
    }
