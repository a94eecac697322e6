"""XLand-MiniGrid (``pip install 'pgjax[xminigrid]'``) behind pgjax's contract:
``xminigrid/<id>`` for its MiniGrid ports, with fields of its params as options:

    Config(env="xminigrid/MiniGrid-DoorKey-5x5")
    Config(env="xminigrid/MiniGrid-Empty-8x8:max_steps=100,view_size=5")

XLand-MiniGrid marks every end of an episode as a last step; its discount tells the two ends
apart: 0 the goal reached (``terminated``), 1 the step limit ``max_steps`` (``truncated``,
bootstrapped from the observation that ended it). Its ``step`` does not reset: pgjax resets
each ended environment from its own key. Observations (the agent's view, ``[V, V, 2]``) are
float32; six actions. The XLand-MiniGrid-R* meta-RL ids need a benchmark of rulesets that
the library downloads, and are not offered here.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pgjax.envs.base import EnvSpec, check_contract
from pgjax.envs.functional import FunctionalEnv, as_numbers, full_name, options_of

LAST = 2  # its StepType.LAST


def xminigrid_names() -> list[str]:
    """XLand-MiniGrid's single-task environments (the ``MiniGrid-*`` ids), as
    ``xminigrid/<id>``."""
    import xminigrid

    names = xminigrid.registered_environments()
    return [f"xminigrid/{n}" for n in names if n.startswith("MiniGrid-")]


def make_xminigrid(name: str, **options: Any) -> FunctionalEnv:
    """``xminigrid/<name>``, ``options`` replacing fields of its params (``max_steps``,
    ``view_size``)."""
    return _make(name, tuple(sorted(options.items())))


@functools.cache
def _make(name: str, options: tuple) -> FunctionalEnv:
    import xminigrid

    full = full_name("xminigrid", name, options)
    env, params = xminigrid.make(name)
    allowed = ("max_steps", "view_size")
    options_of(full, dict(options), allowed, counts=allowed)
    if dict(options).get("view_size", 1) % 2 == 0:
        raise ValueError(f"Config.env={full!r}: view_size must be odd (the agent at its middle)")
    if options:
        params = params.replace(**dict(options))
    if dataclasses.is_dataclass(params) and params.max_steps is None:
        params = params.replace(max_steps=int(3 * params.height * params.width))

    def reset_one(key):
        timestep = env.reset(params, key)
        return timestep, as_numbers(timestep.observation)

    def step_one(key, timestep, action):
        timestep = env.step(params, timestep, action)
        last = timestep.step_type == LAST
        obs = as_numbers(timestep.observation)
        return timestep, obs, timestep.reward, last & (timestep.discount == 0), last

    shape = tuple(env.observation_shape(params))
    spec = EnvSpec(shape, True, int(env.num_actions(params)), time_limit=int(params.max_steps))
    made = FunctionalEnv(reset_one, step_one, spec)
    check_contract(made, full)
    return made
