"""A config fuzz (issue 39): every config that ``Config(...)`` accepts either trains with finite
losses or is refused before compiling with a ``ValueError`` naming the field and what is
allowed, or stops with the divergence error naming the update. Random configs over every
registered algorithm on a discrete and a continuous environment, their values drawn from the
edges (learning rates from 1e-6 to 1, γ and λ at 0 and 1, a norm clip of 1e-8, one environment,
one step, one minibatch...). ``python -m tests.test_fuzz`` prints the table of outcomes."""

from __future__ import annotations

import collections
import os
import re

import numpy as np
import pytest

from pgjax import Config, algorithms
from pgjax.tools.chunks import LOSS_METRICS, DivergedError, train_in_chunks
from pgjax.tools.session import preflight

ENVS = ("CartPole-v1", "Pendulum-v1")
# configs per (algorithm, environment): 10 algorithms x 2 x 2 = 40 in the default run (each
# compiles its own program: seconds); PGJAX_FUZZ_PER_PAIR=5 draws 100
PER_PAIR = int(os.environ.get("PGJAX_FUZZ_PER_PAIR", "2"))

CHOICES = {
    "gamma": [0.0, 0.5, 0.99, 1.0],
    "gae_lambda": [0.0, 0.95, 1.0],
    "max_grad_norm": [1e-8, 0.5, 1e3],
    "num_envs": [1, 2, 4],
    "num_steps": [1, 2, 8],
    "num_minibatches": [1, 2, 4],
    "num_epochs": [1, 3],
    "clip_eps": [0.0, 0.2, 1.0, 10.0],
    "ent_coef": [0.0, 0.01, 1.0],
    "vf_coef": [0.0, 0.5, 100.0],
    "reward_scale": [1e-3, 1.0, 1e3],
    "normalize_obs": [False, True],
    "normalize_advantages": [False, True],
    "anneal_lr": [False, True],
    "vf_clip": [False, True],
}
SETTINGS = {  # each drawn only for the algorithms that declare it
    "return_type": ["episode", "reward_to_go"],
    "baseline": ["none", "mean", "critic"],
    "kl_beta": [0.0, 1.0, 100.0],
    "kl_target": [None, 1e-4, 1.0],
    "max_kl": [1e-8, 0.01, 10.0],
    "cg_iters": [1, 10],
    "cg_damping": [0.0, 0.1, 10.0],
    "line_search_steps": [1, 10],
    "rho_bar": [0.1, 1.0, float("inf")],
    "c_bar": [0.1, 1.0, float("inf")],
}


def draw(rng: np.random.Generator, algo: str, env: str) -> dict:
    """One random config's fields: a learning rate log-uniform in [1e-6, 1], about half of the
    other fields drawn from ``CHOICES``, and a budget of a few updates."""
    fields = {"algo": algo, "env": env, "lr": float(10 ** rng.uniform(-6, 0))}
    own = algorithms.settings_of(algo)
    for name, values in [*CHOICES.items(), *SETTINGS.items()]:
        if rng.random() < 0.5 and (name in CHOICES or name in own):
            fields[name] = values[rng.integers(len(values))]
    return fields


def configs(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        draw(rng, algo, env)
        for algo in algorithms.names()
        for env in ENVS
        for _ in range(PER_PAIR)
    ]  # fmt: skip


def outcome(fields: dict) -> tuple[str, str]:
    """``("refused", field)``, ``("finite", "")`` or ``("diverged", "")``; anything else
    raises (the fuzz's failure)."""
    try:
        config = Config(**fields)
        # a few updates: each batch is at most 4 x 8 steps
        config = config.replace(total_timesteps=3 * config.batch_size)
        preflight(config)
    except ValueError as error:
        named = re.search(r"Config\.(\w+)|setting (\w+)=", str(error))
        assert named, f"{fields}: a refusal that names no field: {error}"
        return "refused", named.group(1) or named.group(2)
    try:
        result = train_in_chunks(config, _key(), num_chunks=1)
    except DivergedError as error:
        assert "diverged at update" in str(error), error
        return "diverged", ""
    for name in LOSS_METRICS:
        if name in result.metrics:
            assert np.isfinite(result.metrics[name]).all(), (fields, name)
    for name, values in result.metrics.items():
        # NaN where no episode (episode_*) or no group of episodes (group_*) ended
        if not name.startswith(("episode_", "group_")):
            assert not np.isnan(values).any(), f"{fields}: {name} is NaN: {values}"
    return "finite", ""


def _key():
    import jax

    return jax.random.key(0)


CONFIGS = configs()


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_every_accepted_config_trains_finite_or_is_refused_by_name(index):
    fields = CONFIGS[index]
    kind, _ = outcome(fields)
    assert kind in ("refused", "finite", "diverged")


def table() -> str:
    counts = collections.Counter()
    for fields in CONFIGS:
        kind, field = outcome(fields)
        counts[(fields["algo"], kind if kind != "refused" else f"refused by {field}")] += 1
    lines = ["| algorithm | outcome | configs |", "| --- | --- | --- |"]
    lines += [f"| {a} | {k} | {n} |" for (a, k), n in sorted(counts.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"{len(CONFIGS)} configs")
    print(table())
