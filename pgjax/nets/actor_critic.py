"""The actor-critic bundle: a policy and a state-value critic on a torso, with their action
distribution, chosen once for an environment (``make_actor_critic``) and used by training,
evaluation and rendering alike.

Orthogonal initialisation as in PPO's reference code: gain √2 for hidden layers, 0.01 for the
policy head, 1 for the value head; biases 0. Each layer names its own gain (its
``kernel_init``); ``ActorCritic.init`` draws every kernel at once (``orthogonal_many``) and
scales each by the gain its layer declares. Actor and critic are separate networks, or with
``shared_torso`` the critic is a value head on the actor's torso.

A recurrent policy (issue 19) adds a carried state here: a cell after the torso, its initial
state beside ``init``, and ``policy``/``value`` taking and returning it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.distributions import CATEGORICAL, GAUSSIAN, ActionDist, tanh_normal
from pgjax.envs.base import EnvSpec
from pgjax.nets.init import POLICY_GAIN, VALUE_GAIN, gain_probe, orthogonal, orthogonal_many
from pgjax.nets.torsos import Torso

Array = jax.Array


class Actor(nn.Module):
    """Policy: observation → distribution parameters.

    Discrete: logits ``[..., K]``. Continuous: ``(mean, log_std)``, ``[..., A]`` each, with a
    state-independent, learned log-std (initialised at 0) broadcast to the mean's shape.
    """

    torso: Torso
    discrete: bool
    num_actions: int
    kernel_init: Callable = orthogonal

    @nn.compact
    def __call__(self, obs: Array, with_features: bool = False):
        """The distribution parameters; with ``with_features``, also the torso's output
        ``[..., H]`` (what a shared critic reads)."""
        features = self.torso(obs)
        out = nn.Dense(self.num_actions, kernel_init=self.kernel_init(POLICY_GAIN))(features)
        if not self.discrete:
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            out = (out, jnp.broadcast_to(log_std, out.shape))
        return (out, features) if with_features else out


class Critic(nn.Module):
    """State value: observation ``[..., *obs_shape]`` → V(s) ``[...]``. Without a torso of its
    own (``shared_torso``) it is the value head alone: the actor's features ``[..., H]`` →
    V(s) ``[...]``."""

    torso: Torso | None
    kernel_init: Callable = orthogonal

    @nn.compact
    def __call__(self, x: Array) -> Array:
        features = x if self.torso is None else self.torso(x)
        return nn.Dense(1, kernel_init=self.kernel_init(VALUE_GAIN))(features)[..., 0]


class Params(NamedTuple):
    """Network parameters: the actor's and the critic's flax variable trees (a shared torso
    lives in the actor's; the critic then holds its value head alone)."""

    actor: Any
    critic: Any


class ActorCritic(NamedTuple):
    """A policy and its critic for one environment. Observations ``[..., *obs_shape]``.

    ``init(key) → Params``; ``policy(params, obs)`` → π(·|s)'s parameters (reads
    ``params.actor`` only); ``value(params, obs)`` → V(s) ``[...]``;
    ``policy_and_value(params, obs)``: both, through a shared torso once. ``dist``: the action
    distribution's operations (categorical for a discrete space, else a diagonal Gaussian,
    clipped to the bounds or tanh-squashed into them).
    """

    actor: Actor
    critic: Critic
    dist: ActionDist
    obs_shape: tuple[int, ...]
    gains: tuple[float, ...]  # every kernel's gain, in the order of the parameters' leaves

    def init(self, key: Array) -> Params:
        """Parameters distributed as the modules' own initialisers would draw them (every
        kernel orthogonal times its layer's gain, the rest zero), drawn faster to compile:
        one normal draw and one column loop for all kernels (``orthogonal_many``)."""
        shapes = jax.eval_shape(
            lambda k, o: _init_modules(self.actor, self.critic, k, o),
            jax.random.key(0),
            jax.ShapeDtypeStruct(self.obs_shape, jnp.float32),
        )
        leaves, treedef = jax.tree.flatten(shapes)
        kernels = [i for i, leaf in enumerate(leaves) if _is_kernel(leaf)]
        weights = orthogonal_many(key, [leaves[i].shape for i in kernels])
        values = [jnp.zeros(leaf.shape, leaf.dtype) for leaf in leaves]
        for i, gain, w in zip(kernels, self.gains, weights, strict=True):
            values[i] = gain * w
        return jax.tree.unflatten(treedef, values)

    def policy(self, params: Params, obs: Array):
        return self.actor.apply(params.actor, obs)

    def policy_and_value(self, params: Params, obs: Array):
        if self.critic.torso is None:
            dist_params, features = self.actor.apply(params.actor, obs, with_features=True)
            return dist_params, self.critic.apply(params.critic, features)
        return self.actor.apply(params.actor, obs), self.critic.apply(params.critic, obs)

    def value(self, params: Params, obs: Array) -> Array:
        if self.critic.torso is None:  # the actor's torso, then the value head
            return self.policy_and_value(params, obs)[1]
        return self.critic.apply(params.critic, obs)


def _init_modules(actor: Actor, critic: Critic, key: Array, obs: Array) -> Params:
    """The modules' own ``init`` (a shared critic's from the actor's features)."""
    actor_vars = actor.init(key, obs)
    _, features = actor.apply(actor_vars, obs, with_features=True)
    return Params(actor_vars, critic.init(key, features if critic.torso is None else obs))


def _is_kernel(leaf) -> bool:
    return len(leaf.shape) >= 2  # Dense and Conv kernels; biases and the log-std are vectors


def _modules(spec: EnvSpec, kernel_init, torso, hidden_sizes, activation, shared_torso):
    def body() -> Torso:
        return Torso(len(spec.obs_shape), torso, tuple(hidden_sizes), activation, kernel_init)

    critic = Critic(None if shared_torso else body(), kernel_init)
    return Actor(body(), spec.discrete, spec.num_actions, kernel_init), critic


def make_actor_critic(
    spec: EnvSpec,
    *,
    torso: str = "mlp",
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    shared_torso: bool = False,
    action_dist: str = "gaussian",
) -> ActorCritic:
    """The actor-critic for an environment with ``spec``: ``torso`` ``"mlp"`` or ``"cnn"``
    (images ``[H, W, C]``), hidden layers ``hidden_sizes`` with ``activation``; with
    ``shared_torso`` the critic is a value head on the actor's torso. ``action_dist`` (a
    continuous space's): ``"gaussian"`` (the sample clipped to the bounds) or
    ``"tanh_normal"`` (squashed into them; ``pgjax.distributions.tanh_normal``)."""
    options = (torso, hidden_sizes, activation, shared_torso)
    actor, critic = _modules(spec, orthogonal, *options)
    # every kernel's gain, from its layer's own initialiser (run once, eagerly, on zeros)
    with jax.ensure_compile_time_eval():
        probe = _init_modules(
            *_modules(spec, gain_probe, *options),
            jax.random.key(0),
            jnp.zeros(spec.obs_shape, jnp.float32),
        )
    gains = tuple(float(x.reshape(-1)[0]) for x in jax.tree.leaves(probe) if _is_kernel(x))
    if spec.discrete:
        dist = CATEGORICAL
    elif action_dist == "tanh_normal":
        dist = tanh_normal(spec.low, spec.high)
    else:
        dist = GAUSSIAN
    return ActorCritic(actor, critic, dist, tuple(spec.obs_shape), gains)
