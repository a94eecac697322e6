"""Returns and advantages of one trajectory, unbatched over time.

Every function here takes arrays of shape ``[T]`` (one environment's rollout window)
and is pure; the caller vmaps over environments, e.g. for ``[T, N]`` inputs::

    jax.vmap(discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)

Conventions (the environment contract of gymnax >= 1.0):

* ``terminated[t]``: the episode ended at step ``t`` for good; nothing follows it, so no value
  is bootstrapped after it.
* ``truncated[t]``: the episode was cut at step ``t`` (a time limit); its future is worth
  ``V(s'_t)``, the value of the true next (final) observation, given in ``next_values[t]``.
* ``next_values[t]``: ``V(s'_t)``, the value of the observation that followed step ``t``
  (for a step inside an episode that is ``values[t + 1]``).
* The end of the window is always a cut: the last step bootstraps from ``next_values[-1]``
  unless it terminated. Callers never need to mark it as truncated.

Seed (policy gradient, tip 2, and the REINFORCE section): G_t = r_{t+1} + γ G_{t+1},
computed backwards; GAE after Schulman et al. (2016), "High-Dimensional Continuous Control
Using Generalized Advantage Estimation".
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


def _as_float(x: Array) -> Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


def discounted_returns(
    rewards: Array,
    terminated: Array,
    truncated: Array,
    next_values: Array,
    gamma: float | Array,
) -> Array:
    """Discounted reward-to-go with bootstrapping at cuts.

    G_t = r_t + γ (1 − term_t) [ (1 − done_t) G_{t+1} + done_t V(s'_t) ],  done = term ∨ trunc,

    with G_T := V(s'_{T-1}) at the end of the window. With ``next_values = 0`` and ``γ = 1``
    this is the seed's Σ_{t' ≥ t} r_{t'} over the rest of the episode.

    Args:
      rewards: ``[T]`` float, r_t.
      terminated: ``[T]`` bool, the episode ended at t.
      truncated: ``[T]`` bool, the episode was cut at t.
      next_values: ``[T]`` float, V(s'_t).
      gamma: scalar discount in [0, 1].

    Returns:
      ``[T]`` float, G_t.
    """
    chex.assert_rank([rewards, terminated, truncated, next_values], 1)
    chex.assert_equal_shape([rewards, terminated, truncated, next_values])
    rewards, next_values = _as_float(rewards), _as_float(next_values)
    not_term = 1.0 - _as_float(terminated)
    done = jnp.logical_or(terminated, truncated)

    def step(g_next, x):
        r, nt, d, nv = x
        g = r + gamma * nt * jnp.where(d, nv, g_next)
        return g, g

    _, g = jax.lax.scan(step, next_values[-1], (rewards, not_term, done, next_values), reverse=True)
    return g


def episode_returns(rewards: Array, terminated: Array, truncated: Array) -> tuple[Array, Array]:
    """The seed's R(τ): each step's whole-episode undiscounted return.

    R_t = Σ_{t' in episode(t)} r_{t'},   complete_t = episode(t) ends inside the window.

    The window is taken to start at an episode start (collect REINFORCE rollouts from fresh
    resets). A step whose episode is still running at the end of the window is marked
    incomplete and its R_t is only the part seen so far: it is not R(τ), and a REINFORCE update
    must mask it out (or bootstrap it with a critic).

    Args:
      rewards: ``[T]`` float.
      terminated: ``[T]`` bool.
      truncated: ``[T]`` bool (time limit; the episode is over, its return is known).

    Returns:
      ``(R, complete)``: ``[T]`` float and ``[T]`` bool.
    """
    chex.assert_rank([rewards, terminated, truncated], 1)
    chex.assert_equal_shape([rewards, terminated, truncated])
    rewards = _as_float(rewards)
    done = jnp.logical_or(terminated, truncated)

    def forward(total, x):  # running total since the episode's start, inclusive
        r, d = x
        total = total + r
        return jnp.where(d, 0.0, total), total

    _, prefix = jax.lax.scan(forward, jnp.zeros((), rewards.dtype), (rewards, done))

    def backward(carry, x):  # copy each episode's final total back over its steps
        ret_next, complete_next = carry
        p, d = x
        ret = jnp.where(d, p, ret_next)
        complete = jnp.logical_or(d, complete_next)
        return (ret, complete), (ret, complete)

    init = (prefix[-1], jnp.zeros((), bool))
    _, (ret, complete) = jax.lax.scan(backward, init, (prefix, done), reverse=True)
    return ret, complete


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: float | Array,
    lam: float | Array,
) -> Array:
    """Generalised advantage estimation, GAE(γ, λ).

    δ_t = r_t + γ (1 − term_t) V(s'_t) − V(s_t),
    A_t = δ_t + γ λ (1 − done_t) A_{t+1},   A_T := 0.

    λ = 1 gives the Monte Carlo advantage ``discounted_returns(...) − values``; λ = 0 the
    one-step TD error δ_t (the seed's MC vs TD).

    Args:
      rewards: ``[T]`` float.
      values: ``[T]`` float, V(s_t).
      next_values: ``[T]`` float, V(s'_t).
      terminated: ``[T]`` bool.
      truncated: ``[T]`` bool.
      gamma: scalar discount.
      lam: scalar λ in [0, 1].

    Returns:
      ``[T]`` float advantages; the value targets are ``advantages + values``.
    """
    chex.assert_rank([rewards, values, next_values, terminated, truncated], 1)
    chex.assert_equal_shape([rewards, values, next_values, terminated, truncated])
    rewards, values, next_values = map(_as_float, (rewards, values, next_values))
    not_term = 1.0 - _as_float(terminated)
    not_done = 1.0 - _as_float(jnp.logical_or(terminated, truncated))
    deltas = rewards + gamma * not_term * next_values - values

    def step(a_next, x):
        delta, nd = x
        a = delta + gamma * lam * nd * a_next
        return a, a

    _, adv = jax.lax.scan(
        step, jnp.zeros((), deltas.dtype), (deltas, not_done), reverse=True, unroll=16
    )
    return adv
