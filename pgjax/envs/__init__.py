"""Environments: the batched contract (``base``), the suites adapted to it (``gymnax``;
``done`` for five-value steps; ``functional`` for one environment's pure reset and step;
``brax``, ``craftax``, ``jumanji``, ``navix``, ``xminigrid`` and ``pgx``, imported only when
named), the names ``Config.env`` may take (``registry``; ``memory``'s tasks are registered
among them), and environment-independent helpers (``wrappers``: episode statistics, observation
normalisation)."""

from pgjax.envs.base import Env, EnvSpec, TimeStep, env_action, reset_where
from pgjax.envs.done_adapter import DoneEnv, five_value
from pgjax.envs.gymnax import GymnaxEnv, from_gymnax, vector_step
from pgjax.envs.memory_tasks import NAMES as _MEMORY_TASKS
from pgjax.envs.registry import (
    SUITES,
    check_env,
    env_names,
    make_env,
    register,
    register_renderer,
    register_suite,
    suite_names,
)
from pgjax.envs.statistics import (
    EpisodeStats,
    ObsNorm,
    init_episode_stats,
    init_obs_norm,
    normalize,
    update_episode_stats,
    update_obs_norm,
)

for _name, _task in _MEMORY_TASKS.items():
    register(_name, _task)

__all__ = [
    "SUITES",
    "DoneEnv",
    "Env",
    "EnvSpec",
    "EpisodeStats",
    "GymnaxEnv",
    "ObsNorm",
    "TimeStep",
    "check_env",
    "env_action",
    "env_names",
    "five_value",
    "from_gymnax",
    "init_episode_stats",
    "init_obs_norm",
    "make_env",
    "normalize",
    "register",
    "register_renderer",
    "register_suite",
    "reset_where",
    "suite_names",
    "update_episode_stats",
    "update_obs_norm",
    "vector_step",
]
