"""Orthogonal initialisation as in PPO's reference code, drawn in plain jnp.

The orthogonal initialiser here is Gram–Schmidt in plain jnp, not flax's, which calls LAPACK's
QR: under ``jax.vmap`` over seeds that becomes a batched QR whose kernel fans out over XLA's CPU
thread pool and can wait on itself forever on a 2-core machine (seen with jax 0.10: a vmapped
train that sometimes never returns, every thread parked in ``QrFactorizationKernel``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def orthogonal(scale: float = 1.0):
    """A flax initialiser: ``scale`` times a Haar-random matrix with orthonormal columns (or
    rows, whichever are fewer), for kernels of any rank (all axes but the last are flattened).

    Classical Gram–Schmidt applied twice (CGS2) to a standard normal matrix; the result equals
    the Q of its QR decomposition with R's diagonal made positive, so it is distributed like
    ``flax.linen.initializers.orthogonal``.
    """

    def init(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        a = jax.random.normal(key, tall, jnp.float32)

        def column(q: Array, j: Array) -> tuple[Array, None]:
            v = a[:, j]
            for _ in range(2):  # twice is enough for float32 orthogonality
                v = v - q @ (q.T @ v)
            return q.at[:, j].set(v / jnp.linalg.norm(v)), None

        q, _ = jax.lax.scan(column, jnp.zeros(tall, jnp.float32), jnp.arange(tall[1]))
        if rows < cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


# the gains of orthogonal initialisation: hidden layers (a torso's), the policy head, the
# value head
HIDDEN_GAIN = math.sqrt(2)
"""The gain of hidden layers' kernels."""
POLICY_GAIN = 0.01
"""The gain of the policy head's kernel: the first policy is near uniform."""
VALUE_GAIN = 1.0
"""The gain of the value head's kernel."""


def orthogonal_many(key: Array, shapes: Sequence[tuple[int, ...]]) -> list[Array]:
    """Haar-random orthonormal kernels of several shapes at once: what ``orthogonal(1.0)``
    gives for each shape (every kernel from its own Gaussian matrix, orthonormalised by CGS2),
    from one normal draw and one column loop.

    The kernels' tall matrices (``rows × cols`` or its transpose, so that there are at least as
    many rows as columns) are stacked along the rows, ``[Σ rows_i, max cols]``, the columns a
    kernel lacks zero; inner products and norms are taken per kernel. On a CPU each random draw
    and each loop is compiled on its own (about 0.1 s each): one of each instead of one per
    kernel takes about a second off the compile time of a whole training run.
    """
    flat = [(math.prod(shape[:-1]), shape[-1]) for shape in shapes]
    tall = [(max(r, c), min(r, c)) for r, c in flat]
    width = max(c for _, c in tall)
    block = np.repeat(np.arange(len(tall)), [m for m, _ in tall])  # each row's kernel
    member = jnp.asarray(block[:, None] == np.arange(len(tall)), jnp.float32)  # [rows, L]
    has_column = np.array([c for _, c in tall])[block][:, None] > np.arange(width)
    a = jax.random.normal(key, (len(block), width)) * has_column

    def column(q: Array, j: Array) -> tuple[Array, None]:
        v = a[:, j]
        for _ in range(2):  # twice is enough for float32 orthogonality
            v = v - jnp.sum(q * (member @ (member.T @ (q * v[:, None]))), axis=1)
        norm = member @ jnp.sqrt(member.T @ v**2)
        return q.at[:, j].set(jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1.0), 0.0)), None

    q, _ = jax.lax.scan(column, jnp.zeros(a.shape), jnp.arange(width))
    out, start = [], 0
    for shape, (r, c), (m, k) in zip(shapes, flat, tall, strict=True):
        w = q[start : start + m, :k]
        start += m
        out.append((w if r >= c else w.T).reshape(shape))
    return out


def gain_probe(gain: float):
    """A flax initialiser that fills a kernel with its ``gain``: what a layer built with
    ``orthogonal(gain)`` would be scaled by. ``ActorCritic.init`` builds its modules with it
    once to learn every kernel's gain from the layers themselves, not from their names."""

    def init(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return jnp.full(shape, gain, dtype)

    return init
