"""gymnax (>= 1.0) behind pgjax's environment contract; the only module that knows gymnax.

gymnax 1.0's ``env.step`` returns ``obs, state, reward, terminated, truncated, info`` and
resets automatically; the observation that ended an episode is ``info["final_observation"]``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp

from pgjax.envs.base import MASK, EnvSpec, TimeStep, as_dict, reset_where, space_spec

Array = jax.Array


def gymnax_names() -> list[str]:
    """gymnax's registry ids (including ids registered with ``gymnax.register`` later)."""
    return list(gymnax.registered_envs)


class GymnaxEnv(NamedTuple):
    """A gymnax environment and its default params, as pgjax's batched ``Env``. An
    environment that defines ``action_mask(state, params) → bool [num_actions]`` has its mask
    in the observation (``MASK``; the observation itself under ``"obs"`` unless it is a dict
    already)."""

    env: Any
    params: Any
    spec: EnvSpec

    def reset(self, keys: Array) -> tuple[Any, Array]:
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)
        return state, self._observe(obs, state)

    def step(self, keys: Array, state: Any, action: Array) -> tuple[Any, TimeStep]:
        obs, state, reward, terminated, truncated, info = vector_step(self.env, self.params)(
            keys, state, action
        )
        # the final observation's mask is the next state's: only the critic reads it (not
        # the mask), and it keeps the observation's structure
        final = self._observe(info["final_observation"], state)
        obs = self._observe(obs, state)
        return state, TimeStep(obs, reward, terminated, truncated, final)

    def _observe(self, obs: Any, state: Any) -> Any:
        obs = as_dict(obs)
        if not self.spec.masked or (isinstance(obs, dict) and MASK in obs):
            return obs
        mask = jax.vmap(self.env.action_mask, in_axes=(0, None))(state, self.params)
        return {**(obs if isinstance(obs, dict) else {"obs": obs}), MASK: mask.astype(bool)}


def make_gymnax(name: str, **options: Any) -> GymnaxEnv:
    """Create a gymnax environment with its default params (``options`` replacing some:
    ``max_steps_in_episode=200``) and its ``EnvSpec``.

    ``ValueError`` (one line) where creation needs a download that fails: gymnax's
    ``MNISTBandit-bsuite`` fetches MNIST the first time it is made.
    """
    try:
        env, params = gymnax.make(name)
    except OSError as error:  # urllib's URLError and HTTPError are OSErrors
        reason = getattr(error, "reason", None) or error.strerror or error
        raise ValueError(
            f"Config.env={name!r}: gymnax downloads data to create it (MNIST, into /tmp/mnist) "
            f"and the download failed ({reason}); run it once where the internet can be "
            "reached, or choose another environment"
        ) from None
    return from_gymnax(env, replace_params(name, params, options), name)


def replace_params(name: str, params: Any, options: dict[str, Any]) -> Any:
    """``params`` with the fields ``options`` names replaced, each checked against its default's
    kind (an integer field takes an integer, a real one a finite number, a boolean true or
    false; ``max_steps_in_episode`` at least 1): ``ValueError`` naming the option otherwise,
    and for a name that is not a field."""
    if not options:
        return params
    fields = list(getattr(params, "__dataclass_fields__", {}))
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"Config.env={name!r}: {', '.join(unknown)} is not a field of its params; "
            f"fields: {', '.join(fields) or 'none'}"
        )
    checked = {
        key: _option(name, key, value, getattr(params, key)) for key, value in options.items()
    }
    return params.replace(**checked)


def _option(name: str, key: str, value: Any, default: Any) -> Any:
    """``value`` for the params field ``key`` whose default is ``default``, or ``ValueError``."""
    kind = jnp.asarray(default).dtype
    if kind == jnp.bool_:
        ok, allowed = isinstance(value, bool), "true or false"
    elif jnp.issubdtype(kind, jnp.integer):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok, allowed = ok and (key != "max_steps_in_episode" or value >= 1), "an integer"
        if key == "max_steps_in_episode":
            allowed = "an integer >= 1"
    else:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok, allowed = number and math.isfinite(value), "a finite number"
        value = float(value) if ok else value
    if not ok:
        raise ValueError(
            f"Config.env={name!r}: option {key}={value!r} must be {allowed} (its default is "
            f"{default!r})"
        )
    return value


def from_gymnax(env: Any, params: Any = None, name: str = "") -> GymnaxEnv:
    """Any environment with gymnax (>= 1.0)'s interface (a ``gymnax.environments.Environment``
    subclass: ``reset``, ``step`` with terminated and truncated apart, ``observation_space``,
    ``action_space``, ``default_params``) as pgjax's ``Env``; ``params``: its default's if
    ``None``. The time limit is ``params.max_steps_in_episode`` where there is one."""
    name = name or type(env).__name__
    params = getattr(env, "default_params", None) if params is None else params
    own_step = type(env).step is not gymnax.environments.environment.Environment.step
    out = _step_shape(env, params) if own_step else None
    if out is not None and len(out) == 5:
        raise ValueError(
            f"Config.env={name!r}: its step returns five values (obs, state, reward, done, "
            "info), not gymnax 1.0's six; register it wrapped: pgjax.envs.five_value(env, "
            "time_limit=...) (say how a time limit is told from the end of the task)"
        )
    gymnax_like = all(hasattr(env, m) for m in ("step_env", "reset_env", "is_truncated"))
    six = out is not None and len(out) == 6 and "final_observation" in (out[5] or {})
    if not (isinstance(env, gymnax.environments.environment.Environment) or gymnax_like or six):
        raise ValueError(
            f"{name}: not a gymnax (>= 1.0) Environment (it needs step_env, reset_env and "
            "is_truncated, or a step returning gymnax 1.0's six values with "
            "info['final_observation']); an environment whose step returns (obs, state, "
            "reward, done, info) goes through pgjax.envs.five_value"
        )
    limit = getattr(params, "max_steps_in_episode", None)
    limit = None if limit is None else int(limit)
    spec = space_spec(name, env.observation_space(params), env.action_space(params), limit)
    if hasattr(env, "action_mask"):
        spec = with_mask(spec, name, env.observation_space(params))
    return GymnaxEnv(env, params, spec)


def with_mask(spec: EnvSpec, name: str, obs_space: Any) -> EnvSpec:
    """``spec`` of an environment whose observations also carry its action mask (``MASK``):
    a structured observation, the plain one under ``"obs"``."""
    if not spec.discrete:
        raise ValueError(
            f"Config.env={name!r}: an action mask needs a Discrete action space; it has a Box"
        )
    leaves = dict(spec.obs_spec or {"obs": jax.ShapeDtypeStruct(
        spec.obs_shape, getattr(obs_space, "dtype", jnp.float32))})  # fmt: skip
    leaves[MASK] = jax.ShapeDtypeStruct((spec.num_actions,), jnp.bool_)
    return spec._replace(obs_shape=(), obs_spec=leaves)


def _step_shape(env: Any, params: Any) -> tuple | None:
    """The shapes of what ``env.step`` returns for one environment (``None`` where its reset
    or step fails here: the contract check names the failure later)."""
    key = jax.random.key(0)
    try:
        _, state = jax.eval_shape(env.reset, key, params)
        space = env.action_space(params)
        if hasattr(space, "sample"):
            action = jax.eval_shape(space.sample, key)
        else:  # a dm_env-style spec
            action = jax.ShapeDtypeStruct(tuple(space.shape), space.dtype)
        out = jax.eval_shape(env.step, key, state, action, params)
    except Exception:
        return None
    return tuple(out) if isinstance(out, tuple) else None


def vector_step(env: Any, env_params: Any) -> Any:
    """``step(keys [N, 2], states, actions [N, ...])``: gymnax's ``env.step`` on N environments.

    ``keys[i]`` holds the two keys that gymnax's ``step`` splits its key into, environment
    ``i``'s transition key and reset key; given ``keys = vmap(split)(k)`` the outputs are
    those of ``jax.vmap(env.step, in_axes=(0, 0, 0, None))(k, ...)``.

    gymnax computes a fresh reset state for every environment at every step and keeps it where
    the episode ended. Here the transition is vmapped alone, and the resets are computed only
    when some environment is done (``pgjax.envs.base.reset_where``). An environment that
    overrides ``step`` keeps its own (from the transition keys).
    """
    if type(env).step is not gymnax.environments.environment.Environment.step:
        vmapped = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        return lambda keys, state, action: vmapped(keys[:, 0], state, action, env_params)
    transition = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    truncated_at = jax.vmap(env.is_truncated, in_axes=(0, None))
    reset = jax.vmap(env.reset_env, in_axes=(0, None))

    def step(keys: Array, state: Any, action: Array):
        obs_st, state_st, reward, terminated, info = transition(
            keys[:, 0], state, action, env_params
        )
        truncated = truncated_at(state_st, env_params)
        done = jnp.logical_or(terminated, truncated)
        obs, state = reset_where(done, lambda k: reset(k, env_params), keys[:, 1], obs_st, state_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    return step
