"""Navix (``pip install 'pgjax[navix]'``) behind pgjax's contract: ``navix/<id>`` for every
environment ``navix.registry()`` lists, with ``max_steps`` (its time limit) as an option:

    Config(env="navix/Navix-Empty-5x5-v0")
    Config(env="navix/Navix-DoorKey-5x5-v0:max_steps=200")

Navix says which end an episode met by its step type: 2 the end of the task
(``terminated``), 1 the time limit (``truncated``, bootstrapped from the observation that
ended it). pgjax steps Navix's transition without its automatic reset (which replaces the
observation that ended the episode) and resets each ended environment from its own key.
Observations (Navix's symbolic grids by default) are float32; seven actions.
"""

from __future__ import annotations

import functools
from typing import Any

from pgjax.envs.base import EnvSpec, check_contract
from pgjax.envs.functional import FunctionalEnv, as_numbers, full_name, options_of

TRUNCATION = 1
"""Navix's ``StepType`` of a step cut by the time limit."""
TERMINATION = 2
"""Navix's ``StepType`` of a step that ended the task."""


def navix_names() -> list[str]:
    """Navix's registered environments, as ``navix/<id>``."""
    import navix

    return [f"navix/{n}" for n in sorted(navix.registry())]


def make_navix(name: str, **options: Any) -> FunctionalEnv:
    """``navix/<name>``; the option ``max_steps`` replaces its time limit."""
    return _make(name, tuple(sorted(options.items())))


@functools.cache
def _make(name: str, options: tuple) -> FunctionalEnv:
    import navix

    full = full_name("navix", name, options)
    options_of(full, dict(options), ("max_steps",), counts=("max_steps",))
    env = navix.make(name, **dict(options))
    space = env.action_space
    num_actions = int(space.maximum) - int(space.minimum) + 1

    def reset_one(key):
        timestep = env.reset(key)
        return timestep, as_numbers(timestep.observation)

    def step_one(key, timestep, action):
        timestep = env._step(timestep, action)  # the transition, without navix's reset
        kind = timestep.step_type
        obs = as_numbers(timestep.observation)
        return timestep, obs, timestep.reward, kind == TERMINATION, kind == TRUNCATION

    obs_shape = tuple(env.observation_space.shape)
    spec = EnvSpec(obs_shape, True, num_actions, time_limit=int(env.max_steps))
    made = FunctionalEnv(reset_one, step_one, spec)
    check_contract(made, full)
    return made
