"""Group baselines: environments in groups that share starts, and the baselines' equations
checked against plain numpy loops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.envs import make_env
from pgjax.envs.groups import WAITING, GroupedEnv, shared_keys
from pgjax.math import group_baselines as gb
from pgjax.pipeline.static import make_static
from pgjax.pipeline.train import init
from pgjax.tools.chunks import train_in_chunks

# ---- the equations, against loops ----


def rloo_loop(r):
    k = len(r)
    return np.array([r[i] - sum(r[j] for j in range(k) if j != i) / (k - 1) for i in range(k)])


def grpo_loop(r, eps):
    k = len(r)
    mean = sum(r) / k
    std = (sum((x - mean) ** 2 for x in r) / (k - 1)) ** 0.5
    return np.array([(x - mean) / (std + eps) for x in r])


def dr_grpo_loop(r):
    mean = sum(r) / len(r)
    return np.array([x - mean for x in r])


@pytest.mark.parametrize("k", [2, 3, 8])
def test_the_baselines_match_their_loops(k):
    rng = np.random.default_rng(k)
    for _ in range(5):
        r = rng.normal(10.0, 5.0, k).astype(np.float32)
        np.testing.assert_allclose(gb.leave_one_out(jnp.asarray(r)), rloo_loop(r), atol=1e-5)
        np.testing.assert_allclose(
            gb.group_normalised(jnp.asarray(r), 1e-4), grpo_loop(r, 1e-4), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(gb.group_centred(jnp.asarray(r)), dr_grpo_loop(r), atol=1e-5)


def test_rloo_is_a_rescaled_centring_and_ignores_its_own_return_in_the_baseline():
    r = jnp.array([1.0, 4.0, 10.0, -3.0])
    np.testing.assert_allclose(gb.leave_one_out(r), 4 / 3 * gb.group_centred(r), rtol=1e-6)
    # member 0's baseline does not move when only member 0's return does
    moved = r.at[0].set(100.0)
    assert float(moved[0] - gb.leave_one_out(moved)[0]) == pytest.approx(
        float(r[0] - gb.leave_one_out(r)[0])
    )


def test_a_group_of_equal_returns_gives_zero_weights_not_nan():
    same = jnp.full(4, 500.0)
    for f in (gb.leave_one_out, gb.group_normalised, gb.group_centred):
        assert np.all(np.asarray(f(same)) == 0.0)


def test_the_baselines_vmap_and_refuse_a_group_too_small():
    r = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(jax.vmap(gb.group_centred)(r), r - r.mean(1, keepdims=True))
    with pytest.raises(ValueError, match="a group of 1 returns; these baselines need 2"):
        gb.leave_one_out(jnp.ones(1))


# ---- groups of environments ----


def test_shared_keys_give_each_group_its_first_members_key():
    keys = jnp.arange(6)
    assert shared_keys(keys, 3).tolist() == [0, 0, 0, 3, 3, 3]
    with pytest.raises(ValueError, match="multiple of group_size"):
        shared_keys(keys, 4)


def run_groups(name: str, k: int, groups: int, steps: int, seed: int = 0):
    """A random policy on ``groups`` groups of ``k``: every step's observation, reward, ends
    and waiting flags, stacked ``[T, N, ...]``, and the first observations."""
    env = GroupedEnv(make_env(name), k)
    n = k * groups
    key = jax.random.key(seed)
    state, obs0 = env.reset(jax.random.split(key, n))

    def step(state, key):
        k_act, k_env = jax.random.split(key)
        action = jax.random.randint(k_act, (n,), 0, env.spec.num_actions)
        state, ts = env.step(jax.random.split(k_env, (n, 2)), state, action)
        return state, (ts.obs, ts.reward, ts.terminated, ts.truncated, ts.info[WAITING])

    _, out = jax.lax.scan(step, state, jax.random.split(jax.random.fold_in(key, 1), steps))
    return obs0, *map(np.asarray, out)


def test_the_members_of_a_group_start_alike_and_groups_differ():
    obs0, *_ = run_groups("CartPole-v1", 4, 3, 1)
    obs0 = np.asarray(obs0).reshape(3, 4, -1)
    assert np.all(obs0 == obs0[:, :1])  # the same first observation within a group
    firsts = obs0[:, 0]
    assert len({tuple(f) for f in firsts}) == 3  # and a different one for each group


def test_a_group_starts_again_together_once_every_member_has_ended():
    k, groups = 4, 3
    _, obs, reward, term, trunc, waiting = run_groups("CartPole-v1", k, groups, 300)
    done = term | trunc
    t_len = done.shape[0]
    ended_sets = 0
    for g in range(groups):
        members = slice(g * k, (g + 1) * k)
        w, d, r = waiting[:, members], done[:, members], reward[:, members]
        assert np.all(r[w] == 0) and not np.any(d[w])  # a waiting step is no one's
        for t in range(t_len - 1):
            if np.all(w[t] | d[t]) and not np.all(w[t]):  # the group's last member ended at t
                ended_sets += 1
                start = obs[t, members]  # the observation after t: the group's new start
                assert np.all(start == start[:1])
                assert not np.any(w[t + 1])  # nobody waits: all members run again
            else:
                # a member that ended waits, until its whole group has ended
                assert np.all(w[t + 1] == (w[t] | d[t]))
    assert ended_sets >= groups  # each group started again at least once
    assert waiting.any()  # and members did wait for each other


def test_a_truncation_is_reported_as_a_truncation_in_a_group():
    # MountainCar never reaches its goal at random: every member of every group is truncated
    # at 200 steps, as the environment says, and the groups start again at once
    _, _, _, term, trunc, waiting = run_groups("MountainCar-v0", 2, 2, 401)
    assert not term.any()
    assert trunc[199].all() and trunc[399].all() and trunc.sum() == 8
    assert not waiting.any()  # all members truncated together: nobody waited


# ---- the algorithms ----

GROUPED = ["rloo", "grpo", "dr_grpo"]
# CartPole cut at 20 steps: every group's episodes end inside a 64-step rollout
SMALL = dict(
    env="CartPole-v1:max_steps_in_episode=20", num_envs=8, num_steps=64, settings=dict(group_size=4)
)


def small(algo: str, updates: int = 4, **kw) -> Config:
    return Config(algo=algo, total_timesteps=updates * 8 * 64, **SMALL, **kw)


@pytest.mark.parametrize("algo", GROUPED)
def test_a_group_algorithm_builds_and_trains_no_critic(algo):
    config = small(algo)
    static = make_static(config)
    state = init(static, jax.random.key(0), config.hparams())
    assert state.params.critic == ()
    assert not static.algorithm.critic
    # the optimiser holds Adam's two moments of the actor's parameters, nothing of a critic
    actor = sum(x.size for x in jax.tree.leaves(state.params.actor))
    moments = [x for x in jax.tree.leaves(state.opt_state) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert sum(x.size for x in moments) == 2 * actor
    result = jax.jit(make_train(config))(jax.random.key(0))
    assert result.state.params.critic == ()
    for name in ["loss", "policy_loss", "kl", "group_return_spread", "group_equal_fraction"]:
        assert np.isfinite(np.asarray(result.metrics[name])).all(), (algo, name)
    assert np.all(np.asarray(result.metrics["group_return_spread"]) >= 0)
    fraction = np.asarray(result.metrics["group_equal_fraction"])
    assert np.all((fraction >= 0) & (fraction <= 1))


@pytest.mark.parametrize("algo", GROUPED)
def test_a_group_algorithm_vmaps_over_keys_as_a_loop_does(algo):
    train = make_train(small(algo, updates=3))
    keys = jax.random.split(jax.random.key(1), 2)
    batched = jax.jit(jax.vmap(train))(keys)
    for i in range(2):
        single = jax.jit(train)(keys[i])
        for name, values in single.metrics.items():
            np.testing.assert_allclose(
                np.asarray(batched.metrics[name])[i], values, rtol=2e-4, atol=1e-6, err_msg=name
            )


@pytest.mark.parametrize("algo", GROUPED)
def test_a_group_algorithm_resumed_from_half_way_is_the_whole_run(algo):
    config = small(algo, updates=4)
    states = []
    whole = train_in_chunks(
        config, jax.random.key(2), num_chunks=2, on_chunk=lambda r, s, m: states.append(s)
    )
    first = {name: values[:2] for name, values in whole.metrics.items()}
    resumed = train_in_chunks(config, jax.random.key(99), state=states[0], metrics=first)
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
    for x, y in zip(
        jax.tree.leaves(whole.state.params), jax.tree.leaves(resumed.state.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_waiting_steps_add_no_episode_length():
    """CartPole pays 1 a step, and a waiting member 0: an episode's length is its return, so
    the mean length equals the mean return only if waiting steps are not counted."""
    result = jax.jit(make_train(small("rloo", lr=1e-30)))(jax.random.key(3))
    returns, lengths = (np.asarray(result.metrics[n]) for n in ["episode_return", "episode_length"])
    assert np.all(returns < 20)  # episodes fell before the limit, so members waited
    np.testing.assert_allclose(lengths, returns, rtol=1e-6)


def test_grpo_kl_coefficient_holds_the_policy_near_the_one_that_collected_the_batch():
    """β = kl_coef weighs KL(π_old ‖ π) into GRPO's loss: a large β gives a smaller KL to the
    rollout's policy after each update than β = 0, everything else equal."""

    def kl(beta):
        config = small("grpo", updates=3, lr=3e-2, clip_eps=1.0)
        config = config.replace(settings=dict(config.settings, kl_coef=beta))
        return np.asarray(jax.jit(make_train(config))(jax.random.key(4)).metrics["kl"])

    free, held = kl(0.0), kl(100.0)
    assert np.all(held < free)


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (dict(settings=dict(group_size=1)), r"group_size'\]=1: .*allowed: an integer >= 2"),
        (dict(num_envs=12), r"num_envs=12 does not form groups of group_size=8"),
        (dict(network="gru", num_envs=8), r"network='gru': .*feed-forward networks only"),
    ],
)
def test_group_algorithms_refuse_what_they_cannot_run(change, phrase):
    config = Config(algo="grpo", env="CartPole-v1", **change)
    with pytest.raises(ValueError, match=phrase):
        config.validate()
