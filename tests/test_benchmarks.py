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
        (
            "preset_search.py",
            "| `Config(algo, env)` | 19,968 |",
            ["--env", "CartPole-v1", "--algo", "vtrace"],
        ),
        ("ppo_variants.py", "| clipping, ε 0.2 |", []),
        ("family.py", "| ppo_clip |", []),
        ("seed_claims.py", "baseline", []),
        ("scale.py", "| data parallel |", []),
        ("same_numbers.py", "same numbers", []),
        ("memory.py", "| Cue-v0 | gru 32 |", []),
        ("tracking.py", "| tensorboard |", []),
        ("throughput.py", "| CartPole-v1 | gru 128 |", ["--memory-cost", "--env", "CartPole-v1"]),
        ("throughput.py", "| (a) CartPole, the reference's network |", ["--memory"]),
        ("throughput.py", "agents: 2 runs vmapped", ["--agents", "2"]),
        ("recurrent_step.py", "instructions per scanned step", []),
        ("stop_time.py", "checkpoint of the updates done saved: median", []),
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
def test_the_accelerator_script_runs_quick(tmp_path):
    out = subprocess.run(
        ["bash", str(BENCHMARKS / "accelerator.sh"), "--quick"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=BENCHMARKS.parent,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("pgjax / reference") >= 2
    assert "(c) MaskedCartPole-v1 preset" in out.stdout
    report = out.stdout.strip().splitlines()[-1].removeprefix("wrote ")
    assert Path(report).read_text().count("## python benchmarks/throughput.py") >= 3


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
