"""The static choices of a run, made once from its ``Config``: the environment, the
actor-critic, the algorithm, the sizes of this device's share, and how values are reduced over
devices. Every stage (``rollout.collect``, ``estimators.estimate``, ``learners.learn``,
``train.report``) reads them from one ``Static``; none reads the ``Config`` for itself."""

from __future__ import annotations

import dataclasses

import jax

from pgjax import algorithms
from pgjax.algorithms import Algorithm
from pgjax.envs import Env, EnvSpec, ObsNorm, make_env, normalize
from pgjax.envs.base import MASK
from pgjax.envs.groups import GroupedEnv
from pgjax.nets import ActorCritic, make_actor_critic, parse_network
from pgjax.pipeline.config import Config

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Static:
    """What shapes the compiled program.

    ``num_envs``, ``batch``: this device's environments and its share of the batch
    (``num_envs * num_steps``); with ``axis_name`` (under ``shard_map``) the means, sums and
    maxima below run over all ``num_shards`` devices. ``sgd_epochs`` × ``sgd_minibatches``:
    the optax loop (policy and critic together, or the critic alone where the policy steps
    apart); ``fit_critic``: whether that loop runs at all (the estimator reads V(s));
    ``windows``: the learner shuffles whole environment windows ``[T, N/M]`` (a recurrent
    policy, or an estimator that recomputes its weights per minibatch), else single steps.
    """

    config: Config
    env: Env
    net: ActorCritic
    algorithm: Algorithm
    num_envs: int
    num_steps: int
    batch: int
    num_shards: int
    axis_name: str | None
    sgd_epochs: int
    sgd_minibatches: int
    fit_critic: bool
    critic_apart: bool
    normalize_advantages: bool
    windows: bool

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def mean_all(self, x):
        return x if self.axis_name is None else jax.lax.pmean(x, self.axis_name)

    def sum_all(self, x):
        return x if self.axis_name is None else jax.lax.psum(x, self.axis_name)

    def max_all(self, x):
        return x if self.axis_name is None else jax.lax.pmax(x, self.axis_name)

    def shard_key(self, key: Array) -> Array:
        """Environments differ across devices; everything else (parameters, shuffles)
        agrees: a key folded with this device's index, where there are several."""
        if self.axis_name is None:
            return key
        return jax.random.fold_in(key, jax.lax.axis_index(self.axis_name))

    def norm(self, obs_norm: ObsNorm, obs: Array) -> Array:
        """Observations as the networks see them (normalised if ``Config.normalize_obs``)."""
        return normalize(obs_norm, obs) if self.config.normalize_obs else obs


def actor_critic_for(config: Config, spec: EnvSpec, critic: bool = True) -> ActorCritic:
    """The actor-critic ``config`` asks for on an environment with ``spec`` (``network="auto"``:
    a CNN for image observations, else an MLP; ``"gru"``, ``"lstm"``: that torso, then the
    cell; ``"mlp_gru"``…: the torso named, then the cell; a registered torso by its name).
    ``critic=False``: the policy alone (``Params.critic == ()``)."""
    kind, cell = parse_network(config.network)
    if spec.obs_spec is None:
        shapes = [spec.obs_shape]
    else:
        shapes = [tuple(v.shape) for k, v in spec.obs_spec.items() if k != MASK]
    images = any(len(shape) == 3 for shape in shapes)
    if kind == "auto":
        kind = "cnn" if images else "mlp"
    if kind == "cnn" and not images:
        raise ValueError(
            f"Config.network={config.network!r} needs image observations [H, W, C] (a leaf of "
            f"rank 3, for a structured observation); {config.env} gives shape "
            f"{shapes[0] if len(shapes) == 1 else shapes}; use network='mlp' or 'auto'"
        )
    if config.action_dist != "auto" and spec.discrete:
        raise ValueError(
            f"Config.action_dist={config.action_dist!r} is for continuous actions; {config.env} "
            "has discrete ones (a categorical policy); use action_dist='auto'"
        )
    return make_actor_critic(
        spec,
        action_dist="tanh_normal" if config.action_dist == "tanh_normal" else "gaussian",
        torso=kind,
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        shared_torso=config.shared_torso,
        cell=cell,
        rnn_size=config.rnn_size,
        head_sizes=config.head_sizes,
        critic=critic,
    )


def _grouped(env: Env, config: Config, num_envs: int) -> GroupedEnv:
    """``env`` in groups of ``Config.settings["group_size"]`` that share starts; a
    ``ValueError`` where this device's environments do not form whole groups."""
    k = config.settings["group_size"]
    if num_envs % k:
        raise ValueError(
            f"Config.num_envs={config.num_envs} over {config.num_envs // num_envs} device(s) "
            f"gives {num_envs} environments per device, not whole groups of group_size={k}: "
            f"allowed: num_envs a multiple of {k} × the devices"
        )
    return GroupedEnv(env, k)


def make_static(config: Config, num_shards: int = 1, axis_name: str | None = None) -> Static:
    """Validate ``config`` and make its choices (``ValueError`` naming a wrong field): every
    choice is read from the algorithm's parts (its estimator and learner), none from its
    name."""
    config.validate()
    env = make_env(config.env)
    algorithm = algorithms.get(config.algo)
    estimator, learner = algorithm.estimator, algorithm.learner
    critic_apart = not learner.joint  # the optax loop fits the critic alone
    reuse = algorithm.reuse or critic_apart
    num_envs = config.num_envs // num_shards
    if "group_size" in algorithms.settings_of(algorithm):  # a group algorithm
        env = _grouped(env, config, num_envs)
    net = actor_critic_for(config, env.spec, algorithm.critic)
    return Static(
        config=config,
        env=env,
        net=net,
        algorithm=algorithm,
        num_envs=num_envs,
        num_steps=config.num_steps,
        batch=num_envs * config.num_steps,
        num_shards=num_shards,
        axis_name=axis_name,
        sgd_epochs=config.num_epochs if reuse else 1,
        sgd_minibatches=config.num_minibatches if reuse else 1,
        fit_critic=estimator.reads_critic(config),
        critic_apart=critic_apart,
        normalize_advantages=config.normalize_advantages and estimator.normalize,
        windows=net.recurrent or estimator.per_minibatch is not None,
    )
