"""What an adversarial user tried (issue 21): non-finite values, dead-end and contested run
folders, file-system failures, a sweep cut short, the help text, offline downloads, and what
"bit for bit" promises. The CLI is driven as a subprocess, as a user drives it."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError

import jax
import numpy as np
import pytest

from pgjax import Config, make_pipeline, make_train
from pgjax.tools import checkpoint, config_file, folders
from pgjax.tools.chunks import DivergedError, train_in_chunks
from pgjax.tools.loggers import ProgressBar
from pgjax.tools.sweep import summarize, sweep, table
from tests.test_cli import TINY, pgjax, pgjax_started, user_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(num_envs=4, num_steps=16, num_minibatches=2)


# ---- 2. non-finite values -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", math.inf),
        ("reward_scale", math.inf),
        ("max_grad_norm", math.nan),
        ("ent_coef", math.inf),
        ("vf_coef", math.nan),
        ("clip_eps", math.nan),
        ("gamma", math.inf),
    ],
)
def test_non_finite_hyperparameters_are_refused(field, value):
    with pytest.raises(ValueError, match=f"Config.{field}=(inf|nan)"):
        Config(**{field: value}).validate()


@pytest.mark.parametrize(
    ("algo", "name", "value"),
    [
        ("ppo_penalty", "kl_beta", math.inf),
        ("ppo_penalty", "kl_target", math.inf),
        ("trpo", "max_kl", math.inf),
        ("trpo", "cg_damping", math.inf),
        ("vtrace", "rho_bar", math.nan),
    ],
)
def test_non_finite_settings_are_refused_by_their_algorithm(algo, name, value):
    with pytest.raises(ValueError, match=rf"Config\(algo='{algo}'\): setting {name}=(inf|nan)"):
        Config(algo=algo, settings={name: value}).validate()


def test_a_diverging_run_stops_before_anything_is_saved():
    config = Config(lr=1e30, total_timesteps=64 * 20, **SMALL)
    saved = []
    with pytest.raises(DivergedError, match=r"diverged at update 1 of 20.*lower lr") as error:
        train_in_chunks(
            config, jax.random.key(0), num_chunks=4, on_chunk=lambda *a: saved.append(a)
        )
    assert error.value.update == 1 and saved == []


def test_a_checkpoint_never_holds_non_finite_parameters(tmp_path):
    config = Config(total_timesteps=64, **SMALL)
    state = make_pipeline(config).init(jax.random.key(0), config.hparams())
    checkpoint.save_checkpoint(tmp_path, state, {"loss": np.zeros(0)})
    good = (tmp_path / folders.CHECKPOINT_FILE).read_bytes()
    bad = state._replace(params=jax.tree.map(lambda x: x * np.nan, state.params))
    with pytest.raises(folders.CheckpointError, match="inf or NaN"):
        checkpoint.save_checkpoint(tmp_path, bad, {"loss": np.zeros(1)})
    assert (tmp_path / folders.CHECKPOINT_FILE).read_bytes() == good


def test_a_sweep_marks_a_diverged_setting_instead_of_giving_it_a_number():
    config = Config(total_timesteps=64 * 6, **SMALL)
    result = sweep(config, {"lr": [1e-3, 1e30]}, seeds=2)
    np.testing.assert_array_equal(result.diverged, [[False, False], [True, True]])
    good, bad = summarize(result)
    assert math.isfinite(good.mean) and good.diverged == 0
    assert math.isnan(bad.mean) and bad.diverged == 2
    assert "| lr=1e+30 | diverged (2 of 2 seeds) |" in table(result, config)


def test_the_cli_reports_divergence_in_one_line(tmp_path):
    out = pgjax("train", *TINY, "--lr", "1e30", "--total-timesteps", 640, "--run-dir", "r",
                cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "diverged at update 1 of 10" in out.stderr
    assert not (tmp_path / "r" / folders.CHECKPOINT_FILE).exists()
    user_error(pgjax("sweep", "--lr", "1e-3,inf", cwd=tmp_path), "Config.lr=inf")


# ---- 1. --devices -------------------------------------------------------------------------


def test_devices_that_are_not_there_are_refused_before_a_folder_is_made(tmp_path):
    user_error(
        pgjax("train", "--devices", 2, "--run-dir", "r", cwd=tmp_path),
        "Config.devices=2: only 1 cpu device(s) here",
    )
    assert not (tmp_path / "r").exists()


# ---- 3. a run folder left with its config alone ------------------------------------------


def test_a_folder_without_a_checkpoint_resumes_from_the_start(tmp_path):
    config = Config(total_timesteps=64 * 30, anneal_lr=False, **SMALL)
    config_file.save_config(tmp_path / "dead", config, 3)  # what a crash in compilation leaves
    out = pgjax("train", "--resume", "dead", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "resuming dead from the start" in out.stdout
    fresh = pgjax("train", *TINY, "--seed", 3, "--total-timesteps", 64 * 30, "--run-dir", "new",
                  "--no-progress", cwd=tmp_path)  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr
    for name in (folders.METRICS_FILE, folders.CHECKPOINT_FILE):
        assert (tmp_path / "dead" / name).read_bytes() == (tmp_path / "new" / name).read_bytes()


# ---- 4. the file system -------------------------------------------------------------------


def test_unwritable_places_are_named_before_any_training(tmp_path):
    (tmp_path / "file").write_text("")
    user_error(pgjax("train", "--run-dir", "file/sub", cwd=tmp_path), "--run-dir: cannot write")
    user_error(pgjax("sweep", "--out", "file/sub", cwd=tmp_path), "--out: cannot write")
    config_file.save_config(tmp_path / "run", Config(), 0)
    user_error(
        pgjax("eval", "run", "--render", "file/x.gif", cwd=tmp_path), "--render: cannot write"
    )


def test_a_failed_write_leaves_no_temporary_file_and_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    folders.write_atomic(path, b"good")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        folders.write_atomic(path, b"newer")
    assert path.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_a_sweep_prints_its_table_when_saving_fails(tmp_path, monkeypatch, capsys):
    from pgjax.tools import cli

    real = folders.write_atomic

    def full(path, data):  # the disk fills up after the last call was saved
        if path.name in ("sweep.md", "sweep.png"):
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(folders, "write_atomic", full)
    args = ["sweep", *TINY, "--total-timesteps", 640, "--seeds", 2, "--lr", "1e-3,3e-4", "--out",
            tmp_path / "sw"]  # fmt: skip
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 1
    assert "| lr=0.001 |" in out and "| lr=0.0003 |" in out
    assert "could not be saved: No space left on device" in err


# ---- 5. one process per run folder --------------------------------------------------------


HOLDER = """
import sys, time
from pgjax.tools import checkpoint, config_file, folders
with folders.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_run_folder_is_held_by_one_process_and_freed_when_it_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(folders.CheckpointError, match=f"in use .*pid {holder.pid}"):
        with folders.hold(tmp_path):
            pass
    holder.kill()  # kill -9: the lock file stays behind, stale
    holder.wait()
    assert (tmp_path / folders.LOCK_FILE).exists()
    with folders.hold(tmp_path):
        assert (tmp_path / folders.LOCK_FILE).read_text() == str(os.getpid())


def test_a_second_resume_of_a_running_folder_is_refused(tmp_path):
    args = ["train", *TINY, "--total-timesteps", 20_000_000, "--run-dir", "run", "--no-progress"]
    first = pgjax_started(*args, cwd=tmp_path)
    try:
        assert first.stdout.readline().startswith("pgjax: ppo_clip on CartPole-v1")
        second = pgjax("train", "--resume", "run", "--total-timesteps", 64_000, cwd=tmp_path)
        user_error(second, "run is in use by another pgjax process", f"pid {first.pid}")
    finally:
        first.kill()
        first.wait()
    config, _ = config_file.load_config(tmp_path / "run")
    assert config.total_timesteps == 20_000_000  # the refused resume changed nothing


def test_a_resume_keeps_the_runs_seed(tmp_path):
    config_file.save_config(tmp_path / "run", Config(), 0)
    user_error(pgjax("train", "--resume", "run", "--seed", 99, cwd=tmp_path),
               "--seed (the run's seed is 0)")  # fmt: skip
    # and its config: a flag given (even one equal to the default) is named
    again = pgjax("train", "--resume", "run", "--lr", "2.5e-4", "--env=Acrobot-v1", cwd=tmp_path)
    user_error(again, "also given: --env, --lr")


# ---- 6. small things a person meets -------------------------------------------------------


def test_a_run_in_which_no_episode_ended_says_so(tmp_path):
    # MountainCar's episodes last 200 steps: none ends in 64
    out = pgjax("train", "--env", "MountainCar-v0", *TINY, "--total-timesteps", 64, "--run-dir",
                "r", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "no episode finished in 64 steps" in out.stdout and "nan" not in out.stdout


def test_the_progress_bar_of_a_resumed_run_waits_for_a_rate():
    import io

    out = io.StringIO()
    bar = ProgressBar(num_updates=20, batch_size=10, file=out)
    bar({"update": 11, "episode_return": np.nan, "episode_count": 0})  # first, after compiling
    assert out.getvalue() == ""
    time.sleep(0.01)
    for update in range(12, 21):
        bar({"update": update, "episode_return": np.nan, "episode_count": 0})
    lines = out.getvalue().splitlines()
    assert lines and all(" 0 steps/s" not in x and "nan" not in x for x in lines)
    assert "return       --" in lines[0]


def test_a_failed_download_is_one_line(monkeypatch):
    from gymnax.utils import load_mnist

    from pgjax.envs import make_env

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(load_mnist, "_download", offline)
    with pytest.raises(ValueError, match=r"MNISTBandit-bsuite.*MNIST.*download failed") as error:
        make_env("MNISTBandit-bsuite")
    assert "\n" not in str(error.value)


def test_help_lists_the_choices_and_keeps_sentences_whole(tmp_path):
    wide = {"COLUMNS": "1000"}
    train = pgjax("train", "--help", cwd=tmp_path, env=wide).stdout
    assert "reinforce, a2c, is_pg, ppo_penalty, ppo_clip, trpo" in train
    assert "CartPole-v1" in train and "Breakout-MinAtar" in train
    assert "pgjax.pipeline.config.ALGORITHMS" not in train
    # each field's help is one paragraph: at this width, one line
    line = next(x for x in train.splitlines() if "a batch is" in x)
    assert "transitions. (default: --env's and --algo's settings, else 128)" in line
    usage = pgjax("eval", "--help", cwd=tmp_path, env=wide).stdout
    assert "RUN_DIR" in usage and " STR" not in usage


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path", ["trpo.gif", "sweeps/lr-clip/sweep.md", "sweep/sweep.md"])
def test_what_the_readme_writes_in_the_repository_is_ignored(path):
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert ignored.returncode == 0, path


# ---- 7. what "bit for bit" promises -------------------------------------------------------


def test_the_same_key_in_the_same_batch_gives_the_same_bits():
    """Promised: the same keys, vmapped in the same batch, give identical results. Not
    promised: a key trained alone equals the same key inside a larger vmap (XLA rounds batches
    of different sizes differently; training amplifies the last bit)."""
    config = Config(total_timesteps=64 * 8, **SMALL)
    keys = jax.random.split(jax.random.key(0), 3)
    alone = jax.jit(make_train(config))
    batched = jax.jit(jax.vmap(make_train(config)))
    for one, two in [(alone(keys[0]), alone(keys[0])), (batched(keys), batched(keys))]:
        for name in one.metrics:
            np.testing.assert_array_equal(one.metrics[name], two.metrics[name], err_msg=name)
        for x, y in zip(jax.tree.leaves(one.state.params), jax.tree.leaves(two.state.params),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(x, y)
