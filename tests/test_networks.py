"""Networks: heads by action space, orthogonal initialisation, and no LAPACK call under vmap."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, envs, make_pipeline
from pgjax.nets import Params, make_actor_critic, orthogonal, orthogonal_many
from pgjax.pipeline.static import actor_critic_for


def bundle(env, **config):
    """The network these fields ask for (not the environment's preset: Breakout's shares a
    torso)."""
    return actor_critic_for(Config(env=env, presets=False, **config), envs.make_env(env).spec)


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (400, 64), (64, 2), (3, 3, 4, 16)])
def test_orthogonal_columns_or_rows(shape):
    w = np.asarray(orthogonal(np.sqrt(2))(jax.random.key(0), shape)).reshape(-1, shape[-1])
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 2.0 * np.eye(len(gram)), atol=1e-5)


def test_orthogonal_is_haar_like_flax():
    # the mean of a Haar orthogonal matrix's entries is 0 and each entry's variance is 1/n
    keys = jax.random.split(jax.random.key(1), 2000)
    ours = jax.vmap(lambda k: orthogonal()(k, (8, 8)))(keys)
    theirs = jax.vmap(lambda k: nn.initializers.orthogonal()(k, (8, 8)))(keys)
    np.testing.assert_allclose(ours.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(ours.var(0), theirs.var(0), atol=0.03)


def test_orthogonal_many_is_orthogonal_per_shape_and_haar_like():
    shapes = [(4, 64), (64, 64), (64, 2), (3, 3, 4, 16), (8, 8)]
    keys = jax.random.split(jax.random.key(2), 2000)
    draws = jax.vmap(lambda k: orthogonal_many(k, shapes))(keys)
    for shape, w in zip(shapes, draws, strict=True):
        assert w.shape == (2000, *shape)
        m = np.asarray(w[0]).reshape(-1, shape[-1])
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5)
    # the 8 x 8 kernel (drawn beside wider and taller ones) has a Haar matrix's moments
    np.testing.assert_allclose(draws[-1].mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(draws[-1].var(0), 1 / 8, atol=0.03)
    # kernels drawn together are independent: correlation of two kernels' entries near 0
    a, b = np.asarray(draws[1][:, :8, :8]).reshape(2000, -1), np.asarray(draws[4]).reshape(2000, -1)
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 0.1


@pytest.mark.parametrize(
    ("env", "network"),
    [("CartPole-v1", "auto"), ("Pendulum-v1", "auto"), ("Breakout-MinAtar", "cnn")],
)
def test_init_params_matches_the_modules_own_initialisers(env, network):
    # the same tree; every kernel orthogonal with the gain its module gives it (the Gram
    # matrix W^T W = gain^2 I, as for the module's own init); every other parameter zero
    net = bundle(env, network=network)
    ours = net.init(jax.random.key(0))
    obs = jnp.zeros(net.obs_shape)
    theirs = Params(net.actor.init(jax.random.key(1), obs), net.critic.init(jax.random.key(1), obs))
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        if x.ndim < 2:
            np.testing.assert_array_equal(x, 0.0)
            np.testing.assert_array_equal(y, 0.0)
            continue
        gram = lambda w: w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T  # noqa: E731
        mx, my = (np.asarray(w).reshape(-1, w.shape[-1]) for w in (x, y))
        np.testing.assert_allclose(gram(mx), gram(my), atol=1e-5)


def lapack_calls(fn, *args):
    text = jax.jit(fn).lower(*args).as_text()
    return set(re.findall(r"custom_call @(\w+)", text))


def test_vmapped_init_makes_no_lapack_call():
    # a batched LAPACK QR under vmap can deadlock XLA's CPU thread pool on 2 cores
    config = Config(
        env="Breakout-MinAtar", num_envs=4, num_steps=8, num_minibatches=1, network="cnn"
    )
    pipeline = make_pipeline(config)
    keys = jax.random.split(jax.random.key(0), 2)
    calls = lapack_calls(jax.vmap(lambda k: pipeline.init(k, config.hparams())), keys)
    assert not any("lapack" in c for c in calls), calls
    # the check would see one: flax's initialiser does call LAPACK
    assert lapack_calls(jax.vmap(lambda k: nn.initializers.orthogonal()(k, (4, 4))), keys)


@pytest.mark.parametrize(
    ("env", "network", "discrete"),
    [
        ("CartPole-v1", "auto", True),
        ("Pendulum-v1", "auto", False),
        ("Breakout-MinAtar", "cnn", True),
        ("Breakout-MinAtar", "mlp", True),
    ],
)
def test_heads_follow_the_action_space(env, network, discrete):
    net = bundle(env, network=network)
    spec = envs.make_env(env).spec
    obs = jnp.zeros((5, *spec.obs_shape))
    params = net.init(jax.random.key(0))
    out, value = net.policy(params, obs), net.value(params, obs)
    assert value.shape == (5,)
    if discrete:
        assert out.shape == (5, spec.num_actions)
    else:
        mean, log_std = out
        assert mean.shape == log_std.shape == (5, spec.num_actions)
        np.testing.assert_array_equal(log_std, 0.0)


@pytest.mark.parametrize("cell", [None, "gru"])
def test_head_layers_sit_between_the_features_and_each_output(cell):
    """``head_sizes=(16,)``: each head gets a 16-wide layer of its own (gain √2, so every column
    has squared norm 2 where the kernel is tall), reading the cell's output (or the torso's),
    and the output layers read it."""
    spec = envs.make_env("CartPole-v1").spec
    net = make_actor_critic(spec, hidden_sizes=(32,), cell=cell, rnn_size=24, head_sizes=(16,))
    actor, critic = (p["params"] for p in net.init(jax.random.key(0)))
    width = 32 if cell is None else 24
    for params, out in ((actor, spec.num_actions), (critic, 1)):
        layer, head = params["Dense_0"]["kernel"], params["Dense_1"]["kernel"]
        assert layer.shape == (width, 16) and head.shape == (16, out)
        np.testing.assert_allclose(jnp.sum(layer**2, axis=0), 2.0, rtol=1e-5)
    # no head layers: the output layer reads the features (the network as before)
    plain = make_actor_critic(spec, hidden_sizes=(32,), cell=cell, rnn_size=24)
    actor = plain.init(jax.random.key(0)).actor["params"]
    assert "Dense_1" not in actor and actor["Dense_0"]["kernel"].shape == (width, 2)


def test_cnn_on_vector_observations_is_refused():
    with pytest.raises(ValueError, match="network='cnn' needs image observations"):
        bundle("CartPole-v1", network="cnn")


def test_a_shared_torso_feeds_both_heads_and_the_value_loss_reaches_it():
    spec = envs.make_env("Breakout-MinAtar").spec
    net = make_actor_critic(spec, shared_torso=True)
    actor, (actor_params, critic_params) = net.actor, net.init(jax.random.key(0))
    # the critic is a value head alone: a 64 -> 1 kernel with the value gain, no torso
    kernel = critic_params["params"]["Dense_0"]["kernel"]
    assert list(critic_params["params"]) == ["Dense_0"] and kernel.shape == (64, 1)
    np.testing.assert_allclose(float(jnp.sum(kernel**2)), 1.0, rtol=1e-5)
    obs = jax.random.bernoulli(jax.random.key(1), 0.1, (5, *spec.obs_shape)).astype(jnp.float32)
    logits, features = actor.apply(actor_params, obs, with_features=True)
    head = features @ kernel[:, 0] + critic_params["params"]["Dense_0"]["bias"][0]
    np.testing.assert_allclose(net.value(Params(actor_params, critic_params), obs), head, rtol=1e-5)
    both = net.policy_and_value(Params(actor_params, critic_params), obs)
    np.testing.assert_allclose(both[0], logits, rtol=1e-6)
    np.testing.assert_allclose(both[1], head, rtol=1e-5)
    # a value loss moves the actor's torso (shared), never its policy head
    grads = jax.grad(lambda a: jnp.sum(net.value(Params(a, critic_params), obs) ** 2))(
        actor_params
    )["params"]
    assert float(jnp.abs(grads["torso"]["Dense_0"]["kernel"]).max()) > 0
    np.testing.assert_array_equal(grads["Dense_0"]["kernel"], 0.0)
    # separate networks: the critic's own torso, and no gradient into the actor
    net = make_actor_critic(spec)
    actor_params, critic_params = net.init(jax.random.key(0))
    assert "torso" in critic_params["params"]
    grads = jax.grad(lambda a: jnp.sum(net.value(Params(a, critic_params), obs) ** 2))(actor_params)
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads))
