"""The ``pgjax`` command driven as a user would: a subprocess, its files, its messages."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from pgjax import Config, make_pipeline
from pgjax.tools import checkpoint, config_file, metrics_files

# 4 envs x 16 steps: tiny updates, so a run of many updates takes seconds
TINY = ["--num-envs", "4", "--num-steps", "16", "--num-minibatches", "2", "--no-anneal-lr"]


def pgjax(*args, cwd, timeout=600, env=None):
    """Run ``pgjax args`` to its end: the completed process, its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "pgjax.tools.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **env} if env else None,  # None: this process's (conftest.py's cache)
    )


def pgjax_started(*args, cwd) -> subprocess.Popen:
    """Start ``pgjax args`` and return at once, its output readable as text through pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "pgjax.tools.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def user_error(out, *phrases):
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    for phrase in phrases:
        assert phrase in out.stderr, out.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of 2000 updates: the result the others must equal bit for bit."""
    cwd = tmp_path_factory.mktemp("cli")
    out = pgjax("train", *TINY, "--total-timesteps", 128_000, "--run-dir", "ref", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return cwd


def test_train_writes_a_run_folder(reference):
    run = reference / "ref"
    for name in ("config.json", "metrics.csv", "curve.png", "checkpoint.msgpack"):
        assert (run / name).is_file(), name
    body = json.loads((run / "config.json").read_text())
    config = Config.from_dict(body["config"])
    assert (config.num_envs, config.total_timesteps, body["seed"]) == (4, 128_000, 0)
    metrics = metrics_files.read_metrics_csv(run / "metrics.csv")
    assert len(metrics["update"]) == config.num_updates == 2000
    assert np.array_equal(metrics["timesteps"], 64 * np.arange(1, 2001))
    assert (run / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_unset_flags_take_the_environments_settings_and_the_run_says_which(tmp_path):
    """Pendulum's preset for every flag not given (even --lr 2.5e-4, the global default, is
    kept as given); --no-presets: the bare defaults."""
    out = pgjax(
        "train", "--env", "Pendulum-v1", "--lr", "2.5e-4", "--total-timesteps", 4096,
        "--chunks", 1, "--no-progress", "--run-dir", "tuned", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "num_envs=16 (preset)" in out.stdout and "normalize_obs=True (preset)" in out.stdout
    config, _ = config_file.load_config(tmp_path / "tuned")
    assert (config.num_envs, config.num_steps, config.lr, config.reward_scale) == (
        16, 256, 2.5e-4, 0.1
    )  # fmt: skip
    out = pgjax(
        "train", "--env", "Pendulum-v1", "--no-presets", "--total-timesteps", 1024,
        "--chunks", 1, "--no-progress", "--run-dir", "bare", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (
        "settings besides pgjax.pipeline.config.DEFAULTS: total_timesteps=1024 (user)\n"
        in out.stdout
    )
    bare = Config(env="Pendulum-v1", presets=False, total_timesteps=1024)
    assert config_file.load_config(tmp_path / "bare")[0] == bare


@pytest.mark.slow
def test_resume_continues_to_the_same_bits(reference):
    cwd = reference
    out = pgjax("train", *TINY, "--total-timesteps", 64_000, "--run-dir", "half", cwd=cwd)
    assert out.returncode == 0, out.stderr
    out = pgjax("train", "--resume", "half", "--total-timesteps", 128_000, cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "resuming half at update 1000 of 2000" in out.stdout
    ref, half = cwd / "ref", cwd / "half"
    assert (half / "metrics.csv").read_text() == (ref / "metrics.csv").read_text()
    assert (half / "checkpoint.msgpack").read_bytes() == (ref / "checkpoint.msgpack").read_bytes()


@pytest.mark.slow
def test_ctrl_c_saves_and_the_resumed_run_is_the_uninterrupted_one(reference):
    cwd = reference
    args = ["train", *TINY, "--total-timesteps", 128_000, "--run-dir", "cut", "--chunks", 100]
    process = pgjax_started(*args, cwd=cwd)
    deadline = time.time() + 300
    while not (cwd / "cut" / "checkpoint.msgpack").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "Continue with: pgjax train --resume cut" in stdout
    saved = metrics_files.read_metrics_csv(cwd / "cut" / "metrics.csv")
    assert 0 < len(saved["update"]) < 2000
    out = pgjax("train", "--resume", "cut", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert (cwd / "cut" / "metrics.csv").read_text() == (cwd / "ref" / "metrics.csv").read_text()


def test_eval_reports_a_return_and_renders(reference):
    out = pgjax("eval", "ref", "--episodes", 8, "--greedy", "--render", "ref.gif", cwd=reference)
    assert out.returncode == 0, out.stderr
    assert "over 8 episodes" in out.stdout and "return" in out.stdout
    assert (reference / "ref.gif").read_bytes()[:6] == b"GIF89a"


def test_sweep_writes_a_table_and_a_plot(tmp_path):
    out = pgjax(
        "sweep", *TINY, "--seeds", 2, "--lr", "1e-3,3e-4", "--total-timesteps", 2048,
        "--out", "sw", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "| lr=0.001 |" in out.stdout and "| lr=0.0003 |" in out.stdout
    assert (tmp_path / "sw" / "sweep.md").is_file()
    assert (tmp_path / "sw" / "sweep.png").is_file()


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["train", "--env", "CartPol-v1"], ["Config.env='CartPol-v1'", "'CartPole-v1'"]),
        (["train", "--algo", "ppo_clipp"], ["Config.algo='ppo_clipp'", "'ppo_clip'"]),
        (
            ["train", "--num-envs", "3", "--num-steps", "5"],
            ["Config.num_minibatches=4", "change num_minibatches, num_envs or num_steps"],
        ),
        (["train", "--gamma", "1.5"], ["Config.gamma=1.5", "[0.0, 1.0]"]),
        (["eval", "nowhere"], ["nowhere: no such run folder"]),
        (["sweep", "--num-envs", "4,8"], ["Config.num_envs cannot be swept"]),
    ],
)
def test_user_mistakes_get_one_line_and_no_traceback(tmp_path, args, phrases):
    user_error(pgjax(*args, cwd=tmp_path), *phrases)


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
    (tmp_path / "notarun").mkdir()
    user_error(pgjax("eval", "notarun", cwd=tmp_path), "notarun: not a pgjax run folder")
    user_error(pgjax("train", "--resume", "notarun", cwd=tmp_path), "not a pgjax run folder")


def test_a_truncated_checkpoint_is_refused_and_left_alone(reference, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "checkpoint.msgpack"):
        (run / name).write_bytes((reference / "ref" / name).read_bytes())
    data = (run / "checkpoint.msgpack").read_bytes()
    (run / "checkpoint.msgpack").write_bytes(data[: len(data) // 2])
    for args in (["eval", "run"], ["train", "--resume", "run", "--total-timesteps", 256_000]):
        user_error(pgjax(*args, cwd=tmp_path), "checkpoint.msgpack: damaged checkpoint")
        assert (run / "checkpoint.msgpack").read_bytes() == data[: len(data) // 2]


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    config = Config(num_envs=4, num_steps=16, num_minibatches=2, total_timesteps=64)
    pipeline = make_pipeline(config)
    state = pipeline.init(jax.random.key(0), config.hparams())
    checkpoint.save_checkpoint(tmp_path, state, {"loss": np.zeros(0)})
    good = (tmp_path / "checkpoint.msgpack").read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    newer, _ = jax.jit(lambda s: pipeline.update(s, config.hparams()))(state)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(tmp_path, newer, {"loss": np.zeros(1)})
    monkeypatch.undo()
    assert (tmp_path / "checkpoint.msgpack").read_bytes() == good
    loaded, metrics = checkpoint.load_checkpoint(tmp_path, state)
    assert int(loaded.update) == 0 and metrics["loss"].shape == (0,)


USER_MODULE = '''
"""A user's own environment, five-value and not a gymnax subclass, registered on import."""
import jax.numpy as jnp
from gymnax.environments import spaces

from pgjax import envs


class Walk:
    default_params = None

    def reset(self, key, params):
        return jnp.zeros((1,)), jnp.int32(0)

    def step(self, key, t, action, params):
        t = t + 1
        return jnp.full((1,), t / 10.0), t, (action == 1).astype(jnp.float32), t >= 10, {}

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


envs.register("my-walk", lambda: envs.five_value(Walk(), time_limit=10))
'''


@pytest.mark.slow
def test_the_cli_trains_resumes_evaluates_and_sweeps_a_users_environment(tmp_path):
    # `--import my_envs` (a module in the current folder) registers the name the run uses
    (tmp_path / "my_envs.py").write_text(USER_MODULE)
    run = ["train", *TINY, "--env", "my-walk", "--run-dir", "walk"]
    out = pgjax(*run, "--total-timesteps", 3_200, "--import", "my_envs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # the run's config.json records the module, so --resume and eval import it again
    saved = json.loads((tmp_path / "walk" / "config.json").read_text())
    assert saved["imports"] == ["my_envs"]
    out = pgjax("train", "--resume", "walk", "--total-timesteps", 6_400, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    metrics = metrics_files.read_metrics_csv(tmp_path / "walk" / "metrics.csv")
    assert len(metrics["update"]) == 100 and metrics["episode_length"][-1] == 10.0
    out = pgjax("eval", "walk", "--episodes", 4, cwd=tmp_path)
    assert out.returncode == 0 and "over 4 episodes" in out.stdout, out.stderr
    # a folder that does not record it (made before pgjax recorded imports): the name is
    # unknown, and the message says how to bring it
    del saved["imports"]
    (tmp_path / "walk" / "config.json").write_text(json.dumps(saved))
    out = pgjax("eval", "walk", "--episodes", 4, cwd=tmp_path)
    user_error(out, "'my-walk' is unknown", "--import")
    out = pgjax("eval", "walk", "--episodes", 4, "--import=my_envs", cwd=tmp_path)
    assert out.returncode == 0 and "over 4 episodes" in out.stdout, out.stderr
    sweep = ["sweep", "--import", "my_envs", *TINY, "--env", "my-walk", "--total-timesteps", 640]
    out = pgjax(*sweep, "--seeds", 2, "--lr", "1e-3,3e-3", "--out", "sw", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = pgjax("train", "--import", "no_such_module", cwd=tmp_path)
    user_error(out, "--import no_such_module: No module named 'no_such_module'")
