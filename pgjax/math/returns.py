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
Using Generalized Advantage Estimation"; V-trace after Espeholt et al. (2018), "IMPALA".
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
    A_t = δ_t + γ λ_t (1 − done_t) A_{t+1},   A_T := 0.

    λ = 1 gives the Monte Carlo advantage ``discounted_returns(...) − values``; λ = 0 the
    one-step TD error δ_t (the seed's MC vs TD). λ may differ per step (as rlax's
    ``lambda_returns`` allows): ``lam[t]`` weighs the advantages after step t.

    Args:
      rewards: ``[T]`` float.
      values: ``[T]`` float, V(s_t).
      next_values: ``[T]`` float, V(s'_t).
      terminated: ``[T]`` bool.
      truncated: ``[T]`` bool.
      gamma: scalar discount.
      lam: λ in [0, 1]: a scalar, or ``[T]`` (λ_t).

    Returns:
      ``[T]`` float advantages; the value targets are ``advantages + values``.
    """
    chex.assert_rank([rewards, values, next_values, terminated, truncated], 1)
    chex.assert_equal_shape([rewards, values, next_values, terminated, truncated])
    rewards, values, next_values = map(_as_float, (rewards, values, next_values))
    not_term = 1.0 - _as_float(terminated)
    not_done = 1.0 - _as_float(jnp.logical_or(terminated, truncated))
    deltas = rewards + gamma * not_term * next_values - values
    if jnp.ndim(lam) == 0:

        def step(a_next, x):
            delta, nd = x
            a = delta + gamma * lam * nd * a_next
            return a, a

        xs = (deltas, not_done)
    else:
        chex.assert_shape(lam, rewards.shape)

        def step(a_next, x):
            delta, nd, lam_t = x
            a = delta + gamma * lam_t * nd * a_next
            return a, a

        xs = (deltas, not_done, _as_float(lam))
    _, adv = jax.lax.scan(step, jnp.zeros((), deltas.dtype), xs, reverse=True, unroll=16)
    return adv


def vtrace(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    log_rhos: Array,
    gamma: float | Array,
    lam: float | Array = 1.0,
    rho_bar: float | Array = 1.0,
    c_bar: float | Array = 1.0,
) -> tuple[Array, Array]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, "IMPALA"), for a
    window acted by a behaviour policy μ and learned by π.

    The seed's importance sampling (E_p[f] = E_q[f p/q]) carried to many steps: each step's
    ratio π(a_t|s_t)/μ(a_t|s_t) = exp(log_rhos[t]) is truncated twice,

    ρ_t = min(ρ̄, π/μ),   c_t = λ min(c̄, π/μ),
    δ_t = ρ_t (r_t + γ (1 − term_t) V(s'_t) − V(s_t)),
    v_t = V(s_t) + δ_t + γ (1 − done_t) c_t (v_{t+1} − V(s_{t+1})),   v_T − V(s_T) := 0,
    A_t = ρ_t (r_t + γ (1 − term_t) v'_t − V(s_t)),

    where v'_t = λ_t v_{t+1} + (1 − λ_t) V(s_{t+1}) inside an episode (the λ-weighted target,
    as rlax's ``vtrace_td_error_and_advantage`` forms it) and V(s'_t) after a cut (truncation,
    or the end of the window); nothing follows a termination. ``v_t`` is the critic's target,
    ``A_t`` the policy's weight of ∇log π(a_t|s_t). On-policy (π = μ) with ρ̄ = c̄ = ∞, v_t and
    A_t are GAE(γ, λ)'s targets and advantages (``gae``), and with λ = 1 the discounted return
    ``discounted_returns(...)`` and that minus V(s_t); ρ̄ bounds the fixed point the policy
    learns toward, c̄ the variance of the traces.

    The inputs: ``rewards``, ``values``, ``next_values``, ``terminated``, ``truncated``, each
    ``[T]`` as for ``gae``; ``log_rhos [T]``, log π(a_t|s_t) − log μ(a_t|s_t) (carries no
    gradient); ``gamma`` a scalar; ``lam`` λ in [0, 1], scalar or ``[T]``; ``rho_bar``,
    ``c_bar``: ρ̄ and c̄ (scalars, may be ``inf``).

    Returns:
      ``(v [T], A [T])``: the targets and the advantages, both without gradient.
    """
    chex.assert_rank([rewards, values, next_values, terminated, truncated, log_rhos], 1)
    chex.assert_equal_shape([rewards, values, next_values, terminated, truncated, log_rhos])
    rewards, values, next_values = map(_as_float, (rewards, values, next_values))
    values, next_values = jax.lax.stop_gradient((values, next_values))
    ratio = jnp.exp(jax.lax.stop_gradient(_as_float(log_rhos)))
    rho, c = jnp.minimum(rho_bar, ratio), lam * jnp.minimum(c_bar, ratio)
    not_term = 1.0 - _as_float(terminated)
    not_done = 1.0 - _as_float(jnp.logical_or(terminated, truncated))
    deltas = rho * (rewards + gamma * not_term * next_values - values)
    acc = _traces(deltas, gamma, not_done, c)
    targets = values + acc
    # v'_t = V(s'_t) + λ_t (v_{t+1} − V(s_{t+1})) inside an episode (where V(s'_t) is
    # V(s_{t+1})), the bootstrap V(s'_t) after a cut and at the window's end
    inside = jnp.concatenate([not_done[:-1], jnp.zeros((1,), not_done.dtype)])
    following = jnp.concatenate([acc[1:], jnp.zeros((1,), acc.dtype)])
    next_target = next_values + inside * lam * following
    advantages = rho * (rewards + gamma * not_term * next_target - values)
    return targets, advantages


def _traces(deltas: Array, gamma: float | Array, not_done: Array, c: Array) -> Array:
    """V-trace's v_t − V(s_t) ``[T]``: δ_t + γ (1 − done_t) c_t (v_{t+1} − V(s_{t+1})), from the
    end of the window back (0 after it)."""

    def step(acc_next, x):
        delta, nd, c_t = x
        acc = delta + gamma * nd * c_t * acc_next
        return acc, acc

    _, acc = jax.lax.scan(step, jnp.zeros((), deltas.dtype), (deltas, not_done, c), reverse=True)
    return acc
