"""Every benchmark script runs in its --quick mode and prints its table."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.benchmarks
@pytest.mark.parametrize(
    ("script", "expected", "args"),
    [
        ("throughput.py", "pgjax / reference", []),
        ("throughput.py", "| CartPole-v1 | ppo_clip | seeds | 4 | 4 x 128 |", ["--scaling"]),
        ("learning.py", "| CartPole-v1 | ppo_clip |", []),
        ("learning.py", "| CartPole-v1 | 99,840 | 2 |", ["--reference"]),
        ("ppo_variants.py", "| clipping, ε 0.2 |", []),
        ("family.py", "| ppo_clip |", []),
        ("seed_claims.py", "baseline", []),
        ("scale.py", "| data parallel |", []),
        ("same_numbers.py", "same numbers", []),
        ("memory.py", "| Cue-v0 | gru 32 |", []),
        ("tracking.py", "| tensorboard |", []),
        ("throughput.py", "| CartPole-v1 | gru 128 |", ["--memory", "--env", "CartPole-v1"]),
    ],
)
def test_quick_mode_runs(script, expected, args, tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "device:" in out.stdout
    assert expected in out.stdout, out.stdout[-2000:]


@pytest.mark.benchmarks
def test_the_speed_reference_learns_cartpole():
    # throughput.py times pgjax against reference_ppo.py: a fair reference must learn the task
    sys.path.insert(0, str(BENCHMARKS))
    import jax
    import numpy as np
    import reference_ppo

    from pgjax import Config

    train = reference_ppo.make_train(reference_ppo.from_pgjax(Config()))
    _, metrics = jax.jit(train)(jax.random.key(0))
    assert np.nanmean(np.asarray(metrics["episode_return"])[-20:]) > 400
