"""The environment contract the pipeline, evaluation and the CLI speak.

An environment for pgjax is batched: it resets and steps N copies at once, resets each copy
by itself when its episode ends, and keeps termination apart from truncation, with the
observation that ended the episode. Every suite is adapted to this (``pgjax.envs.gymnax``,
``.done``, ``.brax``, ``.craftax``), so nothing else in pgjax knows a suite.

    state, obs = env.reset(keys)                  # keys [N]; obs [N, *obs_shape]
    state, ts = env.step(keys, state, action)     # keys [N, 2]; action [N, *action_shape]
    ts.obs, ts.reward, ts.terminated, ts.truncated, ts.final_obs   # each [N, ...]
    ts.info                                       # {name: [N]}, read where an episode ended
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

Array = jax.Array


class EnvSpec(NamedTuple):
    """What the pipeline needs to know of an environment's spaces.

    ``obs_shape``: one observation's shape. ``discrete``: a ``Discrete`` action space.
    ``num_actions``: K for discrete, else the action dimension A. ``low``/``high``: action
    bounds ``[A]`` (continuous only, else ``None``). ``action_shape``: the space's own shape.
    ``time_limit``: the steps after which an episode is truncated (``None``: unknown).
    ``episode_info``: the names of ``TimeStep.info``, the statistics each ended episode reports.
    """

    obs_shape: tuple[int, ...]
    discrete: bool
    num_actions: int
    low: Any = None
    high: Any = None
    action_shape: tuple[int, ...] = ()
    time_limit: int | None = None
    episode_info: tuple[str, ...] = ()


class TimeStep(NamedTuple):
    """What one step of N environments returns, each ``[N, ...]``.

    ``obs``: the next observation to act on (a fresh episode's first where one ended).
    ``reward``; ``terminated`` (the task ended: no value beyond); ``truncated`` (cut by a time
    limit: the value continues); ``final_obs``: the true next observation, the one that ended
    the episode where one ended (bootstrap V(final_obs) at a truncation). ``info``: statistics
    of the episode that ended, ``{name: [N] float}``, meaningful where one ended (Craftax's
    achievements); training reports each one's mean over the episodes that ended.
    """

    obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array
    info: dict[str, Array] = {}  # noqa: RUF012  (never mutated: a pytree of no leaves)


class Env(Protocol):
    """N environments stepped together (see the module's docstring)."""

    spec: EnvSpec

    def reset(self, keys: Array) -> tuple[Any, Array]:
        """``keys [N]`` → (states, first observations ``[N, *obs_shape]``)."""
        ...

    def step(self, keys: Array, state: Any, action: Array) -> tuple[Any, TimeStep]:
        """``keys [N, 2]`` (a transition key and a reset key each), states, actions
        ``[N, *action_shape]`` → (next states, ``TimeStep``), resetting each ended episode."""
        ...


def reset_where(
    done: Array, reset: Callable[[Array], tuple[Array, Any]], keys: Array, obs: Array, state: Any
) -> tuple[Array, Any]:
    """Automatic reset: ``(obs, state)`` ``[N, ...]`` with each environment where ``done [N]``
    replaced by its fresh episode, ``reset(keys [N]) → (obs, state)``.

    The resets are computed under ``lax.cond`` only when some environment is done: most steps
    end no episode, and a reset costs about as much as a transition. Under an outer ``vmap``
    the condition becomes a select and both branches are computed.
    """

    def with_resets():
        obs_re, state_re = reset(keys)
        pick = lambda re, st: jax.vmap(jax.lax.select)(done, re, st)  # noqa: E731
        return jax.tree.map(pick, obs_re, obs), jax.tree.map(pick, state_re, state)

    return jax.lax.cond(jnp.any(done), with_resets, lambda: (obs, state))


def space_spec(name: str, obs_space: Any, action_space: Any, limit: int | None) -> EnvSpec:
    """The ``EnvSpec`` of gymnax-style spaces (gymnax's, or any suite's with the same
    attributes: ``n`` for a discrete space, ``low``/``high``/``shape`` for a box)."""
    obs_shape = tuple(obs_space.shape)
    if hasattr(action_space, "n"):
        if int(action_space.n) < 1:
            raise ValueError(
                f"Config.env={name!r}: its action space is Discrete({int(action_space.n)}); it "
                "needs at least one action"
            )
        return EnvSpec(obs_shape, True, int(action_space.n), time_limit=limit)
    if hasattr(action_space, "low") and hasattr(action_space, "shape"):
        shape = tuple(action_space.shape) or (1,)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(
                f"Config.env={name!r}: its action space is a Box of shape "
                f"{tuple(action_space.shape)}; allowed: a vector of at least one dimension, "
                "or a scalar"
            )
        low = jnp.broadcast_to(jnp.asarray(action_space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(action_space.high, jnp.float32), shape)
        return EnvSpec(obs_shape, False, shape[0], low, high, tuple(action_space.shape), limit)
    raise ValueError(
        f"Config.env={name!r}: action space {type(action_space).__name__} is not supported; "
        "allowed: Discrete or Box"
    )


def env_action(spec: EnvSpec, action: Array) -> Array:
    """The action sent to the environment: the stored (unclipped) action ``[N, A]`` clipped to
    the bounds and shaped as the space (``[N]`` for a scalar Box). Discrete actions pass as is."""
    if spec.discrete:
        return action
    clipped = jnp.clip(action, spec.low, spec.high)
    return clipped.reshape(action.shape[:-1] + spec.action_shape)


def check_contract(env: Env, name: str) -> None:
    """``ValueError`` naming the environment and what differs, unless its first reset and step
    give what its ``spec`` declares: observations ``[N, *obs_shape]`` of numbers (also the
    final ones), rewards, terminations and truncations ``[N]``. Traced on two environments
    with ``jax.eval_shape``: nothing is computed. A registered environment is checked when it
    is made, so that a mismatch is named before a run compiles (not found as a shape error
    deep inside the network)."""
    spec, n = env.spec, 2
    key = jax.random.key(0)
    discrete = spec.discrete
    action = jax.ShapeDtypeStruct((n, *spec.action_shape), jnp.int32 if discrete else jnp.float32)
    try:
        state, obs = jax.eval_shape(lambda k: env.reset(jax.random.split(k, n)), key)
        _, ts = jax.eval_shape(
            lambda k, s, a: env.step(jax.random.split(k, (n, 2)), s, a), key, state, action
        )
    except Exception as error:  # the user's code: any exception, named
        raise ValueError(
            f"Config.env={name!r}: its reset or step fails ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})"
        ) from error
    wanted = (n, *spec.obs_shape)
    for what, x in (("reset's observations", obs), ("step's observations", ts.obs),
                    ("step's final observations", ts.final_obs)):  # fmt: skip
        if tuple(x.shape) != wanted or not jnp.issubdtype(x.dtype, jnp.number):
            raise ValueError(
                f"Config.env={name!r}: its {what} are {x.dtype} of shape {tuple(x.shape)[1:]} "
                f"per environment, where its observation space declares numbers of shape "
                f"{spec.obs_shape}"
            )
    for what in ("reward", "terminated", "truncated"):
        x = getattr(ts, what)
        if tuple(x.shape) != (n,):
            raise ValueError(
                f"Config.env={name!r}: its step's {what} has shape {tuple(x.shape)[1:]} per "
                "environment, where one scalar is expected"
            )
