"""Environments as researchers bring them: structured (dict) observations, legal-action masks,
and the adapters' traps (a five-value ``step`` under gymnax's class, inherited unimplemented
methods, dm_env-style specs, no ``default_params``, a renderer of the user's own)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces
from gymnax.environments.classic_control.cartpole import CartPole

from pgjax import Config, envs, make_train
from pgjax.envs.base import MASK
from pgjax.tools import render
from pgjax.tools.chunks import final_return
from tests import probes

SMALL = dict(num_envs=4, num_steps=32, num_minibatches=2, total_timesteps=4 * 32 * 8)


def metrics_of(config, key=0):
    result = jax.jit(make_train(config))(jax.random.key(key))
    return {k: np.asarray(v) for k, v in result.metrics.items()}


# ---- structured observations -----------------------------------------------------------------


@pytest.mark.parametrize("normalize_obs", [False, True])
def test_a_dict_of_one_leaf_trains_exactly_as_the_array(normalize_obs):
    # {"state": obs} flattened is obs itself, its statistics the array's: the same numbers
    envs.register("one-leaf-cartpole", probes.OneLeafCartPole)
    plain = metrics_of(Config(env="CartPole-v1", normalize_obs=normalize_obs, **SMALL))
    leaf = metrics_of(Config(env="one-leaf-cartpole", normalize_obs=normalize_obs, **SMALL))
    for name in ("episode_return", "loss", "kl"):
        np.testing.assert_array_equal(plain[name], leaf[name], err_msg=name)


def test_a_registered_dict_observation_learns_through_make_train():
    envs.register("split-cartpole", probes.SplitCartPole)
    env = envs.make_env("split-cartpole")
    assert env.spec.obs_spec["cart"].shape == (2,) and env.spec.obs_spec["pole"].shape == (2,)
    config = Config(env="split-cartpole", total_timesteps=100_000, normalize_obs=True)
    metrics = metrics_of(config)
    first = np.nanmean(metrics["episode_return"][:5])
    assert first < 40 and final_return(metrics) > 100, (first, final_return(metrics))


def test_an_image_leaf_goes_through_the_cnn_torso():
    from pgjax.pipeline.static import actor_critic_for

    spec = envs.EnvSpec(
        (), True, 3,
        obs_spec={"grid": jax.ShapeDtypeStruct((5, 5, 2), jnp.float32),
                  "dir": jax.ShapeDtypeStruct((4,), jnp.float32),
                  MASK: jax.ShapeDtypeStruct((3,), jnp.bool_)},
    )  # fmt: skip
    net = actor_critic_for(Config(env="CartPole-v1", network="cnn"), spec)
    params = net.init(jax.random.key(0))
    kernels = [x.shape for x in jax.tree.leaves(params) if x.ndim == 4]
    assert kernels and all(k[:2] == (3, 3) and k[2] == 2 for k in kernels)  # convolved: grid
    obs = envs.base.example_obs(spec, (7,))
    assert net.policy(params, obs).shape == (7, 3)


# ---- action masks ----------------------------------------------------------------------------


def test_masked_actions_are_never_taken_and_log_pi_is_the_masked_distributions():
    envs.register("pick-legal", probes.PickLegal)
    env = envs.make_env("pick-legal")
    assert env.spec.masked and env.spec.obs_spec[MASK].shape == (4,)
    config = Config(env="pick-legal", num_envs=16, num_steps=64)
    traj = probes.check_masks_honoured(config)
    mask = np.asarray(traj.obs[MASK])
    assert (~mask).sum() > 1000  # many actions were illegal somewhere, and none was taken
    assert (np.asarray(traj.reward) >= 0).all()
    # entropy and KL of the masked distribution: finite, the entropy the direct sum's
    _, net, params = probes.first_rollout(config, jax.random.key(0))
    logits = net.policy(params, traj.obs)
    p = np.asarray(jax.nn.softmax(logits), np.float64)
    direct = -np.where(mask, p * np.log(np.where(mask, p, 1.0)), 0.0).sum(-1)
    np.testing.assert_allclose(net.dist.entropy(logits), direct, rtol=1e-5, atol=1e-6)
    moved = jax.tree.map(lambda x: x * 1.1, params)
    kl = np.asarray(net.dist.kl(logits, net.policy(moved, traj.obs)))
    assert np.isfinite(kl).all() and (kl >= -1e-6).all()


def test_a_masked_environment_learns_through_make_train():
    # the highest legal action each step: 8 per episode at best, about 4 by chance among the
    # legal ones, and −10 for any illegal one (never taken, so no return is negative)
    envs.register("pick-legal", probes.PickLegal)
    metrics = metrics_of(Config(env="pick-legal", total_timesteps=60_000))
    returns = metrics["episode_return"]
    assert np.nanmin(returns) >= 0
    assert np.nanmean(returns[:3]) < 5.5 and final_return(metrics) > 7.5


def test_a_row_without_a_legal_action_masks_nothing_and_is_counted():
    # a Snake boxed in by its body has no legal move: whatever it takes ends the game, so the
    # policy chooses among all actions there, and the steps are counted
    class SomeNoneLegal(probes.PickLegal):
        def action_mask(self, state, params):
            return jnp.where(state.time % 2 == 0, state.legal, False)

    envs.register("some-none-legal", SomeNoneLegal)
    config = Config(env="some-none-legal", **SMALL)
    metrics = metrics_of(config)
    assert (metrics["no_legal_action"] == 4 * 32 / 2).all()
    assert (metrics["env_nonfinite"] == 0).all() and np.isfinite(metrics["loss"]).all()
    traj, net, params = probes.first_rollout(config, jax.random.key(0))
    none = ~np.asarray(traj.obs[MASK]).any(-1)
    logits = np.asarray(net.policy(params, traj.obs))
    assert none.any() and (logits[none] > -1e8).all()  # no action masked there
    assert "no_legal_action" not in metrics_of(Config(env="CartPole-v1", **SMALL))


def test_a_mask_on_a_continuous_action_space_is_refused():
    class Masked(probes.PickLegal):
        def action_space(self, params=None):
            return spaces.Box(-1.0, 1.0, (4,), jnp.float32)

    envs.register("masked-box", Masked)
    with pytest.raises(ValueError, match="action mask needs a Discrete action space"):
        envs.make_env("masked-box")


# ---- the traps -------------------------------------------------------------------------------


class FiveValueSubclass(CartPole):
    """navix's gymnax wrapper, in shape: a subclass of gymnax's ``Environment`` that overrides
    ``step`` and ``reset`` (not ``step_env``/``reset_env``), its ``step`` returning five
    values with ``done`` folded from the task's end and the 500-step limit."""

    def reset(self, key, params=None):
        return super().reset_env(key, self.default_params if params is None else params)

    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        obs, state, reward, done, info = super().step_env(key, state, action, params)
        return obs, state, reward, done | (state.time >= 500), info


def test_a_five_value_subclass_of_gymnax_says_to_wrap_it():
    envs.register("five-sub", FiveValueSubclass)
    with pytest.raises(ValueError, match=r"five values.*pgjax\.envs\.five_value"):
        envs.make_env("five-sub")


def test_five_value_calls_only_the_methods_a_class_defines():
    # FiveValueSubclass inherits step_env/reset_env from CartPole, which does define them; a
    # class under gymnax's Environment that does not must be stepped by its own step
    class OwnStepOnly(FiveValueSubclass):
        pass

    for name in ("step_env", "reset_env"):  # what gymnax's Environment declares unimplemented
        setattr(OwnStepOnly, name, getattr(envs.gymnax.gymnax.environments.environment
                                            .Environment, name))  # fmt: skip
    env = envs.five_value(OwnStepOnly(), time_limit=500)
    state, _ = env.reset(jax.random.split(jax.random.key(0), 3))
    state, ts = env.step(jax.random.split(jax.random.key(1), (3, 2)), state, jnp.zeros(3, int))
    assert ts.obs.shape == (3, 4) and np.isfinite(ts.obs).all()


class DiscreteArraySpec:
    """dm_env's (and jumanji's) discrete spec, in shape: ``num_values``, no ``n``."""

    shape, dtype = (), jnp.int32

    def __init__(self, num_values):
        self.num_values = num_values


class StructSpec:
    """A spec of a structured observation: ``generate_value()``, no ``shape``."""

    def generate_value(self):
        return {"cart": jnp.zeros(2), "pole": jnp.zeros(2)}


class SpecShim:
    """A shim a user writes over a library without params: its specs as the spaces, and no
    ``default_params`` at all (``reset(key, params)``, ``step(key, state, action, params)``
    take and ignore ``None``)."""

    def __init__(self):
        self.env = probes.SplitCartPole()

    def reset(self, key, params=None):
        return self.env.reset(key, self.env.default_params)

    def step(self, key, state, action, params=None):
        return self.env.step(key, state, action, self.env.default_params)

    def observation_space(self, params):
        return StructSpec()

    def action_space(self, params=None):
        return DiscreteArraySpec(2)


def test_dm_env_specs_and_no_default_params_are_taken():
    envs.register("spec-shim", SpecShim)
    env = envs.make_env("spec-shim")
    assert env.spec.num_actions == 2 and set(env.spec.obs_spec) == {"cart", "pole"}
    metrics = metrics_of(Config(env="spec-shim", **SMALL))
    assert np.isfinite(metrics["loss"]).all()


def test_a_registered_renderer_draws_eval_episodes(tmp_path):
    from pgjax.tools import checkpoint
    from pgjax.tools.evaluate import record_episode
    from pgjax.tools.session import run

    drawn = []

    def draw(env_state, obs):
        drawn.append(float(env_state.time))
        return np.full((8, 12, 3), 200, np.uint8)

    envs.register("drawn-cartpole", CartPole, render=draw)
    config = Config(env="drawn-cartpole", **SMALL)
    run(config, run_dir=tmp_path / "run")
    state, _ = checkpoint.restore(tmp_path / "run", config, 0)
    episode = record_episode(config, state, jax.random.key(1))
    path = render.save(config.env, episode, tmp_path / "episode.gif")
    assert path.read_bytes()[:6] == b"GIF89a"
    assert drawn == [float(t) for t in range(len(episode.rewards))]
    # registered again without one: the name no longer renders
    envs.register("drawn-cartpole", CartPole)
    assert not render.can_render("drawn-cartpole")
