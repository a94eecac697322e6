"""Flax modules: MLP and CNN torsos, a policy head per action space, a critic.

Orthogonal initialisation as in PPO's reference code: gain √2 for hidden layers, 0.01 for the
policy head, 1 for the value head; biases 0. Actor and critic are separate networks.

The orthogonal initialiser here is Gram–Schmidt in plain jnp, not flax's, which calls LAPACK's
QR: under ``jax.vmap`` over seeds that becomes a batched QR whose kernel fans out over XLA's CPU
thread pool and can wait on itself forever on a 2-core machine (seen with jax 0.10: a vmapped
train that sometimes never returns, every thread parked in ``QrFactorizationKernel``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.config import Config
from pgjax.envs import EnvSpec

Array = jax.Array
_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


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


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain))


class Torso(nn.Module):
    """Observation ``[..., *obs_shape]`` → features ``[..., H]``.

    ``mlp``: flatten, then Dense layers of ``hidden_sizes``. ``cnn``: a 3×3 convolution with 16
    channels (MinAtar-sized images ``[..., H, W, C]``), flatten, then the Dense layers.
    """

    obs_rank: int
    kind: str
    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        act = _ACTIVATIONS[self.activation]
        batch_shape = obs.shape[: obs.ndim - self.obs_rank]
        x = obs.reshape((-1, *obs.shape[obs.ndim - self.obs_rank :]))
        if self.kind == "cnn":
            x = nn.Conv(16, (3, 3), kernel_init=orthogonal(math.sqrt(2)))(x)
            x = act(x)
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden_sizes:
            x = act(_dense(width, math.sqrt(2))(x))
        return x.reshape((*batch_shape, x.shape[-1]))


class Actor(nn.Module):
    """Policy: observation → distribution parameters.

    Discrete: logits ``[..., K]``. Continuous: ``(mean, log_std)``, ``[..., A]`` each, with a
    state-independent, learned log-std (initialised at 0) broadcast to the mean's shape.
    """

    torso: Torso
    discrete: bool
    num_actions: int

    @nn.compact
    def __call__(self, obs: Array):
        out = _dense(self.num_actions, 0.01)(self.torso(obs))
        if self.discrete:
            return out
        log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
        return out, jnp.broadcast_to(log_std, out.shape)


class Critic(nn.Module):
    """State value: observation ``[..., *obs_shape]`` → V(s) ``[...]``."""

    torso: Torso

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        return _dense(1, 1.0)(self.torso(obs))[..., 0]


def torso_kind(config: Config, spec: EnvSpec) -> str:
    if config.network != "auto":
        return config.network
    return "cnn" if len(spec.obs_shape) == 3 else "mlp"


def make_networks(config: Config, spec: EnvSpec) -> tuple[Actor, Critic]:
    """The actor and critic for ``config`` on an environment with ``spec``."""
    kind = torso_kind(config, spec)
    if kind == "cnn" and len(spec.obs_shape) != 3:
        raise ValueError(
            f"Config.network='cnn' needs image observations [H, W, C]; {config.env} gives "
            f"shape {spec.obs_shape}; use network='mlp' or 'auto'"
        )

    def torso() -> Torso:
        return Torso(len(spec.obs_shape), kind, tuple(config.hidden_sizes), config.activation)

    return Actor(torso(), spec.discrete, spec.num_actions), Critic(torso())
