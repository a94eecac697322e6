"""The learning results as a paper reports them, from the runs ``learning.py`` saved: per row
the interquartile mean of the seeds' final returns with its 95% bootstrap interval, the mean
and the worst seed; per suite, each algorithm's anchor-normalised scores aggregated over the
suite's environments (IQM with a stratified bootstrap interval, ``pgjax.tools.stats``), and
their performance profiles. ``learning.py`` writes its table with it; the docs site builds
its results pages with it (``docs/hooks.py``) from the committed runs, so no number on them is
typed by hand.

A normalised score is ``(x - random) / (anchor - random)``: 0 for the uniformly random
policy (``random_returns``, measured by ``learning.py`` beside the runs), 1 for gymnax's
published PPO checkpoint.
"""

from __future__ import annotations

import glob
import io
import json
import os

import matplotlib
import numpy as np
from common import band, committed_in, final_returns

from pgjax.algorithms import names as algorithm_names
from pgjax.tools import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# gymnax's published PPO checkpoints (its README's table), for comparison
ANCHORS = {
    "CartPole-v1": 500.0,
    "Acrobot-v1": -80.0,
    "Pendulum-v1": -130.0,
    "MountainCarContinuous-v0": 92.0,
    "Breakout-MinAtar": 28.0,
    "SpaceInvaders-MinAtar": 131.0,
    "Asterix-MinAtar": 15.0,
    "Freeway-MinAtar": 58.0,
}
# Other suites, trained only when named (--env), with their extras installed; their anchors
# (Brax's inverted_pendulum: 1 per step for 1000 steps; the Control Suite's CartpoleBalance:
# a reward in [0, 1] per step for 1000 steps) and the published results they are compared
# with are in the README
SUITE_ANCHORS = {"brax/inverted_pendulum": 1000.0, "playground/CartpoleBalance": 1000.0}
SUITES = {
    "classic control": ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0"),
    "MinAtar": (
        "Breakout-MinAtar",
        "SpaceInvaders-MinAtar",
        "Asterix-MinAtar",
        "Freeway-MinAtar",
    ),
}
ENVS = [e for envs in SUITES.values() for e in envs]

TABLE_KEY = 99
"""The key the tables' seeds are split from (``jax.random.split(jax.random.key(99), seeds)``):
held out, no preset was searched on it. Presets are searched on ``SEARCH_KEYS``."""
SEARCH_KEYS = (0, 1000)
"""The keys preset searches split their seeds from (key 0 was also the tables' key before
issue 42: a row still measured on it says so)."""
RANDOM_FILE = "random_returns.json"
"""Beside the runs: each environment's uniformly random policy's mean return."""
RESAMPLES = 2000
"""Bootstrap resamples per interval (seeded: a rebuilt table has the same digits)."""


def saved_runs(runs_dir: str) -> list[dict]:
    """Every run saved in ``runs_dir`` (``<env>__<algo>.npz``), as ``load_runs``."""
    return load_runs(glob.glob(os.path.join(runs_dir, "*.npz")))


def load_runs(paths: list[str]) -> list[dict]:
    """The runs saved at ``paths``, in the order of ``ENVS`` and ``pgjax.algorithms.names()``.
    A run saved before runs recorded their key was split from key 0 (``common.vmapped_train``
    then), and its revision is the commit that added it."""
    runs = []
    for path in paths:
        with np.load(path) as f:
            r = {k: f[k].item() if f[k].ndim == 0 else f[k] for k in f.files}
        # from the saved curves, so that a rebuilt table follows final_return's definition
        r["finals"] = final_returns({"episode_return": r["returns"]})
        if "revision" not in r:
            r["revision"] = committed_in(path)
        r.setdefault("key", 0)
        runs.append(r)
    order = {e: i for i, e in enumerate(ENVS)}
    algos = {a: i for i, a in enumerate(algorithm_names())}
    return sorted(runs, key=lambda r: (order.get(r["env"], 99), algos.get(r["algo"], 99)))


def random_returns(runs_dir: str) -> dict[str, float]:
    """``{env: the random policy's mean return}`` saved beside the runs (empty if none)."""
    path = os.path.join(runs_dir, RANDOM_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {env: r["mean"] for env, r in json.load(f).items()}


def number(x: float) -> str:
    """A return as the tables print it: two decimals below 10 (returns in [0, 1]), else one."""
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def finite(finals: np.ndarray) -> np.ndarray:
    """The seeds' final returns, a seed with none (no episode ended in its last updates, or
    NaN) counted as the worst of the others: a failed seed is never dropped."""
    finals = np.asarray(finals, dtype=float)
    ok = np.isfinite(finals)
    return np.where(ok, finals, finals[ok].min() if ok.any() else 0.0)


def row_stats(finals: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Over one row's seeds: ``iqm`` with its 95% bootstrap interval (``low``, ``high``), the
    ``mean``, the ``worst`` seed, and the number of ``seeds``."""
    x = finite(finals)
    point, low, high = stats.stratified_interval([x], stats.iqm, resamples=RESAMPLES, seed=seed)
    return dict(iqm=point, low=low, high=high, mean=x.mean(), worst=x.min(), seeds=len(x))


def iqm_cell(s: dict[str, float]) -> str:
    """``IQM [low, high]``."""
    if np.isnan(s["low"]):
        return number(s["iqm"])
    return f"{number(s['iqm'])} [{number(s['low'])}, {number(s['high'])}]"


def key_cell(r: dict) -> str:
    """The key a row's seeds were split from, marked where presets were searched on it."""
    return f"{r['key']}" + (" (searched on)" if r["key"] in SEARCH_KEYS else "")


def first_return(returns: np.ndarray) -> float:
    """The untrained policy's return: the mean over seeds of the episodes that ended in the
    first 10 updates (``final_return`` of the curve read backwards)."""
    return float(np.mean(final_returns({"episode_return": returns[:, ::-1]})))


def table(runs: list[dict]) -> list[str]:
    """One row per run: its seeds' final returns as IQM [95% interval], mean and worst seed,
    beside the anchor; its key, budget and seconds."""
    lines = [
        "| env | algo | setting | steps | seeds | key | first return | IQM [95% CI] | mean "
        "| worst seed | anchor | run s | compile s | pgjax |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        s = row_stats(r["finals"])
        lines.append(
            f"| {r['env']} | {r['algo']} | {r['setting']} | {int(r['steps'][-1]):,} | "
            f"{s['seeds']} | {key_cell(r)} | {number(first_return(r['returns']))} | "
            f"{iqm_cell(s)} | {number(s['mean'])} | {number(s['worst'])} | "
            f"{ANCHORS.get(r['env'], SUITE_ANCHORS.get(r['env'], ''))} | "
            f"{r['run_s']:.0f} | {r['compile_s']:.0f} | {r['revision']} |"
        )
    return lines


def normalized(r: dict, random: dict[str, float]) -> np.ndarray:
    """A run's final returns normalised: ``(x - random) / (anchor - random)``."""
    lo, hi = random[r["env"]], ANCHORS[r["env"]]
    return (finite(r["finals"]) - lo) / (hi - lo)


def suite_runs(runs: list[dict], suite: str) -> dict[str, dict[str, dict]]:
    """``{algo: {env: run}}`` for the algorithms that have a run on every environment of
    ``suite`` (an aggregate over part of a suite would not compare)."""
    envs = SUITES[suite]
    by_algo: dict[str, dict[str, dict]] = {}
    for r in runs:
        if r["env"] in envs:
            by_algo.setdefault(r["algo"], {})[r["env"]] = r
    return {a: e for a, e in by_algo.items() if set(e) == set(envs)}


def aggregate(runs: list[dict], suite: str, random: dict[str, float]) -> dict[str, dict]:
    """Per algorithm complete on ``suite``: the IQM of its normalised scores over every seed
    of every environment with its stratified bootstrap interval (each environment a stratum),
    the mean, and the share of runs below half the anchor's normalised score."""
    out = {}
    for algo, by_env in suite_runs(runs, suite).items():
        tasks = [normalized(by_env[e], random) for e in SUITES[suite]]
        point, low, high = stats.stratified_interval(tasks, stats.iqm, resamples=RESAMPLES)
        mean = stats.stratified_interval(tasks, np.mean, resamples=RESAMPLES)
        below = 1.0 - stats.performance_profile(tasks, [0.5])[0]
        out[algo] = dict(iqm=point, low=low, high=high, mean=mean, below_half=below, tasks=tasks)
    return out


def suite_table(runs: list[dict], suite: str) -> list[str]:
    """Algorithms by environment of ``suite``: IQM [95% CI] of the final returns (seeds, key)."""
    envs = SUITES[suite]
    cells: dict[str, dict[str, str]] = {}
    for r in runs:
        if r["env"] in envs:
            s = row_stats(r["finals"])
            cells.setdefault(r["algo"], {})[r["env"]] = (
                f"{iqm_cell(s)}<br>worst {number(s['worst'])}; {s['seeds']} seeds, key {r['key']}"
            )
    lines = [
        "| algo | " + " | ".join(envs) + " |",
        "| --- |" + " --- |" * len(envs),
        "| anchor | " + " | ".join(f"{ANCHORS[e]}" for e in envs) + " |",
    ]
    for algo, row in cells.items():
        lines.append(f"| {algo} | " + " | ".join(row.get(e, "") for e in envs) + " |")
    return lines


def aggregate_table(runs: list[dict], suite: str, random: dict[str, float]) -> list[str]:
    """Per algorithm complete on ``suite``: normalised IQM [95% CI], mean [95% CI], the share
    of runs below half the anchor, and P(algorithm > PPO-Clip) [95% CI]."""
    agg = aggregate(runs, suite, random)
    lines = [
        "| algo | normalised IQM [95% CI] | normalised mean [95% CI] | runs below 0.5 "
        "| P(algo > ppo_clip) [95% CI] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for algo, a in agg.items():
        if "ppo_clip" in agg and algo != "ppo_clip":
            p = stats.improvement_interval(a["tasks"], agg["ppo_clip"]["tasks"], resamples=500)
            improvement = f"{p.point:.2f} [{p.low:.2f}, {p.high:.2f}]"
        else:
            improvement = ""
        m = a["mean"]
        lines.append(
            f"| {algo} | {a['iqm']:.2f} [{a['low']:.2f}, {a['high']:.2f}] | "
            f"{m.point:.2f} [{m.low:.2f}, {m.high:.2f}] | {a['below_half']:.0%} | {improvement} |"
        )
    return lines


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def aggregate_plot(runs: list[dict], suite: str, random: dict[str, float]) -> bytes:
    """Two panels: each algorithm's normalised IQM with its interval, and its performance
    profile (the share of runs above each normalised score) with pointwise intervals."""
    agg = aggregate(runs, suite, random)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(agg) + 2.2))
    names = list(agg)
    for i, algo in enumerate(names):
        a, color = agg[algo], f"C{algorithm_names().index(algo)}"
        left.plot([a["low"], a["high"]], [i, i], color=color, lw=6, alpha=0.5)
        left.plot([a["iqm"]], [i], "|", color="k", ms=14)
        tau = np.linspace(0.0, 1.5, 61)
        p = stats.profile_interval(a["tasks"], tau, resamples=500)
        right.plot(tau, p.point, color=color, label=algo)
        right.fill_between(tau, p.low, p.high, color=color, alpha=0.15)
    left.set_yticks(range(len(names)), names)
    left.axvline(1.0, color="k", ls=":", lw=1)
    left.set_xlabel("normalised IQM (0: random, 1: gymnax PPO), 95% CI")
    right.set_xlabel("normalised score τ")
    right.set_ylabel("share of runs with score > τ")
    right.axvline(1.0, color="k", ls=":", lw=1)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{suite}: {len(SUITES[suite])} environments", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def curves_plot(runs: list[dict], envs: list[str], wall_clock: bool = False) -> bytes:
    """Per environment, each algorithm's mean return over its seeds with a 95% band
    (``common.band``), against environment steps or against wall-clock seconds (compile
    included: a run is one compiled call whose updates all take the same time, so update
    ``i`` of ``n`` ends at ``compile + run * i / n``); one colour per algorithm."""
    envs = [e for e in envs if any(r["env"] == e for r in runs)]
    cols = min(4, len(envs))
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=False):
        for r in (r for r in runs if r["env"] == env):
            n = len(r["steps"])
            seconds = r["compile_s"] + r["run_s"] * np.arange(1, n + 1) / n
            color = f"C{algorithm_names().index(r['algo'])}"
            band(ax, seconds if wall_clock else r["steps"], r["returns"], r["algo"], color)
        if env in ANCHORS:
            ax.axhline(ANCHORS[env], color="k", ls=":", lw=1, label="gymnax PPO checkpoint")
        if env in SUITE_ANCHORS:
            ax.axhline(SUITE_ANCHORS[env], color="k", ls=":", lw=1, label="maximum")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("wall-clock seconds" if wall_clock else "environment steps")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(envs) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("episode return")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def suite_page(runs_dir: str, suite: str, image_prefix: str) -> tuple[str, dict[str, bytes]]:
    """A results page for ``suite``, in Markdown, and its images ``{file name: png}`` (named
    ``image_prefix + ...``): the per-environment table, the aggregate, its plot and the
    learning curves, every number computed here from the runs in ``runs_dir``."""
    runs = saved_runs(runs_dir)
    random = random_returns(runs_dir)
    slug = suite.replace(" ", "_").lower()
    images = {f"{image_prefix}{slug}_curves.png": curves_plot(runs, list(SUITES[suite]))}
    lines = [
        f"# {suite}",
        "",
        f"Generated when the site is built from the runs `benchmarks/learning.py` saved in "
        f"`benchmarks/results/learning_runs/` (commands: [the learning table](learning_cpu.md)). "
        f"Each cell: the interquartile mean of the seeds' final returns (the mean episode return "
        f"over each seed's last 10 updates) with its 95% bootstrap interval, the worst seed, the "
        f"seeds and the key they were split from (held out: {TABLE_KEY}; key 0 is where most "
        f"presets were searched, and a row still measured on it is not yet held out).",
        "",
        *suite_table(runs, suite),
        "",
    ]
    missing = [e for e in SUITES[suite] if e not in random]
    if suite_runs(runs, suite) and not missing:
        images[f"{image_prefix}{slug}_aggregate.png"] = aggregate_plot(runs, suite, random)
        lines += [
            "## Aggregate",
            "",
            "Scores normalised per environment, 0 for the uniformly random policy ("
            + ", ".join(f"{e} {number(random[e])}" for e in SUITES[suite])
            + ") and 1 for gymnax's PPO checkpoint; each algorithm that has every environment of "
            "the suite, its runs pooled, with stratified bootstrap intervals (each environment's "
            "seeds resampled apart). P(algo > ppo_clip): the chance that a run of the algorithm "
            "beats a run of PPO-Clip on the same environment, averaged over environments.",
            "",
            *aggregate_table(runs, suite, random),
            "",
            f"![aggregate]({image_prefix}{slug}_aggregate.png)",
            "",
        ]
    lines += [
        "## Learning curves",
        "",
        "Mean episode return over seeds with a 95% band, against environment steps.",
        "",
        f"![curves]({image_prefix}{slug}_curves.png)",
        "",
    ]
    return "\n".join(lines), images
