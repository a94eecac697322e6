"""Brax (``pip install 'pgjax[brax]'``) behind pgjax's contract: ``brax/<name>`` for every
environment ``brax.envs`` knows, with options after a colon:

    Config(env="brax/ant")                                  # Brax's default backend
    Config(env="brax/ant:backend=positional,episode_length=500")

pgjax adapts the bare environment, without Brax's wrappers: it counts the steps itself and
cuts each episode at ``episode_length`` (1000, Brax's default) as a truncation, bootstrapped
from V(the observation that ended it); a fall (Brax's ``done``) is a termination. Each ended
environment is reset with its own key (Brax's ``AutoResetWrapper`` returns every one to the
same first state and replaces the observation that ended the episode). Actions in [-1, 1].

Resets without a reset per step: each environment holds one start drawn in advance (its own
key, never used before). An environment whose episode ends takes its start; a new set of
starts is drawn, for all environments in one batched ``reset``, only at a step where an
environment ends whose start was already taken (one that ended twice since the last draw).
With episodes of Brax's usual length that is about once per episode length rather than at
every step where any of the environments ended, and every episode still begins from a fresh
draw.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.envs.base import EnvSpec, TimeStep

Array = jax.Array

BACKENDS = ("generalized", "positional", "spring", "mjx")


def _envs():
    # brax (through mujoco) prints about optional modules it cannot import; it warns that its
    # own pipelines are unmaintained: neither concerns a user of its environments
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import brax.envs

    return brax.envs


def brax_names() -> list[str]:
    """The environments ``brax.envs`` registers (its own and any ``brax.envs.register_environment``
    added), as ``brax/<name>``."""
    return [f"brax/{n}" for n in sorted(_envs()._envs)]


class BraxState(NamedTuple):
    """Brax's states ``[N]``, each one's steps in its episode ``[N]``, the starts drawn in
    advance ``[N]`` (Brax states) and whether each was taken ``[N]``."""

    env_state: Any
    time: Array
    start: Any
    taken: Array


class BraxEnv(NamedTuple):
    """A Brax environment as pgjax's batched ``Env`` (made by ``make_brax``)."""

    env: Any
    spec: EnvSpec
    episode_length: int

    def reset(self, keys: Array) -> tuple[BraxState, Array]:
        n = keys.shape[0]
        both = jax.vmap(self.env.reset)(jnp.concatenate([keys, jax.vmap(_fold)(keys)]))
        now, start = (jax.tree.map(lambda x, i=i: x[i * n : (i + 1) * n], both) for i in (0, 1))
        zeros = jnp.zeros(n, jnp.int32)
        return BraxState(now, zeros, start, jnp.zeros(n, bool)), now.obs

    def step(self, keys: Array, state: BraxState, action: Array) -> tuple[BraxState, TimeStep]:
        # Brax's step is deterministic: the transition keys keys[:, 0] are not needed
        env_state = jax.vmap(self.env.step)(state.env_state, action)
        time = state.time + 1
        terminated = env_state.done > 0.5
        truncated = jnp.logical_and(time >= self.episode_length, ~terminated)
        done = jnp.logical_or(terminated, truncated)

        def draw() -> tuple[Any, Array]:  # new starts for all, none taken
            return jax.vmap(self.env.reset)(keys[:, 1]), jnp.zeros_like(state.taken)

        # a start taken twice would repeat an episode's beginning: draw new ones first (under
        # an outer vmap the condition becomes a select and the draw runs at every step)
        start, taken = jax.lax.cond(
            jnp.any(done & state.taken), draw, lambda: (state.start, state.taken)
        )
        pick = lambda new, old: jax.vmap(jax.lax.select)(done, new, old)  # noqa: E731
        next_env = jax.tree.map(pick, start, env_state)
        next_state = BraxState(next_env, jnp.where(done, 0, time), start, taken | done)
        ts = TimeStep(next_env.obs, env_state.reward, terminated, truncated, env_state.obs)
        return next_state, ts


def _fold(key: Array) -> Array:
    """A second key from ``key``, for the start drawn in advance."""
    return jax.random.fold_in(key, 1)


@functools.cache
def make_brax(name: str, backend: str | None = None, episode_length: int = 1000, **kwargs: Any):
    """``brax/<name>`` as a ``BraxEnv``; ``backend`` one of ``BACKENDS`` (``None``: the
    environment's default), ``kwargs`` passed to its constructor (``ctrl_cost_weight=…``)."""
    envs = _envs()
    full = f"brax/{name}"
    if backend is not None and backend not in BACKENDS:
        raise ValueError(
            f"Config.env={full!r}: backend={backend!r} is unknown; allowed: {', '.join(BACKENDS)}"
        )
    if type(episode_length) is not int or episode_length < 1:
        raise ValueError(
            f"Config.env={full!r}: episode_length={episode_length!r}: must be a positive integer"
        )
    options = {**kwargs, **({} if backend is None else {"backend": backend})}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = envs.get_environment(name, **options)
    except TypeError as error:
        raise ValueError(f"Config.env={full!r}: {error}") from None
    return BraxEnv(env, brax_spec(env, episode_length), episode_length)


def brax_spec(env: Any, episode_length: int) -> EnvSpec:
    """The ``EnvSpec`` of an environment of Brax's interface: observations
    ``[observation_size]``, actions in [-1, 1] ``[action_size]``, cut at ``episode_length``."""
    size = env.action_size
    return EnvSpec(
        obs_shape=(env.observation_size,),
        discrete=False,
        num_actions=size,
        low=-jnp.ones(size, jnp.float32),
        high=jnp.ones(size, jnp.float32),
        action_shape=(size,),
        time_limit=episode_length,
    )
