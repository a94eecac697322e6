"""Flax modules: MLP and CNN torsos, a policy head per action space, a critic.

Orthogonal initialisation as in PPO's reference code: gain √2 for hidden layers, 0.01 for the
policy head, 1 for the value head; biases 0. Actor and critic are separate networks, or with
``Config.shared_torso`` the critic is a value head on the actor's torso (``value`` below).

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
import numpy as np

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


# the gains of orthogonal initialisation: hidden layers (the torso's), the policy head, the
# value head
HIDDEN_GAIN, POLICY_GAIN, VALUE_GAIN = math.sqrt(2), 0.01, 1.0


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain))


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
            x = nn.Conv(16, (3, 3), kernel_init=orthogonal(HIDDEN_GAIN))(x)
            x = act(x)
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden_sizes:
            x = act(_dense(width, HIDDEN_GAIN)(x))
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
    def __call__(self, obs: Array, with_features: bool = False):
        """The distribution parameters; with ``with_features``, also the torso's output
        ``[..., H]`` (what a shared critic reads)."""
        features = self.torso(obs)
        out = _dense(self.num_actions, POLICY_GAIN)(features)
        if not self.discrete:
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            out = (out, jnp.broadcast_to(log_std, out.shape))
        return (out, features) if with_features else out


class Critic(nn.Module):
    """State value: observation ``[..., *obs_shape]`` → V(s) ``[...]``. Without a torso of its
    own (``shared_torso``) it is the value head alone: the actor's features ``[..., H]`` →
    V(s) ``[...]``."""

    torso: Torso | None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        features = x if self.torso is None else self.torso(x)
        return _dense(1, VALUE_GAIN)(features)[..., 0]


def policy_and_value(actor: Actor, critic: Critic, actor_params, critic_params, obs: Array):
    """π(·|s)'s parameters and V(s) for observations ``[..., *obs_shape]``: two networks, or
    one pass through the shared torso feeding both heads."""
    if critic.torso is None:
        dist_params, features = actor.apply(actor_params, obs, with_features=True)
        return dist_params, critic.apply(critic_params, features)
    return actor.apply(actor_params, obs), critic.apply(critic_params, obs)


def value(actor: Actor, critic: Critic, actor_params, critic_params, obs: Array) -> Array:
    """V(s) ``[...]`` for observations ``[..., *obs_shape]`` (the actor's torso and the value
    head when they share one; the policy head's output is unused)."""
    if critic.torso is None:
        return policy_and_value(actor, critic, actor_params, critic_params, obs)[1]
    return critic.apply(critic_params, obs)


def init_params(actor: Actor, critic: Critic, key: Array, obs_shape: tuple[int, ...]):
    """``(actor.init(k, obs), critic.init(k, obs))``'s variables (a shared critic's from the
    actor's features), drawn faster to compile.

    The same distribution as the modules' own initialisers: every kernel orthogonal
    (``orthogonal_many``, one draw for all) times its gain (the torso's ``HIDDEN_GAIN``, the
    heads' ``POLICY_GAIN`` and ``VALUE_GAIN``); every other parameter (biases, the log-std)
    zero, as the modules start them.
    """

    def both(k: Array, obs: Array):
        actor_vars = actor.init(k, obs)
        _, features = actor.apply(actor_vars, obs, with_features=True)
        return actor_vars, critic.init(k, features if critic.torso is None else obs)

    shapes = jax.eval_shape(both, jax.random.key(0), jax.ShapeDtypeStruct(obs_shape, jnp.float32))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    names = [[getattr(k, "key", None) for k in path] for path, _ in leaves]
    kernels = [i for i, n in enumerate(names) if n[-1] == "kernel"]
    weights = orthogonal_many(key, [leaves[i][1].shape for i in kernels])
    values = [jnp.zeros(leaf.shape, leaf.dtype) for _, leaf in leaves]
    for i, w in zip(kernels, weights, strict=True):
        head = POLICY_GAIN if leaves[i][0][0].idx == 0 else VALUE_GAIN
        values[i] = (HIDDEN_GAIN if "torso" in names[i] else head) * w
    return jax.tree.unflatten(treedef, values)


def torso_kind(config: Config, spec: EnvSpec) -> str:
    if config.network != "auto":
        return config.network
    return "cnn" if len(spec.obs_shape) == 3 else "mlp"


def make_networks(config: Config, spec: EnvSpec) -> tuple[Actor, Critic]:
    """The actor and critic for ``config`` on an environment with ``spec``; with
    ``config.shared_torso`` the critic is a value head on the actor's features."""
    kind = torso_kind(config, spec)
    if kind == "cnn" and len(spec.obs_shape) != 3:
        raise ValueError(
            f"Config.network='cnn' needs image observations [H, W, C]; {config.env} gives "
            f"shape {spec.obs_shape}; use network='mlp' or 'auto'"
        )

    def torso() -> Torso:
        return Torso(len(spec.obs_shape), kind, tuple(config.hidden_sizes), config.activation)

    critic_torso = None if config.shared_torso else torso()
    return Actor(torso(), spec.discrete, spec.num_actions), Critic(critic_torso)
