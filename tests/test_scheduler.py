"""A run outlives its scheduler (issue 39): SIGTERM and SIGHUP heard like Ctrl-C and saved
within an update, one command that starts or requeues a run, a sweep continued after a stop,
sizes that cannot fit refused, the user's own errors named by file and line, a full disk."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from pgjax import Config
from pgjax.tools import checkpoint, cli, config_file, folders, metrics_files
from pgjax.tools.evaluate import MAX_EPISODES, evaluate
from pgjax.tools.session import StopOnSignals, run
from tests.test_cli import TINY, pgjax, user_error

pytestmark = pytest.mark.slow  # each test drives pgjax processes through signals and requeues

# 2000 tiny updates (seconds): long enough to be stopped in the middle
LONG = [*TINY, "--total-timesteps", 128_000, "--chunks", 4]


HANGUP_HEARD = (
    "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'pgjax.tools.cli', *sys.argv[1:]])"
)
"""``pgjax`` with SIGHUP not ignored, as a terminal starts it, whatever the shell that ran the
tests did with it (a ``nohup``-ed CI leaves it ignored, and pgjax then leaves it so)."""


def started(*args, cwd) -> subprocess.Popen:
    """``pgjax args`` started as a terminal starts it (``HANGUP_HEARD``), its output piped."""
    return subprocess.Popen(
        [sys.executable, "-c", HANGUP_HEARD, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def stop_mid_run(process: subprocess.Popen, signum: int, after: str = "[") -> tuple[str, str]:
    """Send ``signum`` once ``process`` prints a line starting with ``after`` (a progress
    line: the chunk is running); its output once it has ended."""
    for line in process.stdout:
        if line.startswith(after):
            break
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return stdout, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of ``LONG``: what every stopped and resumed run must equal."""
    cwd = tmp_path_factory.mktemp("scheduler")
    out = pgjax("train", *LONG, "--run-dir", "ref", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return cwd


def same_run(a: Path, b: Path) -> None:
    assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()
    assert (a / "checkpoint.msgpack").read_bytes() == (b / "checkpoint.msgpack").read_bytes()


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_saves_within_an_update_and_the_resumed_run_is_the_uninterrupted_one(
    reference, signum, status
):
    name = signal.Signals(signum).name
    folder = f"cut-{name}"
    process = started("train", *LONG, "--run-dir", folder, cwd=reference)
    stdout, stderr = stop_mid_run(process, signum)
    assert process.returncode == status, stdout + stderr
    assert "Traceback" not in stderr
    saved = metrics_files.read_metrics_csv(reference / folder / "metrics.csv")
    done = len(saved["update"])
    # a chunk is 500 updates: the stop came inside one, and what it had done was saved
    assert 0 < done < 2000 and done % 500 != 0, done
    assert f"{name}: stopping after this update" in stderr
    line = f"pgjax: {name}: stopped after {done} of 2000 updates; saved the checkpoint of " \
           f"update {done} in {folder}. Continue with: pgjax train --resume {folder}"  # fmt: skip
    assert line in stdout.splitlines()
    assert (reference / folder / "metrics.csv").read_text().count("\n") == done + 1
    out = pgjax("train", "--resume", folder, cwd=reference)
    assert out.returncode == 0, out.stderr
    assert f"resuming {folder} at update {done} of 2000" in out.stdout
    same_run(reference / folder, reference / "ref")


def test_requeue_starts_a_run_then_resumes_it(reference):
    """One job line for every start: the first creates the folder, a requeue after SIGTERM
    resumes it, and the run is the uninterrupted one; other flags are refused by name."""
    line = ["train", *LONG, "--run-dir", "queued", "--requeue"]
    process = started(*line, cwd=reference)
    stop_mid_run(process, signal.SIGTERM)
    assert process.returncode == 143
    out = pgjax(*line, cwd=reference)
    assert out.returncode == 0, out.stderr
    assert "resuming queued at update" in out.stdout
    same_run(reference / "queued", reference / "ref")
    out = pgjax(*line, cwd=reference)  # a requeue of a finished run: nothing to do
    assert out.returncode == 0 and "already has 2000 of 2000 updates" in out.stdout
    other = ["train", *LONG, "--lr", "1e-3", "--run-dir", "queued", "--requeue"]
    user_error(pgjax(*other, cwd=reference), "--requeue", "lr=0.001 (the run's: 0.00025)")
    user_error(pgjax("train", "--requeue", cwd=reference), "give --run-dir DIR")


def test_a_requeue_killed_before_its_first_checkpoint_starts_again(tmp_path):
    line = ["train", *TINY, "--total-timesteps", 640, "--run-dir", "q", "--requeue"]
    first = pgjax(*line, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "q" / "checkpoint.msgpack").unlink()  # as if killed (-9) before one was saved
    again = pgjax(*line, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "from the start (it saved no checkpoint)" in again.stdout


SWEEP = ["sweep", *TINY, "--total-timesteps", 32_000, "--seeds", 2, "--lr", "1e-3,2e-3,3e-3"]


@pytest.fixture(scope="module")
def whole_sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    out = pgjax(*SWEEP, "--out", "whole", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return cwd


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_sweep_continues_to_the_uninterrupted_table(whole_sweep, signum, status):
    cwd, folder = whole_sweep, f"sw{signum}"
    process = started(*SWEEP, "--out", folder, cwd=cwd)
    stdout, stderr = stop_mid_run(process, signum, after="[#########")  # in the first call
    assert process.returncode == status, stdout + stderr
    assert "Traceback" not in stderr
    assert f"Continue with the same command and --out {folder} --resume" in stderr
    calls = sorted(p.name for p in (cwd / folder / "calls").iterdir())
    assert 1 <= len(calls) < 3, calls
    out = pgjax(*SWEEP, "--out", folder, "--resume", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert f"{len(calls)} of 3 settings finished" in out.stdout
    assert (cwd / folder / "sweep.md").read_text() == (cwd / "whole" / "sweep.md").read_text()


def test_a_sweep_killed_keeps_each_finished_call(whole_sweep):
    """``kill -9`` writes nothing more, yet every call that finished is on disk."""
    cwd = whole_sweep
    process = started(*SWEEP, "--out", "killed", cwd=cwd)
    stop_mid_run(process, signal.SIGKILL, after="[#########")
    assert process.returncode == -signal.SIGKILL
    assert not (cwd / "killed" / "sweep.md").exists()
    out = pgjax(*SWEEP, "--out", "killed", "--resume", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert (cwd / "killed" / "sweep.md").read_text() == (cwd / "whole" / "sweep.md").read_text()


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (["--seeds", "3"], "seeds 3, recorded 2"),
        (["--lr", "1e-3,2e-3"], "grid lr=0.001,0.002, recorded lr=0.001,0.002,0.003"),
        (["--gamma", "0.9"], "Config.gamma=0.9, recorded 0.99"),
    ],
)
def test_a_resume_of_another_sweep_is_refused_by_what_differs(whole_sweep, change, phrase):
    before = (whole_sweep / "whole" / "sweep.md").read_text()
    out = pgjax(*SWEEP, *change, "--out", "whole", "--resume", cwd=whole_sweep)
    user_error(out, "--resume: whole holds another sweep", phrase)
    assert (whole_sweep / "whole" / "sweep.md").read_text() == before


def test_a_sweep_folder_says_how_to_continue(whole_sweep):
    out = pgjax(*SWEEP, "--out", "whole", cwd=whole_sweep)
    user_error(out, "already holds a sweep", "continue it with --resume", "--overwrite")


def test_a_benchmark_script_stopped_by_sigterm_names_what_it_wrote(tmp_path):
    script = Path(__file__).parent.parent / "benchmarks" / "learning.py"
    args = ["--env", "CartPole-v1", "--algo", "ppo_clip", "--algo", "a2c", "--seeds", "1",
            "--total-timesteps", "400000", "--out-dir", "out"]  # fmt: skip
    process = subprocess.Popen([sys.executable, str(script), *args], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    stdout, stderr = stop_mid_run(process, signal.SIGTERM, after="| CartPole-v1 | ppo_clip")
    assert process.returncode == 143, stdout + stderr
    saved = Path("out/learning_runs/cpu/CartPole-v1__ppo_clip.npz")
    random = Path("out/learning_runs/cpu/random_returns.json")  # the random policy's, first
    assert f"learning.py: SIGTERM: stopped; the files it wrote: {random}, {saved}." in stderr
    assert "Run again with: python" in stderr and "Traceback" not in stderr
    with np.load(tmp_path / saved) as run:
        assert run["returns"].shape[0] == 1
    assert not (tmp_path / "out" / "learning_runs" / "cpu" / "CartPole-v1__a2c.npz").exists()


# ---- sizes that cannot fit ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    config = Config(**dict(num_envs=4, num_steps=16, num_minibatches=2), total_timesteps=640)
    return config, run(config, seed=0).state


def test_eval_runs_its_episodes_in_batches_that_give_the_same_returns(trained):
    config, state = trained
    key = jax.random.key(3)
    whole = evaluate(config, state, key, episodes=7)
    batched = evaluate(config, state, key, episodes=7, batch=3, on_batch=(seen := []).append)
    assert seen == [3, 6, 7]
    np.testing.assert_allclose(batched, whole, rtol=1e-6)
    with pytest.raises(ValueError, match=r"episodes=1000001: must be an integer in \[1, 1,000,"):
        evaluate(config, state, key, episodes=MAX_EPISODES + 1)


def test_eval_refuses_a_count_above_the_maximum_and_batches_the_rest(tmp_path):
    out = pgjax("train", *TINY, "--total-timesteps", 640, "--run-dir", "r", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    user_error(pgjax("eval", "r", "--episodes", 400_000_000, cwd=tmp_path),
               "--episodes=400000000", "[1, 1,000,000]")  # fmt: skip
    out = pgjax("eval", "r", "--episodes", 20, "--batch", 8, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "20 episodes in 3 batches" in out.stdout and "20 of 20 episodes" in out.stdout
    assert "over 20 episodes" in out.stdout


def test_a_run_whose_metrics_cannot_fit_is_refused_before_compiling(tmp_path):
    out = pgjax("train", "--num-envs", 1, "--num-steps", 1, "--num-minibatches", 1,
                "--total-timesteps", 2**31 - 1, "--run-dir", "r", cwd=tmp_path)  # fmt: skip
    user_error(out, "Config.total_timesteps=2,147,483,647", "lower total_timesteps")
    assert not (tmp_path / "r").exists()


def test_a_sweep_of_too_many_runs_is_refused(tmp_path):
    out = pgjax("sweep", *TINY, "--seeds", 200_000, "--out", "s", cwd=tmp_path)
    user_error(out, "200,000 runs", "at most 100,000")
    assert not (tmp_path / "s").exists()


def test_an_out_of_memory_error_is_one_line(monkeypatch, capsys):
    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 2147483648 "
                                         "bytes.")  # fmt: skip

    monkeypatch.setattr(cli, "run_train", exhausted)
    assert cli.main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == err.strip().splitlines()[0]
    assert "out of memory: XLA could not allocate 2.0 GiB" in err and "lower them" in err


# ---- the user's own code ----------------------------------------------------------------------


def test_an_error_in_the_users_module_names_its_file_and_line(tmp_path):
    (tmp_path / "knobs.py").write_text("x = 1\nraise ValueError('the knob must be positive')\n")
    out = pgjax("train", "--import", "knobs", cwd=tmp_path)
    user_error(out, f"--import knobs: ValueError raised at {tmp_path / 'knobs.py'}:2",
               "the knob must be positive")  # fmt: skip
    (tmp_path / "broken.py").write_text("def f():\n    return {}['key']\n\nf()\n")
    out = pgjax("train", "--import", "broken", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback (the frames of your code)" in out.stderr
    assert 'broken.py", line 4' in out.stderr and 'broken.py", line 2' in out.stderr
    assert "site-packages" not in out.stderr  # only the user's frames
    assert out.stderr.strip().splitlines()[-1] == (
        f"pgjax: --import broken: KeyError raised at {tmp_path / 'broken.py'}:2: 'key'"
    )


def test_a_value_error_raised_in_the_users_environment_names_its_line(tmp_path):
    (tmp_path / "myenv.py").write_text(textwrap.dedent("""
        from pgjax import envs

        def make(**options):
            raise ValueError("size must be at least 3")

        envs.register("Mine-v0", make)
    """))  # fmt: skip
    out = pgjax("train", "--import", "myenv", "--env", "Mine-v0", cwd=tmp_path)
    user_error(out, "size must be at least 3", f"raised at {tmp_path / 'myenv.py'}:5")


# ---- a full disk ----------------------------------------------------------------------------


def test_a_full_disk_keeps_the_last_checkpoint_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGJAX_CACHE_DIR", str(tmp_path / "cache"))
    real, saves = folders._write_atomic, []

    def fills_up(path, tmp, data):
        if path.name == folders.CHECKPOINT_FILE:
            saves.append(path)
            if len(saves) == 3:  # the third chunk's checkpoint: the disk is full
                with open(tmp, "wb") as f:
                    f.write(data[: len(data) // 2])
                tmp.unlink()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
        real(path, tmp, data)

    monkeypatch.setattr(folders, "_write_atomic", fills_up)
    args = ["train", *TINY, "--total-timesteps", "6400", "--chunks", "5", "--no-progress"]
    assert cli.main([*args, "--run-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "saving update 60 failed: No space left on device" in err[0]
    assert f"{tmp_path / 'r'} keeps its checkpoint of update 40, intact" in err[0]
    config, seed = config_file.load_config(tmp_path / "r")
    state, metrics = checkpoint.restore(tmp_path / "r", config, seed)
    assert int(state.update) == 40 and len(metrics["timesteps"]) == 40
    assert [p.name for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")] == []


# ---- the handlers ---------------------------------------------------------------------------


def test_the_handlers_before_are_restored_and_an_ignored_hangup_stays_ignored():
    def mine(signum, frame):
        pass

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, mine)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
        with StopOnSignals() as stop:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)
            assert not stop()
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # as timeout sends it: process, then group
            time.sleep(0.2)
            assert stop() and stop.signum == signal.SIGTERM and stop.heard == 1
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


SLOW_SAVE = """
import os, signal, sys, threading, time
from pgjax.tools import checkpoint, config_file, folders, metrics_files
from pgjax.tools import cli

real, calls = folders._write_atomic, []

def slow(path, tmp, data):
    if path.name == folders.CHECKPOINT_FILE:
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: signalled twice while it is written
            with open(tmp, "wb") as f:
                f.write(data[:100])
            for _ in range(2):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1.5)
            time.sleep(1)
    real(path, tmp, data)

folders._write_atomic = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_second_signal_while_saving_leaves_a_whole_checkpoint(tmp_path):
    (tmp_path / "slow_save.py").write_text(SLOW_SAVE)
    args = [*TINY, "--total-timesteps", 6400, "--chunks", 5, "--run-dir", "r"]
    out = subprocess.run(
        [sys.executable, "slow_save.py", "train", *map(str, args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 143, out.stderr  # fmt: skip
    assert "quit; r keeps its last checkpoint" in out.stderr
    config, seed = config_file.load_config(tmp_path / "r")
    state, _ = checkpoint.restore(tmp_path / "r", config, seed)  # whole: it loads
    assert int(state.update) in (20, 40)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seed"] == 0


def test_overwrite_into_a_folder_that_holds_no_sweep_keeps_its_files(tmp_path):
    (tmp_path / "mine" / "runs").mkdir(parents=True)
    (tmp_path / "mine" / "runs" / "notes.txt").write_text("mine")
    out = pgjax("sweep", *TINY, "--total-timesteps", 640, "--seeds", 1, "--out", "mine",
                "--overwrite", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "mine" / "runs" / "notes.txt").read_text() == "mine"
