"""Torsos: observations to features. An MLP (flattening the observation), a small CNN for
MinAtar-sized images, or one registered by name (``register``): a user's own flax module, which
keeps its own initialisers. A recurrent cell may follow a torso, before the heads
(``pgjax.nets.actor_critic``); ``Config.network`` names both (``parse_network``).

    import flax.linen as nn
    from pgjax import nets

    class Normed(nn.Module):  # observations [B, *obs_shape] -> features [B, H]
        width: int = 64

        @nn.compact
        def __call__(self, obs):
            x = obs.reshape((obs.shape[0], -1))
            return nn.tanh(nn.LayerNorm()(nn.Dense(self.width)(x)))

    nets.register("normed", lambda spec: Normed(spec.hidden_sizes[0]))
    Config(network="normed"), Config(network="normed_gru")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.core.checks import did_you_mean
from pgjax.core.spec import MASK
from pgjax.nets.init import HIDDEN_GAIN, orthogonal
from pgjax.nets.recurrent import CELLS

Array = jax.Array
ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}
TORSOS = ("mlp", "cnn")
"""pgjax's own torsos (``Torso``), orthogonally initialised."""


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


class DictTorso(nn.Module):
    """A structured observation ``{name: [..., *shape]}`` → features ``[..., H]``: every leaf
    but the action mask flattened (``cnn``: leaves of rank 3, images ``[H, W, C]``, through
    the 3×3 convolution with 16 channels first), concatenated in the order of ``ranks``, then
    the Dense layers of ``hidden_sizes``. ``ranks``: ``((name, rank), ...)`` of the leaves."""

    ranks: tuple[tuple[str, int], ...]
    kind: str
    hidden_sizes: Sequence[int]
    activation: str
    kernel_init: Callable = orthogonal

    @nn.compact
    def __call__(self, obs: dict[str, Array]) -> Array:
        act = ACTIVATIONS[self.activation]
        name, rank = self.ranks[0]
        batch_shape = obs[name].shape[: obs[name].ndim - rank]
        parts = []
        for name, rank in self.ranks:
            x = obs[name].reshape((-1, *obs[name].shape[obs[name].ndim - rank :]))
            x = x.astype(jnp.float32)
            if self.kind == "cnn" and rank == 3:
                x = act(nn.Conv(16, (3, 3), kernel_init=self.kernel_init(HIDDEN_GAIN))(x))
            parts.append(x.reshape((x.shape[0], -1)))
        x = jnp.concatenate(parts, axis=-1)
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=self.kernel_init(HIDDEN_GAIN))(x))
        return x.reshape((*batch_shape, x.shape[-1]))


class TorsoSpec(NamedTuple):
    """What a registered torso's factory is told: one observation's shape, and the widths and
    activation ``Config.hidden_sizes`` and ``Config.activation`` ask for (its to use or not);
    for a structured observation, ``obs_spec`` ``{name: ShapeDtypeStruct}`` (the module then
    receives a dict of ``[B, *shape]`` leaves, the action mask left out) and ``obs_shape``
    ``()``."""

    obs_shape: tuple[int, ...]
    hidden_sizes: tuple[int, ...]
    activation: str
    obs_spec: Any = None


_REGISTERED: dict[str, Callable[[TorsoSpec], nn.Module]] = {}


def register(name: str, factory: Callable[[TorsoSpec], nn.Module]) -> None:
    """Make ``Config(network=name)`` (and ``name_gru``, ``name_lstm``: the torso, then a cell)
    use ``factory(spec)``: a flax module mapping observations ``[B, *spec.obs_shape]`` to
    features ``[B, H]`` (pgjax flattens other leading axes into ``B`` and back). It keeps its
    own initialisers: pgjax's orthogonal initialisation applies only to pgjax's own layers.
    Registering a name again replaces its factory."""
    reserved = {"auto", *TORSOS, *CELLS}
    if not isinstance(name, str) or not name.isidentifier() or name in reserved:
        raise ValueError(
            f"nets.register: name {name!r} must be an identifier other than "
            f"{', '.join(sorted(reserved))}"
        )
    if name.endswith(tuple(f"_{c}" for c in CELLS)):
        raise ValueError(f"nets.register: name {name!r} must not end with a cell's _gru, _lstm")
    if not callable(factory):
        raise ValueError(f"nets.register({name!r}, ...): the factory must be callable")
    _REGISTERED[name] = factory


def torso_names() -> list[str]:
    """The torsos ``Config.network`` may name: pgjax's, then the registered ones."""
    return [*TORSOS, *_REGISTERED]


def network_names() -> list[str]:
    """Every name ``Config.network`` may take: ``auto``, each torso, each cell alone (after
    the ``auto`` torso), each torso followed by a cell (``mlp_gru``)."""
    torsos = torso_names()
    return ["auto", *torsos, *CELLS, *(f"{t}_{c}" for t in torsos for c in CELLS)]


def parse_network(name: str) -> tuple[str, str | None]:
    """``Config.network`` as (torso, cell): ``"mlp_gru"`` → ``("mlp", "gru")``, ``"gru"`` →
    ``("auto", "gru")``, ``"cnn"`` → ``("cnn", None)``; ``ValueError`` naming the names there
    are, for an unknown one."""
    allowed = network_names()
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"Config.network={name!r} is unknown{did_you_mean(str(name), allowed)}; allowed: "
            f"{', '.join(allowed)}; a torso of your own: pgjax.nets.register(name, factory)"
        )
    if name in CELLS:
        return "auto", name
    torso, _, cell = name.rpartition("_")
    return (torso, cell) if cell in CELLS else (name, None)


def registered_torso(name: str, spec: TorsoSpec) -> nn.Module:
    """A registered torso's module for ``spec``, taking observations of any leading axes."""
    if spec.obs_spec is None:
        return Features(_REGISTERED[name](spec), len(spec.obs_shape))
    return Features(_REGISTERED[name](spec), leaf_ranks(spec.obs_spec))


def leaf_ranks(obs_spec: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """``((name, rank), ...)`` of a structured observation's leaves a torso reads: every leaf
    but the action mask."""
    return tuple((k, len(v.shape)) for k, v in obs_spec.items() if k != MASK)


class Features(nn.Module):
    """A user's torso ``module`` (observations ``[B, *obs_shape]`` → ``[B, H]``) on any leading
    axes ``[..., *obs_shape]``: flattened into one batch axis and back. ``obs_rank``: the
    observation's rank, or ``((name, rank), ...)`` of a structured observation's leaves (the
    module receives those, a dict of ``[B, *shape]``)."""

    module: Any
    obs_rank: Any

    @nn.compact
    def __call__(self, obs: Any) -> Array:
        if isinstance(self.obs_rank, int):
            ranks, leaves = {"": self.obs_rank}, {"": obs}
        else:
            ranks, leaves = dict(self.obs_rank), {k: obs[k] for k, _ in self.obs_rank}
        first = next(iter(ranks))
        batch_shape = leaves[first].shape[: leaves[first].ndim - ranks[first]]
        flat = {
            k: x.reshape((math.prod(batch_shape), *x.shape[x.ndim - ranks[k] :]))
            for k, x in leaves.items()
        }
        x = self.module(flat[""] if isinstance(self.obs_rank, int) else flat)
        return x.reshape((*batch_shape, *x.shape[1:]))
