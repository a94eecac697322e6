"""Evaluation counts whole episodes; every renderable environment draws."""

import jax
import numpy as np
import pytest

from pgjax import Config, make_pipeline
from pgjax.tools.evaluate import evaluate, record_episode
from pgjax.tools.render import frames, save_gif
from tests.probes import register

register()


def initial_state(config):
    return make_pipeline(config).init(jax.random.key(0), config.hparams())


@pytest.mark.parametrize("greedy", [False, True])
def test_each_episode_is_counted_once_to_its_time_limit(greedy):
    # reward 1 per step, never terminates, truncated after 5 steps: every return is 5
    config = Config(env="ConstantReward-probe")
    returns = evaluate(config, initial_state(config), jax.random.key(1), episodes=7, greedy=greedy)
    np.testing.assert_array_equal(returns, np.full(7, 5.0))


def test_a_terminating_episode_stops_at_its_end():
    # reward 1, then terminated after the first step: every return is 1
    config = Config(env="OneStep-probe")
    returns = evaluate(config, initial_state(config), jax.random.key(1), episodes=3)
    np.testing.assert_array_equal(returns, np.ones(3))


def test_recorded_episode_matches_its_rewards():
    config = Config(env="ConstantReward-probe")
    episode = record_episode(config, initial_state(config), jax.random.key(2))
    assert len(episode.rewards) == 5 and episode.obs.shape[0] == 5
    np.testing.assert_array_equal(episode.rewards, np.ones(5))


@pytest.mark.parametrize(
    "env",
    ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0", "Breakout-MinAtar"],
)
def test_every_renderable_environment_draws_a_moving_picture(env, tmp_path):
    config = Config(env=env)
    episode = record_episode(config, initial_state(config), jax.random.key(3))
    images = frames(env, episode._replace(rewards=episode.rewards[:30]))
    assert len(images) == min(30, len(episode.rewards))
    pixels = [np.asarray(im) for im in images]
    assert pixels[0].ndim == 3 and pixels[0].shape[2] == 3
    assert any(not np.array_equal(pixels[0], p) for p in pixels[1:])  # something moves
    path = save_gif(env, episode._replace(rewards=episode.rewards[:10]), tmp_path / "e.gif")
    assert path.read_bytes()[:6] == b"GIF89a"


def test_an_environment_that_cannot_be_drawn_is_named():
    config = Config(env="ConstantReward-probe")
    episode = record_episode(config, initial_state(config), jax.random.key(2))
    with pytest.raises(ValueError, match="cannot render 'ConstantReward-probe'; renderable"):
        frames(config.env, episode)
