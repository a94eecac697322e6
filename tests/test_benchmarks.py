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
        ("throughput.py", "of the ceiling", []),
        ("throughput.py", "| CartPole-v1 | ppo_clip | seeds | 4 | 4 x 128 |", ["--scaling"]),
        ("learning.py", "| CartPole-v1 | ppo_clip |", []),
        ("ppo_variants.py", "| clipping, ε 0.2 |", []),
        ("family.py", "| ppo_clip |", []),
        ("seed_claims.py", "baseline", []),
        ("scale.py", "| data parallel |", []),
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
