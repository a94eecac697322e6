"""MuJoCo Playground (``pip install 'pgjax[playground]'``) behind pgjax's contract:
``playground/<name>`` for the DeepMind Control Suite tasks Playground ships (their models are
inside the package: nothing is downloaded), with options after a colon:

    Config(env="playground/CartpoleBalance")
    Config(env="playground/PendulumSwingup:episode_length=500,action_repeat=2")

Playground's environments have Brax's interface (``reset(key)``, ``step(state, action)``, a
``State`` with ``obs``, ``reward``, ``done``) and no time limit of their own: pgjax adapts the
bare environment as it adapts Brax's (``pgjax.envs.brax.BraxEnv``), cutting each episode at
``episode_length`` (the task's own, 1000 control steps) as a truncation bootstrapped from the
observation that ended it; Playground's ``done`` is a termination (the Control Suite's tasks
have none). Actions in [-1, 1]. Physics runs in MJX's JAX implementation (``impl="jax"``),
which pgjax vmaps over its environments; any other option is one of the task's own config
fields (``action_repeat``, ``ctrl_dt``, ``sim_dt``...).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from typing import Any

from pgjax.envs.brax import BraxEnv, brax_spec


def _suite():
    # Playground logs and warns about optional pieces (Warp's kernels, a GPU) it does not find
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("absl").setLevel(logging.ERROR)
        from mujoco_playground import dm_control_suite

    return dm_control_suite


TASKS = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)  # fmt: skip
"""The Control Suite tasks of playground 0.2.0, for ``pgjax train --help`` (which does not
import Playground: it takes seconds); ``playground_names`` reads the installed package's, and
tests/test_extras.py checks the two agree."""


def playground_names() -> list[str]:
    """The DeepMind Control Suite tasks Playground ships, as ``playground/<name>``."""
    return [f"playground/{n}" for n in _suite().ALL_ENVS]


@functools.cache
def make_playground(name: str, episode_length: int | None = None, **overrides: Any) -> BraxEnv:
    """``playground/<name>`` as a ``BraxEnv``: the task built with its default config, the
    ``overrides`` (its own fields) replaced, ``impl="jax"``; ``episode_length`` (default: the
    task's) the steps after which an episode is truncated."""
    suite, full = _suite(), f"playground/{name}"
    config = suite.get_default_config(name)
    if overrides.get("impl", "jax") != "jax":
        raise ValueError(
            f"Config.env={full!r}: impl={overrides['impl']!r}: pgjax runs Playground in MJX's "
            "JAX implementation only (impl=jax), the one it vmaps over its environments"
        )
    unknown = sorted(set(overrides) - set(config.keys()))
    if unknown:
        raise ValueError(
            f"Config.env={full!r}: {', '.join(unknown)} is not a field of the task's config; "
            f"it has {', '.join(sorted(config.keys()))}"
        )
    length = config.episode_length if episode_length is None else episode_length
    if type(length) is not int or length < 1:
        raise ValueError(
            f"Config.env={full!r}: episode_length={length!r}: must be a positive integer"
        )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = suite.load(name, config_overrides={**overrides, "impl": "jax"})
    if not isinstance(env.observation_size, int):
        raise ValueError(
            f"Config.env={full!r}: its observation is a dict of {sorted(env.observation_size)}; "
            "pgjax adapts Playground tasks of one observation array"
        )
    return BraxEnv(env, brax_spec(env, length), length)
