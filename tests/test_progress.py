"""Chunked training equals one compiled run; presets are valid configs."""

import jax
import numpy as np
import pytest

from pgjax import Config, make_train
from pgjax.pipeline.config import preset
from pgjax.pipeline.presets import presets
from pgjax.tools.chunks import final_return, train_in_chunks


def test_chunks_give_the_same_result_as_one_compiled_run():
    config = Config(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 7, num_minibatches=2)
    whole = jax.jit(make_train(config))(jax.random.key(5))
    reports = []
    chunked = train_in_chunks(
        config, jax.random.key(5), num_chunks=3, on_chunk=lambda r, s, m: reports.append(r)
    )
    assert [r.updates_done for r in reports] == [3, 6, 7]
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(chunked.metrics[name], np.asarray(values), err_msg=name)
    for x, y in zip(
        jax.tree.leaves(whole.state.params), jax.tree.leaves(chunked.state.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_from_a_chunk_state_continues_the_same_run():
    config = Config(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 6, num_minibatches=2)
    states = []
    whole = train_in_chunks(
        config,
        jax.random.key(2),
        num_chunks=2,
        on_chunk=lambda r, s, m: states.append((s, r.updates_done)),
    )
    half_state, done = states[0]
    assert done == 3
    first = {name: values[:3] for name, values in whole.metrics.items()}
    resumed = train_in_chunks(config, jax.random.key(99), state=half_state, metrics=first)
    np.testing.assert_array_equal(resumed.metrics["loss"], whole.metrics["loss"])


def test_every_preset_is_a_valid_config():
    import importlib.util

    checked = 0
    for env, algo in presets():
        config = preset(env, algo)
        assert (config.env, config.algo) == (env, algo)
        suite = env.partition("/")[0] if "/" in env else "gymnax"
        if importlib.util.find_spec(suite) is None:  # an extra not installed here
            with pytest.raises(ValueError, match=rf"pip install 'pgjax\[{suite}\]'"):
                config.validate()
            continue
        config.validate()
        checked += 1
    assert checked >= 8  # gymnax's at least


def test_progress_bar_prints_each_tenth_once_even_under_vmap():
    import io

    from pgjax.tools.loggers import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(num_updates=20, batch_size=10, file=out)
    for update in range(1, 21):
        for seed in range(3):  # a vmapped run calls back once per seed
            count = 0 if update == 1 else 1
            bar({"update": update, "episode_return": float(seed), "episode_count": count})
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("[" + "#" * 24 + "]") and "200 steps" in lines[-1]
    assert "return      1.0" in lines[-1]  # the mean over the recent episodes of all seeds


def test_final_return_skips_updates_without_episodes_and_looks_back_when_none_ended():
    nan = np.nan
    assert final_return({"episode_return": np.array([1.0, 2.0, nan, 4.0])}, last=3) == 3.0
    # Freeway-like: every episode ends at once, none in the last 10 updates
    assert final_return({"episode_return": np.array([5.0, 7.0] + [nan] * 15)}) == 7.0
    assert np.isnan(final_return({"episode_return": np.full(4, nan)}))
