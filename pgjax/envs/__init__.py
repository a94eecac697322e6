"""Environments: the batched contract (``base``), the suites adapted to it (``gymnax``), the
names ``Config.env`` may take (``registry``), and environment-independent helpers
(``wrappers``: episode statistics, observation normalisation)."""

from pgjax.envs.base import Env, EnvSpec, TimeStep, env_action
from pgjax.envs.gymnax import GymnaxEnv, vector_step
from pgjax.envs.registry import env_names, make_env, register
from pgjax.envs.wrappers import (
    EpisodeStats,
    ObsNorm,
    init_episode_stats,
    init_obs_norm,
    normalize,
    update_episode_stats,
    update_obs_norm,
)

__all__ = [
    "Env",
    "EnvSpec",
    "EpisodeStats",
    "GymnaxEnv",
    "ObsNorm",
    "TimeStep",
    "env_action",
    "env_names",
    "init_episode_stats",
    "init_obs_norm",
    "make_env",
    "normalize",
    "register",
    "update_episode_stats",
    "update_obs_norm",
    "vector_step",
]
