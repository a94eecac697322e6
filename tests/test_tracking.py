"""TensorBoard and W&B logging: what a tracker reads back is every metric of every update at
its environment step, and a resumed run continues the same tracked run. No network: W&B runs
offline; TensorBoard's events are read with TensorBoard's own reader."""

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pgjax import Config
from pgjax.tools.cli import main
from pgjax.tools.session import run
from pgjax.tools.tracking import TensorBoardLogger, WandbLogger, tag
from tests.test_cli import TINY, pgjax

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

# 4 envs x 16 steps, 32 updates, in 4 chunks; a constant lr, so that a run stopped half-way
# and resumed for the whole equals the uninterrupted one
CONFIG = Config(num_envs=4, num_steps=16, num_minibatches=2, total_timesteps=2048, anneal_lr=False)
HALF = CONFIG.replace(total_timesteps=1024)


OFFLINE = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # wandb.init leaves the address of its service process here, for children to join: a
    # pgjax subprocess would log into an earlier test's service instead of its own
    monkeypatch.delenv("WANDB_SERVICE", raising=False)


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run's metrics, untracked."""
    return run(CONFIG, seed=3, num_chunks=4).metrics


def tensorboard_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard shows for ``log_dir``: tag → [(step, value)] (older events
    that a resumed run purged are gone, as TensorBoard shows them)."""
    reader = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    reader.Reload()
    return {t: [(e.step, e.value) for e in reader.Scalars(t)] for t in reader.Tags()["scalars"]}


def wandb_records(path: Path) -> list:
    """The records of a W&B run file (``run-<id>.wandb``): a LevelDB-style log of 32 KiB
    blocks after a 7-byte header, each record ``crc32 (4) | length (2) | type (1) | data``,
    the data a ``wandb_internal_pb2.Record`` (types 2–4 split one across blocks)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def wandb_history(run_dir: Path) -> tuple[list[dict], dict, set[str]]:
    """(the logged rows of every W&B run file in ``run_dir/wandb``, oldest first; the config;
    the run ids)."""
    rows, config, ids = [], {}, set()
    for path in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                rows.append({_key(i): json.loads(i.value_json) for i in record.history.item})
            elif kind == "run":
                ids.add(record.run.run_id)
                config |= {_key(i): json.loads(i.value_json) for i in record.run.config.update}
            elif kind == "config":
                config |= {_key(i): json.loads(i.value_json) for i in record.config.update}
    return rows, config, ids


def settled_wandb_history(run_dir: Path, rows: int, seconds: float = 60.0):
    """``wandb_history`` once it holds ``rows`` rows, or after ``seconds``. Once in a CI run
    (2 test workers on 2 cores) the resumed run's rows were not yet in its file when read just
    after ``finish()`` returned; W&B's service process writes the file, and I have not found
    whether ``finish()`` waits for that write."""
    deadline = time.monotonic() + seconds
    while True:
        found = wandb_history(run_dir)
        if len(found[0]) >= rows or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def assert_logged(points: list[tuple[int, float]], metrics: dict, name: str) -> None:
    """``points`` are exactly the finite per-update values of ``metrics[name]`` at their
    steps, each step once."""
    finite = np.isfinite(metrics[name])
    steps = np.asarray(metrics["timesteps"])[finite]
    assert [s for s, _ in points] == steps.tolist()
    np.testing.assert_allclose([v for _, v in points], metrics[name][finite], rtol=1e-6)


def test_tensorboard_holds_every_metric_at_its_step(tmp_path, reference):
    logger = TensorBoardLogger(tmp_path / "tb", CONFIG, seed=3)
    result = run(CONFIG, seed=3, num_chunks=4, loggers=[logger])
    scalars = tensorboard_scalars(tmp_path / "tb")
    names = [k for k in result.metrics if k != "timesteps"]
    assert set(scalars) == {tag(k) for k in names}
    for name in names:
        assert_logged(scalars[tag(name)], result.metrics, name)
    assert np.isfinite(result.metrics["episode_return"]).sum() > 10


def test_tensorboard_resume_continues_the_same_run_and_purges_what_a_stop_left(tmp_path, reference):
    run_dir = tmp_path / "run"
    log_dir = run_dir / "tensorboard"
    run(HALF, seed=3, run_dir=run_dir, num_chunks=2, loggers=[TensorBoardLogger(log_dir, HALF)])
    # a stopped run that logged past its checkpoint: events the resumption must replace
    stale = TensorBoardLogger(log_dir, HALF)
    steps = HALF.batch_size * np.arange(HALF.num_updates + 1, CONFIG.num_updates + 1)
    stale.log(0, {"update": steps // HALF.batch_size, "timesteps": steps, "kl": 0 * steps - 7})
    stale.close()
    run(CONFIG, seed=3, run_dir=run_dir, resume=True, num_chunks=4,
        loggers=[TensorBoardLogger(log_dir, CONFIG)])  # fmt: skip
    scalars = tensorboard_scalars(log_dir)
    for name in ("kl", "episode_return", "policy_loss"):
        assert_logged(scalars[tag(name)], reference, name)


def test_wandb_offline_run_holds_the_history_config_and_resumes_the_same_run(tmp_path, reference):
    run_dir = tmp_path / "run"
    run(HALF, seed=3, run_dir=run_dir, num_chunks=2, loggers=[WandbLogger(run_dir, HALF, 3)])
    run(CONFIG, seed=3, run_dir=run_dir, resume=True, num_chunks=4,
        loggers=[WandbLogger(run_dir, CONFIG, 3)])  # fmt: skip
    rows, config, ids = settled_wandb_history(run_dir, CONFIG.num_updates)
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 2
    assert ids == {(run_dir / "wandb_id.txt").read_text().strip()}  # one W&B run, resumed
    assert config["lr"] == CONFIG.lr and config["seed"] == 3 and config["env"] == "CartPole-v1"
    for name in ("kl", "episode_return"):
        points = [(r["env_steps"], r[tag(name)]) for r in rows if tag(name) in r]
        assert_logged(points, reference, name)


def test_the_cli_logs_to_both_and_resume_continues_them(tmp_path):
    log = ["--log", "tensorboard", "--log", "wandb"]
    first = pgjax("train", *TINY, "--total-timesteps", 1024, "--chunks", 2, "--run-dir", "r",
                  *log, cwd=tmp_path, env=OFFLINE)  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = pgjax("train", "--resume", "r", "--total-timesteps", 2048, *log, cwd=tmp_path,
                  env=OFFLINE)  # fmt: skip
    assert again.returncode == 0, again.stderr
    run_dir = tmp_path / "r"
    csv = np.genfromtxt(run_dir / "metrics.csv", delimiter=",", names=True)
    metrics = {name: csv[name] for name in csv.dtype.names}
    assert len(csv) == 32
    assert_logged(tensorboard_scalars(run_dir / "tensorboard")[tag("kl")], metrics, "kl")
    rows, config, ids = settled_wandb_history(run_dir, 32)
    assert len(ids) == 1 and config["total_timesteps"] == 2048
    assert_logged([(r["env_steps"], r[tag("kl")]) for r in rows], metrics, "kl")


@pytest.mark.parametrize(
    ("tracker", "install"), [("tensorboard", "tensorboardX"), ("wandb", "wandb")]
)
def test_a_missing_tracker_names_its_install_and_makes_no_folder(
    tmp_path, monkeypatch, capsys, tracker, install
):
    monkeypatch.setitem(sys.modules, install, None)  # import fails as if not installed
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--log", tracker, "--run-dir", "r"]) == 2
    error = capsys.readouterr().err
    assert error.strip() == (
        f"pgjax: logging to {tracker} needs {install}: pip install 'pgjax[{tracker}]'"
    )
    assert not (tmp_path / "r").exists()


def test_a_sweep_logs_each_setting_and_seed_as_its_own_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", *TINY, "--seeds", "2", "--lr", "1e-3,3e-4", "--total-timesteps", "512"]
    assert main([*argv, "--out", "sw", "--log", "tensorboard"]) == 0
    runs = sorted(p.name for p in (tmp_path / "sw" / "runs").iterdir())
    assert runs == ["lr=0.0003-seed0", "lr=0.0003-seed1", "lr=0.001-seed0", "lr=0.001-seed1"]
    kl = {
        r: tensorboard_scalars(tmp_path / "sw" / "runs" / r / "tensorboard")[tag("kl")]
        for r in runs
    }
    for points in kl.values():
        assert [s for s, _ in points] == [64 * (i + 1) for i in range(8)]
    assert len({tuple(v for _, v in points) for points in kl.values()}) == 4  # four runs
