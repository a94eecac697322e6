"""Pgx (``pip install 'pgjax[pgx]'``) behind pgjax's contract: ``pgx/<id>`` for its
single-player games (2048, and MinAtar's with ``pip install pgx-minatar``), with a time limit
of pgjax's as an option:

    Config(env="pgx/2048")
    Config(env="pgx/2048:max_steps=1000")

The observation is a dict: the game's own under ``"obs"`` (float32) and its legal moves under
``"action_mask"``, so an illegal move (which ends a Pgx game at once, with a penalty) has
probability 0. Pgx's ``terminated`` is the end of the game; its ``truncated``, and
``max_steps`` where given, a time limit (bootstrapped from the observation that ended it).
Each ended game is restarted from its own key.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from pgjax.envs.base import MASK, EnvSpec, check_contract
from pgjax.envs.functional import FunctionalEnv, full_name, observation_spec, options_of

SINGLE_PLAYER = (
    "2048",
    "minatar-asterix",
    "minatar-breakout",
    "minatar-freeway",
    "minatar-seaquest",
    "minatar-space_invaders",
)
"""Pgx's games of one player (its others are two-player games, which pgjax does not play)."""


def pgx_names() -> list[str]:
    """Pgx's single-player games, as ``pgx/<id>``."""
    import pgx

    return [f"pgx/{n}" for n in SINGLE_PLAYER if n in pgx.available_envs()]


def make_pgx(name: str, **options: Any) -> FunctionalEnv:
    """``pgx/<name>``; the option ``max_steps`` truncates a game after that many steps."""
    return _make(name, tuple(sorted(options.items())))


@functools.cache
def _make(name: str, options: tuple) -> FunctionalEnv:
    import pgx

    full = full_name("pgx", name, options)
    options_of(full, dict(options), ("max_steps",), counts=("max_steps",))
    limit = dict(options).get("max_steps")
    try:
        env = pgx.make(name)
    except (ImportError, ModuleNotFoundError) as error:
        raise ValueError(
            f"Config.env={full!r} needs {error.name or 'a package'}: pip install pgx-minatar"
        ) from error

    def observe(state):
        obs = state.observation.astype(jnp.float32)
        return {"obs": obs, MASK: state.legal_action_mask.astype(bool)}

    def reset_one(key):
        state = env.init(key)
        return state, observe(state)

    def step_one(key, state, action):
        state = env.step(state, action, key)
        truncated = state.truncated
        if limit is not None:
            truncated = truncated | (state._step_count >= limit)
        return state, observe(state), state.rewards[0], state.terminated, truncated

    example = jax.eval_shape(lambda k: observe(env.init(k)), jax.random.key(0))
    obs_shape, obs_spec = observation_spec(full, example, int(env.num_actions))
    spec = EnvSpec(obs_shape, True, int(env.num_actions), time_limit=limit, obs_spec=obs_spec)
    made = FunctionalEnv(reset_one, step_one, spec)
    check_contract(made, full)
    return made
