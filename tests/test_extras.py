"""The optional suites behind pgjax's contract, each where its extra is installed (``.ci/run``
installs them all, ``pip install -e '.[suites]'``, in a second virtual environment and runs
this file there): Brax, Craftax, Jumanji, Navix, XLand-MiniGrid, Pgx and MuJoCo Playground.
At a time limit ``truncated`` and not ``terminated``, at the end of the task the reverse;
``final_obs`` the observation that ended the episode (what the suite's own step, without a
reset, returns) and the next one a fresh episode's; a legal-action mask honoured; and a short
run of each."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, envs, make_train
from pgjax.envs import registry
from pgjax.envs.base import MASK
from pgjax.pipeline.presets import TIME_LIMITS
from tests import probes
from tests.test_suites import N, check_shapes, run, step_keys


@pytest.mark.parametrize("env", sorted(e for e in TIME_LIMITS if "/" in e))
def test_the_time_limits_presets_read_are_the_suites(env):
    """``Config`` sizes REINFORCE's windows by ``presets.TIME_LIMITS`` without building the
    environment: each suite's entry is what the environment says."""
    suite = env.partition("/")[0]
    pytest.importorskip(registry._IMPORTS.get(suite, suite))
    assert (envs.make_env(env).spec.time_limit or 0) == TIME_LIMITS[env]


# ---- Brax ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def brax():
    return pytest.importorskip("brax")


def test_brax_keeps_the_contract(brax):
    # inverted_pendulum cut at 5 steps: actions of 0 keep the pole up that long (truncated);
    # pushed at +1 without a limit it falls past 0.2 rad (terminated), as Brax's own step says
    env = envs.make_env("brax/inverted_pendulum:backend=positional,episode_length=5")
    assert env.spec.low.tolist() == [-1.0] and env.spec.high.tolist() == [1.0]
    zeros = jnp.zeros((N, 1))
    obs, states, steps = run(env, [zeros] * 6)
    check_shapes(env, obs, steps[0])
    ends = [(bool(ts.terminated.any()), ts.truncated.tolist()) for ts in steps]
    assert ends == [(False, [False] * N)] * 4 + [(False, [True] * N), (False, [False] * N)]
    raw = jax.vmap(env.env.step)(states[4].env_state, zeros).obs
    np.testing.assert_allclose(steps[4].final_obs, raw, rtol=1e-6)
    assert not np.allclose(steps[4].obs, raw)
    np.testing.assert_array_equal(steps[5].obs.shape, obs.shape)

    env = envs.make_env("brax/inverted_pendulum:backend=positional")
    obs, states, steps = run(env, [jnp.ones((N, 1))] * 40)
    first = next(i for i, ts in enumerate(steps) if ts.terminated.any())
    ts = steps[first]
    assert ts.terminated.all() and not ts.truncated.any()
    raw = jax.vmap(env.env.step)(states[first].env_state, jnp.ones((N, 1))).obs
    np.testing.assert_allclose(ts.final_obs, raw, rtol=1e-6)
    assert (np.abs(ts.final_obs[:, 1]) > 0.2).all() and (np.abs(ts.obs[:, 1]) < 0.05).all()


def test_brax_names_and_backends(brax):
    assert "brax/ant" in envs.suite_names("brax")
    with pytest.raises(ValueError, match=r"did you mean 'brax/ant'"):
        envs.check_env("brax/antt")
    with pytest.raises(ValueError, match="backend='warp' is unknown; allowed: generalized"):
        envs.make_env("brax/ant:backend=warp")


# ---- MuJoCo Playground -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def playground():
    return pytest.importorskip("mujoco_playground")


def test_playground_keeps_the_contract(playground):
    # CartpoleBalance cut at 5 steps: a truncation (the Control Suite's tasks never end on
    # their own), its final_obs what Playground's own step returns, then a fresh episode's
    env = envs.make_env("playground/CartpoleBalance:episode_length=5")
    assert env.spec.low.tolist() == [-1.0] and env.spec.time_limit == 5
    pushes = [jnp.full((N, 1), 0.5)] * 6
    obs, states, steps = run(env, pushes)
    check_shapes(env, obs, steps[0])
    ends = [(bool(ts.terminated.any()), ts.truncated.tolist()) for ts in steps]
    assert ends == [(False, [False] * N)] * 4 + [(False, [True] * N), (False, [False] * N)]
    raw = jax.vmap(env.env.step)(states[4].env_state, pushes[4])
    np.testing.assert_allclose(steps[4].final_obs, raw.obs, rtol=1e-6)
    np.testing.assert_allclose(steps[4].reward, raw.reward, rtol=1e-6)
    assert not np.allclose(steps[4].obs, raw.obs)
    assert np.asarray(steps[5].truncated).tolist() == [False] * N
    assert envs.make_env("playground/CartpoleBalance").spec.time_limit == 1000


def test_playground_names_options_and_refusals(playground):
    from pgjax.envs.playground import TASKS

    assert envs.suite_names("playground") == [f"playground/{t}" for t in TASKS]
    with pytest.raises(ValueError, match=r"did you mean 'playground/CartpoleBalance'"):
        envs.check_env("playground/CartpoleBalanse")
    with pytest.raises(ValueError, match="impl='warp': pgjax runs Playground in MJX's JAX"):
        envs.make_env("playground/CartpoleBalance:impl=warp")
    with pytest.raises(ValueError, match="colour is not a field of the task's config; it has"):
        envs.make_env("playground/CartpoleBalance:colour=1")
    env = envs.make_env("playground/PendulumSwingup:action_repeat=2")
    assert env.spec.obs_shape == (3,) and env.spec.num_actions == 1


def test_playground_learns_cartpole_balance_a_little(playground):
    # 400k steps of the preset: the return of a whole 1000-step episode rises well above
    # where the first episodes end (a random policy holds the pole for part of them)
    from pgjax.pipeline.config import preset

    config = preset("playground/CartpoleBalance").replace(total_timesteps=400_000)
    returns = np.asarray(jax.jit(make_train(config))(jax.random.key(0)).metrics["episode_return"])
    ended = returns[np.isfinite(returns)]
    assert len(ended) >= 4 and ended[-1] > ended[0] + 100, ended


# ---- Craftax ---------------------------------------------------------------------------------


def test_craftax_splits_its_done_and_reports_achievements():
    pytest.importorskip("craftax")
    env = envs.make_env("craftax/Craftax-Classic-Symbolic-v1")
    assert env.spec.time_limit == 10_000 and env.spec.num_actions == 17
    assert "achievement_collect_wood" in env.spec.episode_info
    env = env._replace(params=env.params.replace(max_timesteps=5))  # a limit a test can reach
    noop = jnp.zeros(N, jnp.int32)
    obs, states, steps = run(env, [noop] * 5)
    check_shapes(env, obs, steps[0])
    assert np.asarray(steps[4].truncated).all() and not np.asarray(steps[4].terminated).any()
    assert not any(np.asarray(ts.truncated | ts.terminated).any() for ts in steps[:4])
    raw = jax.vmap(env.env.step_env, in_axes=(0, 0, 0, None))(
        jax.random.split(jax.random.key(9), N), states[4].env_state, noop, env.params
    )[0]
    np.testing.assert_allclose(steps[4].final_obs, raw)

    # environment 1 dies having collected wood: a termination, reported with its achievement
    state = states[1]
    inner = state.env_state
    inner = inner.replace(
        player_health=inner.player_health.at[1].set(0.0),
        achievements=inner.achievements.at[1, 0].set(True),
    )
    step = jax.jit(env.step)
    _, ts = step(jax.random.split(jax.random.key(3), (N, 2)), state._replace(env_state=inner), noop)
    assert np.asarray(ts.terminated).tolist() == [False, True]
    assert not np.asarray(ts.truncated).any()
    assert float(ts.info["achievement_collect_wood"][1]) == 1.0
    assert float(ts.info["achievements"][1]) >= 1.0


# ---- Jumanji, Navix, XLand-MiniGrid, Pgx ----------------------------------------------------


def check_ends(env, steps, states, raw_step, actions, at, terminated):
    """Step ``at`` (0-based) ended both environments' episodes, by the task's end
    (``terminated``) or by the time limit, and no earlier step did; its ``final_obs`` is what
    the suite's own step (without a reset) returns from the state before it, and the next
    observation a fresh episode's."""
    for i, ts in enumerate(steps[: at + 1]):
        ended = i == at
        assert np.asarray(ts.terminated).tolist() == [ended and terminated] * N, i
        assert np.asarray(ts.truncated).tolist() == [ended and not terminated] * N, i
    raw = jax.vmap(raw_step)(states[at], actions[at], step_keys(at)[:, 0])
    final, fresh = steps[at].final_obs, steps[at].obs
    for got, want in zip(jax.tree.leaves(final), jax.tree.leaves(raw), strict=True):
        np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32))
    leaf = lambda tree: np.asarray(jax.tree.leaves(tree)[0], np.float32)  # noqa: E731
    assert not np.allclose(leaf(final), leaf(fresh))


def tiny_run(name, **settings):
    config = Config(env=name, num_envs=4, num_steps=8, num_minibatches=2,
                    total_timesteps=4 * 8 * 2, **settings)  # fmt: skip
    metrics = jax.jit(make_train(config))(jax.random.key(0)).metrics
    assert np.isfinite(np.asarray(metrics["loss"])).all()


def test_navix_tells_its_goal_from_its_time_limit():
    pytest.importorskip("navix")
    # Empty-5x5: forward, forward, turn clockwise, forward, forward reaches the goal
    path = [jnp.full(N, a) for a in (2, 2, 1, 2, 2)]
    env = envs.make_env("navix/Navix-Empty-5x5-v0")
    assert env.spec.time_limit == 100 and env.spec.num_actions == 7
    _, states, steps = run(env, path)
    import navix

    raw_env = navix.make("Navix-Empty-5x5-v0")
    observe = lambda ts, a, k: raw_env._step(ts, a).observation  # noqa: E731
    check_ends(env, steps, states, observe, path, 4, terminated=True)
    env = envs.make_env("navix/Navix-Empty-5x5-v0:max_steps=3")  # turning in place
    _, states, steps = run(env, [jnp.zeros(N, int)] * 4)
    check_ends(env, steps, states, observe, [jnp.zeros(N, int)] * 4, 2, terminated=False)
    with pytest.raises(ValueError, match=r"option 'max_step' is unknown .*'max_steps'"):
        envs.make_env("navix/Navix-Empty-5x5-v0:max_step=3")
    tiny_run("navix/Navix-Empty-5x5-v0")


def test_xminigrid_tells_its_goal_from_its_time_limit():
    pytest.importorskip("xminigrid")
    import xminigrid

    raw_env, params = xminigrid.make("MiniGrid-Empty-5x5")
    path = [jnp.full(N, a) for a in (0, 0, 1, 0, 0)]  # forward ×2, turn right, forward ×2
    env = envs.make_env("xminigrid/MiniGrid-Empty-5x5")
    assert env.spec.num_actions == 6 and env.spec.obs_shape == (7, 7, 2)
    _, states, steps = run(env, path)
    observe = lambda ts, a, k: raw_env.step(params, ts, a).observation  # noqa: E731
    check_ends(env, steps, states, observe, path, 4, terminated=True)
    env = envs.make_env("xminigrid/MiniGrid-Empty-5x5:max_steps=3")  # turning in place
    assert env.spec.time_limit == 3
    turns = [jnp.ones(N, int)] * 4
    _, states, steps = run(env, turns)
    short = params.replace(max_steps=3)
    observe = lambda ts, a, k: raw_env.step(short, ts, a).observation  # noqa: E731
    check_ends(env, steps, states, observe, turns, 2, terminated=False)
    assert "xminigrid/XLand-MiniGrid-R1-9x9" not in envs.suite_names("xminigrid")
    tiny_run("xminigrid/MiniGrid-Empty-5x5")


def test_jumanji_tells_its_end_from_its_time_limit_and_honours_its_mask():
    pytest.importorskip("jumanji")
    import jumanji

    # Snake: always up runs into the wall of a 6×6 board (terminated) ...
    name = "jumanji/Snake-v1:num_rows=6,num_cols=6"
    env = envs.make_env(name)
    assert env.spec.masked and env.spec.num_actions == 4 and env.spec.time_limit == 4000
    assert env.spec.obs_spec["grid"].shape == (6, 6, 5)
    raw_env = jumanji.make("Snake-v1", num_rows=6, num_cols=6)
    observe = lambda s, a, k: raw_env.step(s[0], a)[1].observation._asdict()  # noqa: E731
    up = [jnp.zeros(N, int)] * 7
    _, states, steps = run(env, up)
    ends = [i for i, ts in enumerate(steps) if np.asarray(ts.terminated).any()]
    assert ends and ends[0] <= 5
    at = ends[0]
    assert not np.asarray(steps[at].truncated).any()
    raw = jax.vmap(observe)(states[at], up[at], step_keys(at)[:, 0])
    ended = np.asarray(steps[at].terminated)
    np.testing.assert_array_equal(np.asarray(steps[at].final_obs["grid"])[ended],
                                  np.asarray(raw["grid"])[ended])  # fmt: skip
    # ... and a time limit of 2 on a 12×12 board, heading for its middle, is a truncation
    # (where Snake's own step says discount 0, as if the game were lost)
    name = "jumanji/Snake-v1:num_rows=12,num_cols=12,time_limit=2"
    env = envs.make_env(name)
    raw_env = jumanji.make("Snake-v1", num_rows=12, num_cols=12, time_limit=2)
    state, _ = jax.jit(env.reset)(jax.random.split(jax.random.key(0), N))
    row = np.asarray(state[0].head_position.row)
    inward = [jnp.asarray(np.where(row < 6, 2, 0))] * 3  # down (2) or up (0)
    _, states, steps = run(env, inward)
    check_ends(env, steps, states, observe, inward, 1, terminated=False)
    with pytest.raises(ValueError, match=r"option 'rows' is unknown.*num_rows"):
        envs.make_env("jumanji/Snake-v1:rows=6")
    with pytest.raises(ValueError, match="one discrete choice per step"):
        envs.make_env("jumanji/Connector-v3")
    probes.check_masks_honoured(Config(env="jumanji/Snake-v1:num_rows=6,num_cols=6",
                                       num_envs=8, num_steps=32))  # fmt: skip
    tiny_run("jumanji/Snake-v1:num_rows=6,num_cols=6")


def test_pgx_tells_an_ended_game_from_its_time_limit_and_honours_its_mask():
    pytest.importorskip("pgx")
    import pgx

    raw_env = pgx.make("2048")
    env = envs.make_env("pgx/2048:max_steps=3")
    assert env.spec.masked and env.spec.time_limit == 3
    observe = lambda s, a: {"action_mask": raw_env.step(s, a).legal_action_mask,  # noqa: E731
                            "obs": raw_env.step(s, a).observation}  # fmt: skip
    # three legal moves (each step's first): the limit, and the observation that ended it is
    # Pgx's own step's from the state before
    state, obs = jax.jit(env.reset)(jax.random.split(jax.random.key(0), N))
    states, steps, actions = [], [], []
    for i in range(3):
        actions.append(jnp.argmax(obs["action_mask"], -1))
        states.append(state)
        state, ts = jax.jit(env.step)(step_keys(i), state, actions[-1])
        obs = ts.obs
        steps.append(ts)
    observe = lambda s, a, k: {MASK: raw_env.step(s, a, k).legal_action_mask,  # noqa: E731
                               "obs": raw_env.step(s, a, k).observation}  # fmt: skip
    check_ends(env, steps, states, observe, actions, 2, terminated=False)
    # an illegal move ends a Pgx game: a termination, from a board where one move is illegal
    env = envs.make_env("pgx/2048")
    for seed in range(64):
        state, obs = jax.jit(env.reset)(jax.random.split(jax.random.key(seed), N))
        if not np.asarray(obs["action_mask"]).all(axis=-1).any():
            break
    illegal = jnp.argmin(obs["action_mask"], -1)
    state, ts = jax.jit(env.step)(jax.random.split(jax.random.key(99), (N, 2)), state, illegal)
    assert np.asarray(ts.terminated).all() and not np.asarray(ts.truncated).any()
    assert (np.asarray(ts.reward) < 0).all()
    probes.check_masks_honoured(Config(env="pgx/2048", num_envs=8, num_steps=32))
    assert envs.suite_names("pgx")[0] == "pgx/2048"
    tiny_run("pgx/2048")


# ---- the whole workflow on each extra suite --------------------------------------------------

SMOKE = {
    "brax": "brax/inverted_pendulum:backend=positional",
    "craftax": "craftax/Craftax-Classic-Symbolic-v1",
    # its states are chex dataclasses, which flax's serialisation learns by their fields
    "jumanji": "jumanji/Snake-v1:num_rows=6,num_cols=6",
    "playground": "playground/CartpoleBalance:episode_length=20",
}


@pytest.mark.parametrize("suite", list(SMOKE))
def test_a_suite_trains_resumes_to_the_same_bits_evaluates_and_renders(suite, tmp_path):
    pytest.importorskip(registry._IMPORTS.get(suite, suite))
    from pgjax.tools import checkpoint, folders, render
    from pgjax.tools.evaluate import evaluate, record_episode
    from pgjax.tools.session import run as run_folder

    tanh = {"action_dist": "tanh_normal"} if suite in ("brax", "playground") else {}
    config = Config(
        env=SMOKE[suite],
        num_envs=4,
        num_steps=8,
        num_minibatches=2,
        total_timesteps=4 * 32,
        anneal_lr=False,  # the half run's schedule would end at its own half-way
        **tanh,
    )
    run_folder(config, run_dir=tmp_path / "whole", num_chunks=2)
    run_folder(config.replace(total_timesteps=4 * 16), run_dir=tmp_path / "half", num_chunks=2)
    result = run_folder(config, run_dir=tmp_path / "half", resume=True, num_chunks=2)
    for name in (folders.CHECKPOINT_FILE, folders.METRICS_FILE):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "half" / name).read_bytes()
    if suite == "craftax":
        assert "episode_achievement_collect_wood" in result.metrics
    state, _ = checkpoint.restore(tmp_path / "half", config, 0)
    returns = evaluate(config, state, jax.random.key(1), episodes=2)
    assert returns.shape == (2,) and np.isfinite(returns).all()
    episode = record_episode(config, state, jax.random.key(2))
    assert 0 < len(episode.rewards) <= envs.make_env(config.env).spec.time_limit
    if suite == "brax":
        page = render.save(config.env, episode, tmp_path / "episode.html").read_text()
        assert "<html" in page.lower()
    elif suite == "craftax":
        path = render.save(config.env, episode, tmp_path / "episode.gif")
        assert path.read_bytes()[:6] == b"GIF89a"


@pytest.mark.learning
def test_brax_inverted_pendulum_reaches_its_maximum_return():
    # one per step for 1000 steps: 1000 is the most an episode can return
    pytest.importorskip("brax")
    from pgjax.pipeline.config import preset
    from pgjax.tools.chunks import final_return

    config = preset("brax/inverted_pendulum")
    result = jax.jit(make_train(config))(jax.random.key(0))
    assert final_return({"episode_return": np.asarray(result.metrics["episode_return"])}) > 950
