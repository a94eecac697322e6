"""The vectorised environment step and the minibatch shuffle, against the truths they copy."""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import envs
from pgjax.algorithms.learners import permutation
from pgjax.math.distributions import CATEGORICAL, GAUSSIAN


@pytest.mark.parametrize(
    "name", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Breakout-MinAtar", "DeepSea-bsuite"]
)
def test_vector_step_equals_gymnax_step_vmapped(name):
    # the states of 600 random steps of 8 environments (episodes end, CartPole's and
    # Pendulum's by their time limits too), each stepped by both from the same keys: the
    # same outputs (floats to rounding: the two programs fuse their arithmetic differently)
    made = envs.make_env(name)
    env, params = made.env, made.params
    n = 8
    ours = envs.vector_step(env, params)
    theirs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    space = env.action_space(params)

    def states_and_inputs(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(state, k):
            k_act, k_env = jax.random.split(k)
            action = jax.vmap(space.sample)(jax.random.split(k_act, n))
            keys = jax.random.split(k_env, n)
            return theirs(keys, state, action, params)[1], (keys, state, action)

        return jax.lax.scan(body, state, jax.random.split(key, 600))[1]

    keys, states, actions = jax.jit(states_and_inputs)(jax.random.key(7))
    a = jax.jit(jax.vmap(ours))(jax.vmap(jax.vmap(jax.random.split))(keys), states, actions)
    b = jax.jit(jax.vmap(lambda k, s, u: theirs(k, s, u, params)))(keys, states, actions)
    assert np.asarray(a[3] | a[4]).any()  # some episodes ended: the reset path was taken
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_vector_step_under_vmap_equals_gymnax_step():
    # an outer vmap (over seeds) turns the conditional reset into a select: same outputs
    made = envs.make_env("CartPole-v1")
    env, params = made.env, made.params
    ours = envs.vector_step(env, params)
    theirs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    keys = jax.random.split(jax.random.key(1), (3, 4))
    _, state = jax.vmap(jax.vmap(env.reset, in_axes=(0, None)), in_axes=(0, None))(keys, params)
    state = state.replace(time=jnp.array([[499, 3, 0, 499], [0, 0, 0, 0], [1, 499, 2, 5]]))
    action = jnp.ones((3, 4), jnp.int32)
    a = jax.jit(jax.vmap(ours))(jax.vmap(jax.vmap(jax.random.split))(keys), state, action)
    b = jax.jit(jax.vmap(lambda k, s, u: theirs(k, s, u, params)))(keys, state, action)
    assert np.asarray(a[4]).sum() == 3  # three time limits reached
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5, 128, 1000, 8192])
def test_permutation_is_a_permutation(n):
    perm = np.asarray(jax.jit(permutation, static_argnums=1)(jax.random.key(n), n))
    assert sorted(perm.tolist()) == list(range(n))


def test_permutation_is_uniform():
    # 4! = 24 orders, 48,000 draws: each should appear 2,000 ± 3 * sqrt(2000 * 23/24) times
    draws = jax.jit(jax.vmap(lambda k: permutation(k, 4)))(
        jax.random.split(jax.random.key(0), 48_000)
    )
    counts = Counter(map(tuple, np.asarray(draws).tolist()))
    assert len(counts) == 24
    assert all(abs(c - 2000) < 3 * np.sqrt(2000 * 23 / 24) for c in counts.values()), counts
    # a large batch: element 0 lands in each eighth of 512 positions about equally often
    big = np.asarray(
        jax.jit(jax.vmap(lambda k: permutation(k, 512)))(jax.random.split(jax.random.key(1), 8000))
    )
    where = np.argmax(big == 0, axis=1)
    assert np.all(np.abs(np.bincount(where // 64, minlength=8) - 1000) < 3 * np.sqrt(1000))


@pytest.mark.parametrize(
    "dist, params",
    [
        (CATEGORICAL, jnp.array([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])),
        (GAUSSIAN, (jnp.array([[0.5, -1.0], [2.0, 0.0]]), jnp.array([0.1, -0.7]))),
    ],
)
def test_sample_is_its_noise_transformed(dist, params):
    # a rollout draws the noise first and applies it later: the same samples as ``sample``
    key = jax.random.key(3)
    shape = jnp.shape(jax.tree.leaves(params)[0])
    np.testing.assert_array_equal(
        dist.sample(key, params), dist.from_noise(params, dist.noise(key, shape))
    )
    if dist is CATEGORICAL:
        np.testing.assert_array_equal(
            dist.sample(key, params), jax.random.categorical(key, params, axis=-1)
        )
