"""Torsos: observations to features. An MLP (flattening the observation) or a small CNN for
MinAtar-sized images. A recurrent cell would go after a torso, before the heads
(``pgjax.nets.actor_critic``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax

from pgjax.nets.init import HIDDEN_GAIN, orthogonal

Array = jax.Array
ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}
TORSOS = ("mlp", "cnn")


class Torso(nn.Module):
    """Observation ``[..., *obs_shape]`` → features ``[..., H]``.

    ``mlp``: flatten, then Dense layers of ``hidden_sizes``. ``cnn``: a 3×3 convolution with 16
    channels (MinAtar-sized images ``[..., H, W, C]``), flatten, then the Dense layers. Every
    kernel starts as ``kernel_init(HIDDEN_GAIN)`` (orthogonal, gain √2); biases at 0.
    """

    obs_rank: int
    kind: str
    hidden_sizes: Sequence[int]
    activation: str
    kernel_init: Callable = orthogonal

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        batch_shape = obs.shape[: obs.ndim - self.obs_rank]
        x = obs.reshape((-1, *obs.shape[obs.ndim - self.obs_rank :]))
        if self.kind == "cnn":
            x = nn.Conv(16, (3, 3), kernel_init=self.kernel_init(HIDDEN_GAIN))(x)
            x = act(x)
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=self.kernel_init(HIDDEN_GAIN))(x))
        return x.reshape((*batch_shape, x.shape[-1]))
