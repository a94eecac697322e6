"""The seed's family on one pipeline: hand-checkable pieces, TRPO's solver and trust region,
the adaptive β, and every algorithm end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.algorithms import REGISTRY, MeanBaseline, PolicyTerms
from pgjax.algorithms import names as algorithm_names
from pgjax.algorithms.estimators import monte_carlo_weights
from pgjax.math.distributions import categorical_kl
from pgjax.math.natural_gradient import conjugate_gradient, fisher_vector_product, trpo_step
from pgjax.pipeline.rollout import Trajectory
from pgjax.pipeline.static import make_static
from pgjax.pipeline.train import make_pipeline
from tests import probes

probes.register()


def test_conjugate_gradient_solves_a_positive_definite_system():
    m = jax.random.normal(jax.random.key(0), (6, 6))
    a = m @ m.T + jnp.eye(6)
    b = jax.random.normal(jax.random.key(1), (6,))
    x = conjugate_gradient(lambda v: a @ v, b, iters=12)
    np.testing.assert_allclose(
        x, np.linalg.solve(np.asarray(a), np.asarray(b)), rtol=1e-3, atol=1e-4
    )


# a tabular softmax policy over 3 states × 4 actions; θ flat [12]
OLD = jax.random.normal(jax.random.key(2), (12,))
ACTIONS = jnp.array([0, 3, 1, 2, 2, 0])
STATES = jnp.array([0, 1, 2, 0, 1, 2])
ADV = jnp.array([1.0, -0.5, 2.0, -1.0, 0.3, 0.7])


def logits(theta):
    return theta.reshape(3, 4)[STATES]


def mean_kl(theta):
    return jnp.mean(categorical_kl(logits(OLD), logits(theta)))


def surrogate(theta):
    lp = jax.nn.log_softmax(logits(theta))[jnp.arange(6), ACTIONS]
    old = jax.nn.log_softmax(logits(OLD))[jnp.arange(6), ACTIONS]
    return jnp.mean(jnp.exp(lp - old) * ADV)


def test_fisher_vector_product_is_the_hessian_of_the_kl():
    v = jax.random.normal(jax.random.key(3), (12,))
    hessian = jax.hessian(mean_kl)(OLD)
    np.testing.assert_allclose(
        fisher_vector_product(mean_kl, OLD, 0.0)(v), hessian @ v, rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("delta", [1e-3, 1e-2, 1e-1])
def test_trpo_step_improves_and_respects_the_kl_bound(delta):
    new, info = trpo_step(surrogate, mean_kl, OLD, delta, cg_iters=20, damping=1e-3)
    assert bool(info.accepted)
    assert float(mean_kl(new)) <= delta  # measured after the step
    assert float(surrogate(new)) > float(surrogate(OLD))
    np.testing.assert_allclose(info.kl, mean_kl(new), rtol=1e-5)


def test_trpo_rejects_a_step_that_cannot_improve():
    new, info = trpo_step(lambda t: -jnp.sum(t**2) * 0.0, mean_kl, OLD, 0.01)
    assert not bool(info.accepted)
    np.testing.assert_array_equal(new, OLD)


def test_policy_losses_on_a_hand_checkable_batch():
    hp = Config().hparams()
    lp, old = jnp.log(jnp.array([0.6, 0.1])), jnp.log(jnp.array([0.5, 0.2]))
    adv, kl = jnp.array([1.0, -2.0]), jnp.array([0.05, 0.2])
    t = PolicyTerms(lp, old, adv, kl)
    np.testing.assert_allclose(REGISTRY["reinforce"].policy_loss(t, hp), -lp * adv, rtol=1e-6)
    np.testing.assert_allclose(REGISTRY["a2c"].policy_loss(t, hp), -lp * adv, rtol=1e-6)
    ratio = np.array([1.2, 0.5])
    np.testing.assert_allclose(REGISTRY["is_pg"].policy_loss(t, hp), -ratio * adv, rtol=1e-6)
    np.testing.assert_allclose(
        REGISTRY["ppo_penalty"].policy_loss(
            t, Config(algo="ppo_penalty").hparams().set(kl_beta=3.0)
        ),
        -ratio * adv + 3.0 * kl,
        rtol=1e-6,
    )
    # clip 0.2: min(1.2·1, 1.2·1) = 1.2; min(0.5·−2, 0.8·−2) = −1.6
    np.testing.assert_allclose(REGISTRY["ppo_clip"].policy_loss(t, hp), [-1.2, 1.6], rtol=1e-6)


def window(rewards, terminated):
    t = len(rewards)
    z = jnp.zeros((t, 1), bool)
    return Trajectory(
        obs=None,
        action=None,
        log_prob=None,
        dist_params=None,
        reward=jnp.asarray(rewards, jnp.float32)[:, None],
        terminated=jnp.asarray(terminated)[:, None],
        truncated=z,
        next_obs=None,
    )


@pytest.mark.parametrize(
    ("return_type", "baseline", "weights", "mask"),
    [
        # episode of 2 steps, then one still running at the window's end
        ("episode", "none", [3, 3, 4, 4], [1, 1, 0, 0]),
        ("reward_to_go", "none", [3, 2, 4, 3], [1, 1, 0, 0]),
        ("reward_to_go", "mean", [3 - 10, 2 - 10, 4 - 10, 3 - 10], [1, 1, 0, 0]),
        # with a critic the running episode is bootstrapped: 3 + V(s') = 3 + 5
        ("reward_to_go", "critic", [3 - 1, 2 - 1, 9 - 1, 8 - 1], [1, 1, 1, 1]),
    ],
)
def test_reinforce_weights_and_masks(return_type, baseline, weights, mask):
    config = Config(algo="reinforce", return_type=return_type, baseline=baseline)
    hp = config.hparams()._replace(gamma=1.0)
    traj = window([1.0, 2.0, 1.0, 3.0], [False, True, False, False])
    values = jnp.ones((4, 1))
    next_values = jnp.full((4, 1), 5.0)
    static = make_static(config)
    adv, _, m = monte_carlo_weights(static, hp, traj, values, next_values, MeanBaseline(10.0))
    np.testing.assert_allclose(adv[:, 0], weights)
    np.testing.assert_array_equal(m[:, 0], mask)


SHORT = dict(env="CartPole-v1", total_timesteps=20_000)


def test_reinforce_policy_steps_once_per_batch_while_its_critic_is_fit_many_times():
    # Adam's first step moves every parameter by at most lr (|m̂/√v̂| ≤ 1): one policy step
    # per batch moves the actor by ≤ lr; 4 epochs × 4 minibatches move the critic further
    config = Config(algo="reinforce", baseline="critic", anneal_lr=False, total_timesteps=4000)
    assert config.num_updates == 1
    init = jax.jit(make_pipeline(config).init)(jax.random.key(0), config.hparams())
    after = jax.jit(make_train(config))(jax.random.key(0)).state
    moved = jax.tree.map(lambda a, b: jnp.max(jnp.abs(a - b)), after.params, init.params)
    actor = max(float(x) for x in jax.tree.leaves(moved.actor))
    critic = max(float(x) for x in jax.tree.leaves(moved.critic))
    assert 0.5 * config.lr < actor <= config.lr * (1 + 1e-4)
    assert critic > 4 * config.lr


@pytest.mark.parametrize(
    ("env", "value"), [("OneStep-probe", 1.0), ("ConstantReward-probe", 1 / (1 - 0.9))]
)
def test_reinforce_critic_learns_the_true_value_on_probes(env, value):
    # reward-to-go with a critic: the window's end and the 5-step time limit are cuts,
    # bootstrapped with V; a termination is not
    config = Config(
        algo="reinforce",
        env=env,
        baseline="critic",
        gamma=0.9,
        num_envs=8,
        num_steps=16,
        lr=3e-3,
        ent_coef=0.0,
        total_timesteps=40_000,
    )
    result = jax.jit(make_train(config))(jax.random.key(0))
    np.testing.assert_allclose(probes.critic_value(config, result), value, rtol=0.05)


@pytest.mark.parametrize("algo", algorithm_names())
def test_every_algorithm_runs_with_finite_metrics(algo):
    config = Config(algo=algo, **SHORT)
    result = jax.jit(make_train(config))(jax.random.key(0))
    for name in ["loss", "kl", "explained_variance", "grad_norm"]:
        assert np.all(np.isfinite(result.metrics[name])), (algo, name)
    # β is PPO-Penalty's own: reported by it, by no other algorithm
    assert ("beta" in result.metrics) == (algo == "ppo_penalty")
    assert np.all(np.asarray(result.metrics["kl"]) >= 0)


def test_trpo_updates_stay_inside_the_trust_region():
    config = Config(algo="trpo", max_kl=0.005, **SHORT)
    result = jax.jit(make_train(config))(jax.random.key(0))
    kl = np.asarray(result.metrics["kl"])
    assert kl.max() <= 0.005 * (1 + 1e-4)
    assert np.asarray(result.metrics["step_accepted"]).mean() > 0.5


def run_beta(kl_target, lr):
    config = Config(
        algo="ppo_penalty", kl_target=kl_target, lr=lr, anneal_lr=False, total_timesteps=4 * 128 * 8
    )
    return np.asarray(jax.jit(make_train(config))(jax.random.key(0)).metrics["beta"])


def test_adaptive_beta_rises_when_kl_is_forced_high():
    beta = run_beta(kl_target=1e-6, lr=1e-2)
    assert beta[0] == 1.0 and beta[-1] >= 2.0**6  # doubled after (almost) every update


def test_adaptive_beta_falls_when_kl_is_forced_low():
    beta = run_beta(kl_target=10.0, lr=1e-6)
    np.testing.assert_allclose(beta, 0.5 ** np.arange(len(beta)))


def test_fixed_beta_never_moves():
    assert np.all(run_beta(kl_target=None, lr=1e-2) == 1.0)


def test_beta_can_be_swept_as_a_hyperparameter():
    config = Config(algo="ppo_penalty", kl_target=None, total_timesteps=4 * 128 * 2)
    hp = config.hparams().set(kl_beta=jnp.array([0.3, 3.0]))
    out = jax.jit(jax.vmap(make_train(config), in_axes=(None, hp.axes(["kl_beta"]))))(
        jax.random.key(0), hp
    )
    np.testing.assert_allclose(out.metrics["beta"][:, 0], [0.3, 3.0])


# each algorithm's budget for the short run; a new one gets 300k until it states its own
LEARNS = {
    "reinforce": 400_000,
    "a2c": 200_000,
    "is_pg": 150_000,
    "ppo_penalty": 150_000,
    "ppo_clip": 150_000,
    "trpo": 150_000,
}


@pytest.mark.learning
@pytest.mark.parametrize("algo", algorithm_names())
def test_every_algorithm_learns_cartpole_in_a_short_run(algo):
    config = Config(algo=algo, total_timesteps=LEARNS.get(algo, 300_000))
    returns = np.asarray(jax.jit(make_train(config))(jax.random.key(0)).metrics["episode_return"])
    first, last = np.nanmean(returns[:3]), np.nanmean(returns[-10:])
    assert first < 40  # a random policy's CartPole return is about 22
    assert last > 100, (algo, first, last)
