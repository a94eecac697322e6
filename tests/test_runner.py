"""The library's run (what ``pgjax train`` does, from Python), the logger seam, and an
environment registered by name."""

import jax
import numpy as np
import pytest

from pgjax import Config, envs, make_train
from pgjax.tools import folders
from pgjax.tools.folders import CheckpointError
from pgjax.tools.session import run

CONFIG = Config(
    num_envs=4, num_steps=16, num_minibatches=2, total_timesteps=64 * 12, anneal_lr=False
)


class Recorder:
    """A logger that keeps what it hears."""

    def __init__(self, live: bool):
        self.live = live
        self.calls: list[tuple[int, dict]] = []
        self.closed = False

    def log(self, step, rows):
        self.calls.append((step, {k: np.asarray(v) for k, v in rows.items()}))

    def close(self):
        self.closed = True


def test_loggers_hear_every_scalar_metric_per_update_or_per_chunk():
    live, chunked = Recorder(live=True), Recorder(live=False)
    result = run(CONFIG, seed=1, loggers=[live, chunked], num_chunks=3)
    assert live.closed and chunked.closed
    names = set(result.metrics)
    # a chunk logger: one call per chunk, its rows [4] with every metric and the update count
    assert [step for step, _ in chunked.calls] == [64 * 4, 64 * 8, 64 * 12]
    assert set(chunked.calls[0][1]) == names | {"update"}
    np.testing.assert_array_equal(chunked.calls[1][1]["update"], [5, 6, 7, 8])
    for name in names:
        rows = np.concatenate([r[name] for _, r in chunked.calls])
        np.testing.assert_array_equal(rows, result.metrics[name], err_msg=name)
    # a live logger: one call per update, from inside the compiled chunks, the same values
    assert [int(r["update"][0]) for _, r in live.calls] == list(range(1, 13))
    np.testing.assert_array_equal(
        np.concatenate([r["loss"] for _, r in live.calls]), result.metrics["loss"]
    )
    # and the numbers are make_train's
    whole = jax.jit(make_train(CONFIG))(jax.random.key(1))
    np.testing.assert_array_equal(result.metrics["loss"], np.asarray(whole.metrics["loss"]))


def test_a_run_folder_from_python_resumes_to_the_same_bits(tmp_path):
    run(CONFIG, seed=2, run_dir=tmp_path / "whole", num_chunks=2)
    half = CONFIG.replace(total_timesteps=64 * 6)
    run(half, seed=2, run_dir=tmp_path / "half", num_chunks=2)
    with pytest.raises(CheckpointError, match="already holds a run"):
        run(CONFIG, seed=2, run_dir=tmp_path / "half")
    run(CONFIG, seed=2, run_dir=tmp_path / "half", resume=True, num_chunks=2)
    for name in (folders.CHECKPOINT_FILE, folders.METRICS_FILE, folders.CONFIG_FILE):
        whole, half = (tmp_path / "whole" / name), (tmp_path / "half" / name)
        assert whole.read_bytes() == half.read_bytes(), name
    assert (tmp_path / "half" / folders.CURVE_FILE).is_file()


def test_an_environment_registered_by_name_trains_as_its_original():
    envs.register("my-cartpole", lambda: envs.make_env("CartPole-v1"))
    assert "my-cartpole" in envs.env_names()
    mine = jax.jit(make_train(CONFIG.replace(env="my-cartpole")))(jax.random.key(0))
    theirs = jax.jit(make_train(CONFIG))(jax.random.key(0))
    np.testing.assert_array_equal(mine.metrics["loss"], theirs.metrics["loss"])
    with pytest.raises(ValueError, match="did you mean 'my-cartpole'"):
        envs.make_env("my-cartpol")
