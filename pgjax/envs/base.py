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

from pgjax.core.spec import MASK, EnvSpec, example_obs  # noqa: F401 (the contract's)

Array = jax.Array


def structured_spec(name: str, example: Any) -> dict[str, Any]:
    """``EnvSpec.obs_spec`` of one observation ``example`` (arrays or shapes): a dict of arrays
    (a NamedTuple's fields taken as its names); ``ValueError`` naming the environment for any
    other structure."""
    if hasattr(example, "_asdict"):
        example = example._asdict()
    if not isinstance(example, dict) or not all(
        isinstance(k, str) and hasattr(v, "shape") and hasattr(v, "dtype")
        for k, v in example.items()
    ):
        raise ValueError(
            f"Config.env={name!r}: a structured observation must be a flat dict (or NamedTuple) "
            f"of arrays; got {jax.tree.structure(example)}"
        )
    return {k: jax.ShapeDtypeStruct(tuple(v.shape), v.dtype) for k, v in example.items()}


def as_dict(obs: Any) -> Any:
    """A NamedTuple observation as the dict of its fields; anything else as it is."""
    return obs._asdict() if hasattr(obs, "_asdict") else obs


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
    attributes: ``n`` for a discrete space, ``low``/``high``/``shape`` for a box; a ``Dict``
    observation space's ``spaces`` give a structured observation), or of dm_env-style specs
    (jumanji's: ``num_values``, ``minimum``/``maximum``, ``generate_value()`` for a structured
    observation)."""
    obs_shape, obs_spec = _observation(name, obs_space)
    spec = _actions(name, action_space, limit)
    return spec._replace(obs_shape=obs_shape, obs_spec=obs_spec)


def _observation(name: str, space: Any) -> tuple[tuple[int, ...], Any]:
    """(obs_shape, obs_spec) of an observation space or spec."""
    if hasattr(space, "spaces") and isinstance(space.spaces, dict):  # gymnax's Dict
        leaves = {
            k: jax.ShapeDtypeStruct(tuple(v.shape), getattr(v, "dtype", jnp.float32))
            for k, v in space.spaces.items()
        }
        return (), structured_spec(name, leaves)
    if hasattr(space, "shape"):
        return tuple(space.shape), None
    if hasattr(space, "generate_value"):  # a dm_env / jumanji spec of a structure
        return (), structured_spec(name, space.generate_value())
    raise ValueError(
        f"Config.env={name!r}: observation space {type(space).__name__} is not supported; "
        "allowed: a Box (shape), a Dict of them, or a spec with generate_value()"
    )


def _actions(name: str, space: Any, limit: int | None) -> EnvSpec:
    """The action half of an ``EnvSpec`` (observations filled in by the caller)."""
    n = getattr(space, "n", getattr(space, "num_values", None))
    if n is not None and jnp.ndim(n) == 0:
        if int(n) < 1:
            raise ValueError(
                f"Config.env={name!r}: its action space is Discrete({int(n)}); it needs at "
                "least one action"
            )
        return EnvSpec((), True, int(n), time_limit=limit)
    low = getattr(space, "low", getattr(space, "minimum", None))
    high = getattr(space, "high", getattr(space, "maximum", None))
    if n is None and low is not None and high is not None and hasattr(space, "shape"):
        shape = tuple(space.shape) or (1,)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(
                f"Config.env={name!r}: its action space is a Box of shape {tuple(space.shape)}; "
                "allowed: a vector of at least one dimension, or a scalar"
            )
        low = jnp.broadcast_to(jnp.asarray(low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(high, jnp.float32), shape)
        return EnvSpec((), False, shape[0], low, high, tuple(space.shape), limit)
    raise ValueError(
        f"Config.env={name!r}: action space {type(space).__name__} is not supported; allowed: "
        "Discrete (one choice of n) or Box (a vector of reals)"
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
    for what, x in (("reset's observations", obs), ("step's observations", ts.obs),
                    ("step's final observations", ts.final_obs)):  # fmt: skip
        _check_obs(name, spec, what, x, n)
    for what in ("reward", "terminated", "truncated"):
        x = getattr(ts, what)
        if tuple(x.shape) != (n,):
            raise ValueError(
                f"Config.env={name!r}: its step's {what} has shape {tuple(x.shape)[1:]} per "
                "environment, where one scalar is expected"
            )


def _check_obs(name: str, spec: EnvSpec, what: str, obs: Any, n: int) -> None:
    """``ValueError`` unless ``obs`` (``n`` environments' observations, shapes) is what
    ``spec`` declares: one array of numbers ``[n, *obs_shape]``, or a dict of the declared
    leaves (the mask ``bool [n, num_actions]``)."""
    if spec.obs_spec is None:
        leaves, declared = {"": obs}, {"": jax.ShapeDtypeStruct(spec.obs_shape, jnp.float32)}
    else:
        leaves, declared = as_dict(obs), spec.obs_spec
        if not isinstance(leaves, dict) or set(leaves) != set(declared):
            got = sorted(leaves) if isinstance(leaves, dict) else type(obs).__name__
            raise ValueError(
                f"Config.env={name!r}: its {what} are {got}, where its observation space "
                f"declares {sorted(declared)}"
            )
    for key, x in leaves.items():
        want = declared[key]
        number = jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_
        if tuple(x.shape) != (n, *want.shape) or not number:
            leaf = f"{what} ({key})" if key else what
            raise ValueError(
                f"Config.env={name!r}: its {leaf} are {x.dtype} of shape {tuple(x.shape)[1:]} "
                f"per environment, where its observation space declares numbers of shape "
                f"{tuple(want.shape)}"
            )
    if spec.masked and tuple(leaves[MASK].shape) != (n, spec.num_actions):
        raise ValueError(
            f"Config.env={name!r}: its {MASK} has shape {tuple(leaves[MASK].shape)[1:]} per "
            f"environment, where one flag per action ({spec.num_actions}) is expected"
        )
