"""Hyperparameter grids × seeds as one vmapped, jit-compiled function.

Only the traceable hyperparameters (``pgjax.config.HParams``: lr, gamma, clip_eps, …) can be
swept this way, since sizes and choices shape the compiled program. Every setting is trained
with the same seeds (common random numbers), so differences between settings are not seed luck.

    from pgjax.sweep import sweep, summarize
    result = sweep(Config(), {"lr": [1e-4, 3e-4, 1e-3]}, seeds=8)
    for row in summarize(result): print(row)
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.config import Config, HParams
from pgjax.progress import final_return
from pgjax.train import make_train

Array = jax.Array


class SweepResult(NamedTuple):
    """``settings``: one dict per grid point (swept field → value), in grid order.
    ``metrics``: dict of host arrays ``[settings, seeds, num_updates]``."""

    settings: list[dict[str, float]]
    metrics: dict[str, np.ndarray]


def grid_points(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """The cartesian product of ``grid``; ``ValueError`` for a field that cannot be swept."""
    for name, values in grid.items():
        if name not in HParams._fields:
            raise ValueError(
                f"Config.{name} cannot be swept without recompiling; sweepable fields: "
                f"{', '.join(HParams._fields)}"
            )
        if len(values) == 0:
            raise ValueError(f"sweep: no values given for {name}")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(
    config: Config,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    key: Array | None = None,
    on_update: Callable[[dict], None] | None = None,
) -> SweepResult:
    """Train every point of ``grid`` with ``seeds`` seeds, in one compiled call.

    Each swept value is checked as the ``Config`` field it replaces (``ValueError`` naming it).
    """
    settings = grid_points(grid)
    for setting in settings:
        config.replace(**setting).validate()
    key = jax.random.key(0) if key is None else key
    base = config.hparams()
    hp = base._replace(**{n: jnp.asarray([s[n] for s in settings], jnp.float32) for n in grid})
    axes = HParams(*[0 if f in grid else None for f in HParams._fields])
    train = make_train(config, on_update)
    over_seeds = jax.vmap(train, in_axes=(0, None))
    over_grid = jax.vmap(over_seeds, in_axes=(None, axes))
    if not grid:  # a single setting: still [1, seeds, ...]
        over_grid = lambda keys, hp: jax.tree.map(lambda x: x[None], over_seeds(keys, hp))  # noqa: E731
    result = jax.jit(over_grid)(jax.random.split(key, seeds), hp)
    metrics = {k: np.asarray(v) for k, v in jax.device_get(result.metrics).items()}
    return SweepResult(settings or [{}], metrics)


def confidence_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% normal-approximation interval, 1.96·s/√n, over the
    finite values (half-width 0 for fewer than two)."""
    ok = np.asarray(values, dtype=float)
    ok = ok[np.isfinite(ok)]
    if len(ok) == 0:
        return math.nan, math.nan
    half = 1.96 * ok.std(ddof=1) / math.sqrt(len(ok)) if len(ok) > 1 else 0.0
    return float(ok.mean()), float(half)


class Row(NamedTuple):
    setting: dict[str, float]
    mean: float
    ci: float
    per_seed: list[float]


def summarize(result: SweepResult, last: int = 10) -> list[Row]:
    """Per setting: the final return (mean over the last ``last`` updates) of every seed,
    their mean and 95% interval."""
    rows = []
    for i, setting in enumerate(result.settings):
        finals = [
            final_return({"episode_return": r}, last) for r in result.metrics["episode_return"][i]
        ]
        rows.append(Row(setting, *confidence_interval(np.array(finals)), finals))
    return rows


def _label(setting: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "(config)"


def table(result: SweepResult, config: Config) -> str:
    """A markdown table of ``summarize``, best setting first."""
    rows = sorted(summarize(result), key=lambda r: -r.mean if math.isfinite(r.mean) else math.inf)
    seeds = result.metrics["episode_return"].shape[1]
    lines = [
        f"{config.algo} on {config.env}, {config.num_updates * config.batch_size:,} steps, "
        f"{seeds} seeds per setting (the same seeds for all)",
        "",
        "| setting | final return | 95% CI ± |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {_label(r.setting)} | {r.mean:.1f} | {r.ci:.1f} |" for r in rows]
    return "\n".join(lines) + "\n"


def plot(result: SweepResult, config: Config, path: str | Path) -> Path:
    """Learning curves, one per setting: the mean over seeds with a 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result.metrics["timesteps"][0, 0]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, setting in enumerate(result.settings):
        curves = result.metrics["episode_return"][i]  # [seeds, updates]
        n = np.maximum(np.isfinite(curves).sum(0), 1)
        with warnings.catch_warnings():  # updates in which no seed finished an episode: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(curves, 0)
            half = 1.96 * np.nanstd(curves, 0, ddof=1 if curves.shape[0] > 1 else 0) / np.sqrt(n)
        ax.plot(steps, mean, lw=1.2, label=_label(setting))
        ax.fill_between(steps, mean - half, mean + half, alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return")
    ax.set_title(f"{config.algo} on {config.env}: mean over seeds, 95% band")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    path = Path(path)
    path.write_bytes(buffer.getvalue())
    return path


__all__ = [
    "Row",
    "SweepResult",
    "confidence_interval",
    "grid_points",
    "plot",
    "summarize",
    "sweep",
    "table",
]
