"""Each part owns its settings (issue 40): a user's own knob declared by their algorithm is
traced, vmapped, swept, recorded and set on the command line; the optimiser is a value; a
user's learner on two devices stays in step or is refused; sinks and environments with
options come from the user's own file."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, algorithms, make_train
from pgjax.core.settings import Setting

# A user's own file: nothing here is pgjax's.
EXTENSIONS = """
import json
import gymnax
import jax.numpy as jnp
import optax
from pgjax import algorithms, envs, losses
from pgjax.tools import tracking
from pgjax.algorithms.learners import Learner
from pgjax.core.settings import Setting

def dual_clip(terms, hp):  # Ye et al. 2020: for A < 0 the loss is also bounded by -c A
    ratio = losses.importance_ratio(terms.log_prob, terms.old_log_prob)
    clipped = losses.clipped_surrogate_loss(ratio, terms.advantages, hp.clip_eps)
    bound = -hp.settings["dual_clip"] * terms.advantages
    return jnp.where(terms.advantages < 0, jnp.minimum(clipped, bound), clipped)

DUAL = Setting("dual_clip", 3.0, "the dual-clip bound c", traced=True, low=1.0)
algorithms.register(algorithms.get("ppo_clip")._replace(
    name="dual_ppo", policy_loss=dual_clip, settings=(DUAL,)))

def rmsprop(lr, hp):
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.rmsprop(lr))

algorithms.register(algorithms.get("ppo_clip")._replace(
    name="rms_ppo", learner=Learner.from_loss("rms", optimizer=rmsprop)))

@tracking.register("jsonl")
class JsonLines:
    live = False
    def __init__(self, run_dir, config, seed, **options):
        self.file = open(run_dir / "metrics.jsonl", "a")
    def log(self, step, rows):
        for i in range(len(rows["update"])):
            self.file.write(json.dumps({k: float(v[i]) for k, v in rows.items()}) + "\\n")
    def close(self):
        self.file.close()

def short_pole(max_steps=500):
    env, params = gymnax.make("CartPole-v1")
    return envs.from_gymnax(env, params.replace(max_steps_in_episode=max_steps), name="pole")

envs.register("short_pole", short_pole)
"""

SMALL = dict(num_envs=4, num_steps=32, num_minibatches=2, total_timesteps=4 * 32 * 6)


@pytest.fixture(scope="module")
def user_parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "user_parts.py").write_text(EXTENSIONS)
    sys.path.insert(0, str(folder))
    import user_parts  # noqa: F401  (registers)

    yield folder
    sys.path.remove(str(folder))


@pytest.mark.slow
def test_a_users_traced_knob_vmaps_in_one_compiled_call(user_parts):
    config = Config(algo="dual_ppo", **SMALL)
    assert config.settings == {"dual_clip": 3.0}
    values = [1.001, 1.2, 3.0]
    hp = config.hparams().set(dual_clip=jnp.array(values))
    train = jax.jit(jax.vmap(make_train(config), in_axes=(None, hp.axes(["dual_clip"]))))
    swept = train(jax.random.key(3), hp).metrics["loss"]
    assert train._cache_size() == 1
    for i, c in enumerate(values):
        single = jax.jit(make_train(config.replace(dual_clip=c)))(jax.random.key(3))
        np.testing.assert_allclose(swept[i], single.metrics["loss"], rtol=2e-4, atol=1e-6)
    assert not np.allclose(swept[0], swept[2])  # the knob is read: the runs differ


def test_settings_are_checked_by_their_part(user_parts):
    with pytest.raises(ValueError, match=r"setting dual_clip=0.5: must be a finite number > 1"):
        Config(algo="dual_ppo", dual_clip=0.5).validate()
    with pytest.raises(ValueError, match=r"no field or setting 'dual_clip'.*its settings: none"):
        Config(algo="ppo_clip", dual_clip=2.0)
    with pytest.raises(ValueError, match="traced, so it must be a float"):
        algorithms.register(
            algorithms.get("ppo_clip")._replace(
                name="bad", settings=(Setting("k", 1, "a count", traced=True, kind="int"),)
            )
        )
    with pytest.raises(ValueError, match="not a Config field"):
        algorithms.register(
            algorithms.get("ppo_clip")._replace(name="bad", settings=(Setting("lr", 1.0, "x"),))
        )


def test_a_config_json_of_before_the_move_still_loads():
    old = {
        "return_type": "episode", "baseline": "critic", "kl_beta": 2.0, "kl_target": 0.01,
        "max_kl": 0.05, "cg_iters": 10, "cg_damping": 0.1, "line_search_steps": 10,
        "rho_bar": 1.0, "c_bar": 1.0,
    }  # fmt: skip
    assert Config.from_dict({"algo": "a2c", **old}).settings == {}
    trpo = Config.from_dict({"algo": "trpo", **old})
    assert trpo.settings["max_kl"] == 0.05 and trpo.sources["max_kl"] == "user"
    assert Config.from_dict({"algo": "ppo_penalty", **old}).hparams().settings == {"kl_beta": 2.0}


@pytest.mark.slow
def test_the_optimiser_is_a_value():
    base = Config(**SMALL)
    runs = {
        name: jax.jit(make_train(base.replace(optimizer=name)))(jax.random.key(0))
        for name in ("adam", "rmsprop", "sgd")
    }
    assert base.optimizer == "adam"  # the default: its numbers are benchmarks/same_numbers.py's
    assert not np.allclose(runs["adam"].metrics["loss"], runs["rmsprop"].metrics["loss"])
    assert not np.allclose(runs["rmsprop"].metrics["loss"], runs["sgd"].metrics["loss"])
    with pytest.raises(ValueError, match=r"Config.optimizer='adm' is unknown.*'adam'"):
        base.replace(optimizer="adm").validate()
    # REINFORCE's policy steps apart from its critic, each with its own optimiser
    reinforce = Config(algo="reinforce", num_envs=2, num_steps=200, total_timesteps=800)
    both = jax.jit(make_train(reinforce))(jax.random.key(0))
    apart = jax.jit(make_train(reinforce.replace(policy_optimizer="sgd")))(jax.random.key(0))
    np.testing.assert_array_equal(both.metrics["value_loss"][0], apart.metrics["value_loss"][0])
    actor = [jax.flatten_util.ravel_pytree(r.state.params.actor)[0] for r in (both, apart)]
    assert not np.array_equal(*actor)


TWO_DEVICES = """
import os, sys, json
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
sys.path.insert(0, sys.argv[1])
import jax, numpy as np, optax
from jax.sharding import PartitionSpec as P
import user_parts
from pgjax import Config, algorithms
from pgjax.algorithms.learners import Learner, OptState, init_sgd
from pgjax.pipeline.train import AXIS, data_parallel, make_pipeline

def per_shard(algo):
    config = Config(algo=algo, devices=2, total_timesteps=4 * 128 * 2)
    pipe = make_pipeline(config, axis_name=AXIS, num_shards=2)
    def run(key, hp):
        s = pipe.init(key, hp)
        s, _ = jax.lax.scan(lambda s, _: pipe.update(s, hp), s, None, length=config.num_updates)
        return jax.tree.map(lambda x: x[None], s.params)
    out = jax.jit(data_parallel(run, 2, (P(), P()), P(AXIS)))(jax.random.key(0), config.hparams())
    leaves = jax.tree.leaves(out)
    return [np.concatenate([np.ravel(x[i]) for x in leaves]) for i in range(2)]

def no_mean_step(static, params, opt_state, batch, key, hp):  # its own loop, never averaged
    opt = optax.sgd(0.1)
    grads = jax.grad(lambda p: jax.numpy.mean(static.net.value(p, batch.obs)))(params)
    updates, state = opt.update(grads, opt.init(params), params)
    return optax.apply_updates(params, updates), opt_state, {}

hand = Learner("hand", init_sgd, no_mean_step)
algorithms.register(algorithms.get("ppo_clip")._replace(name="hand", learner=hand))
try:
    Config(algo="hand", devices=2).validate()
    refused = ""
except ValueError as error:
    refused = str(error)
algorithms.register(algorithms.get("ppo_clip")._replace(
    name="liar", learner=hand._replace(data_parallel=True)))
a, b = per_shard("rms_ppo")
c, d = per_shard("liar")
print(json.dumps({"equal": bool(np.array_equal(a, b)), "refused": refused,
                  "liar_spread": float(np.max(np.abs(c - d)))}))
"""


def test_a_users_learner_on_two_devices_stays_in_step_or_is_refused(user_parts):
    out = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, str(user_parts)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["equal"]  # built on the loop: averaged over the devices
    assert "does not say that it averages over devices" in result["refused"]
    assert result["liar_spread"] > 0  # the check above is one that could fail


def test_an_environment_factory_takes_options(user_parts):
    from pgjax import envs

    assert envs.make_env("short_pole:max_steps=8").spec.time_limit == 8
    result = jax.jit(make_train(Config(env="short_pole:max_steps=8", **SMALL)))(jax.random.key(0))
    assert np.nanmax(result.metrics["episode_length"]) <= 8
    with pytest.raises(ValueError, match=r"unexpected keyword argument .size.*takes: max_steps"):
        envs.make_env("short_pole:size=8")


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "pgjax.tools.cli", *args], capture_output=True, text=True, cwd=cwd,
        timeout=600,
    )  # fmt: skip


TINY = ["--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2"]


def test_the_knob_and_the_sink_on_the_command_line(user_parts):
    out = _cli(
        "train", "--import", "user_parts", "--algo", "dual_ppo", "--dual-clip", "2.5",
        "--log", "jsonl", "--total-timesteps", "512", "--run-dir", "run", *TINY, cwd=user_parts,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    saved = json.loads((user_parts / "run" / "config.json").read_text())
    assert saved["config"]["settings"] == {"dual_clip": 2.5}
    lines = (user_parts / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "loss" in json.loads(lines[0])
    helped = _cli("train", "--import", "user_parts", "--algo", "dual_ppo", "--help", cwd=user_parts)
    assert "--dual-clip FLOAT" in helped.stdout and "traced, sweepable" in helped.stdout
    wrong = _cli("train", "--import", "user_parts", "--dual-clip", "2", cwd=user_parts)
    assert wrong.returncode == 2 and "algo 'ppo_clip' has no setting 'dual_clip'" in wrong.stderr


def test_pgjax_sweep_sweeps_a_users_knob(user_parts):
    out = _cli(
        "sweep", "--import", "user_parts", "--algo", "dual_ppo", "--dual-clip", "1.001,3",
        "--seeds", "1", "--total-timesteps", "512", "--out", "sw", *TINY, cwd=user_parts,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    table = (user_parts / "sw" / "sweep.md").read_text()
    assert "dual_clip=1.001" in table and "dual_clip=3" in table
