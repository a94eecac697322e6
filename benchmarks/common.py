"""What the benchmark scripts share: a timed vmapped run and its summary over seeds."""

from __future__ import annotations

import time

import jax
import numpy as np

from pgjax import Config, make_train
from pgjax.progress import final_return
from pgjax.sweep import confidence_interval


def vmapped_run(config: Config, seeds: int) -> tuple[dict[str, np.ndarray], float, float]:
    """Train ``seeds`` runs of ``config`` in one compiled call: (host metrics
    ``[seeds, num_updates]``, compile seconds, run seconds)."""
    keys = jax.random.split(jax.random.key(0), seeds)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = jax.block_until_ready(compiled(keys)).metrics
    run_s = time.perf_counter() - start
    return {k: np.asarray(v) for k, v in metrics.items()}, compile_s, run_s


def final_returns(metrics: dict[str, np.ndarray], last: int = 10) -> np.ndarray:
    """Per seed, ``pgjax.progress.final_return`` of that seed's run ``[seeds]``."""
    return np.array(
        [final_return({"episode_return": r}, last) for r in np.asarray(metrics["episode_return"])]
    )


def mean_and_ci(values: np.ndarray) -> str:
    """ "mean ± half-width of a 95% normal-approximation interval" over the finite values
    (``pgjax.sweep.confidence_interval``)."""
    mean, half = confidence_interval(values)
    return f"{mean:.1f} ± {half:.1f}"


def write_table(lines: list[str], out: str | None) -> None:
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
