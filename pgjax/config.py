"""The one frozen configuration of a training run, and its validation.

Sizes and choices (``num_envs``, ``algo``, ``activation``…) are static: they shape the compiled
program. The numeric hyperparameters listed in ``HParams`` can instead be passed to
``train(key, hparams)`` as traced values, so that ``jax.vmap`` sweeps them in one compilation.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgjax.algorithms import PPO_DEFAULTS, REGISTRY
from pgjax.hparams import HParams

ALGORITHMS = tuple(REGISTRY)
"""The algorithms' names, as registered in ``pgjax.algorithms.REGISTRY``."""
RETURN_TYPES = ("episode", "reward_to_go")
BASELINES = ("none", "mean", "critic")
ACTIVATIONS = ("tanh", "relu")
RECURRENT = ("gru", "lstm", "mlp_gru", "mlp_lstm", "cnn_gru", "cnn_lstm")
NETWORKS = ("auto", "mlp", "cnn", *RECURRENT)
ACTION_DISTS = ("auto", "gaussian", "tanh_normal")


@dataclass(frozen=True)
class Config:
    """A training run. Defaults: PPO-Clip on CartPole-v1 with PureJaxRL's published settings."""

    algo: str = "ppo_clip"
    """Algorithm, one of ``pgjax.config.ALGORITHMS``."""
    env: str = "CartPole-v1"
    """The environment: a gymnax (>= 1.0) id (``CartPole-v1``, ``gymnax/Breakout-MinAtar``),
    ``brax/<name>`` (``brax/ant``), ``craftax/<name>``, or a name given to
    ``pgjax.envs.register``; options after a colon (``brax/ant:backend=positional``). See
    ``pgjax.envs.registry``."""
    total_timesteps: int = 500_000
    """Environment steps in the whole run, over all environments (rounded down to updates)."""
    num_envs: int | None = None
    """Environments stepped in parallel (vmapped). Unset: the algorithm's default."""
    num_steps: int | None = None
    """Steps per environment in each rollout; a batch is ``num_envs * num_steps`` transitions.
    Unset: the algorithm's default."""
    num_epochs: int | None = None
    """Passes over each batch (REINFORCE and TRPO: of the critic's fit; their policy steps once
    per batch). Unset: the algorithm's default; A2C uses each batch once whatever this says."""
    num_minibatches: int | None = None
    """Minibatches per epoch; must divide ``num_envs * num_steps``. Unset: the algorithm's
    default."""
    lr: float | None = None
    """Adam learning rate (eps 1e-5). Unset: the algorithm's default."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount γ in [0, 1]."""
    gae_lambda: float = 0.95
    """GAE λ in [0, 1]: 1 is the Monte Carlo advantage, 0 the TD error."""
    clip_eps: float = 0.2
    """PPO-Clip's ε: the ratio is clipped to [1 − ε, 1 + ε]."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the critic's loss."""
    vf_clip: bool | None = None
    """Clip the critic's change per update to ±clip_eps around its old prediction (PPO's code).
    Unset: on, except for REINFORCE, whose critic regresses on Monte Carlo returns (hundreds on
    CartPole) that steps of ±clip_eps per update would take the whole run to reach."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for learning (metrics report the raw return)."""
    normalize_obs: bool = False
    """Normalise observations by a running mean and variance over all environments."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    activation: str = "tanh"
    """Hidden activation, one of ``tanh``, ``relu``."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP's hidden layers (actor and critic alike)."""
    head_sizes: tuple[int, ...] = ()
    """Widths of hidden layers (with ``activation``) that each head has of its own, after the
    torso and the recurrent cell, before its output layer: ``(128,)`` puts a 128-wide layer
    between a GRU and each of the policy and value heads, as PureJaxRL's PPO-RNN does. Empty:
    the heads read the features directly."""
    shared_torso: bool = False
    """Actor and critic share one torso, each with its own head, and the critic's loss trains
    the features the policy reads (as in PPO's Atari code). About half the network's work of
    two separate torsos of the same width. Only for algorithms that fit policy and critic by
    one loss (``learner="joint"`` in ``pgjax.algorithms.REGISTRY``)."""
    network: str = "auto"
    """Torso: ``mlp`` (flattens the observation), ``cnn`` (image observations), or ``auto``
    (``cnn`` for observations of rank 3, else ``mlp``). For a policy with memory, ``gru`` or
    ``lstm``: the ``auto`` torso, then that recurrent cell of ``rnn_size`` units, then the
    heads (``mlp_gru``, ``cnn_lstm``…: the torso named, then the cell); actor and critic each
    have their own, or share one with ``shared_torso``. The hidden state starts at zero at
    every episode's first step; minibatches are whole environment windows
    (``num_minibatches`` must divide ``num_envs``)."""
    rnn_size: int = 128
    """Units of the recurrent cell (``network="gru"`` or ``"lstm"``)."""
    action_dist: str = "auto"
    """The policy's distribution over continuous actions: ``gaussian`` (a diagonal Gaussian
    whose sample is clipped to the action bounds), ``tanh_normal`` (squashed into them by tanh,
    with the log-determinant in log π; Brax's choice), or ``auto`` (categorical for discrete
    actions, ``gaussian`` for continuous)."""
    return_type: str = "reward_to_go"
    """REINFORCE's weight: ``episode`` (every step weighted by its whole episode's R(τ)) or
    ``reward_to_go`` (Σ_{t'≥t} γ^{t'−t} r_{t'})."""
    baseline: str = "critic"
    """REINFORCE's baseline b: ``none``, ``mean`` (running average of episode returns) or
    ``critic`` (a learned V(s), regressed on the returns)."""
    kl_beta: float = 1.0
    """PPO-Penalty's β: its initial value (adaptive) or its value (fixed)."""
    kl_target: float | None = 0.01
    """PPO-Penalty's d_targ: β adapts after each update so that KL stays near it; ``None``
    keeps β fixed."""
    max_kl: float = 0.01
    """TRPO's trust region δ: KL(π_old‖π) ≤ δ after every policy step."""
    cg_iters: int = 10
    """TRPO: conjugate-gradient iterations for the natural-gradient direction."""
    cg_damping: float = 0.1
    """TRPO: damping added to the Fisher-vector product, F + damping·I."""
    line_search_steps: int = 10
    """TRPO: backtracking steps (each halves the step) before the update is rejected."""
    devices: int = 1
    """Devices to split one run's environments across (data parallel): each steps
    num_envs / devices environments and gradients are averaged. 0 means all of
    jax.devices()."""

    def __post_init__(self) -> None:
        # a field left at None takes its algorithm's default (an unknown algo: PPO's, until
        # validate names it)
        defaults = REGISTRY[self.algo].defaults if self.algo in REGISTRY else PPO_DEFAULTS
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    # ---- derived sizes ----------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        """Transitions per update: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the run: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch: ``batch_size // num_minibatches``."""
        return self.batch_size // self.num_minibatches

    def hparams(self) -> HParams:
        """This config's traceable hyperparameters, as the default for ``train``."""
        return HParams(**{f: getattr(self, f) for f in HParams._fields})

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (unknown names are rejected). Changing ``algo``
        also moves the fields still at the old algorithm's defaults to the new one's."""
        values = dataclasses.asdict(self)
        new_algo = changes.get("algo", self.algo)
        if new_algo != self.algo:
            old = REGISTRY[self.algo].defaults if self.algo in REGISTRY else PPO_DEFAULTS
            for name, value in old.items():
                if name not in changes and values[name] == value:
                    values[name] = None
        return Config.from_dict({**values, **changes})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """Build from a plain dict; an unknown key raises ``ValueError`` naming it."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ValueError(
                    f"Config has no field {key!r}{_did_you_mean(key, names)}; "
                    f"fields are: {', '.join(names)}"
                )
        values = dict(values)
        for name in ("hidden_sizes", "head_sizes"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what is allowed."""
        check_choice("algo", self.algo, ALGORITHMS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("network", self.network, NETWORKS)
        check_choice("action_dist", self.action_dist, ACTION_DISTS)
        check_choice("return_type", self.return_type, RETURN_TYPES)
        check_choice("baseline", self.baseline, BASELINES)
        from pgjax.envs import check_env  # gymnax is imported only when validating

        check_env(self.env)
        for name in (
            "total_timesteps",
            "num_envs",
            "num_steps",
            "num_epochs",
            "num_minibatches",
            "rnn_size",
            "cg_iters",
            "line_search_steps",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Config.{name}={value!r}: must be a positive integer")
        if not self.hidden_sizes or any(
            not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"Config.hidden_sizes={self.hidden_sizes!r}: must be a non-empty tuple of "
                "positive integers"
            )
        if any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in self.head_sizes):
            raise ValueError(
                f"Config.head_sizes={self.head_sizes!r}: must be a tuple of positive integers "
                "(empty: no layers of the heads' own)"
            )
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"Config.num_minibatches={self.num_minibatches}: must divide "
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size}; "
                f"change num_minibatches, num_envs or num_steps"
            )
        if self.network in RECURRENT and self.num_envs % self.num_minibatches:
            raise ValueError(
                f"Config.num_minibatches={self.num_minibatches}: a recurrent network "
                f"(network={self.network!r}) learns from whole environment windows, so "
                f"num_minibatches must divide num_envs = {self.num_envs}; change num_minibatches "
                "or num_envs"
            )
        if self.num_updates < 1:
            raise ValueError(
                f"Config.total_timesteps={self.total_timesteps}: must be at least one batch, "
                f"num_envs * num_steps = {self.batch_size}"
            )
        joint_loss = [name for name, a in REGISTRY.items() if a.learner == "joint"]
        if self.shared_torso and self.algo not in joint_loss:
            raise ValueError(
                f"Config.shared_torso=True: algo={self.algo!r} steps its policy apart from its "
                f"critic, so they cannot share a torso; shared_torso works with "
                f"{', '.join(joint_loss)}"
            )
        for name in ("gamma", "gae_lambda"):
            _interval(name, getattr(self, name), 0.0, 1.0)
        for name in ("lr", "max_grad_norm", "reward_scale", "kl_beta", "max_kl"):
            value = getattr(self, name)
            if not (_finite(value) and value > 0):
                raise ValueError(f"Config.{name}={value!r}: must be a finite number > 0")
        _interval("clip_eps", self.clip_eps, 0.0, 1.0)
        if self.kl_target is not None and not (_finite(self.kl_target) and self.kl_target > 0):
            raise ValueError(
                f"Config.kl_target={self.kl_target!r}: must be a finite number > 0, or None "
                "for a fixed β"
            )
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or self.devices < 0:
            raise ValueError(
                f"Config.devices={self.devices!r}: must be a positive integer, or 0 for all"
            )
        if self.devices > 1:
            self.check_shards(self.devices)
        for name in ("ent_coef", "vf_coef", "cg_damping"):
            value = getattr(self, name)
            if not (_finite(value) and value >= 0):
                raise ValueError(f"Config.{name}={value!r}: must be a finite number >= 0")

    def check_shards(self, shards: int) -> None:
        """Raise ``ValueError`` unless the run can be split evenly over ``shards`` devices."""
        one_device = [n for n, a in REGISTRY.items() if a.learner == "natural_gradient"]
        if self.algo in one_device:
            raise ValueError(
                f"Config.devices={self.devices}: algo={self.algo!r} runs on one device; "
                f"data-parallel algorithms: {', '.join(sorted(set(ALGORITHMS) - set(one_device)))}"
            )
        if self.num_envs % shards:
            raise ValueError(
                f"Config.num_envs={self.num_envs}: must be divisible by the {shards} devices "
                "(Config.devices); change num_envs or devices"
            )
        if (self.batch_size // shards) % self.num_minibatches:
            raise ValueError(
                f"Config.num_minibatches={self.num_minibatches}: must divide each device's "
                f"share of the batch, {self.batch_size // shards}; change num_minibatches, "
                "num_envs or num_steps"
            )
        if self.network in RECURRENT and (self.num_envs // shards) % self.num_minibatches:
            raise ValueError(
                f"Config.num_minibatches={self.num_minibatches}: a recurrent network learns "
                f"from whole environment windows, so num_minibatches must divide each device's "
                f"{self.num_envs // shards} environments; change num_minibatches, num_envs or "
                "devices"
            )


def _did_you_mean(value: str, allowed: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, list(allowed), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def check_choice(name: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
    """``ValueError`` naming ``Config.<name>``, the value, the close matches and the allowed
    values, unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        hint = _did_you_mean(str(value), allowed)
        listing = ", ".join(allowed)
        raise ValueError(f"Config.{name}={value!r} is unknown{hint}; allowed: {listing}")


def _finite(value: Any) -> bool:
    """A real number, neither infinite nor NaN (bools and strings are not numbers here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _interval(name: str, value: float, low: float, high: float) -> None:
    if not (_finite(value) and low <= value <= high):
        raise ValueError(f"Config.{name}={value!r}: must be in [{low}, {high}]")
