"""Past one device, on 4 CPU devices made by XLA_FLAGS (each check runs in a subprocess,
since the device count is fixed when JAX starts)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

HEADER = """
import os, json, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count={devices}"
import jax, numpy as np
from pgjax import Config, make_train, train_seeds
from pgjax.tools.chunks import final_return
"""


def run(body: str, devices: int = 4, args: tuple = (), timeout: int = 900) -> dict:
    """Run ``body`` in a fresh interpreter with ``devices`` CPU devices; it prints one JSON
    line last, which is returned."""
    script = HEADER.format(devices=devices) + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


SEEDS = """
config = Config(total_timesteps=4 * 128 * 6)
keys = jax.random.split(jax.random.key(0), 8)
"""


@pytest.mark.slow
def test_sharded_seeds_equal_vmapped_seeds():
    # XLA compiles a batch of 2 seeds per device against 8 on one device; float results may
    # differ in the last bits, exactly as vmap over 2 keys differs from vmap over 8 on one
    # device (checked alongside), so the comparison is to float32 rounding
    r = run(
        SEEDS
        + """
sharded = train_seeds(config, keys)
vmapped = jax.jit(jax.vmap(make_train(config)))(keys)
pairs = jax.jit(jax.vmap(make_train(config)))(keys[:2])
shard_devices = {s.device.id for s in sharded.metrics["loss"].addressable_shards}
print(json.dumps({
    "sharding": str(sharded.metrics["loss"].sharding.spec),
    "devices": sorted(shard_devices),
    "shape": list(sharded.metrics["loss"].shape),
    "sharded": {k: np.asarray(v).tolist() for k, v in sharded.metrics.items()},
    "vmapped": {k: np.asarray(v).tolist() for k, v in vmapped.metrics.items()},
    "pairs_loss": np.asarray(pairs.metrics["loss"]).tolist(),
}))
"""
    )
    assert r["sharding"] in ("P('seeds',)", "PartitionSpec('seeds',)") and r["devices"] == [
        0,
        1,
        2,
        3,
    ]
    assert r["shape"] == [8, 6]
    for name, values in r["vmapped"].items():
        np.testing.assert_allclose(
            np.array(r["sharded"][name], float), np.array(values, float), rtol=1e-4, atol=1e-5,
            err_msg=name,
        )  # fmt: skip
    # the episode statistics are exact: the same actions were taken
    assert r["sharded"]["episode_count"] == r["vmapped"]["episode_count"]
    np.testing.assert_allclose(r["pairs_loss"], r["vmapped"]["loss"][:2], rtol=1e-4, atol=1e-5)


def test_train_seeds_rejects_an_uneven_split():
    r = run(
        """
try:
    train_seeds(Config(total_timesteps=512), jax.random.split(jax.random.key(0), 6))
    print(json.dumps({"error": None}))
except ValueError as e:
    print(json.dumps({"error": str(e)}))
"""
    )
    assert "6 keys do not split evenly over 4 devices" in r["error"]


@pytest.mark.learning
def test_data_parallel_run_learns_cartpole_with_identical_parameters():
    r = run(
        """
config = Config(num_envs=16, num_steps=32, total_timesteps=500_000, devices=4)
result = jax.jit(make_train(config))(jax.random.key(0))
copies = [
    [np.asarray(s.data) for s in leaf.addressable_shards]
    for leaf in jax.tree.leaves(result.state.params)
]
print(json.dumps({
    "final": final_return(jax.device_get(result.metrics)),
    "copies": len(copies[0]),
    "identical": all(all(np.array_equal(c[0], x) for x in c) for c in copies),
    "env_shape": list(result.state.env.obs.shape),
    "timesteps": int(result.metrics["timesteps"][-1]),
}))
"""
    )
    assert r["copies"] == 4 and r["identical"]
    assert r["env_shape"] == [16, 4] and r["timesteps"] == 976 * 512
    assert r["final"] >= 450, r["final"]


def test_devices_errors_name_the_field():
    r = run(
        """
errors = {}
for kw in [dict(devices=8), dict(devices=3, num_envs=4), dict(devices=4, algo="trpo")]:
    try:
        make_train(Config(**kw))
    except ValueError as e:
        errors[str(kw)] = str(e)
print(json.dumps(errors))
"""
    )
    messages = list(r.values())
    assert len(messages) == 3
    assert "Config.devices=8: only 4 cpu device(s)" in messages[0]
    assert "Config.num_envs=4: must be divisible by the 3 devices" in messages[1]
    assert "algo='trpo' runs on one device" in messages[2]


# on each host: jax.distributed.initialize() first, before pgjax (gymnax's import starts JAX)
MULTI_HOST = """
import os, json, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    coordinator_address=f"127.0.0.1:{sys.argv[2]}", num_processes=2, process_id=int(sys.argv[1])
)
from pgjax import Config, make_train, train_seeds
config = Config(total_timesteps=4 * 128 * 6)
result = train_seeds(config, jax.random.split(jax.random.key(0), 8))
mine = {
    s.index[0].start + j: row
    for s in result.metrics["loss"].addressable_shards
    for j, row in enumerate(np.asarray(s.data).tolist())
}
print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(), "rows": mine}))
"""


@pytest.mark.slow
def test_two_simulated_hosts_share_the_seeds():
    """What a user runs on each host, simulated by two processes of 2 CPU devices each on
    this machine (gloo collectives over localhost)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = MULTI_HOST
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, stderr) in zip(procs, outs, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outs]
    assert all(r["processes"] == 2 and r["devices"] == 4 for r in reports)
    rows = {int(k): v for r in reports for k, v in r["rows"].items()}
    assert sorted(rows) == list(range(8))  # each host holds its own seeds, none twice
    single = run(
        SEEDS
        + """
print(json.dumps(np.asarray(jax.jit(jax.vmap(make_train(config)))(keys).metrics["loss"]).tolist()))
""",
        devices=1,
    )
    for i in range(8):
        np.testing.assert_allclose(rows[i], single[i], rtol=1e-4, atol=1e-5)


def test_chunked_training_is_data_parallel():
    r = run(
        """
from pgjax.tools.chunks import train_in_chunks
config = Config(num_envs=8, num_steps=16, num_minibatches=2, total_timesteps=8 * 16 * 7,
                devices=4)
whole = jax.jit(make_train(config))(jax.random.key(3))
chunked = train_in_chunks(config, jax.random.key(3), num_chunks=3)
alone = train_in_chunks(config.replace(devices=1), jax.random.key(3), num_chunks=3)
copies = [[np.asarray(s.data) for s in leaf.addressable_shards]
          for leaf in jax.tree.leaves(chunked.state.params)]
print(json.dumps({
    "whole": {k: np.asarray(v).tolist() for k, v in whole.metrics.items()},
    "chunked": {k: np.asarray(v).tolist() for k, v in chunked.metrics.items()},
    "alone_count": np.asarray(alone.metrics["episode_count"]).tolist(),
    "copies": len(copies[0]),
    "identical": all(all(np.array_equal(c[0], x) for x in c) for c in copies),
    "env_spec": str(chunked.state.env.obs.sharding.spec),
}))
"""
    )
    # the same run as make_train's data-parallel one (to float32 rounding: the chunk's loop
    # compiles apart from the whole run's), not the one-device run it used to be
    assert r["chunked"]["episode_count"] == r["whole"]["episode_count"] != r["alone_count"]
    for name, values in r["whole"].items():
        np.testing.assert_allclose(
            np.array(r["chunked"][name], float), np.array(values, float), rtol=1e-4, atol=1e-5,
            err_msg=name,
        )  # fmt: skip
    assert r["copies"] == 4 and r["identical"] and "devices" in r["env_spec"]


@pytest.mark.slow
def test_the_cli_trains_and_resumes_data_parallel(tmp_path):
    from tests.test_cli import TINY, pgjax

    four = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    args = [*TINY, "--devices", 4, "--no-progress"]
    for name, steps in (("whole", 64 * 40), ("half", 64 * 20)):
        out = pgjax("train", *args, "--total-timesteps", steps, "--run-dir", name, cwd=tmp_path,
                    env=four)  # fmt: skip
        assert out.returncode == 0, out.stderr
    out = pgjax("train", "--resume", "half", "--total-timesteps", 64 * 40, cwd=tmp_path, env=four)
    assert out.returncode == 0, out.stderr
    assert "resuming half at update 20 of 40" in out.stdout
    whole, half = (checkpoint_metrics(tmp_path / name) for name in ("whole", "half"))
    for name, values in whole.items():
        np.testing.assert_allclose(half[name], values, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(half["episode_count"], whole["episode_count"])


def checkpoint_metrics(run_dir):
    from pgjax.tools import folders, metrics_files

    return metrics_files.read_metrics_csv(run_dir / folders.METRICS_FILE)
