"""Flax modules: MLP and CNN torsos, a policy head per action space, a critic.

Orthogonal initialisation as in PPO's reference code: gain √2 for hidden layers, 0.01 for the
policy head, 1 for the value head; biases 0. Actor and critic are separate networks.
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


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(gain))


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
            x = nn.Conv(16, (3, 3), kernel_init=nn.initializers.orthogonal(math.sqrt(2)))(x)
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
