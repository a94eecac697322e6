"""TRPO's policy step: maximise the importance-sampled surrogate subject to KL ≤ δ.

Schulman et al. (2015), "Trust Region Policy Optimization", appendix C; the seed names it as
PPO's predecessor: max_θ J^{θ'}(θ) s.t. KL(θ', θ) < δ, with KL the behaviour distance.

    g = ∇_θ L(θ)                      L: the surrogate E[(π_θ/π_θ') A]
    F x = g                           F: the Fisher matrix, the Hessian of the mean KL at θ'
    step = √(2δ / xᵀF x) · x          the largest step whose quadratic KL model equals δ
    θ ← θ + 2^{-k} step               the first k whose surrogate improves and KL ≤ δ

F is never materialised: F v is a Hessian-vector product (``jax.jvp`` of ``jax.grad``).
Every function here is pure and works on a flat parameter vector ``[P]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


def conjugate_gradient(
    matvec: Callable[[Array], Array], b: Array, iters: int, tol: float = 1e-10
) -> Array:
    """Solve A x = b for symmetric positive-definite A, given only v ↦ A v.

    A fixed number of iterations (jit-friendly); once the squared residual falls below
    ``tol`` the iterate stops changing.  Shapes: ``b`` ``[P]`` → ``x`` ``[P]``.
    """

    def body(_, carry):
        x, r, p, rr = carry
        done = rr < tol
        ap = matvec(p)
        alpha = rr / (p @ ap + 1e-12)
        x_new = x + alpha * p
        r_new = r - alpha * ap
        rr_new = r_new @ r_new
        p_new = r_new + (rr_new / (rr + 1e-12)) * p
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        return keep(x, x_new), keep(r, r_new), keep(p, p_new), keep(rr, rr_new)

    x0 = jnp.zeros_like(b)
    x, *_ = jax.lax.fori_loop(0, iters, body, (x0, b, b, b @ b))
    return x


def fisher_vector_product(
    kl_fn: Callable[[Array], Array], params: Array, damping: float | Array
) -> Callable[[Array], Array]:
    """v ↦ (∇²KL(params) + damping·I) v, by forward-over-reverse differentiation."""
    grad_kl = jax.grad(kl_fn)

    def fvp(v: Array) -> Array:
        return jax.jvp(grad_kl, (params,), (v,))[1] + damping * v

    return fvp


class TRPOInfo(NamedTuple):
    """``accepted``: a step was taken. ``step_fraction``: 2^{-k} of the full step (0 if
    rejected). ``line_search_steps``: candidates tried until acceptance (all if rejected).
    ``kl``, ``improvement``: of the step taken. ``expected_improvement``: gᵀstep."""

    accepted: Array
    step_fraction: Array
    line_search_steps: Array
    kl: Array
    improvement: Array
    expected_improvement: Array


def trpo_step(
    surrogate: Callable[[Array], Array],
    kl_fn: Callable[[Array], Array],
    params: Array,
    max_kl: float | Array,
    *,
    cg_iters: int = 10,
    damping: float | Array = 0.1,
    line_search_steps: int = 10,
) -> tuple[Array, TRPOInfo]:
    """One natural-gradient step with a backtracking line search.

    Args:
      surrogate: θ ↦ L(θ), to be *maximised* (scalar).
      kl_fn: θ ↦ mean KL(π_old‖π_θ) over the batch's states (scalar, 0 at ``params``).
      params: ``[P]`` the current (old) policy parameters.
      max_kl: δ.
      cg_iters: iterations of the conjugate-gradient solve.
      damping: added to the Fisher-vector product in that solve.
      line_search_steps: candidate steps 1, ½, ¼, … tried (all at once, vectorised).

    Returns:
      The new parameters ``[P]`` (``params`` itself if no candidate qualified) and a
      ``TRPOInfo``.
    """
    surr0, g = jax.value_and_grad(surrogate)(params)
    fvp = fisher_vector_product(kl_fn, params, damping)
    x = conjugate_gradient(fvp, g, cg_iters)
    shs = x @ fvp(x)
    step = jnp.sqrt(2.0 * max_kl / (shs + 1e-12)) * x
    fractions = 0.5 ** jnp.arange(line_search_steps, dtype=step.dtype)
    candidates = params[None, :] + fractions[:, None] * step[None, :]
    surr = jax.vmap(surrogate)(candidates)
    kls = jax.vmap(kl_fn)(candidates)
    ok = (surr > surr0) & (kls <= max_kl) & jnp.isfinite(surr) & jnp.isfinite(kls)
    first = jnp.argmax(ok)
    accepted = ok.any()
    new_params = jnp.where(accepted, candidates[first], params)
    info = TRPOInfo(
        accepted=accepted,
        step_fraction=jnp.where(accepted, fractions[first], 0.0),
        line_search_steps=jnp.where(accepted, first + 1, line_search_steps),
        kl=jnp.where(accepted, kls[first], 0.0),
        improvement=jnp.where(accepted, surr[first] - surr0, 0.0),
        expected_improvement=g @ step,
    )
    return new_params, info
