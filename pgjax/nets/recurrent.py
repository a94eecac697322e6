"""Memory: a recurrent cell between a torso and the heads, whose hidden state starts afresh at
every episode's first step.

One step, for a batch ``[B]`` of environments::

    h ← 0 where first, else h          (a new episode forgets the last one)
    h', y = cell(h, x)                  (GRU, or LSTM with h = (c, h))

``first [B]`` is true where the observation is the first of its episode (after a termination,
after a truncation, at the start of a run). ``unroll`` scans that step over a window
``[T, B]``; replaying a window from its stored starting state with the same ``first`` flags
gives the same outputs as the steps taken one by one in the rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def unroll(step: Callable, hidden: Any, xs: Any, first: Array) -> tuple[Any, Any]:
    """Scan ``step(hidden, x, first) → (hidden, out)`` over a window: ``xs`` leaves
    ``[T, B, ...]``, ``first [T, B]``, ``hidden`` at the window's start (before its first
    reset). Returns ``(outs [T, B, ...], hiddens [T, ...])``: every step's output and the hidden
    state after it."""

    def body(h, inputs):
        x, f = inputs
        h, out = step(h, x, f)
        return h, (out, h)

    _, (outs, hiddens) = jax.lax.scan(body, hidden, (xs, first))
    return outs, hiddens
