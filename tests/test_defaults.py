"""``Config(algo, env)`` with nothing else set: which value each field takes, and from where
(the user › the pair's preset › the environment's settings › the algorithm's defaults › the
global defaults)."""

import jax
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.envs import make_env
from pgjax.pipeline.config import DEFAULTS, preset
from pgjax.pipeline.presets import TIME_LIMITS, time_limit
from pgjax.tools.config_file import load_config, save_config
from pgjax.tools.folders import CONFIG_FILE


def test_nothing_set_is_purejaxrls_cartpole_configuration():
    # PureJaxRL's published PPO configuration for CartPole-v1, written out
    config = Config()
    sizes = (config.num_envs, config.num_steps, config.num_epochs, config.num_minibatches)
    assert sizes == (4, 128, 4, 4) and config.total_timesteps == 500_000
    assert (config.lr, config.anneal_lr, config.gamma, config.gae_lambda) == (
        2.5e-4,
        True,
        0.99,
        0.95,
    )
    assert (config.clip_eps, config.ent_coef, config.vf_coef, config.max_grad_norm) == (
        0.2, 0.01, 0.5, 0.5
    )  # fmt: skip
    assert config.hidden_sizes == (64, 64) and config.activation == "tanh"
    assert config.resolved() == [] and set(config.sources.values()) == {"algo", "default"}


def test_the_pairs_preset_fills_what_the_user_left_unset():
    config = Config(env="Pendulum-v1", lr=1e-3)
    assert config.lr == 1e-3 and config.sources["lr"] == "user"
    assert (config.num_envs, config.num_steps, config.num_epochs, config.num_minibatches) == (
        16, 256, 10, 32
    )  # fmt: skip
    assert (config.normalize_obs, config.reward_scale, config.ent_coef, config.vf_clip) == (
        True, 0.1, 0.0, False
    )  # fmt: skip
    assert config.sources["num_envs"] == "preset" and config.sources["gamma"] == "default"
    # a value given is kept even where it equals the global default
    assert Config(env="Pendulum-v1", lr=2.5e-4).lr == 2.5e-4
    assert Config(env="Pendulum-v1") == preset("Pendulum-v1")


def test_other_algorithms_take_the_environments_settings_with_their_own_sizes():
    config = Config(algo="trpo", env="Breakout-MinAtar")
    # the game's: its budget, relu MLP; TRPO's: its sizes and learning rate
    assert (config.total_timesteps, config.activation, config.network) == (2_000_000, "relu", "mlp")
    assert (config.num_envs, config.num_epochs, config.lr) == (8, 5, 1e-3)
    assert config.sources["activation"] == "env" and config.sources["lr"] == "algo"
    # the shared torso of Breakout's preset is PPO's choice (TRPO refuses one): not taken
    assert config.shared_torso is False and config.sources["shared_torso"] == "default"
    config.validate()
    # REINFORCE: windows as long as the time limit (MinAtar's 1000 steps), its critic never
    # clipped
    reinforce = Config(algo="reinforce", env="Breakout-MinAtar")
    assert reinforce.num_steps == 1000 and reinforce.sources["num_steps"] == "env"
    assert reinforce.vf_clip is False and reinforce.activation == "relu"
    assert Config(algo="a2c", env="Pendulum-v1").normalize_obs is True


def test_presets_false_gives_the_bare_defaults():
    config = Config(env="Pendulum-v1", presets=False)
    assert all(getattr(config, name) == value for name, value in DEFAULTS.items())
    assert Config(algo="a2c", env="Pendulum-v1", presets=False).num_envs == 16  # a2c's own


def test_replace_resolves_again_from_what_was_set():
    config = Config(env="Pendulum-v1", lr=1e-3)
    cartpole = config.replace(env="CartPole-v1")
    assert cartpole.lr == 1e-3 and cartpole.num_envs == 4 and not cartpole.normalize_obs
    a2c = Config().replace(algo="a2c")  # the new pair's preset and the new algorithm's defaults
    assert (a2c.num_envs, a2c.lr) == (8, 2.5e-3) and a2c.sources["num_envs"] == "preset"
    assert config.replace(lr=None) == Config(env="Pendulum-v1")
    # every value kept: the same settings on another environment
    moved = config.as_given().replace(env="CartPole-v1")
    assert moved.num_envs == 16 and moved.normalize_obs and moved.env == "CartPole-v1"
    longer = config.replace(total_timesteps=1_000_000)
    assert longer.total_timesteps == 1_000_000 and longer.num_envs == 16 and longer.lr == 1e-3


def test_a_saved_config_loads_as_it_was_whatever_the_presets_say_later(tmp_path):
    config = Config(env="Pendulum-v1")
    save_config(tmp_path, config, seed=3)
    loaded, seed = load_config(tmp_path)
    assert loaded == config and seed == 3
    assert set(loaded.sources.values()) == {"user"}  # every field as saved, none re-resolved
    # a run saved before a field existed loads with the value it had: the global default
    text = (tmp_path / CONFIG_FILE).read_text().replace('"head_sizes": [],', "")
    (tmp_path / CONFIG_FILE).write_text(text)
    assert "head_sizes" not in text and load_config(tmp_path)[0] == config


def test_an_error_names_where_a_value_nobody_set_came_from():
    with pytest.raises(ValueError, match=r"num_minibatches=32 \(the Pendulum-v1 preset's for"):
        Config(env="Pendulum-v1", num_envs=2, num_steps=10).validate()


@pytest.mark.learning
def test_ppo_clip_with_only_algo_and_env_learns_pendulum():
    # a random policy scores about -1230; the preset's 8-seed mean is about -155
    config = Config(algo="ppo_clip", env="Pendulum-v1")
    result = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 4))
    finals = [np.nanmean(seed[-10:]) for seed in np.asarray(result.metrics["episode_return"])]
    assert min(finals) > -400, finals


@pytest.mark.parametrize("env", sorted(e for e in TIME_LIMITS if "/" not in e))
def test_the_time_limits_presets_read_are_the_environments(env):
    """``Config`` sizes REINFORCE's windows by ``presets.TIME_LIMITS`` without building the
    environment: each entry is what the environment says (the suites': tests/test_extras.py)."""
    assert (make_env(env).spec.time_limit or 0) == TIME_LIMITS[env]
    assert time_limit(f"{env}:max_steps_in_episode=77") == 77


def test_making_a_config_builds_no_environment(monkeypatch):
    from pgjax.envs import registry

    def refuse(*args, **kwargs):
        raise AssertionError("an environment was built to make a Config")

    monkeypatch.setattr(registry, "make_gymnax", refuse)
    config = Config(algo="reinforce", env="Freeway-MinAtar")
    assert config.num_steps == 2500  # its time limit, read from the table
