"""Statistics for reporting learning results over few seeds, after Agarwal et al. 2021
("Deep Reinforcement Learning at the Edge of the Statistical Precipice"): the interquartile
mean, stratified bootstrap confidence intervals, performance profiles and the probability of
improvement. NumPy and SciPy only (``scipy.stats.trim_mean``, ``scipy.stats.bootstrap``).

Scores come as ``tasks``: one 1-D array per task (an environment; a stratum of the
bootstrap) of the final scores of its runs (seeds), ``[runs_t]``; the tasks may have
different numbers of runs. A stratified bootstrap resamples the runs of each task with
replacement, independently of the other tasks, so that every resample keeps each task's
number of runs: the interval says how much the statistic moves with the seeds, not with which
tasks happened to be drawn.

    from pgjax.tools.stats import iqm, stratified_interval
    stratified_interval([cartpole_scores, acrobot_scores], iqm)   # Interval(point, low, high)

Every function refuses an empty task or a non-finite score by name: a diverged seed is the
caller's to count (as the worst score, or apart), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.stats

__all__ = [
    "Interval",
    "improvement_interval",
    "iqm",
    "performance_profile",
    "probability_of_improvement",
    "profile_interval",
    "stratified_interval",
]

Tasks = Sequence[Sequence[float] | np.ndarray]
"""One 1-D array of run scores per task, ``[runs_t]`` each."""


class Interval(NamedTuple):
    """A statistic and its confidence interval: ``point`` on the runs as they are, ``low`` and
    ``high`` the percentile interval of the stratified bootstrap (floats, or arrays shaped as
    the statistic for a vector statistic)."""

    point: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


def iqm(scores: np.ndarray, axis: int | None = -1) -> float | np.ndarray:
    """The interquartile mean: the mean of the middle half of ``scores`` along ``axis``,
    after dropping ``floor(n / 4)`` of the lowest and as many of the highest of its ``n``
    values (``scipy.stats.trim_mean(scores, 0.25)``). Robust to a quarter of the runs being
    outliers at either end, and, unlike the median, it uses half of the runs.

    ``scores``: ``[..., n]`` (``axis=-1``) or any shape with ``axis=None`` (all values)."""
    return scipy.stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def _checked(tasks: Tasks, name: str = "tasks") -> list[np.ndarray]:
    """The tasks as 1-D float arrays, or a ``ValueError`` naming the task that is empty,
    not one-dimensional, or holds a non-finite score."""
    if len(tasks) == 0:
        raise ValueError(f"{name}: no tasks; give one 1-D array of run scores per task")
    out = []
    for i, t in enumerate(tasks):
        a = np.asarray(t, dtype=float)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(
                f"{name}[{i}]: shape {a.shape}; each task is a non-empty 1-D array of run scores"
            )
        if not np.all(np.isfinite(a)):
            bad = np.flatnonzero(~np.isfinite(a)).tolist()
            raise ValueError(
                f"{name}[{i}]: runs {bad} are not finite; count a diverged run as a score "
                "(for example the task's worst) or leave it out before calling"
            )
        out.append(a)
    return out


def _pooled(statistic: Callable) -> Callable:
    """``statistic`` of the runs of every task pooled, as ``scipy.stats.bootstrap`` calls a
    vectorised statistic of several samples (each ``[..., runs_t]``)."""

    def pooled(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(np.concatenate(samples, axis=axis), axis=axis)

    return pooled


def _bootstrap(
    samples: list[np.ndarray],
    statistic: Callable,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of ``statistic(*samples, axis=-1)`` over ``resamples``
    stratified resamples (each sample resampled on its own)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: a level strictly between 0 and 1")
    if resamples < 1:
        raise ValueError(f"resamples={resamples}: at least 1")
    if any(len(s) < 2 for s in samples):
        # one run gives a degenerate bootstrap (every resample the same): no interval to report
        point = statistic(*[s[None] for s in samples], axis=-1)[..., 0]
        nan = np.full(np.shape(point), np.nan)
        return nan, nan
    result = scipy.stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(seed),
    )
    return np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x)


def stratified_interval(
    tasks: Tasks,
    statistic: Callable = iqm,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``statistic`` of the runs of every task pooled, with its stratified bootstrap interval.

    ``tasks``: one array ``[runs_t]`` per task (a single task gives the ordinary bootstrap
    over its runs). ``statistic(x, axis)``: a function of the pooled scores along ``axis``
    (``iqm``, ``np.mean``, ``np.median``...), vectorised over the other axes. The interval is
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the statistic over
    ``resamples`` resamples, each drawing ``runs_t`` runs with replacement from every task
    (NaN where a task has a single run: one run has no spread to resample). ``seed`` fixes the
    resampling, so that a table is rebuilt to the same digits."""
    samples = _checked(tasks)
    pooled = _pooled(statistic)
    point = pooled(*[s[None] for s in samples], axis=-1)[0]
    low, high = _bootstrap(samples, pooled, confidence, resamples, seed)
    return Interval(_scalar(point), _scalar(low), _scalar(high))


def _profile(thresholds: np.ndarray) -> Callable:
    """The performance profile at ``thresholds`` of the tasks given as separate samples,
    vectorised: ``[..., runs_t]`` each -> ``[len(thresholds), ...]``."""

    def profile(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        per_task = [
            np.mean(np.moveaxis(s, axis, -1)[..., None, :] > thresholds[:, None], axis=-1)
            for s in samples
        ]  # each [..., thresholds]
        return np.moveaxis(np.mean(per_task, axis=0), -1, 0)

    return profile


def performance_profile(tasks: Tasks, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """The run-score distribution: at each threshold τ, the fraction of runs whose score
    exceeds τ, averaged over tasks,

        F(τ) = (1 / T) Σ_t (1 / n_t) Σ_i 1[x_{t,i} > τ],

    ``[len(thresholds)]``, non-increasing in τ. With scores normalised by each task's anchor,
    F(1) is the share of runs that beat the anchor."""
    samples = _checked(tasks)
    tau = np.asarray(thresholds, dtype=float)
    return _profile(tau)(*[s[None] for s in samples], axis=-1)[:, 0]


def profile_interval(
    tasks: Tasks,
    thresholds: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``performance_profile`` at ``thresholds`` with a pointwise stratified bootstrap
    interval at each threshold (arrays ``[len(thresholds)]``)."""
    samples = _checked(tasks)
    tau = np.asarray(thresholds, dtype=float)
    low, high = _bootstrap(samples, _profile(tau), confidence, resamples, seed)
    return Interval(performance_profile(samples, tau), low, high)


def _improvement(tasks: int) -> Callable:
    """P(X > Y) of ``tasks`` X samples followed by as many Y samples, vectorised."""

    def improvement(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        xs = [np.moveaxis(s, axis, -1) for s in samples[:tasks]]
        ys = [np.moveaxis(s, axis, -1) for s in samples[tasks:]]
        per_task = []
        for x, y in zip(xs, ys, strict=True):
            above, tied = x[..., :, None] > y[..., None, :], x[..., :, None] == y[..., None, :]
            per_task.append(np.mean(above + 0.5 * tied, axis=(-2, -1)))
        return np.mean(per_task, axis=0)

    return improvement


def probability_of_improvement(x_tasks: Tasks, y_tasks: Tasks) -> float:
    """The probability that a run of algorithm X scores above a run of algorithm Y on the
    same task, averaged over tasks (ties count one half: the Mann-Whitney U statistic over
    ``n_t · m_t``),

        P(X > Y) = (1 / T) Σ_t (1 / (n_t m_t)) Σ_i Σ_j S(x_{t,i}, y_{t,j}),
        S(x, y) = 1 if x > y, ½ if x = y, else 0.

    ``x_tasks`` and ``y_tasks``: the same tasks in the same order. P(X > Y) + P(Y > X) = 1."""
    xs, ys = _checked(x_tasks, "x_tasks"), _checked(y_tasks, "y_tasks")
    if len(xs) != len(ys):
        raise ValueError(f"x_tasks has {len(xs)} tasks and y_tasks {len(ys)}: give the same")
    return float(_improvement(len(xs))(*[s[None] for s in xs + ys], axis=-1)[0])


def improvement_interval(
    x_tasks: Tasks,
    y_tasks: Tasks,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``probability_of_improvement`` with its stratified bootstrap interval (the runs of
    each algorithm on each task resampled on their own)."""
    point = probability_of_improvement(x_tasks, y_tasks)
    samples = _checked(x_tasks, "x_tasks") + _checked(y_tasks, "y_tasks")
    low, high = _bootstrap(samples, _improvement(len(x_tasks)), confidence, resamples, seed)
    return Interval(point, _scalar(low), _scalar(high))
