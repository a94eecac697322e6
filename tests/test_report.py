"""benchmarks/report.py, which writes the learning table and the docs' results pages: its
numbers are the statistics of the saved runs, computed here again from first principles."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import report
from common import save_npz


def save_run(folder, env, algo, finals, key):
    """A run whose seeds end at ``finals`` (constant over the last 10 updates)."""
    returns = np.tile(np.asarray(finals, float)[:, None], (1, 30))
    returns[:, :10] = -1.0  # the first updates: the untrained policy
    save_npz(
        str(folder / f"{env}__{algo}.npz"),
        env=env,
        algo=algo,
        steps=np.arange(1, 31) * 1000,
        returns=returns,
        compile_s=1.0,
        run_s=2.0,
        setting="preset",
        revision="abc1234",
        key=key,
    )


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    for env in report.SUITES["classic control"]:
        lo, hi = {"CartPole-v1": (20, 500), "Acrobot-v1": (-500, -80)}.get(env, (-1000, 0))
        for algo in ("ppo_clip", "a2c"):
            save_run(tmp_path, env, algo, rng.uniform(lo, hi, size=6), key=99)
    save_run(tmp_path, "CartPole-v1", "trpo", [500.0] * 7 + [10.0], key=0)
    random = {e: {"mean": -10.0 if e != "CartPole-v1" else 20.0} for e in report.ENVS}
    (tmp_path / report.RANDOM_FILE).write_text(json.dumps(random))
    return tmp_path


def test_table_row_is_the_runs_statistics(runs):
    rows = report.table(report.saved_runs(str(runs)))
    row = next(r for r in rows if "| CartPole-v1 | trpo |" in r)
    # 8 seeds, 7 at 500 and one failed at 10: IQM 500, mean 438.75, worst 10. A resample
    # draws the failed seed k ~ Binomial(8, 1/8) times; k >= 3 leaves k - 2 of them among the
    # middle four: P(k >= 3) = 0.067 and P(k >= 4) = 0.011 put the 2.5% quantile at k = 3,
    # an IQM of (10 + 3 * 500) / 4 = 377.5
    assert "| 8 | 0 (searched on) | -1.00 | 500.0 [377.5, 500.0] | 438.8 | 10.0 | 500.0 |" in row
    assert "| 99 |" in next(r for r in rows if "| Acrobot-v1 | a2c |" in r)


def test_aggregate_is_the_iqm_of_normalised_scores(runs):
    all_runs = report.saved_runs(str(runs))
    random = report.random_returns(str(runs))
    agg = report.aggregate(all_runs, "classic control", random)
    assert set(agg) == {"ppo_clip", "a2c"}  # trpo has CartPole only: not aggregated
    pooled = []
    for env in report.SUITES["classic control"]:
        r = next(r for r in all_runs if r["env"] == env and r["algo"] == "a2c")
        pooled += list((r["finals"] - random[env]) / (report.ANCHORS[env] - random[env]))
    pooled = np.sort(pooled)  # 24 runs: the middle 12
    assert agg["a2c"]["iqm"] == pytest.approx(pooled[6:18].mean())
    assert agg["a2c"]["low"] <= agg["a2c"]["iqm"] <= agg["a2c"]["high"]
    assert agg["a2c"]["below_half"] == pytest.approx(np.mean(pooled <= 0.5))


def test_suite_page_has_its_tables_and_images(runs):
    text, images = report.suite_page(str(runs), "classic control", image_prefix="x_")
    assert "| anchor | 500.0 | -80.0 | -130.0 | 92.0 |" in text
    assert "![aggregate](x_classic_control_aggregate.png)" in text
    assert set(images) == {"x_classic_control_aggregate.png", "x_classic_control_curves.png"}
    assert all(png.startswith(b"\x89PNG") for png in images.values())


def test_readme_headline_is_the_learning_table():
    """The README's PPO-Clip figures are the learning table's rows, not retyped numbers."""
    root = Path(__file__).resolve().parents[1]
    line = next(
        row
        for row in (root / "README.md").read_text().splitlines()
        if row.startswith("| PPO-Clip, IQM")
    )
    what, result, _ = (cell.strip() for cell in line.strip("|").split("|"))
    envs = what.split(": ")[1].split(" / ")
    figures = result.replace("−", "-").split(" / ")
    assert len(envs) == len(figures) == 3
    rows = (root / "benchmarks/results/learning_cpu.md").read_text().splitlines()
    header = next(r for r in rows if r.startswith("| env |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    iqm, key = columns.index("IQM [95% CI]"), columns.index("key")
    for env, figure in zip(envs, figures, strict=True):
        row = next(r for r in rows if r.startswith(f"| {env} | ppo_clip |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[iqm] == figure, (env, cells[iqm], figure)
        assert cells[key] == "99", f"{env}: the README's row must be on the held-out key 99"
