"""Groups of environments that start from the same state, for critic-free group baselines.

``GroupedEnv(env, k)`` splits any batched ``Env`` of N environments (N a multiple of k) into
N/k groups of k consecutive members. It only chooses reset keys and holds members still:

- **the same start**: a group's members reset with one key (the first member's), so they see
  the same first observation and state; each group, and each new start of a group, draws a
  fresh key;
- **kept in step**: a member whose episode ends (terminated or truncated, each reported as the
  environment said, with its final observation) waits, held at the state it reset to, until
  every member of its group has ended; then the whole group starts again together. While it
  waits it reports ``info[WAITING]`` true, reward 0 and neither termination nor truncation,
  so a waiting step belongs to no episode: estimators mask it out, and episode statistics
  never count it.

So the j-th episodes of a group's members begin at the same step, from the same state, and
their returns are comparable: the group is k rollouts of the policy from one start.

    env = GroupedEnv(make_env("CartPole-v1"), 4)
    state, obs = env.reset(keys)                  # keys [N]: obs[0] == obs[1] == ... == obs[3]
    state, ts = env.step(keys2, state, action)    # keys2 [N, 2]; ts.info[WAITING]: bool [N]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.envs.base import Env, EnvSpec, TimeStep, reset_where

Array = jax.Array

WAITING = "group_waiting"
"""``TimeStep.info``'s key of a grouped environment: bool ``[N]``, the members waiting for
their group (their step belongs to no episode)."""


class GroupState(NamedTuple):
    """A grouped environment's state: the inner states, the current observations (a waiting
    member's held), and which members wait for their group, ``[N]``."""

    inner: Any
    obs: Any
    waiting: Array


def shared_keys(keys: Array, group_size: int) -> Array:
    """``keys [N, ...]`` with each group's members given its first member's key:
    ``out[i] = keys[group_size * (i // group_size)]``."""
    n = keys.shape[0]
    if n % group_size:
        raise ValueError(
            f"{n} environments cannot form groups of {group_size}: the environments (per "
            "device) must be a multiple of group_size"
        )
    return jnp.repeat(keys[::group_size], group_size, axis=0)


def _where(pick: Array, a: Any, b: Any) -> Any:
    """``a`` where ``pick [N]``, else ``b``, leaf by leaf (PRNG keys included)."""
    return jax.tree.map(lambda x, y: jax.vmap(jax.lax.select)(pick, x, y), a, b)


class GroupedEnv(NamedTuple):
    """``env`` in groups of ``group_size`` that share starts (see the module's docstring)."""

    env: Env
    group_size: int

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def reset(self, keys: Array) -> tuple[GroupState, Any]:
        """``keys [N]`` → (states, first observations), the same within each group."""
        inner, obs = self.env.reset(shared_keys(keys, self.group_size))
        return GroupState(inner, obs, jnp.zeros(keys.shape[0], bool)), obs

    def step(self, keys: Array, state: GroupState, action: Array) -> tuple[GroupState, TimeStep]:
        """One step of every member; a waiting member is held, and a group every member of
        which has ended starts again from one shared reset key (``keys[:, 1]`` of its first
        member)."""
        k, waiting = self.group_size, state.waiting
        inner, ts = self.env.step(keys, state.inner, action)
        inner = _where(waiting, state.inner, inner)  # held where waiting
        obs = _where(waiting, state.obs, ts.obs)
        terminated, truncated = ts.terminated & ~waiting, ts.truncated & ~waiting
        ended = waiting | terminated | truncated
        restart = jnp.repeat(jnp.all(ended.reshape(-1, k), axis=1), k)
        start = lambda r: self.env.reset(r)[::-1]  # noqa: E731  (obs, state), as reset_where reads
        obs, inner = reset_where(restart, start, shared_keys(keys[:, 1], k), obs, inner)
        step = TimeStep(
            obs=obs,
            reward=jnp.where(waiting, jnp.zeros_like(ts.reward), ts.reward),
            terminated=terminated,
            truncated=truncated,
            final_obs=_where(waiting, state.obs, ts.final_obs),
            info={**ts.info, WAITING: waiting},
        )
        return GroupState(inner, obs, ended & ~restart), step


__all__ = ["WAITING", "GroupState", "GroupedEnv", "shared_keys"]
