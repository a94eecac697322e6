"""Nothing a user has is lost or silently changed (issue 29): folders that are not pgjax's,
values of the wrong type, checkpoints made under another configuration or holding what no run
saves, errors that leave a folder behind, Ctrl-C heard at once, and messages that say what
happened. Each test fails on the code before the issue (193bb4f)."""

import functools
import hashlib
import json
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import serialization

from pgjax import Config, envs, make_pipeline
from pgjax.pipeline.config import check_seed
from pgjax.tools import checkpoint, cli, config_file, folders, metrics_files
from pgjax.tools.chunks import DivergedError, train_in_chunks
from pgjax.tools.session import estimate_memory, run
from pgjax.tools.sweep import grid_points
from tests.test_cli import TINY, pgjax, pgjax_started, user_error

SMALL = dict(num_envs=4, num_steps=16, num_minibatches=2, anneal_lr=False)
SHORT = [*TINY, "--total-timesteps", 640, "--no-progress"]


def in_process(args, capsys) -> tuple[int, str, str]:
    """``pgjax args`` in this process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(result, *phrases) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err


# ---- 1. a folder is written into only if it is new, empty, a run resumed, or --overwrite --


def test_a_folder_that_is_not_a_run_is_not_written_into(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"metrics.csv": "a,b\n1,2\n", "curve.png": "my plot", "notes.txt": "my notes"}
    for name, text in files.items():
        (mine / name).write_text(text)
    refused(
        in_process(["train", *SHORT, "--run-dir", mine], capsys),
        "is not empty and not a pgjax run (it holds curve.png, metrics.csv, notes.txt)",
        "--overwrite",
    )
    assert {p.name: p.read_text() for p in mine.iterdir()} == files
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / folders.CHECKPOINT_FILE).write_text("precious")
    refused(in_process(["train", *SHORT, "--run-dir", tmp_path / "other"], capsys), "not empty")
    assert (tmp_path / "other" / folders.CHECKPOINT_FILE).read_text() == "precious"
    # said so: pgjax's files are written, the others stay
    code, _, err = in_process(["train", *SHORT, "--run-dir", mine, "--overwrite"], capsys)
    assert code == 0, err
    assert (mine / "notes.txt").read_text() == "my notes"
    assert (mine / "metrics.csv").read_text().startswith("update,")


def test_overwrite_replaces_a_run_and_resume_refuses_it(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert in_process(["train", *SHORT, "--run-dir", run_dir], capsys)[0] == 0
    refused(in_process(["train", *SHORT, "--run-dir", run_dir], capsys), "already holds a run")
    (run_dir / "tensorboard").mkdir()  # a tracked run's folder goes with it
    code, _, err = in_process(
        ["train", *SHORT, "--seed", 5, "--run-dir", run_dir, "--overwrite"], capsys
    )
    assert code == 0, err
    assert config_file.load_config(run_dir)[1] == 5 and not (run_dir / "tensorboard").exists()
    refused(in_process(["train", "--resume", run_dir, "--overwrite"], capsys), "give one")


@pytest.mark.slow
def test_two_sweeps_keep_both_tables(tmp_path):
    args = ["sweep", *TINY, "--total-timesteps", 640, "--seeds", 1]
    for lrs in ("1e-3,3e-4", "1e-4,2e-4"):
        out = pgjax(*args, "--lr", lrs, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    tables = sorted((tmp_path / "runs").glob("sweep-*/sweep.md"))
    assert len(tables) == 2, tables
    texts = [t.read_text() for t in tables]
    assert "lr=0.001" in texts[0] and "lr=0.0001" in texts[1]
    # an --out that holds a sweep is refused, and kept; --overwrite replaces it
    out = pgjax(*args, "--lr", "5e-4,6e-4", "--out", tables[0].parent, cwd=tmp_path)
    user_error(out, "already holds a sweep", "--overwrite")
    assert tables[0].read_text() == texts[0]
    out = pgjax(*args, "--lr", "5e-4,6e-4", "--out", tables[0].parent, "--overwrite",
                cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "lr=0.0005" in tables[0].read_text()


# ---- 2. values of the wrong type, in a Config or a config.json -----------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("normalize_obs", "false"), ("anneal_lr", "false"), ("presets", "false"), ("vf_clip", 0.5),
     ("normalize_advantages", 1), ("shared_torso", 0)],
)  # fmt: skip
def test_boolean_fields_take_booleans_only(field, value):
    with pytest.raises(ValueError, match=f"Config.{field}=.*must be True or False"):
        Config(**{field: value}).validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(total_timesteps=10**20), r"total_timesteps=.*\[1, 2147483647\]"),
        (dict(num_envs=2**31), r"num_envs=2147483648.*\[1, 2147483647\]"),
        (dict(total_timesteps=1.5e6), r"total_timesteps=1500000.0"),
    ],
)
def test_integers_are_integers_the_program_can_count(changes, message):
    with pytest.raises(ValueError, match=message):
        Config(**changes).validate()


def test_seeds_are_those_a_key_tells_apart(tmp_path, capsys):
    # a 32-bit JAX key keeps a seed's low 32 bits: 2**32 would be seed 0 again
    assert jax.random.key_data(jax.random.key(2**32)).tolist() == [0, 0]
    for seed in (2**32, -1, 1.7, True):
        with pytest.raises(ValueError, match=r"\[0, 2\*\*32 - 1\]"):
            check_seed(seed)
    assert check_seed(2**32 - 1) == 2**32 - 1
    refused(
        in_process(["train", *SHORT, "--seed", 2**63, "--run-dir", tmp_path / "r"], capsys),
        "--seed=9223372036854775808",
    )
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A finished run of 10 updates (PPO-Clip) and one of A2C and TRPO, to be edited."""
    root = tmp_path_factory.mktemp("saved")
    for algo in ("ppo_clip", "a2c", "trpo"):
        run(Config(algo=algo, total_timesteps=640, **SMALL), 0, run_dir=root / algo)
    return root


def _copy(saved: Path, algo: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved / algo, tmp_path / algo))


def _edit_config(run_dir: Path, **changes) -> None:
    body = json.loads((run_dir / folders.CONFIG_FILE).read_text())
    body["config"].update({k: v for k, v in changes.items() if k != "seed"})
    body.update({k: v for k, v in changes.items() if k == "seed"})
    (run_dir / folders.CONFIG_FILE).write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(normalize_obs="yes"), "Config.normalize_obs='yes'"),
        (dict(seed=1.7), "seed=1.7"),
        (dict(num_envs=4.0), "Config.num_envs=4.0"),
    ],
)
def test_a_config_json_with_a_wrong_value_is_refused(saved, tmp_path, capsys, changes, message):
    run_dir = _copy(saved, "ppo_clip", tmp_path)
    _edit_config(run_dir, **changes)
    before = (run_dir / folders.CHECKPOINT_FILE).read_bytes()
    for args in (["train", "--resume", run_dir, "--total-timesteps", 1280], ["eval", run_dir]):
        refused(in_process(args, capsys), "config.json", message)
    assert (run_dir / folders.CHECKPOINT_FILE).read_bytes() == before


@pytest.mark.parametrize("algo", ["a2c", "trpo"])
def test_a_checkpoint_is_refused_under_another_config(saved, tmp_path, capsys, algo):
    run_dir = _copy(saved, algo, tmp_path)
    _edit_config(run_dir, algo="ppo_clip")
    wanted = f"made with algo='{algo}' (now 'ppo_clip')"
    for args in (["train", "--resume", run_dir, "--total-timesteps", 1280], ["eval", run_dir]):
        refused(in_process(args, capsys), wanted)
    config, _ = config_file.load_config(run_dir)
    with pytest.raises(folders.CheckpointError, match=r"seed=0 \(now 3\)"):
        checkpoint.restore(run_dir, config.replace(algo=algo), 3)
    # the fields a resume may change are not named
    longer = config.replace(algo=algo, total_timesteps=6400)
    state, metrics = checkpoint.restore(run_dir, longer, 0)
    assert int(state.update) == 10 and len(metrics["loss"]) == 10


def _tamper(run_dir: Path, change) -> None:
    """Rewrite the checkpoint with ``change(inner)`` applied and its checksum recomputed: a
    checkpoint that passes the checksum but holds what no run saves."""
    path = run_dir / folders.CHECKPOINT_FILE
    body = serialization.msgpack_restore(path.read_bytes())
    inner = serialization.msgpack_restore(body["payload"])
    change(inner)
    body["payload"] = serialization.msgpack_serialize(inner)
    body["sha256"] = hashlib.sha256(body["payload"]).hexdigest()
    path.write_bytes(serialization.msgpack_serialize(body))


def _params(inner, fn):
    inner["state"]["params"] = jax.tree.map(fn, inner["state"]["params"])


def _set(inner, key, value):
    inner["state"][key] = value


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: _params(b, lambda x: np.asarray(x).astype(np.int8)), "of int8 where float32"),
        (lambda b: _params(b, lambda x: np.full_like(x, np.nan)), "hold inf or NaN"),
        (lambda b: _set(b, "update", np.int32(-5)), r"update counter is -5, outside \[0, 10\]"),
        (lambda b: _set(b, "update", np.int32(10**9)), "update counter is 1000000000"),
        (lambda b: b.update(metrics={k: v[:3] for k, v in b["metrics"].items()}),
         r"holds \(3,\) values .* where 10 numbers"),
        (lambda b: b.pop("metrics"), "holds no metrics"),
    ],
    ids=["int8", "nan", "update-5", "update1e9", "short-metrics", "no-metrics"],
)  # fmt: skip
def test_a_checkpoint_holding_what_no_run_saves_is_refused(saved, tmp_path, capsys, change,
                                                           message):  # fmt: skip
    run_dir = _copy(saved, "ppo_clip", tmp_path)
    _tamper(run_dir, change)
    config, seed = config_file.load_config(run_dir)
    with pytest.raises(folders.CheckpointError, match=message):
        checkpoint.restore(run_dir, config, seed)
    refused(in_process(["eval", run_dir, "--episodes", 2], capsys), "checkpoint.msgpack")
    args = ["train", "--resume", run_dir, "--total-timesteps", 1280]
    refused(in_process(args, capsys), "checkpoint.msgpack")


# ---- 3. errors named before anything is written ---------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("CartPole-v1:gravity=abc", "option gravity='abc' must be a finite number"),
        ("CartPole-v1:max_steps_in_episode=abc", "option max_steps_in_episode='abc' must be"),
        ("CartPole-v1:max_steps_in_episode=-5", "max_steps_in_episode=-5 must be an integer >= 1"),
        ("CartPole-v1:nonexistent=1", "nonexistent is not a field of its params"),
        ("CartPole-v1:gravity=inf", "option gravity=inf must be a finite number"),
    ],
)
def test_environment_options_are_checked_by_name_before_a_folder_is_made(
    tmp_path, capsys, env, message
):
    refused(in_process(["train", *SHORT, "--env", env, "--run-dir", tmp_path / "r"], capsys),
            message)  # fmt: skip
    assert not (tmp_path / "r").exists()
    # a good option still works, converted to the field's kind
    assert float(envs.make_env("CartPole-v1:gravity=5").params.gravity) == 5.0


def _registered_mistakes():
    from gymnax.environments import spaces
    from gymnax.environments.classic_control.cartpole import CartPole

    class WrongObservation(CartPole):
        def observation_space(self, params):
            return spaces.Box(-1.0, 1.0, (7,), np.float32)

    class NoActions(CartPole):
        def action_space(self, params=None):
            return spaces.Discrete(0)

    envs.register("test-wrong-observation", WrongObservation)
    envs.register("test-no-actions", NoActions)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("test-wrong-observation", r"its reset's observations are float32 of shape \(4,\) per "
         r"environment, where its observation space declares numbers of shape \(7,\)"),
        ("test-no-actions", r"its action space is Discrete\(0\); it needs at least one action"),
    ],
)  # fmt: skip
def test_a_registered_environment_is_checked_against_its_spaces(tmp_path, capsys, env, message):
    _registered_mistakes()
    with pytest.raises(ValueError, match=f"Config.env='{env}': {message}"):
        envs.make_env(env)
    refused(in_process(["train", *SHORT, "--env", env, "--run-dir", tmp_path / "r"], capsys))
    assert not (tmp_path / "r").exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_dead_end(tmp_path, capsys):
    args = ["train", *SHORT, "--run-dir", tmp_path / "r"]
    code, _, err = in_process([*args, "--lr", "1e30"], capsys)
    assert code == 1 and "diverged at update 1" in err, err
    assert not (tmp_path / "r").exists()  # the corrected command can use the same folder
    code, _, err = in_process(args, capsys)
    assert code == 0, err
    # a folder that was there already stays, emptied of the failed run's files
    (tmp_path / "mine").mkdir()
    code, _, err = in_process(["train", *SHORT, "--lr", "1e30", "--run-dir", tmp_path / "mine"],
                              capsys)  # fmt: skip
    assert code == 1 and sorted(os.listdir(tmp_path / "mine")) == [folders.LOCK_FILE]


def test_an_impossible_batch_is_refused_from_its_memory_before_compiling(
    tmp_path, capsys, monkeypatch
):
    from pgjax.tools import session

    config = Config(num_envs=10_000_000, total_timesteps=1_280_000_000)
    needed = estimate_memory(config, envs.make_env(config.env))
    # CartPole per step: 2 observations of 4 float32, an action, 2 logits, log π, the reward,
    # terminated and truncated: 54 bytes
    assert needed >= config.batch_size * 54
    monkeypatch.setattr(session, "available_memory", lambda: 2**30)
    args = ["train", "--num-envs", 10_000_000, "--total-timesteps", 1_280_000_000, "--run-dir",
            tmp_path / "r"]  # fmt: skip
    start = time.perf_counter()
    refused(in_process(args, capsys), "needs at least 64.7 GiB", "than the 1.0 GiB free here")
    assert time.perf_counter() - start < 60  # nothing was compiled
    assert not (tmp_path / "r").exists()


def test_the_memory_estimate_is_a_lower_bound():
    """What a small run really holds (its environments and one rollout, traced) is at least
    the estimate: the estimate refuses only batches that cannot fit."""
    from pgjax.pipeline.rollout import collect
    from pgjax.pipeline.static import make_static
    from pgjax.tools.session import _bytes

    def rollout(static, s):
        return collect(static, s.params, s.obs_norm, s.env, s.key)

    for config in (Config(**SMALL), Config(env="Pendulum-v1", **SMALL)):
        static = make_static(config, 1, None)
        state = jax.eval_shape(make_pipeline(config).init, jax.random.key(0), config.hparams())
        carry, traj, _ = jax.eval_shape(functools.partial(rollout, static), state)
        assert estimate_memory(config, static.env) <= _bytes(carry) + _bytes(traj)


# ---- 4. Ctrl-C heard at once ------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_is_heard_at_once_and_a_second_quits_keeping_the_checkpoint(tmp_path):
    """The first Ctrl-C is answered while the compiled chunk runs on (before, Python heard it
    only when the chunk ended); the second ends the process at once, the checkpoint of the
    last chunk intact. With --no-progress the chunk has no host callback to ask whether to
    stop, so it runs on: here it takes most of a minute."""
    first = pgjax("train", *TINY, "--total-timesteps", 640, "--chunks", 1, "--run-dir", "run",
                  cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    saved = (tmp_path / "run" / folders.CHECKPOINT_FILE).read_bytes()
    process = pgjax_started("train", "--resume", "run", "--total-timesteps", 3_200_000,
                            "--chunks", 1, "--no-progress", cwd=tmp_path)  # fmt: skip
    heard: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: heard.extend((time.perf_counter(), x) for x in process.stderr), daemon=True
    )
    reader.start()
    for line in process.stdout:  # the chunk is compiled and running once the run is described
        if line.startswith("pgjax: run folder"):
            break
    time.sleep(3)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    while not any("stopping after this chunk" in x for _, x in heard):
        assert time.perf_counter() - sent < 10, heard
        time.sleep(0.02)
    answered = next(t for t, x in heard if "stopping" in x) - sent
    time.sleep(1.5)  # a second Ctrl-C, not the same one echoed
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    ended = time.perf_counter() - sent
    reader.join(timeout=5)
    assert process.returncode == 130, heard
    assert answered < 5 and ended < 10, (answered, ended)  # the chunk takes far longer
    assert "Traceback" not in "".join(x for _, x in heard)
    assert "quit; run keeps its last checkpoint" in heard[-1][1]
    assert (tmp_path / "run" / folders.CHECKPOINT_FILE).read_bytes() == saved
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")) == []


def test_a_second_ctrl_c_in_python_raises_after_the_chunk(monkeypatch):
    """From Python (a notebook), the second Ctrl-C raises KeyboardInterrupt in the main
    thread, never ends the process."""
    from pgjax.tools.session import StopOnSigint

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the tests were started in the
    # background by a shell without job control, which Python then keeps
    with StopOnSigint() as stop, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        assert stop()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    assert signal.getsignal(signal.SIGINT) is before


# ---- 5. words that say what happened ----------------------------------------------------------


def _nan_environments():
    """CartPole whose reward, or whose observation, is NaN from its sixth step on."""
    import jax.numpy as jnp
    from gymnax.environments.classic_control.cartpole import CartPole

    class NanReward(CartPole):
        def step_env(self, key, state, action, params):
            obs, state, reward, done, info = super().step_env(key, state, action, params)
            return obs, state, jnp.where(state.time > 5, jnp.nan, reward), done, info

    class NanObservation(CartPole):
        def step_env(self, key, state, action, params):
            obs, state, reward, done, info = super().step_env(key, state, action, params)
            return jnp.where(state.time > 5, jnp.nan, obs), state, reward, done, info

    envs.register("test-nan-reward", NanReward)
    envs.register("test-nan-observation", NanObservation)


@pytest.mark.parametrize("env", ["test-nan-reward", "test-nan-observation"])
def test_an_environments_nan_is_told_from_an_updates(env):
    _nan_environments()
    config = Config(env=env, total_timesteps=640, **SMALL)
    with pytest.raises(
        DivergedError,
        match=rf"the environment \({env}\) returned an inf or NaN "
        r"reward or observation at \d+ of the "
        r"update's 64 steps.*not the learning",
    ):
        train_in_chunks(config, jax.random.key(0), num_chunks=2)  # fmt: skip
    finite = r"while the environment's rewards and observations stayed finite.*lower lr"
    with pytest.raises(DivergedError, match=finite) as error:
        train_in_chunks(Config(lr=1e30, total_timesteps=640, **SMALL), jax.random.key(0))
    assert error.value.update == 1


def test_metrics_saved_before_a_metric_existed_merge_with_nan(saved, tmp_path):
    """A checkpoint of an earlier pgjax lacks ``env_nonfinite``: resuming it keeps its rows,
    the new metric NaN there."""
    from pgjax.tools.chunks import merge

    old = {"loss": np.ones(2, np.float32)}
    new = {"loss": np.zeros(1, np.float32), "env_nonfinite": np.zeros(1, np.int32)}
    merged = merge([old, new])
    np.testing.assert_array_equal(merged["loss"], [1, 1, 0])
    np.testing.assert_array_equal(merged["env_nonfinite"], [np.nan, np.nan, 0])
    run_dir = _copy(saved, "ppo_clip", tmp_path)
    _tamper(run_dir, lambda b: b["metrics"].pop("env_nonfinite"))
    config, seed = config_file.load_config(run_dir)
    result = run(config.replace(total_timesteps=1280), seed, run_dir=run_dir, resume=True)
    assert np.isnan(result.metrics["env_nonfinite"][:10]).all()
    assert (result.metrics["env_nonfinite"][10:] == 0).all()
    rows = metrics_files.read_metrics_csv(run_dir / folders.METRICS_FILE)
    assert len(rows["env_nonfinite"]) == 20


def test_render_refuses_a_suffix_the_renderer_does_not_write(saved, tmp_path, capsys):
    refused(in_process(["eval", saved / "ppo_clip", "--render", tmp_path / "x.html"], capsys),
            "CartPole-v1 renders to .gif")  # fmt: skip
    assert not (tmp_path / "x.html").exists()


def test_a_value_swept_twice_is_trained_once_and_said_once(tmp_path, capsys):
    args = ["sweep", *TINY, "--total-timesteps", 640, "--seeds", 1, "--lr", "1e-3,1e-3,2e-3",
            "--out", tmp_path / "sw"]  # fmt: skip
    code, out, err = in_process(args, capsys)
    assert code == 0, err
    assert err.count("given more than once") == 1 and "0.001" in err
    assert out.count("| lr=0.001 |") == 1 and "sweep of 2 settings" in out
    with pytest.warns(UserWarning, match="lists a value more than once"):
        assert grid_points({"lr": [1e-3, 1e-3]}) == [{"lr": 1e-3}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(grid_points({"lr": [1e-3, 2e-3]})) == 2


def test_chunks_beyond_what_pays_are_warned_about(tmp_path, capsys):
    code, _, err = in_process(["train", *SHORT, "--chunks", 1000, "--run-dir", tmp_path / "a"],
                              capsys)  # fmt: skip
    assert code == 0 and "--chunks 1000: 10 chunks of 1 update(s)" not in err
    args = [*TINY, "--total-timesteps", 64 * 200, "--no-progress"]
    code, _, err = in_process(["train", *args, "--chunks", 150, "--run-dir", tmp_path / "b"],
                              capsys)  # fmt: skip
    assert code == 0 and "--chunks 150: 100 chunks of 2 update(s)" not in err
    code, _, err = in_process(["train", *args, "--chunks", 200, "--run-dir", tmp_path / "c"],
                              capsys)  # fmt: skip
    assert code == 0 and "--chunks 200: 200 chunks of 1 update(s)" in err
