"""Hyperparameter grids × seeds as one vmapped, jit-compiled function.

Only the traceable hyperparameters (``pgjax.pipeline.config.HParams``: lr, gamma, clip_eps, …) can
be swept this way, since sizes and choices shape the compiled program. Every setting is trained
with the same seeds (common random numbers), so differences between settings are not seed luck.

    from pgjax.tools.sweep import sweep, summarize
    result = sweep(Config(), {"lr": [1e-4, 3e-4, 1e-3]}, seeds=8)
    for row in summarize(result): print(row)
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.core.hparams import HParams
from pgjax.pipeline.config import Config
from pgjax.pipeline.train import make_train
from pgjax.tools.chunks import diverged_updates, final_return, params_finite
from pgjax.tools.folders import write_atomic

Array = jax.Array


class SweepResult(NamedTuple):
    """``settings``: one dict per grid point (swept field → value), in grid order.
    ``metrics``: dict of host arrays ``[settings, seeds, num_updates]``.
    ``diverged``: bool ``[settings, seeds]``, where a loss or the final parameters went
    non-finite (``pgjax.tools.chunks.LOSS_METRICS``): such a run has no meaningful return."""

    settings: list[dict[str, float]]
    metrics: dict[str, np.ndarray]
    diverged: np.ndarray


def sweepable(config: Config) -> list[str]:
    """What ``config`` can sweep in one compilation: the ``HParams`` fields, then its
    algorithm's traced settings."""
    return config.hparams().names()


def grid_points(
    grid: Mapping[str, Sequence[float]], config: Config | None = None
) -> list[dict[str, float]]:
    """The cartesian product of ``grid``, each value once (a value listed twice is trained
    once, with a warning); ``ValueError`` for a name that cannot be swept (a field of
    ``HParams`` or a traced setting of ``config``'s algorithm)."""
    allowed = sweepable(config if config is not None else Config())
    for name, values in grid.items():
        if name not in allowed:
            raise ValueError(
                f"Config.{name} cannot be swept without recompiling; sweepable here: "
                f"{', '.join(allowed)}"
            )
        if len(values) == 0:
            raise ValueError(f"sweep: no values given for {name}")
    unique = {name: list(dict.fromkeys(map(float, values))) for name, values in grid.items()}
    for name, values in grid.items():
        if len(unique[name]) < len(values):
            warnings.warn(
                f"sweep: {name} lists a value more than once ({list(values)}); each value is "
                "trained once",
                stacklevel=3,
            )
    names = list(unique)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*unique.values())]


def iter_sweep(
    config: Config,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    key: Array | None = None,
    on_update: Callable[[dict], None] | None = None,
    *,
    per_call: int | None = None,
    skip: int = 0,
) -> Iterator[SweepResult]:
    """Train every point of ``grid`` with ``seeds`` seeds, ``per_call`` settings per compiled
    call (default: all of them in one), yielding each call's ``SweepResult`` as it finishes,
    so that a caller keeps what is done if it stops early. Every call runs the same compiled
    function (the last group is padded with its last setting, whose rows are dropped).
    ``skip``: leave out the first ``skip`` calls (those a continued sweep has already): the
    others are the calls an uninterrupted sweep makes, bit for bit.

    Each swept value is checked as the ``Config`` field it replaces (``ValueError`` naming it).
    ``on_update`` hears updates counted across the calls made: ``1 … num_updates × calls``.
    """
    settings = grid_points(grid, config)
    for setting in settings:
        config.replace(**setting).validate()
    settings = settings or [{}]
    per_call = len(settings) if per_call is None else per_call
    if per_call < 1:
        raise ValueError(f"sweep: per_call={per_call}: must be a positive integer")
    keys = jax.random.split(jax.random.key(0) if key is None else key, seeds)
    offset = [0]  # updates of the calls already done, for on_update

    def report(info: dict) -> None:
        on_update({**info, "update": info["update"] + offset[0]})

    train = make_train(config, report if on_update is not None else None)

    def one(key: Array, hp: HParams):
        result = train(key, hp)
        return result.metrics, ~params_finite(result.state.params)

    over_seeds = jax.vmap(one, in_axes=(0, None))
    base = config.hparams()
    axes = base.axes(grid)
    if grid:
        run = jax.jit(jax.vmap(over_seeds, in_axes=(None, axes)))
    else:  # a single setting: still [1, seeds, ...]
        run = jax.jit(lambda keys, hp: jax.tree.map(lambda x: x[None], over_seeds(keys, hp)))
    for start in range(skip * per_call, len(settings), per_call):
        group = settings[start : start + per_call]
        padded = group + group[-1:] * (per_call - len(group))
        hp = base.set(**{n: jnp.asarray([s[n] for s in padded], jnp.float32) for n in grid})
        metrics, bad_params = jax.device_get(run(keys, hp))
        metrics = {k: np.asarray(v)[: len(group)] for k, v in metrics.items()}
        diverged = np.asarray(bad_params)[: len(group)] | diverged_updates(metrics).any(-1)
        offset[0] += config.num_updates
        yield SweepResult(group, metrics, diverged)


# ---- a sweep's folder: what it was asked, and each call's result as it finishes ------------

SWEEP_FILE = "sweep.json"
"""What a sweep folder's sweep was asked (config, grid, seeds, settings per call)."""
CALLS_FOLDER = "calls"
"""The folder of a sweep folder that holds each finished call's ``SweepResult``."""


def request(config: Config, grid: Mapping[str, Sequence[float]], seeds: int, per_call: int) -> dict:
    """What ``sweep.json`` records of a sweep, as JSON values: every ``Config`` field, the
    grid (each value once, in order), the seeds and the settings per call."""
    unique = {name: list(dict.fromkeys(map(float, values))) for name, values in grid.items()}
    body = {
        "config": dataclasses.asdict(config),
        "grid": unique,
        "seeds": seeds,
        "per_call": per_call,
    }
    return json.loads(json.dumps(body))


def difference(recorded: dict, asked: dict) -> str | None:
    """What differs between two ``request``s, in words naming the first field that does
    (``None`` if nothing does)."""
    for part, word in (("grid", "grid"), ("seeds", "seeds"), ("per_call", "--per-call")):
        if recorded.get(part) != asked[part]:
            return f"{word} {_shown(asked[part])}, recorded {_shown(recorded.get(part))}"
    before, now = recorded.get("config", {}), asked["config"]
    for name in now:
        if before.get(name) != now[name]:
            return f"Config.{name}={now[name]!r}, recorded {before.get(name)!r}"
    return None


def _shown(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}={','.join(f'{v:g}' for v in vs)}" for k, vs in value.items())
    return repr(value)


def save_call(out: str | Path, index: int, part: SweepResult) -> Path:
    """Write call ``index``'s result to ``out/calls/NNNN.npz``, atomically."""
    folder = Path(out) / CALLS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        settings=np.array(json.dumps(part.settings)),
        diverged=part.diverged,
        **{f"metric.{k}": v for k, v in part.metrics.items()},
    )
    path = folder / f"{index:04d}.npz"
    write_atomic(path, buffer.getvalue())
    return path


def load_calls(out: str | Path, settings: Sequence[dict], per_call: int) -> list[SweepResult]:
    """The calls ``save_call`` wrote in ``out``, from the first up to the first missing: each
    a ``SweepResult`` that must hold its group of ``settings`` (``ValueError`` naming the file
    otherwise)."""
    parts, folder = [], Path(out) / CALLS_FOLDER
    for index, start in enumerate(range(0, len(settings), per_call)):
        path = folder / f"{index:04d}.npz"
        if not path.is_file():
            break
        try:
            with np.load(path) as data:
                held = json.loads(str(data["settings"]))
                metrics = {k[7:]: data[k] for k in data.files if k.startswith("metric.")}
                part = SweepResult(held, metrics, data["diverged"])
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{path}: not a finished call of this sweep ({error})") from None
        if held != list(settings[start : start + per_call]):
            raise ValueError(f"{path}: holds the settings {held}, not this sweep's")
        parts.append(part)
    return parts


def merge(parts: Sequence[SweepResult]) -> SweepResult:
    """One ``SweepResult`` of several (e.g. ``iter_sweep``'s), settings in order."""
    return SweepResult(
        [s for p in parts for s in p.settings],
        {k: np.concatenate([p.metrics[k] for p in parts]) for k in parts[0].metrics},
        np.concatenate([p.diverged for p in parts]),
    )


def sweep(
    config: Config,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    key: Array | None = None,
    on_update: Callable[[dict], None] | None = None,
    *,
    per_call: int | None = None,
) -> SweepResult:
    """Train every point of ``grid`` with ``seeds`` seeds: by default in one compiled call
    (see ``iter_sweep``)."""
    return merge(list(iter_sweep(config, grid, seeds, key, on_update, per_call=per_call)))


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
    """A setting's final returns: ``mean`` and ``ci`` over its seeds (NaN if any seed
    ``diverged``: a diverged setting has no return), ``per_seed`` (NaN where diverged)."""

    setting: dict[str, float]
    mean: float
    ci: float
    per_seed: list[float]
    diverged: int


def summarize(result: SweepResult, last: int = 10) -> list[Row]:
    """Per setting: the final return (mean over the last ``last`` updates) of every seed,
    their mean and 95% interval, and how many seeds diverged."""
    rows = []
    for i, setting in enumerate(result.settings):
        finals = np.array(
            [final_return({"episode_return": r}, last) for r in result.metrics["episode_return"][i]]
        )
        bad = result.diverged[i]
        finals[bad] = np.nan
        mean, ci = confidence_interval(finals) if not bad.any() else (math.nan, math.nan)
        rows.append(Row(setting, mean, ci, finals.tolist(), int(bad.sum())))
    return rows


def _label(setting: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "(config)"


def _cells(row: Row, seeds: int) -> str:
    if row.diverged:
        return f"diverged ({row.diverged} of {seeds} seeds) | "
    return f"{row.mean:.1f} | {row.ci:.1f}"


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
    lines += [f"| {_label(r.setting)} | {_cells(r, seeds)} |" for r in rows]
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
        label = _label(setting) + (" (diverged)" if result.diverged[i].any() else "")
        ax.plot(steps, mean, lw=1.2, label=label)
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
    write_atomic(path, buffer.getvalue())
    return path


__all__ = [
    "CALLS_FOLDER",
    "SWEEP_FILE",
    "Row",
    "SweepResult",
    "confidence_interval",
    "difference",
    "grid_points",
    "iter_sweep",
    "load_calls",
    "merge",
    "plot",
    "request",
    "save_call",
    "summarize",
    "sweep",
    "table",
]
