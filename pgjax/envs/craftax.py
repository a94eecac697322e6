"""Craftax (``pip install 'pgjax[craftax]'``) behind pgjax's contract: ``craftax/<name>``.

Craftax's ``done`` mixes the end of the game (death; lava in Classic; the boss beaten in
Craftax) with its step limit (``params.max_timesteps``: 10,000 in Classic, 100,000 in
Craftax). pgjax splits them: an episode that reaches the limit alive is truncated and
bootstrapped; one whose game is over is terminated, the limit notwithstanding. Each episode's
achievements are reported where it ends: ``episode_achievements`` (how many, the mean over
the update's ended episodes) and ``episode_achievement_<name>`` (the fraction that unlocked
each).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from pgjax.envs.done_adapter import DoneEnv, five_value

Array = jax.Array

NAMES = (
    "Craftax-Classic-Symbolic-v1",
    "Craftax-Symbolic-v1",
    "Craftax-Classic-Pixels-v1",
    "Craftax-Pixels-v1",
)


def craftax_names() -> list[str]:
    """Craftax's environments (symbolic and pixel observations), as ``craftax/<name>``."""
    return [f"craftax/{n}" for n in NAMES]


def make_craftax(name: str, **options: Any) -> DoneEnv:
    """``craftax/<name>`` as a ``pgjax.envs.done_adapter.DoneEnv`` with the step limit a truncation;
    Craftax's environments take no options."""
    if options:
        raise ValueError(f"Config.env='craftax/{name}:...': Craftax's environments take no options")
    return _make_craftax(name)


@functools.cache
def _make_craftax(name: str) -> DoneEnv:
    from craftax.craftax_env import make_craftax_env_from_name

    if "Classic" in name:
        from craftax.craftax_classic.constants import Achievement
    else:
        from craftax.craftax.constants import Achievement

    env = make_craftax_env_from_name(name, auto_reset=False)
    params = env.default_params
    limit = int(params.max_timesteps)

    def truncated(state, params) -> Array:
        # the game is over only by the step limit: the same test with the limit out of reach
        game_over = env.is_terminal(state, params.replace(max_timesteps=jnp.iinfo(jnp.int32).max))
        return jnp.logical_and(state.timestep >= params.max_timesteps, ~game_over)

    def achievements(state) -> dict[str, Array]:
        unlocked = state.achievements.astype(jnp.float32)
        info = {"achievements": unlocked.sum()}
        for a in Achievement:
            info[f"achievement_{a.name.lower()}"] = unlocked[a.value]
        return info

    made = five_value(
        env, params, truncated=truncated, episode_info=achievements, name=f"craftax/{name}"
    )
    return made._replace(spec=made.spec._replace(time_limit=limit))
