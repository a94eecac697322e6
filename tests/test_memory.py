"""A recurrent policy's hidden state, handled exactly.

The truths: an episode's first action depends on its first observation alone (the state is
fresh after a termination and after a truncation alike); the learner, replaying a window from
the state stored at its start, recomputes the rollout's log-probabilities and values before
any parameter moves to float32 rounding (1e-6: the rollout steps windows of one, the replay
computes the input side of a whole window in one product, and XLA's kernels round by shape),
so the importance ratio is 1 to 1e-6, while replaying from a state one step off moves them by
far more; V(final observation) at a truncation is the value under the state its episode
reached.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.algorithms import REGISTRY, settings_of
from pgjax.algorithms.estimators import estimate
from pgjax.algorithms.learners import shuffle
from pgjax.nets import Params
from pgjax.pipeline.rollout import collect
from pgjax.pipeline.static import make_static
from pgjax.pipeline.train import init

ROUNDING = 1e-6  # how far the replay's log π and V may sit from the rollout's

# CartPole cut at 12 steps: a random policy's episodes end by falling (terminated) or at the
# limit (truncated), both inside a 48-step window
ENV = "CartPole-v1:max_steps_in_episode=12"
# every algorithm but the group ones (rloo, grpo, dr_grpo), which refuse recurrent networks:
# their members wait for their group (tests/test_groups.py checks the refusal)
RECURRENT = [name for name in REGISTRY if "group_size" not in settings_of(name)]


def window(algo="ppo_clip", network="gru", **kw):
    """The second rollout of a run and its estimated batch, before any learning: it starts
    with the states the first window left (not fresh ones)."""
    fields = dict(num_envs=8, num_steps=48, rnn_size=16, hidden_sizes=(32,))
    config = Config(algo=algo, env=ENV, network=network, total_timesteps=8 * 48, **fields, **kw)
    static = make_static(config)
    hp = config.hparams()
    state = init(static, jax.random.key(3), hp)
    carry, first_window, _ = collect(
        static, state.params, state.obs_norm, state.env, jax.random.key(4)
    )
    assert first_window.memory.first[0].all()  # a run starts fresh
    _, traj, _ = collect(static, state.params, state.obs_norm, carry, jax.random.key(5))
    assert not traj.memory.first[0].all()
    batch, *_ = estimate(static, state.params, state.obs_norm, traj, state.algo, hp, True)
    return static, state.params, traj, batch


def test_windows_hold_terminations_and_truncations():
    _, _, traj, _ = window()
    assert traj.terminated.any() and traj.truncated.any()
    # an episode starts after each end, and at the start of the run
    first = np.asarray(traj.memory.first)
    ended = np.asarray(traj.terminated | traj.truncated)
    np.testing.assert_array_equal(first[1:], ended[:-1])


@pytest.mark.parametrize("network", ["gru", "lstm"])
def test_the_state_is_fresh_at_every_episode_start(network):
    """At each first step (after a termination, after a truncation, at the start) the policy's
    output is that of a fresh state on that observation alone; elsewhere it is not."""
    static, params, traj, batch = window(network=network)
    net = static.net
    first = np.asarray(traj.memory.first)
    ended = np.asarray(traj.terminated | traj.truncated)
    after_trunc = np.zeros_like(first)
    after_trunc[1:] = np.asarray(traj.truncated)[:-1]
    after_term = np.zeros_like(first)
    after_term[1:] = np.asarray(traj.terminated)[:-1]
    assert after_trunc.any() and after_term.any() and ended.any()
    n = static.num_envs
    fresh = jax.jit(lambda o: net.step(params, net.initial_hidden(n), o, jnp.ones(n, bool))[1:])
    logits, values = np.asarray(traj.dist_params), np.asarray(batch.values)
    for t in range(traj.obs.shape[0]):
        alone_logits, alone_values = map(np.asarray, fresh(traj.obs[t]))
        f = first[t]
        np.testing.assert_allclose(logits[t][f], alone_logits[f], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(values[t][f], alone_values[f], rtol=1e-4, atol=1e-7)
        # a continuing episode remembers: its value is not the fresh state's
        assert np.all(np.abs(values[t][~f] - alone_values[~f]) > 1e-5)


@pytest.mark.parametrize("algo", RECURRENT)
def test_replay_gives_the_rollouts_numbers(algo):
    """The learner's first (minibatch of whole windows, shuffled over environments) replayed
    from the stored states: log π_old and V_old to rounding, so the ratio is 1 to 1e-6."""
    static, params, _, batch = window(algo, num_minibatches=1)
    data = batch.transitions()
    mb = jax.tree.map(lambda x: x[0], shuffle(static, data, jax.random.key(5), 1))
    assert not np.array_equal(mb.obs, data.obs)  # the environments were shuffled
    net = static.net
    dist_params, values = jax.jit(net.policy_and_value)(params, mb.obs, mb.memory)
    log_prob = net.dist.log_prob(dist_params, mb.action)
    np.testing.assert_allclose(log_prob, mb.log_prob, rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(jnp.exp(log_prob - mb.log_prob), 1.0, rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(values, mb.values, rtol=0, atol=ROUNDING)
    # the actor alone (REINFORCE's and TRPO's policy step) and the critic alone likewise
    alone = jax.jit(net.policy)(Params(params.actor, None), mb.obs, mb.memory)
    np.testing.assert_allclose(
        net.dist.log_prob(alone, mb.action), mb.log_prob, rtol=0, atol=ROUNDING
    )
    values = jax.jit(net.value)(params, mb.obs, mb.memory)
    np.testing.assert_allclose(values, mb.values, rtol=0, atol=ROUNDING)


@pytest.mark.parametrize("shared_torso", [False, True])
def test_replay_holds_with_head_layers_after_the_cell(shared_torso):
    """With each head's own hidden layer after the GRU (PureJaxRL's PPO-RNN layout) the
    replay gives the rollout's numbers too, through a shared torso as well."""
    static, params, _, batch = window(num_minibatches=1, head_sizes=(8,), shared_torso=shared_torso)
    assert params.critic["params"]["Dense_0"]["kernel"].shape == (16, 8)  # the value head's own
    mb = jax.tree.map(lambda x: x[0], shuffle(static, batch.transitions(), jax.random.key(5), 1))
    dist_params, values = jax.jit(static.net.policy_and_value)(params, mb.obs, mb.memory)
    log_prob = static.net.dist.log_prob(dist_params, mb.action)
    np.testing.assert_allclose(log_prob, mb.log_prob, rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(values, mb.values, rtol=0, atol=ROUNDING)


def test_replay_of_smaller_minibatches_agrees_to_rounding():
    """With several minibatches each replays fewer environments than the rollout stepped, and
    XLA picks its matrix-product kernels by shape, so the last bits may differ; the numbers
    agree to float rounding (an off-by-one state would be off by far more)."""
    static, params, _, batch = window(num_minibatches=4)
    minibatches = shuffle(static, batch, jax.random.key(5), 4)
    for i in range(4):
        mb = jax.tree.map(lambda x, i=i: x[i], minibatches)
        dist_params, values = static.net.policy_and_value(params, mb.obs, mb.memory)
        log_prob = static.net.dist.log_prob(dist_params, mb.action)
        np.testing.assert_allclose(log_prob, mb.log_prob, rtol=0, atol=ROUNDING)
        np.testing.assert_allclose(values, mb.values, rtol=0, atol=1e-5)


def test_an_off_by_one_state_is_caught():
    """The replay test's power: replaying from the state after the first observation (the
    off-by-one some recurrent PPOs have) moves log π and V by far more than the rounding the
    previous test allows (1e-6 and 1e-5; the policy head starts small, so log π moves
    little)."""
    static, params, _, batch = window(num_minibatches=1)
    net = static.net
    memory = batch.memory
    late, _, _ = net.step(params, memory.hidden, batch.obs[0], memory.first[0])
    shifted = memory._replace(hidden=late)
    log_prob = net.dist.log_prob(net.policy(params, batch.obs, shifted), batch.action)
    assert np.abs(np.asarray(log_prob - batch.log_prob)).max() > 1e-5
    values = net.value(params, batch.obs, shifted)
    assert np.abs(np.asarray(values - batch.values)).max() > 1e-3


@pytest.mark.parametrize("shared_torso", [False, True])
def test_truncation_bootstraps_from_the_state_the_episode_reached(shared_torso):
    """V(s'_t) at a truncation: the critic stepped through its episode's observations from a
    fresh state (one environment at a time, an independent loop), then the final one."""
    static, params, traj, batch = window(shared_torso=shared_torso)
    net = static.net
    _, next_values = net.values_and_next(params, batch.obs, traj.next_obs, batch.memory)
    first = np.asarray(traj.memory.first)
    step = jax.jit(lambda h, o, f: net.step(params, h, o, f))
    checked = 0
    for t, n in zip(*np.nonzero(np.asarray(traj.truncated)), strict=True):
        starts = np.nonzero(first[: t + 1, n])[0]
        if len(starts) == 0:  # the episode began before the window
            continue
        s = starts[-1]
        hidden = net.initial_hidden(1)
        for u in range(s, t + 1):
            hidden, _, _ = step(hidden, traj.obs[u, n][None], jnp.array([u == s]))
        _, _, value = step(hidden, traj.next_obs[t, n][None], jnp.zeros(1, bool))
        np.testing.assert_allclose(next_values[t, n], value[0], rtol=1e-5, atol=1e-5)
        # not the value of a fresh state on the final observation
        _, _, fresh = step(net.initial_hidden(1), traj.next_obs[t, n][None], jnp.ones(1, bool))
        assert abs(float(next_values[t, n] - fresh[0])) > 1e-6
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("algo", RECURRENT)
def test_every_algorithm_learns_with_memory(algo):
    """Three updates of every algorithm through make_train: finite losses. With the learning
    rate near 0 (REINFORCE's policy step, and PPO's joint loss; TRPO's step has no learning
    rate) the whole batch's ratio after each update is 1 to 1e-6: the parameters did not move
    and the report's replay gives the rollout's numbers."""
    fields = dict(num_envs=4, num_steps=32, rnn_size=16, hidden_sizes=(32,), num_minibatches=1)
    config = Config(algo=algo, env=ENV, network="gru", total_timesteps=3 * 128, **fields)
    if algo in ("reinforce", "ppo_clip"):
        config = config.replace(lr=1e-30)
    metrics = jax.jit(make_train(config))(jax.random.key(0)).metrics
    assert np.isfinite(np.asarray(metrics["loss"])).all()
    if algo in ("reinforce", "ppo_clip"):
        np.testing.assert_allclose(metrics["ratio_max"], 1.0, rtol=0, atol=ROUNDING)
        np.testing.assert_allclose(metrics["ratio_std"], 0.0, rtol=0, atol=ROUNDING)


@pytest.mark.slow
def test_memory_trains_resumes_to_the_same_bits_and_evaluates(tmp_path):
    """The hidden states are part of the run's state: a run stopped half-way and resumed
    writes the same checkpoint bytes as the whole run; evaluation and recording step the
    hidden state too."""
    from pgjax.tools import checkpoint, folders
    from pgjax.tools.evaluate import evaluate, record_episode
    from pgjax.tools.session import run as run_folder

    config = Config(
        env="CartPole-v1", network="lstm", rnn_size=16, num_envs=4, num_steps=16,
        num_minibatches=2, total_timesteps=4 * 16 * 4, anneal_lr=False,
    )  # fmt: skip
    run_folder(config, run_dir=tmp_path / "whole", num_chunks=2)
    run_folder(config.replace(total_timesteps=4 * 16 * 2), run_dir=tmp_path / "half")
    run_folder(config, run_dir=tmp_path / "half", resume=True, num_chunks=2)
    for name in (folders.CHECKPOINT_FILE, folders.METRICS_FILE):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "half" / name).read_bytes()
    state, _ = checkpoint.restore(tmp_path / "half", config, 0)
    assert state.env.memory.hidden.actor[0].shape == (4, 16)
    returns = evaluate(config, state, jax.random.key(1), episodes=3, greedy=True)
    assert returns.shape == (3,) and (returns >= 1).all()
    episode = record_episode(config, state, jax.random.key(2))
    assert 0 < len(episode.rewards) <= 500


@pytest.mark.slow
def test_memory_shards_with_its_environments():
    """Data parallel on 2 devices: every device's hidden states stay with its environments,
    parameters stay identical, and seeds shard as for a feed-forward policy."""
    from tests.test_sharding import run

    r = run(
        """
config = Config(env="CartPole-v1", network="gru", rnn_size=16, num_envs=8, num_steps=16,
                num_minibatches=2, total_timesteps=8 * 16 * 3, devices=2)
result = jax.jit(make_train(config))(jax.random.key(0))
hidden = result.state.env.memory.hidden.actor
copies = [[np.asarray(s.data) for s in leaf.addressable_shards]
          for leaf in jax.tree.leaves(result.state.params)]
seeds = train_seeds(config.replace(devices=1), jax.random.split(jax.random.key(0), 2))
print(json.dumps({
    "hidden": [list(s.data.shape) for s in hidden.addressable_shards],
    "identical": all(all(np.array_equal(c[0], x) for x in c) for c in copies),
    "finite": bool(np.isfinite(np.asarray(result.metrics["loss"])).all()),
    "seeds": list(seeds.metrics["loss"].shape),
}))
""",
        devices=2,
    )
    assert r["hidden"] == [[4, 16], [4, 16]] and r["identical"] and r["finite"]
    assert r["seeds"] == [2, 3]


@pytest.mark.learning
def test_memory_is_needed_and_used_on_a_delayed_cue():
    """Cue-v0 (a cue, then the action asked for 8 steps later): the GRU preset solves it on
    every one of 8 seeds in 100k steps; the same without memory stays at chance (return 0)."""
    from pgjax.pipeline.config import preset
    from pgjax.tools.chunks import final_return

    keys = jax.random.split(jax.random.key(0), 8)
    recurrent = preset("Cue-v0")
    for config, solved in ((recurrent, True), (recurrent.replace(network="auto"), False)):
        metrics = jax.device_get(jax.jit(jax.vmap(make_train(config)))(keys).metrics)
        finals = np.array([final_return({"episode_return": r}) for r in metrics["episode_return"]])
        if solved:
            assert (finals >= 0.9).all(), finals
        else:
            assert abs(finals.mean()) < 0.2 and (finals < 0.5).all(), finals


def test_the_grus_written_out_derivative_is_jaxs_own():
    """The GRU scan's derivative (written out so that the weights' gradient is one product
    after the loop) against JAX differentiating the same loop, with resets inside the window:
    reverse mode (the learner) and forward over reverse (TRPO's Fisher products)."""
    from pgjax.nets.recurrent import _gru_scan, _gru_steps

    k, b, h, t = 2, 3, 8, 20
    keys = jax.random.split(jax.random.key(1), 6)
    args = (
        jax.random.normal(keys[0], (k, h, 3 * h)) / 3,
        jax.random.normal(keys[1], (k, h)),
        jax.random.normal(keys[2], (k, b, h)),
        jax.random.normal(keys[3], (t, k, b, 3 * h)),
    )
    first = jax.random.bernoulli(keys[4], 0.2, (t, b))
    assert first.any()
    target = jax.random.normal(keys[5], (t, k, b, h))

    def loss(scan):
        return lambda *a: jnp.sum(jnp.sin(scan(*a, first)) * target)

    def by_jax(*a):
        return _gru_steps(*a)[0]

    mine, theirs = (jax.grad(loss(f), argnums=(0, 1, 2, 3))(*args) for f in (_gru_scan, by_jax))
    for a, b_ in zip(mine, theirs, strict=True):
        np.testing.assert_allclose(a, b_, rtol=1e-4, atol=2e-6)
    v = jnp.ones_like(args[0])

    def fisher(scan):
        grad = jax.grad(loss(scan))
        return jax.jvp(lambda w: grad(w, *args[1:]), (args[0],), (v,))[1]

    np.testing.assert_allclose(fisher(_gru_scan), fisher(by_jax), rtol=1e-4, atol=1e-5)
