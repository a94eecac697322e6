"""make_train: purity, vmap, truncation bootstrapping on probe environments, config errors,
and a short learning run that could fail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.pipeline.config import preset
from tests import probes

probes.register()


def leaves(tree):
    """Every leaf as a numpy array (PRNG keys as their raw data)."""
    out = []
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x))
    return out


SMALL = dict(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 3, num_minibatches=2)


def test_same_key_gives_bit_identical_results():
    train = jax.jit(make_train(Config(**SMALL)))
    a, b = train(jax.random.key(3)), train(jax.random.key(3))
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_vmap_over_keys_equals_a_loop_over_keys():
    train = make_train(Config(**SMALL))
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(train))(keys)
    for i in range(3):
        single = jax.jit(train)(keys[i])
        for x, y in zip(
            jax.tree.leaves(batched.metrics), jax.tree.leaves(single.metrics), strict=True
        ):
            np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y), rtol=2e-4, atol=1e-6)


def test_metrics_have_one_value_per_update():
    config = Config(**SMALL)
    result = jax.jit(make_train(config))(jax.random.key(0))
    for name in [
        "episode_return",
        "episode_length",
        "episode_count",
        "timesteps",
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "kl",
        "grad_norm",
        "env_nonfinite",
    ]:
        assert result.metrics[name].shape == (config.num_updates,), name
    assert (result.metrics["env_nonfinite"] == 0).all()
    np.testing.assert_array_equal(result.metrics["timesteps"], [128, 256, 384])


def test_hyperparameters_vmap_without_recompiling():
    config = Config(**SMALL)
    lrs = jnp.array([1e-4, 1e-3])
    hp = config.hparams().set(lr=lrs)
    swept = jax.jit(jax.vmap(make_train(config), in_axes=(None, hp.axes(["lr"]))))(
        jax.random.key(1), hp
    )
    for i, lr in enumerate([1e-4, 1e-3]):
        single = jax.jit(make_train(config.replace(lr=lr)))(jax.random.key(1))
        np.testing.assert_allclose(
            swept.metrics["loss"][i], single.metrics["loss"], rtol=2e-4, atol=1e-6
        )


def test_no_episode_ended_is_nan_not_zero():
    # CartPole episodes under a random policy last > 8 steps: none ends in the first update
    config = Config(num_envs=2, num_steps=4, total_timesteps=8, num_minibatches=1)
    result = jax.jit(make_train(config))(jax.random.key(0))
    assert result.metrics["episode_count"][0] == 0
    assert np.isnan(result.metrics["episode_return"][0])


PROBE = dict(
    num_envs=8, num_steps=16, num_minibatches=2, gamma=0.9, lr=3e-3, ent_coef=0.0, vf_clip=False
)


def test_truncation_bootstraps_from_the_final_observation():
    # γ = 0.9: the true value is 1/(1 − γ) = 10. A critic that treated the 5-step time limit
    # as a termination would see returns of 1 … 4.1 and settle near their mean, ≈ 3.
    config = Config(env="ConstantReward-probe", total_timesteps=40_000, **PROBE)
    result = jax.jit(make_train(config))(jax.random.key(0))
    np.testing.assert_allclose(probes.critic_value(config, result), 10.0, rtol=0.05)


def test_a_shared_torso_learns_the_truncation_value():
    # the same truth through one torso: the value head and the policy head share features
    config = Config(env="ConstantReward-probe", total_timesteps=40_000, shared_torso=True, **PROBE)
    result = jax.jit(make_train(config))(jax.random.key(0))
    assert "torso" not in result.state.params.critic["params"]
    np.testing.assert_allclose(probes.critic_value(config, result), 10.0, rtol=0.05)


def test_termination_does_not_bootstrap():
    config = Config(env="OneStep-probe", total_timesteps=10_000, **PROBE)
    result = jax.jit(make_train(config))(jax.random.key(0))
    np.testing.assert_allclose(probes.critic_value(config, result), 1.0, rtol=0.05)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            dict(env="CartPole-v2"),
            r"Config.env='CartPole-v2' is unknown \(did you mean 'CartPole-v1'",
        ),
        (
            dict(algo="ppo"),
            r"Config.algo='ppo' is unknown \(did you mean .*allowed: reinforce, a2c",
        ),
        (dict(num_envs=3, num_steps=5, num_minibatches=4), r"num_minibatches=4: must divide"),
        (dict(gamma=1.5), r"Config.gamma=1.5: must be in \[0.0, 1.0\]"),
        (dict(num_envs=0), r"Config.num_envs=0: must be an integer in \[1, 2147483647\]"),
        (dict(num_steps=-1), r"Config.num_steps=-1: must be an integer in \[1, 2147483647\]"),
        (dict(lr=0.0), r"Config.lr=0.0: must be a finite number > 0"),
        (dict(total_timesteps=10), r"Config.total_timesteps=10: must be at least one batch"),
        (dict(activation="gelu"), r"Config.activation='gelu' is unknown.*tanh, relu"),
        (dict(hidden_sizes=64), r"Config.hidden_sizes=64: must be a non-empty tuple"),
        (dict(hidden_sizes=()), r"Config.hidden_sizes=\(\): must be a non-empty tuple"),
        (dict(head_sizes=(8, 0)), r"Config.head_sizes=\(8, 0\): must be a tuple of positive"),
        (
            dict(algo="trpo", shared_torso=True),
            r"shared_torso=True: algo='trpo' steps its policy apart.*a2c, is_pg",
        ),
    ],
)
def test_bad_config_raises_at_make_train(changes, message):
    with pytest.raises(ValueError, match=message):
        make_train(Config(**changes))


def test_from_dict_rejects_unknown_keys_by_name():
    assert Config.from_dict({"lr": 1e-3, "hidden_sizes": [32]}).hidden_sizes == (32,)
    with pytest.raises(ValueError, match=r"no field 'learning_rate'"):
        Config.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match=r"no field 'num_env'.*did you mean 'num_envs'"):
        Config.from_dict({"num_env": 8})


def test_continuous_actions_are_stored_unclipped():
    from pgjax import envs
    from pgjax.math.distributions import GAUSSIAN
    from pgjax.pipeline.rollout import reset, rollout

    env = envs.make_env("Pendulum-v1")
    carry = reset(env, jax.random.key(0), 4)

    def policy(o):  # far outside the ±2 torque bounds
        return jnp.full((o.shape[0], 1), 5.0), jnp.zeros((o.shape[0], 1))

    _, traj, _ = rollout(jax.random.key(1), carry, policy, GAUSSIAN, env, 8)
    assert float(traj.action.min()) > 2.0  # stored as sampled
    # the environment received the clipped action: Pendulum's cost has 0.001·u² with u = 2
    assert np.all(np.asarray(traj.reward) <= -0.001 * 4 + 1e-6)


def test_cartpole_learns_in_a_short_run():
    config = Config(total_timesteps=150_000)
    result = jax.jit(make_train(config))(jax.random.key(0))
    returns = np.asarray(result.metrics["episode_return"])
    assert np.nanmean(returns[:5]) < 40  # a random policy's CartPole return is about 22
    assert np.nanmean(returns[-10:]) > 150


@pytest.mark.learning
def test_cartpole_reaches_purejaxrls_bar_over_four_vmapped_seeds():
    # PureJaxRL's published configuration (Config's defaults); it reaches about 497
    config = Config()
    result = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 4))
    last = np.asarray(result.metrics["episode_return"])[:, -10:]
    assert np.mean([np.nanmean(seed) for seed in last]) >= 475


@pytest.mark.learning
def test_breakout_preset_learns_over_four_vmapped_seeds():
    # a random policy scores about 1-2; the preset's 8-seed mean at 2M steps is about 41, a
    # seed's spread about ±12, so four seeds average well above 25 unless learning broke
    config = preset("Breakout-MinAtar")
    result = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 4))
    returns = np.asarray(result.metrics["episode_return"])
    assert np.nanmean(returns[:, :5]) < 5
    finals = [np.nanmean(seed[-10:]) for seed in returns]
    assert np.mean(finals) > 25, finals
