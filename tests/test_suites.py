"""Every suite's adapter keeps pgjax's environment contract: at a time limit ``truncated`` and
not ``terminated``, at the end of the task the reverse, ``final_obs`` the observation that
ended the episode (what the suite's own step, without a reset, returns) and the next one a
fresh episode's. Brax's and Craftax's run where their extras are installed."""

import importlib.util
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, envs, make_train
from tests import probes

N = 2


def run(env, actions):
    """Reset N environments and step them through ``actions`` (one ``[N, ...]`` per step);
    returns the first observations, the states before each step and each step's TimeStep."""
    state, obs = jax.jit(env.reset)(jax.random.split(jax.random.key(0), N))
    step = jax.jit(env.step)
    states, steps = [], []
    for i, action in enumerate(actions):
        states.append(state)
        state, ts = step(step_keys(i), state, action)
        steps.append(ts)
    return obs, states, steps


def step_keys(i):
    """The keys ``run`` gives step ``i``: a transition key and a reset key per environment."""
    return jax.random.split(jax.random.key(i + 1), (N, 2))


def check_shapes(env, obs, ts):
    spec = env.spec
    assert obs.shape == (N, *spec.obs_shape) and obs.dtype == jnp.float32
    assert ts.obs.shape == ts.final_obs.shape == obs.shape
    assert ts.reward.shape == (N,) and jnp.issubdtype(ts.reward.dtype, jnp.floating)
    for flag in (ts.terminated, ts.truncated):
        assert flag.shape == (N,) and flag.dtype == jnp.bool_
    for name in spec.episode_info:
        assert ts.info[name].shape == (N,)


# ---- environments of the user's own ---------------------------------------------------------
# Countdown: the observation is the step count, action 1 terminates, 5 steps truncate.
# Environment 0 waits for the time limit; environment 1 ends its episode at its third step.
COUNTDOWN_ACTIONS = [jnp.array([0, a]) for a in (0, 0, 1, 0, 0, 0)]


def registered(name, factory):
    envs.register(name, factory)
    return envs.make_env(name)


ADAPTERS = {
    "gymnax >= 1.0, registered": lambda: registered("countdown", probes.Countdown),
    "five values, time_limit steps": lambda: envs.five_value(probes.OldCountdown(), time_limit=5),
    "five values, time_limit field": lambda: envs.five_value(
        probes.OldCountdown(), time_limit="max_steps_in_episode"
    ),
    "five values, truncated function": lambda: envs.five_value(
        probes.OldCountdown(), truncated=lambda s, p: s.time >= p.max_steps_in_episode
    ),
    "five values, registered": lambda: registered(
        "old-countdown", lambda: envs.five_value(probes.OldCountdown(), time_limit=5)
    ),
}


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_a_users_environment_keeps_the_contract(adapter):
    env = ADAPTERS[adapter]()
    obs, _, steps = run(env, COUNTDOWN_ACTIONS)
    check_shapes(env, obs, steps[0])
    np.testing.assert_array_equal(obs, 0.0)
    ended = [(i, np.asarray(ts.terminated), np.asarray(ts.truncated)) for i, ts in enumerate(steps)]
    # environment 1 terminated at step 3 (index 2); environment 0 truncated at step 5
    for i, term, trunc in ended:
        assert term.tolist() == [False, i == 2], (i, term)
        assert trunc.tolist() == [i == 4, False], (i, trunc)
    np.testing.assert_array_equal(steps[2].final_obs[1], 3.0)  # the observation that ended it
    np.testing.assert_array_equal(steps[2].obs[1], 0.0)  # then a fresh episode
    np.testing.assert_array_equal(steps[4].final_obs[0], 5.0)
    np.testing.assert_array_equal(steps[4].obs[0], 0.0)
    np.testing.assert_array_equal(steps[5].obs, [[1.0, 1.0], [3.0, 3.0]])  # and on it goes
    assert env.spec.time_limit == 5


def test_five_values_without_a_limit_are_terminations_and_say_so():
    with pytest.warns(UserWarning, match="every done is a termination"):
        env = envs.five_value(probes.OldCountdown())
    _, _, steps = run(env, COUNTDOWN_ACTIONS)
    assert np.asarray(steps[4].terminated).tolist() == [True, False]
    assert not np.asarray([ts.truncated for ts in steps]).any()


def test_gymnax_by_suite_name_with_options():
    # CartPole cut at 5 steps by its params: truncated; the final observation is what
    # gymnax's own step (which does not reset) returns from the state before it
    env = envs.make_env("gymnax/CartPole-v1:max_steps_in_episode=5")
    assert env.spec.time_limit == 5
    obs, states, steps = run(env, [jnp.array([i % 2, 1 - i % 2]) for i in range(5)])
    check_shapes(env, obs, steps[0])
    assert np.asarray(steps[4].truncated).all() and not np.asarray(steps[4].terminated).any()
    raw = jax.vmap(env.env.step_env, in_axes=(0, 0, 0, None))(
        jax.random.split(jax.random.key(9), N), states[4], jnp.array([0, 1]), env.params
    )[0]
    np.testing.assert_allclose(steps[4].final_obs, raw, rtol=1e-6)
    assert not np.allclose(steps[4].obs, raw)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gymnax/CartPol-v1", r"did you mean 'CartPole-v1'"),
        ("CartPole-v1:max_steps=5", r"max_steps is not a field of its params; fields: .*max_"),
        ("CartPole-v1:fast", r"option 'fast' is not key=value"),
        ("my-maze", r"unknown.*envs.register\(name, factory\).*--import"),
    ],
)
def test_a_wrong_name_says_what_is_allowed(name, message):
    with pytest.raises(ValueError, match=message):
        envs.make_env(name)


@pytest.mark.parametrize("suite", ["brax", "craftax", "jumanji", "navix", "xminigrid", "pgx"])
def test_a_missing_extra_names_its_pip_install(suite, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == suite else real(name, *a)
    )
    with pytest.raises(ValueError, match=rf"needs {suite}.*pip install 'pgjax\[{suite}\]'"):
        Config(env=f"{suite}/anything").validate()


def test_register_refuses_what_it_cannot_keep():
    with pytest.raises(ValueError, match="brax suite"):
        envs.register("brax/mine", probes.Countdown)
    with pytest.raises(ValueError, match="gymnax suite"):
        envs.register("CartPole-v1", probes.Countdown)
    envs.register("not-an-env", lambda: object())
    with pytest.raises(ValueError, match="returned object; it must return a pgjax Env"):
        envs.make_env("not-an-env")
    envs.register("five-unwrapped", probes.OldConstantReward)
    with pytest.raises(ValueError, match=r"envs\.five_value"):
        envs.make_env("five-unwrapped")


# ---- the truncation probe through a registered environment and the five-value adapter ------

PROBE = dict(
    num_envs=8, num_steps=16, num_minibatches=2, gamma=0.9, lr=3e-3, ent_coef=0.0, vf_clip=False
)
PROBE_ENVS = {
    # name: (factory, the value the critic must learn)
    "constant-registered": (probes.ConstantReward, 10.0),
    "constant-five-values": (
        lambda: envs.five_value(probes.OldConstantReward(), time_limit="max_steps_in_episode"),
        10.0,
    ),
}


@pytest.mark.parametrize("name", list(PROBE_ENVS))
def test_the_critic_bootstraps_a_registered_time_limit(name):
    # reward 1 per step, γ = 0.9, cut after 5 steps: V = 1/(1 − γ) = 10 when the cut bootstraps
    factory, value = PROBE_ENVS[name]
    envs.register(name, factory)
    config = Config(env=name, total_timesteps=40_000, **PROBE)
    result = jax.jit(make_train(config))(jax.random.key(0))
    np.testing.assert_allclose(probes.critic_value(config, result), value, rtol=0.05)


def test_five_values_without_a_limit_learn_the_cut_as_the_end():
    # the same probe with done taken for a termination: returns of 1 … 4.1, V far below 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envs.register("constant-five-done", lambda: envs.five_value(probes.OldConstantReward()))
        config = Config(env="constant-five-done", total_timesteps=40_000, **PROBE)
        result = jax.jit(make_train(config))(jax.random.key(0))
        assert probes.critic_value(config, result) < 5.0
