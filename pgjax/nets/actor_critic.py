"""The actor-critic bundle: a policy and a state-value critic on a torso, with their action
distribution, chosen once for an environment (``make_actor_critic``) and used by training,
evaluation and rendering alike.

Orthogonal initialisation as in PPO's reference code: gain √2 for hidden layers, 0.01 for the
policy head, 1 for the value head; biases 0. Each of pgjax's layers names its own gain (its
``kernel_init``); ``ActorCritic.init`` draws every such kernel at once (``orthogonal_many``)
and scales each by the gain its layer declares. A registered torso (``pgjax.nets.register``)
is the user's: its parameters keep their own initialisers. Actor and critic are separate
networks, or with ``shared_torso`` the critic is a value head on the actor's torso; or there
is none (``critic=False``, for the critic-free group baselines): ``Params.critic`` is ``()``
and V(s) is 0.

With memory (``pgjax.nets.recurrent``), a recurrent cell follows each torso (one, with a
shared torso): ``step`` advances the hidden state by one observation per environment, as the
rollout acts; ``policy``, ``value`` and ``policy_and_value`` given a window's ``Memory`` (its
starting hidden state and every step's ``first`` flag) replay it, as the learner does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.core.spec import MASK, EnvSpec, example_obs
from pgjax.math.distributions import CATEGORICAL, GAUSSIAN, ActionDist, tanh_normal
from pgjax.nets.init import (
    HIDDEN_GAIN,
    POLICY_GAIN,
    VALUE_GAIN,
    gain_probe,
    orthogonal,
    orthogonal_many,
)
from pgjax.nets.recurrent import Cell, cell_weights, initial_hidden, input_gates, scan_cells
from pgjax.nets.torsos import (
    ACTIVATIONS,
    TORSOS,
    DictTorso,
    Torso,
    TorsoSpec,
    leaf_ranks,
    registered_torso,
)

Array = jax.Array
MASKED_LOGIT = -1e9
"""A masked action's logit: exp underflows to probability 0 exactly, and log π stays finite."""


def legal_actions(mask: Array) -> Array:
    """The actions a policy may take, ``bool [..., K]``: ``mask``'s, except where it leaves
    none, every action. A state where every move is lost (a Snake boxed in by its own body)
    has no legal move; whatever is taken then ends the episode, as the environment says. Such
    steps are counted (metric ``no_legal_action``)."""
    return mask | ~jnp.any(mask, axis=-1, keepdims=True)


def _head_layers(x: Array, sizes: Sequence[int], activation: str, kernel_init: Callable):
    """A head's own hidden layers: ``x [..., F]`` through Dense layers of ``sizes`` (gain
    √2), each followed by ``activation``."""
    for width in sizes:
        x = ACTIVATIONS[activation](nn.Dense(width, kernel_init=kernel_init(HIDDEN_GAIN))(x))
    return x


class Actor(nn.Module):
    """Policy: observation → distribution parameters.

    Discrete: logits ``[..., K]``; where the observation carries an action mask, a masked
    action's logit is ``MASKED_LOGIT`` (probability 0, its log-probability finite, so that
    entropies and KLs of the masked distribution hold no NaN); a mask with no legal action
    masks nothing (``legal_actions``). Continuous: ``(mean,
    log_std)``, ``[..., A]`` each, with a state-independent, learned log-std (initialised at 0)
    broadcast to the mean's shape.
    ``head_sizes``: the policy head's own hidden layers, after the torso and the cell.
    """

    torso: nn.Module
    discrete: bool
    num_actions: int
    kernel_init: Callable = orthogonal
    cell: Cell | None = None
    head_sizes: Sequence[int] = ()
    activation: str = "tanh"

    @nn.compact
    def __call__(
        self, obs: Array, hidden=None, first=None, with_features: bool = False, cell_out=None
    ):
        """The distribution parameters; with ``with_features``, also the features the head
        reads ``[..., H]`` (what a shared critic reads). With a ``cell``: one step of a batch
        ``[B]`` from ``hidden`` (``first [B]``: episodes starting here), returning
        ``(new hidden, that)``; or given the cell's outputs ``cell_out [..., H]`` (computed
        apart, ``pgjax.nets.recurrent.scan_cells``), the head alone on them (``obs`` then
        gives the action mask only)."""
        if cell_out is not None:
            return self._head(obs, cell_out, with_features)
        features = self.torso(obs)
        if self.cell is not None:
            hidden, features = self.cell(hidden, features, first)
        out = self._head(obs, features, with_features)
        return out if self.cell is None else (hidden, out)

    def _head(self, obs: Array, features: Array, with_features: bool):
        x = _head_layers(features, self.head_sizes, self.activation, self.kernel_init)
        out = nn.Dense(self.num_actions, kernel_init=self.kernel_init(POLICY_GAIN))(x)
        if self.discrete and isinstance(obs, dict) and MASK in obs:
            out = jnp.where(legal_actions(obs[MASK]), out, MASKED_LOGIT)
        if not self.discrete:
            log_std = self.param("log_std", nn.initializers.zeros, (self.num_actions,))
            out = (out, jnp.broadcast_to(log_std, out.shape))
        return (out, features) if with_features else out


class Critic(nn.Module):
    """State value: observation ``[..., *obs_shape]`` → V(s) ``[...]``. Without a torso of its
    own (``shared_torso``) it is the value head alone: the actor's features ``[..., H]`` →
    V(s) ``[...]``. ``head_sizes``: the value head's own hidden layers (with ``activation``),
    after the torso and the cell."""

    torso: nn.Module | None
    kernel_init: Callable = orthogonal
    cell: Cell | None = None
    head_sizes: Sequence[int] = ()
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: Array, hidden=None, first=None, cell_out=None):
        """V(s); with a ``cell`` (and a torso of its own), one step of a batch ``[B]``:
        ``(new hidden, V(s))``; given the cell's outputs ``cell_out [..., H]``, the value head
        alone on them."""
        if cell_out is not None:
            return self._head(cell_out)
        features = x if self.torso is None else self.torso(x)
        if self.cell is not None:
            hidden, features = self.cell(hidden, features, first)
        value = self._head(features)
        return value if self.cell is None else (hidden, value)

    def _head(self, features: Array) -> Array:
        x = _head_layers(features, self.head_sizes, self.activation, self.kernel_init)
        return nn.Dense(1, kernel_init=self.kernel_init(VALUE_GAIN))(x)[..., 0]


class Params(NamedTuple):
    """Network parameters: the actor's and the critic's flax variable trees (a shared torso
    lives in the actor's; the critic then holds its value head alone)."""

    actor: Any
    critic: Any


class Hidden(NamedTuple):
    """A recurrent actor-critic's hidden states, each ``[B, size]`` (or LSTM's pair of them):
    the actor's, and the critic's (``()`` where it reads the actor's features)."""

    actor: Any
    critic: Any


class Memory(NamedTuple):
    """What replays a window ``[T, B]`` exactly: ``hidden``, the ``Hidden`` state at its start
    (before its first step's reset), and ``first [T, B]``, true where an episode starts. In
    a rollout's carry, ``first [B]`` flags the current observation."""

    hidden: Hidden
    first: Array


class ActorCritic(NamedTuple):
    """A policy and its critic for one environment. Observations ``[..., *obs_shape]``.

    ``init(key) → Params``; ``policy(params, obs)`` → π(·|s)'s parameters (reads
    ``params.actor`` only); ``value(params, obs)`` → V(s) ``[...]``;
    ``policy_and_value(params, obs)``: both, through a shared torso once. ``dist``: the action
    distribution's operations (categorical for a discrete space, else a diagonal Gaussian,
    clipped to the bounds or tanh-squashed into them).
    """

    actor: Actor
    critic: Critic | None  # None: no critic (Params.critic is (), V(s) is 0)
    dist: ActionDist
    obs_shape: tuple[int, ...]
    gains: tuple[float, ...]  # the gain of every kernel of pgjax's layers, in leaf order
    keeps_own: tuple[bool, ...] = ()  # per leaf: a registered torso's, with its own init
    obs_spec: Any = None  # a structured observation's leaves (EnvSpec.obs_spec), or None

    @property
    def recurrent(self) -> bool:
        return self.actor.cell is not None

    def initial_hidden(self, batch: int) -> Hidden:
        """The fresh hidden states of ``batch`` environments (zeros)."""
        cell = self.actor.cell
        fresh = initial_hidden(cell.kind, cell.size, batch)
        return Hidden(fresh, () if self.critic is None or self.critic.cell is None else fresh)

    def init(self, key: Array) -> Params:
        """Parameters distributed as the modules' own initialisers would draw them (every
        kernel of pgjax's layers orthogonal times its layer's gain, their other parameters
        zero), drawn faster to compile: one normal draw and one column loop for all those
        kernels (``orthogonal_many``). A registered torso's parameters are its own
        initialisers' draws."""
        spec = EnvSpec(self.obs_shape, False, 0, obs_spec=self.obs_spec)
        example = example_obs(spec, (1,) if self.recurrent else ())
        obs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), example)
        shapes = jax.eval_shape(
            lambda k, o: _init_modules(self.actor, self.critic, k, o), jax.random.key(0), obs
        )
        leaves, treedef = jax.tree.flatten(shapes)
        keeps_own = self.keeps_own or (False,) * len(leaves)
        kernels = [i for i, leaf in enumerate(leaves) if _is_kernel(leaf) and not keeps_own[i]]
        weights = orthogonal_many(key, [leaves[i].shape for i in kernels])
        values = [jnp.zeros(leaf.shape, leaf.dtype) for leaf in leaves]
        for i, gain, w in zip(kernels, self.gains, weights, strict=True):
            values[i] = gain * w
        if any(keeps_own):  # the user's modules, by their own initialisers
            own = jax.tree.leaves(
                _init_modules(self.actor, self.critic, jax.random.fold_in(key, 1), example)
            )
            values = [o if keep else v for v, o, keep in zip(values, own, keeps_own, strict=True)]
        return jax.tree.unflatten(treedef, values)

    def policy(self, params: Params, obs: Array, memory: Memory | None = None):
        """π(·|s)'s parameters of ``obs [..., *obs_shape]``; recurrent: of a window
        ``[T, B, ...]`` replayed from ``memory``."""
        if memory is not None:
            return self._window(params, obs, memory.hidden, memory.first, value=False)[0]
        return self.actor.apply(params.actor, obs)

    def policy_and_value(self, params: Params, obs: Array, memory: Memory | None = None):
        """Both, through a shared torso once; recurrent: of a window replayed from
        ``memory``."""
        if memory is not None:
            return self._window(params, obs, memory.hidden, memory.first)[:2]
        if self.critic is None:
            return self.actor.apply(params.actor, obs), self._no_value(obs)
        if self.critic.torso is None:
            dist_params, features = self.actor.apply(params.actor, obs, with_features=True)
            return dist_params, self.critic.apply(params.critic, features)
        return self.actor.apply(params.actor, obs), self.critic.apply(params.critic, obs)

    def value(self, params: Params, obs: Array, memory: Memory | None = None) -> Array:
        """V(s) ``[...]``; recurrent: of a window ``[T, B, ...]`` replayed from ``memory``."""
        if memory is not None:
            return self._window(params, obs, memory.hidden, memory.first, policy=False)[1]
        if self.critic is None:
            return self._no_value(obs)
        if self.critic.torso is None:  # the actor's torso, then the value head
            return self.policy_and_value(params, obs)[1]
        return self.critic.apply(params.critic, obs)

    def _no_value(self, obs: Any) -> Array:
        """V(s) = 0 of every observation of ``obs`` (no critic), shaped as its batch."""
        if self.obs_spec is None:
            return jnp.zeros(obs.shape[: obs.ndim - len(self.obs_shape)])
        name, leaf = next(iter(obs.items()))
        return jnp.zeros(leaf.shape[: leaf.ndim - len(self.obs_spec[name].shape)])

    def step(self, params: Params, hidden: Hidden, obs: Array, first: Array):
        """One recurrent step of a batch: observations ``[B, *obs_shape]`` and ``first [B]``
        → (the hidden states after it, π(·|s)'s parameters, V(s) ``[B]``)."""
        window = jax.tree.map(lambda x: x[None], (obs, first))
        dist_params, value, hiddens = self._window(params, *window[:1], hidden, window[1])
        return _last(hidden, hiddens), *jax.tree.map(lambda x: x[0], (dist_params, value))

    def policy_step(self, params: Params, hidden: Hidden, obs: Array, first: Array):
        """One recurrent step of the actor alone (acting without learning: the critic's
        state is left as it was) → (the hidden states after it, π(·|s)'s parameters)."""
        window = jax.tree.map(lambda x: x[None], (obs, first))
        dist_params, _, hiddens = self._window(params, window[0], hidden, window[1], value=False)
        return _last(hidden, hiddens), jax.tree.map(lambda x: x[0], dist_params)

    def values_and_next(self, params: Params, obs: Array, next_obs: Array, memory: Memory):
        """A window's V(s_t) and V(s'_t) ``[T, B]``, replayed from ``memory``: V(s'_t) from the
        hidden state after step t, the one its episode reached (no reset, also where the
        episode ended and ``next_obs`` is its final observation)."""
        _, values, hiddens = self._window(params, obs, memory.hidden, memory.first, policy=False)
        t, b = memory.first.shape
        flat = lambda x: x.reshape((1, t * b, *x.shape[2:]))  # noqa: E731
        after = jax.tree.map(lambda x: x.reshape((t * b, *x.shape[2:])), hiddens)
        after = Hidden(*(() if h is None else h for h in after))
        _, next_values, _ = self._window(
            params, jax.tree.map(flat, next_obs), after, jnp.zeros((1, t * b), bool), policy=False
        )
        return values, next_values.reshape((t, b))

    # ---- the recurrent window: torsos and input gates outside the scan, the cells inside ----

    def _window(
        self,
        params: Params,
        obs: Any,
        hidden: Hidden,
        first: Array,
        policy: bool = True,
        value: bool = True,
    ):
        """A window ``[T, B]`` of the recurrent network from ``hidden`` (before the first
        step's reset): (π's parameters or None, V ``[T, B]`` or None, the hidden states after
        every step as ``Hidden`` of leaves ``[T, B, H]``, None for a cell not run). Every
        torso and every cell's input gates run on the whole window at once; the cells needed
        (the actor's for π or a shared critic, the critic's own for V) are scanned together,
        stacked (``pgjax.nets.recurrent.scan_cells``)."""
        shared = self.critic.cell is None
        runs = [
            name
            for name, needed in (("actor", policy or shared), ("critic", value and not shared))
            if needed
        ]
        cell = self.actor.cell
        weights, gates = [], []
        for name in runs:
            module, variables = getattr(self, name), getattr(params, name)
            features = module.apply(variables, obs, method=_torso)
            w = cell_weights(cell.kind, variables["params"]["cell"])
            weights.append(w)
            gates.append(input_gates(w, features))
        stacked = jax.tree.map(lambda *x: jnp.stack(x), *weights)
        start = jax.tree.map(lambda *x: jnp.stack(x), *(getattr(hidden, n) for n in runs))
        steps = scan_cells(cell.kind, stacked, start, jnp.stack(gates, axis=1), first)
        outs = {n: jax.tree.map(lambda x, k=k: x[:, k], steps) for k, n in enumerate(runs)}
        out = lambda n: outs[n] if cell.kind == "gru" else outs[n][1]  # noqa: E731
        dist_params = values = None
        if policy or shared:
            dist_params, features = self.actor.apply(
                params.actor, obs, with_features=True, cell_out=out("actor")
            )
        if value:
            if shared:
                values = self.critic.apply(params.critic, features)
            else:
                values = self.critic.apply(params.critic, obs, cell_out=out("critic"))
        return dist_params, values, Hidden(outs.get("actor"), outs.get("critic"))


def _torso(module: nn.Module, obs: Any) -> Array:
    """A module's torso alone (``Module.apply(..., method=_torso)``)."""
    return module.torso(obs)


def _last(hidden: Hidden, hiddens: Hidden) -> Hidden:
    """``hidden`` advanced to the last of ``hiddens`` (leaves ``[T, ...]``) where a cell ran."""
    return Hidden(
        *(h if after is None else jax.tree.map(lambda x: x[-1], after)
          for h, after in zip(hidden, hiddens, strict=True))
    )  # fmt: skip


def _init_modules(actor: Actor, critic: Critic | None, key: Array, obs: Array) -> Params:
    """The modules' own ``init`` (a shared critic's from the actor's features; ``()`` for no
    critic). Recurrent: ``obs`` is a batch of one ``[1, *obs_shape]``."""
    if critic is None:
        return Params(actor.init(key, obs), ())
    if actor.cell is None:
        actor_vars = actor.init(key, obs)
        _, features = actor.apply(actor_vars, obs, with_features=True)
        return Params(actor_vars, critic.init(key, features if critic.torso is None else obs))
    cell = actor.cell
    hidden, first = initial_hidden(cell.kind, cell.size, 1), jnp.ones(1, bool)
    actor_vars = actor.init(key, obs, hidden, first)
    _, (_, features) = actor.apply(actor_vars, obs, hidden, first, with_features=True)
    if critic.torso is None:
        return Params(actor_vars, critic.init(key, features))
    return Params(actor_vars, critic.init(key, obs, hidden, first))


def _is_kernel(leaf) -> bool:
    return len(leaf.shape) >= 2  # Dense and Conv kernels; biases and the log-std are vectors


def _modules(
    spec: EnvSpec,
    kernel_init,
    torso,
    hidden_sizes,
    activation,
    shared_torso,
    cell,
    head_sizes,
    with_critic=True,
):
    def body() -> nn.Module:
        if torso not in TORSOS:
            spec_ = TorsoSpec(tuple(spec.obs_shape), tuple(hidden_sizes), activation, spec.obs_spec)
            return registered_torso(torso, spec_)
        if spec.obs_spec is not None:
            ranks = leaf_ranks(spec.obs_spec)
            return DictTorso(ranks, torso, tuple(hidden_sizes), activation, kernel_init)
        return Torso(len(spec.obs_shape), torso, tuple(hidden_sizes), activation, kernel_init)

    def memory() -> Cell | None:
        return None if cell is None else Cell(cell[0], cell[1], kernel_init)

    heads = tuple(head_sizes)
    if not with_critic:
        critic = None
    elif shared_torso:
        critic = Critic(None, kernel_init, None, heads, activation)
    else:
        critic = Critic(body(), kernel_init, memory(), heads, activation)
    actor = Actor(body(), spec.discrete, spec.num_actions, kernel_init, memory(), heads, activation)
    return actor, critic


def _keeps_own(actor: Actor, critic: Critic | None, params: Params) -> tuple[bool, ...]:
    """Per leaf of ``params``: whether it belongs to a registered torso (the user's module,
    which keeps its own initialisers)."""
    own = (Torso, DictTorso)
    users = {"actor": not isinstance(actor.torso, own)}
    users["critic"] = critic is not None and critic.torso is not None
    users["critic"] = users["critic"] and not isinstance(critic.torso, own)
    flags = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        which = path[0].name  # Params.actor or Params.critic
        flags.append(users[which] and len(path) > 2 and getattr(path[2], "key", None) == "torso")
    return tuple(flags)


def make_actor_critic(
    spec: EnvSpec,
    *,
    torso: str = "mlp",
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    shared_torso: bool = False,
    action_dist: str = "gaussian",
    cell: str | None = None,
    rnn_size: int = 128,
    head_sizes: Sequence[int] = (),
    critic: bool = True,
) -> ActorCritic:
    """The actor-critic for an environment with ``spec``: ``torso`` ``"mlp"`` or ``"cnn"``
    (images ``[H, W, C]``) of hidden layers ``hidden_sizes`` with ``activation``, or a torso
    registered by that name (``pgjax.nets.register``); with ``shared_torso`` the critic is a
    value head on the actor's torso. ``action_dist`` (a continuous space's): ``"gaussian"``
    (the sample clipped to the bounds) or ``"tanh_normal"`` (squashed into them;
    ``pgjax.math.distributions.tanh_normal``). ``cell``: ``None`` (feed-forward), ``"gru"`` or
    ``"lstm"`` of ``rnn_size`` units after each torso (``pgjax.nets.recurrent``).
    ``head_sizes``: hidden layers each head has of its own, after the torso and the cell.
    ``critic=False``: no critic at all (feed-forward only): ``Params.critic`` is ``()``, V(s)
    is 0."""
    if not critic and cell is not None:
        raise ValueError(
            f"make_actor_critic: critic=False with cell={cell!r}; a policy without a critic "
            "is feed-forward only (cell=None)"
        )
    rnn = None if cell is None else (cell, rnn_size)
    options = (torso, hidden_sizes, activation, shared_torso, rnn, head_sizes, critic)
    actor, critic_module = _modules(spec, orthogonal, *options)
    # every kernel's gain, from its layer's own initialiser (run once, eagerly, on zeros)
    with jax.ensure_compile_time_eval():
        probe = _init_modules(
            *_modules(spec, gain_probe, *options),
            jax.random.key(0),
            example_obs(spec, () if cell is None else (1,)),
        )
    keeps_own = _keeps_own(actor, critic_module, probe)
    gains = tuple(
        float(x.reshape(-1)[0])
        for x, own in zip(jax.tree.leaves(probe), keeps_own, strict=True)
        if _is_kernel(x) and not own
    )
    if spec.discrete:
        dist = CATEGORICAL
    elif action_dist == "tanh_normal":
        dist = tanh_normal(spec.low, spec.high)
    else:
        dist = GAUSSIAN
    return ActorCritic(
        actor, critic_module, dist, tuple(spec.obs_shape), gains, keeps_own, spec.obs_spec
    )
