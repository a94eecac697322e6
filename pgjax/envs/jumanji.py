"""Jumanji (``pip install 'pgjax[jumanji]'``) behind pgjax's contract: ``jumanji/<id>`` for
every environment ``jumanji.registered_environments()`` lists with one discrete choice per
step, the constructor's keyword arguments as options:

    Config(env="jumanji/Snake-v1:num_rows=6,num_cols=6")
    Config(env="jumanji/Game2048-v1")

Jumanji's observations are NamedTuples: pgjax takes them as dicts of their fields (every leaf
float32 but the ``action_mask``), so the default network flattens and concatenates them, and
the mask makes illegal actions probability 0. Jumanji marks every end of an episode as a last
step, with a discount of 0 for the end of the task (``terminated``) and 1 for a time limit;
but most of its environments (Snake, Maze, Sokoban, Tetris, …) end at their ``time_limit``
with a discount of 0 too, as if the task were over. pgjax tells them apart: it steps such an
environment with its limit out of reach and cuts each episode at the limit itself, as a
truncation (bootstrapped from the observation that ended it); the option ``time_limit`` sets
that limit. Jumanji does not reset itself: pgjax resets each ended environment from its own
key.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp

from pgjax.envs.base import EnvSpec, check_contract
from pgjax.envs.functional import FunctionalEnv, as_numbers, full_name, observation_spec, options_of

LAST = 2  # dm_env's StepType.LAST
NEVER = 2**31 - 1  # a time limit out of reach (jumanji compares int32 step counts with it)


def jumanji_names() -> list[str]:
    """Jumanji's registered environments, as ``jumanji/<id>``."""
    import jumanji

    return [f"jumanji/{n}" for n in sorted(jumanji.registered_environments())]


def make_jumanji(name: str, **options: Any) -> FunctionalEnv:
    """``jumanji/<name>`` with ``options`` its constructor's keyword arguments."""
    return _make(name, tuple(sorted(options.items())))


@functools.cache
def _make(name: str, options: tuple) -> FunctionalEnv:
    import jumanji

    full = full_name("jumanji", name, options)
    entry = getattr(jumanji.registration, "_REGISTRY", {}).get(name)
    keywords = ()
    if entry is not None:  # the constructor's keywords, for a message naming them
        keywords = tuple(inspect.signature(jumanji.registration.load(entry.entry_point)).parameters)
        options_of(full, dict(options), keywords)
    try:
        env = jumanji.make(name, **dict(options))
        limit = getattr(env, "time_limit", None)
        if limit is not None and "time_limit" in keywords:  # stepped without it: see above
            env = jumanji.make(name, **{**dict(options), "time_limit": NEVER})
    except (TypeError, ValueError) as error:
        raise ValueError(f"Config.env={full!r}: {error}") from error
    spec = env.action_spec
    n = getattr(spec, "num_values", None)
    if n is None or jax.numpy.ndim(n) != 0:
        raise ValueError(
            f"Config.env={full!r}: its actions are {type(spec).__name__} of shape "
            f"{tuple(spec.shape)}; pgjax takes one discrete choice per step (a DiscreteArray)"
        )

    def reset_one(key):
        state, ts = env.reset(key)
        return (state, jnp.zeros((), jnp.int32)), as_numbers(ts.observation)

    def step_one(key, carried, action):
        state, time = carried
        state, ts = env.step(state, action)
        time = time + 1
        last = ts.step_type == LAST
        truncated = last if limit is None else last | (time >= limit)
        obs = as_numbers(ts.observation)
        return (state, time), obs, ts.reward, last & (ts.discount == 0), truncated

    example = as_numbers(env.observation_spec.generate_value())
    obs_shape, obs_spec = observation_spec(full, example, int(n))
    made = FunctionalEnv(
        reset_one,
        step_one,
        EnvSpec(obs_shape, True, int(n), time_limit=None if limit is None else int(limit),
                obs_spec=obs_spec),
    )  # fmt: skip
    check_contract(made, full)
    return made
