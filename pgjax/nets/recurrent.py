"""Memory: a recurrent cell between a torso and the heads, whose hidden state starts afresh at
every episode's first step.

One step, for a batch ``[B]`` of environments::

    h ← 0 where first, else h          (a new episode forgets the last one)
    h', y = cell(h, x)                  (GRU, or LSTM with h = (c, h))

``first [B]`` is true where the observation is the first of its episode (after a termination,
after a truncation, at the start of a run). Replaying a window ``[T, B]`` from its stored
starting state with the same ``first`` flags gives the outputs of the steps taken one by one
in the rollout.

The fast path (``input_gates``, ``scan_cells``), which the actor-critic runs in rollout and
replay alike: a cell's input side ``W_i x + b`` does not depend on the hidden state, so it is
computed for a whole window ``[T, B]`` in one matrix product before the scan, and the scanned
step holds the recurrent part alone (the reset, ``h W_h``, the gates). Several cells of one
kind and size (the actor's and the critic's) are stacked on a leading axis ``[K]`` and
stepped as one batched product. The parameters are flax's cells' own (``Cell``), read as
arrays. GRU (flax's gates)::

    r = σ(x W_ir + b_ir + h W_hr)      z = σ(x W_iz + b_iz + h W_hz)
    n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h

LSTM: ``[i, f, g, o] = x W_i + b_h + h W_h`` (σ, σ, tanh, σ), ``c' = f ⊙ c + i ⊙ g``,
``h' = o ⊙ tanh(c')``. The rollout steps a window of one (``T = 1``), the learner replays
``T`` steps: the same functions on other shapes, so the replay equals the rollout to float32
rounding (1e-6 on log π and V, ``tests/test_memory.py``), not bit for bit. The GRU's
derivative is written out (``_gru_scan``): the recurrent weights' gradient is one product over
the window after the loop, not a sum inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.nets.init import orthogonal

Array = jax.Array
CELLS = ("gru", "lstm")

# the cell's gain: every kernel orthogonal with gain 1 (input and recurrent alike)
CELL_GAIN = 1.0


class Cell(nn.Module):
    """A GRU or LSTM cell (flax's) of ``size`` units with the episode reset.

    ``__call__(hidden, x, first)``: hidden ``[B, size]`` (GRU) or a pair of them (LSTM's
    ``(c, h)``), features ``x [B, F]``, ``first [B]`` bool → (new hidden, output ``[B, size]``).
    """

    kind: str
    size: int
    kernel_init: Callable = orthogonal

    @nn.compact
    def __call__(self, hidden: Any, x: Array, first: Array) -> tuple[Any, Array]:
        hidden = reset_hidden(hidden, first)
        init = self.kernel_init(CELL_GAIN)
        if self.kind == "gru":
            cell = nn.GRUCell(self.size, kernel_init=init, recurrent_kernel_init=init)
        else:
            cell = nn.LSTMCell(self.size, kernel_init=init, recurrent_kernel_init=init)
        return cell(hidden, x)


def reset_hidden(hidden: Any, first: Array) -> Any:
    """``hidden`` (leaves ``[B, size]``) with the rows where ``first [B]`` is true set to 0."""
    return jax.tree.map(lambda h: jnp.where(first[:, None], jnp.zeros_like(h), h), hidden)


def initial_hidden(kind: str, size: int, batch: int) -> Any:
    """The fresh hidden state of ``batch`` environments: zeros ``[batch, size]`` (GRU), or a
    pair of them (LSTM's ``(c, h)``)."""
    zeros = jnp.zeros((batch, size), jnp.float32)
    return zeros if kind == "gru" else (zeros, zeros)


class CellWeights(NamedTuple):
    """One cell's parameters as arrays, gates side by side (``G`` = 3 for a GRU, 4 for an
    LSTM, ``H`` units, ``F`` input features): ``w_i [F, G H]``, ``b_i [G H]`` (the input
    side's bias: every bias but a GRU's ``b_hn``), ``w_h [H, G H]``, ``b_hn [H]`` (a GRU's
    recurrent bias inside ``r ⊙ (·)``; zeros for an LSTM, unused)."""

    w_i: Array
    b_i: Array
    w_h: Array
    b_hn: Array


def cell_weights(kind: str, variables: Any) -> CellWeights:
    """``Cell``'s parameters (the ``cell`` subtree of its module's params) as ``CellWeights``."""
    p = variables[f"{'GRU' if kind == 'gru' else 'LSTM'}Cell_0"]
    if kind == "gru":
        gates = ("r", "z", "n")
        b_i = jnp.concatenate([p[f"i{g}"]["bias"] for g in gates])
        b_hn = p["hn"]["bias"]
    else:
        gates = ("i", "f", "g", "o")
        b_i = jnp.concatenate([p[f"h{g}"]["bias"] for g in gates])
        b_hn = jnp.zeros_like(p["hi"]["bias"])
    w_i = jnp.concatenate([p[f"i{g}"]["kernel"] for g in gates], axis=1)
    w_h = jnp.concatenate([p[f"h{g}"]["kernel"] for g in gates], axis=1)
    return CellWeights(w_i, b_i, w_h, b_hn)


def input_gates(weights: CellWeights, x: Array) -> Array:
    """The input side of every step at once: ``x [..., F]`` → ``x W_i + b_i`` ``[..., G H]``."""
    return x @ weights.w_i + weights.b_i


def scan_cells(kind: str, weights: CellWeights, hidden: Any, gates: Array, first: Array) -> Any:
    """``K`` stacked cells over a window: ``weights`` with a leading ``[K]`` axis, ``hidden``
    leaves ``[K, B, H]`` at the window's start (before its first reset), ``gates [T, K, B, G H]``
    (``input_gates``), ``first [T, B]``. Returns the hidden state after every step, leaves
    ``[T, K, B, H]`` (an LSTM's ``(c, h)``; the output is ``h``)."""
    if kind == "gru":
        return _gru_scan(weights.w_h, weights.b_hn, hidden, gates, first)
    size = weights.w_h.shape[1]

    def lstm(carry, inputs):
        gx, f = inputs
        c, h = (jnp.where(f[None, :, None], 0.0, x) for x in carry)
        g = gx + jnp.einsum("kbh,khg->kbg", h, weights.w_h)
        i, f_, g_, o = (g[..., k * size : (k + 1) * size] for k in range(4))
        c = jax.nn.sigmoid(f_) * c + jax.nn.sigmoid(i) * jnp.tanh(g_)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), (c, h)

    return jax.lax.scan(lstm, hidden, (gates, first))[1]


def _gru_steps(w_h: Array, b_hn: Array, hidden: Array, gates: Array, first: Array):
    """The GRU's scan: every step's hidden state ``[T, K, B, H]``, and what its derivative
    needs, each ``[T, K, B, H]``: the state the step started from (after its reset), ``r``,
    ``z``, ``n`` and ``q = h W_hn + b_hn``."""
    size = w_h.shape[1]

    def step(h, inputs):
        gx, f = inputs
        h = jnp.where(f[None, :, None], 0.0, h)
        gh = jnp.einsum("kbh,khg->kbg", h, w_h)
        r = jax.nn.sigmoid(gx[..., :size] + gh[..., :size])
        z = jax.nn.sigmoid(gx[..., size : 2 * size] + gh[..., size : 2 * size])
        q = gh[..., 2 * size :] + b_hn[:, None]
        n = jnp.tanh(gx[..., 2 * size :] + r * q)
        after = (1.0 - z) * n + z * h
        return after, (after, (h, r, z, n, q))

    return jax.lax.scan(step, hidden, (gates, first))[1]


@jax.custom_jvp
def _gru_scan(w_h: Array, b_hn: Array, hidden: Array, gates: Array, first: Array) -> Array:
    """``scan_cells`` for GRUs. Its derivative is written out (``_gru_scan_jvp``) so that the
    weights' part is one product over the whole window, outside the loop: differentiated by
    JAX the loop would add ``h_tᵀ δ_t`` into the weights' gradient at every step."""
    return _gru_steps(w_h, b_hn, hidden, gates, first)[0]


@_gru_scan.defjvp
def _gru_scan_jvp(primals, tangents):
    """Forward mode (JAX transposes it for reverse mode; TRPO's Fisher products use both).
    With ``p`` the state a step starts from (after its reset) and ``ġ = ġ_x + ṗ W_h + p Ẇ_h
    (+ ḃ_hn in n's block)``, the last term computed for every step at once before the loop:
    ``ṙ = r(1 − r) ġ_r``, ``ż = z(1 − z) ġ_z``, ``ṅ = (1 − n²)(ġ_xn + ṙ q + r ġ_hn)``,
    ``ḣ' = (1 − z) ṅ + ż (p − n) + z ṗ``."""
    w_h, b_hn, hidden, gates, first = primals
    dw, db, dhidden, dgates, _ = tangents
    size = w_h.shape[1]
    after, (start, r, z, n, q) = _gru_steps(w_h, b_hn, hidden, gates, first)
    from_weights = jnp.einsum("tkbh,khg->tkbg", start, dw)
    from_weights = from_weights.at[..., 2 * size :].add(db[None, :, None])

    def step(dh, inputs):
        dgx, dwg, r, z, n, q, p, f = inputs
        dp = jnp.where(f[None, :, None], 0.0, dh)
        dg = jnp.einsum("kbh,khg->kbg", dp, w_h) + dwg
        dr = r * (1 - r) * (dgx[..., :size] + dg[..., :size])
        dz = z * (1 - z) * (dgx[..., size : 2 * size] + dg[..., size : 2 * size])
        dn = (1 - n * n) * (dgx[..., 2 * size :] + dr * q + r * dg[..., 2 * size :])
        d = dn * (1 - z) + dz * (p - n) + z * dp
        return d, d

    xs = (dgates, from_weights, r, z, n, q, start, first)
    return after, jax.lax.scan(step, dhidden, xs)[1]
