"""The one frozen configuration of a training run, and its validation.

Every field but ``algo``, ``env``, ``kl_target``, ``devices`` and ``presets`` may be left unset
(``None``); each unset field resolves, in order, from:

1. the (env, algo) pair's own preset (``pgjax.pipeline.presets``: settings measured to learn it);
2. else the environment's settings, taken from its PPO preset
   (``pgjax.pipeline.presets.ENV_FIELDS``: budget, γ, entropy bonus, reward scale,
   observation normalisation, network…);
3. the algorithm's defaults (``pgjax.algorithms.get(algo).defaults``: sizes, learning rate);
4. the global defaults (``DEFAULTS``: PureJaxRL's CartPole settings).

So ``Config(algo="ppo_clip", env="Pendulum-v1")`` with nothing else set learns Pendulum.
``presets=False`` skips 1 and 2. ``config.sources`` says where each value came from.

Sizes and choices (``num_envs``, ``algo``, ``activation``…) are static: they shape the compiled
program. The numeric hyperparameters listed in ``HParams`` can instead be passed to
``train(key, hparams)`` as traced values, so that ``jax.vmap`` sweeps them in one compilation.

The fields here are those every run has. What belongs to one algorithm (PPO-Penalty's β,
TRPO's trust region, V-trace's cuts, REINFORCE's return and baseline, a user's own knob) is
declared by the part that reads it (``pgjax.core.settings.Setting``, on the ``Algorithm``, its
``Estimator`` or its ``Learner``) and held in ``Config.settings``:
``Config(algo="trpo", settings={"max_kl": 0.02})``, or as a keyword,
``Config(algo="trpo", max_kl=0.02)``. Unset settings take the preset's value, else the
part's default; the traced ones travel in ``HParams.settings``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgjax import algorithms
from pgjax.algorithms import PPO_DEFAULTS, optimizers
from pgjax.core.checks import (
    INT32_MAX,
    check_choice,
    check_interval,
    did_you_mean,
    is_finite,
    is_positive_int,
)
from pgjax.core.hparams import COMMON, HParams
from pgjax.core.settings import Setting, Settings, unknown
from pgjax.envs import check_env
from pgjax.envs.registry import base_name
from pgjax.nets import ACTIVATIONS, parse_network
from pgjax.pipeline.presets import PRESETS, settings

ACTION_DISTS = ("auto", "gaussian", "tanh_normal")
BOOLEANS = ("anneal_lr", "normalize_obs", "normalize_advantages", "shared_torso", "vf_clip")
"""The fields that are ``True`` or ``False`` and nothing else (``presets`` too, never unset)."""
COUNTS = ("total_timesteps", "num_envs", "num_steps", "num_epochs", "num_minibatches",
          "rnn_size")  # fmt: skip
"""The fields that are integers in ``[1, INT32_MAX]``."""
SEED_LIMIT = 2**32
"""Seeds are ``0 <= seed < SEED_LIMIT``: a JAX key (32-bit by default) keeps a seed's low 32
bits, so a larger seed would repeat a smaller one."""

DEFAULTS: dict[str, Any] = dict(
    total_timesteps=500_000, **PPO_DEFAULTS, anneal_lr=True, gamma=0.99, gae_lambda=0.95,
    clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, reward_scale=1.0,
    normalize_obs=False, normalize_advantages=True, activation="tanh", hidden_sizes=(64, 64),
    head_sizes=(), shared_torso=False, network="auto", rnn_size=128, action_dist="auto",
    optimizer="adam",
)  # fmt: skip
"""The global defaults of the fields that resolve (PPO-Clip's sizes among them)."""
MOVED = ("return_type", "baseline", "kl_beta", "kl_target", "max_kl", "cg_iters", "cg_damping",
         "line_search_steps", "rho_bar", "c_bar")  # fmt: skip
"""Former ``Config`` fields that are now an algorithm's settings: a ``config.json`` written
before holds all of them, whatever its algorithm; ``from_dict`` keeps those its algorithm
declares and drops the others."""


@dataclass(frozen=True)
class Config:
    """A training run: PPO-Clip on CartPole-v1 with PureJaxRL's published settings unless told
    otherwise. A field left unset (``None``) takes the environment's preset for the algorithm,
    else the environment's settings, else the algorithm's defaults, else ``DEFAULTS`` (see the
    module's docstring); ``sources`` says which."""

    algo: str = "ppo_clip"
    """Algorithm: a name in ``pgjax.algorithms.names()`` (the registry as it is when the config
    is made and validated; your own by ``pgjax.algorithms.register``)."""
    env: str = "CartPole-v1"
    """The environment: a gymnax (>= 1.0) id (``CartPole-v1``, ``gymnax/Breakout-MinAtar``),
    ``<suite>/<name>`` of an optional suite (``brax/ant``, ``craftax/<name>``,
    ``playground/CartpoleBalance``...), or a name given to ``pgjax.envs.register``; options
    after a colon (``brax/ant:backend=positional``). See ``pgjax.envs.registry``."""
    total_timesteps: int | None = None
    """Environment steps in the whole run, over all environments (rounded down to updates)."""
    num_envs: int | None = None
    """Environments stepped in parallel (vmapped)."""
    num_steps: int | None = None
    """Steps per environment in each rollout; a batch is ``num_envs * num_steps`` transitions."""
    num_epochs: int | None = None
    """Passes over each batch (REINFORCE and TRPO: of the critic's fit; their policy steps once
    per batch). A2C uses each batch once whatever this says."""
    num_minibatches: int | None = None
    """Minibatches per epoch; must divide ``num_envs * num_steps``."""
    lr: float | None = None
    """Learning rate (of ``optimizer``)."""
    anneal_lr: bool | None = None
    """Decay the learning rate linearly to 0 over the run."""
    gamma: float | None = None
    """Discount γ in [0, 1]."""
    gae_lambda: float | None = None
    """GAE λ in [0, 1]: 1 is the Monte Carlo advantage, 0 the TD error."""
    clip_eps: float | None = None
    """PPO-Clip's ε: the ratio is clipped to [1 − ε, 1 + ε]."""
    ent_coef: float | None = None
    """Weight of the entropy bonus."""
    vf_coef: float | None = None
    """Weight of the critic's loss."""
    vf_clip: bool | None = None
    """Clip the critic's change per update to ±clip_eps around its old prediction (PPO's code).
    The algorithms' default: on, except for REINFORCE, whose critic regresses on Monte Carlo
    returns (hundreds on CartPole) that steps of ±clip_eps per update would take the whole run
    to reach."""
    max_grad_norm: float | None = None
    """Global gradient-norm clip."""
    reward_scale: float | None = None
    """Rewards are multiplied by this for learning (metrics report the raw return)."""
    normalize_obs: bool | None = None
    """Normalise observations by a running mean and variance over all environments."""
    normalize_advantages: bool | None = None
    """Standardise advantages within each minibatch."""
    activation: str | None = None
    """Hidden activation, one of ``tanh``, ``relu``."""
    hidden_sizes: tuple[int, ...] | None = None
    """Widths of the MLP's hidden layers (actor and critic alike)."""
    head_sizes: tuple[int, ...] | None = None
    """Widths of hidden layers (with ``activation``) that each head has of its own, after the
    torso and the recurrent cell, before its output layer: ``(128,)`` puts a 128-wide layer
    between a GRU and each of the policy and value heads, as PureJaxRL's PPO-RNN does. Empty:
    the heads read the features directly."""
    shared_torso: bool | None = None
    """Actor and critic share one torso, each with its own head, and the critic's loss trains
    the features the policy reads (as in PPO's Atari code). About half the network's work of
    two separate torsos of the same width. Only for algorithms that fit policy and critic by
    one loss (a joint ``Learner``, ``pgjax.algorithms.learners.JOINT``)."""
    network: str | None = None
    """Torso: ``mlp`` (flattens the observation), ``cnn`` (image observations), ``auto``
    (``cnn`` for observations of rank 3, else ``mlp``), or a name given to
    ``pgjax.nets.register`` (your own flax module). For a policy with memory, ``gru`` or
    ``lstm``: the ``auto`` torso, then that recurrent cell of ``rnn_size`` units, then the
    heads (``mlp_gru``, ``cnn_lstm``, ``<yours>_gru``…: the torso named, then the cell); actor
    and critic each have their own, or share one with ``shared_torso``. The hidden state starts
    at zero at every episode's first step; minibatches are whole environment windows
    (``num_minibatches`` must divide ``num_envs``)."""
    rnn_size: int | None = None
    """Units of the recurrent cell (``network="gru"`` or ``"lstm"``)."""
    action_dist: str | None = None
    """The policy's distribution over continuous actions: ``gaussian`` (a diagonal Gaussian
    whose sample is clipped to the action bounds), ``tanh_normal`` (squashed into them by tanh,
    with the log-determinant in log π; Brax's choice), or ``auto`` (categorical for discrete
    actions, ``gaussian`` for continuous)."""
    optimizer: str | None = None
    """The optimiser, by name (``pgjax.algorithms.optimizers``): ``adam`` (eps 1e-5, after a
    global-norm clip of max_grad_norm: the default), ``rmsprop``, ``sgd``, or your own,
    registered by ``pgjax.algorithms.optimizers.register``. Where the policy steps apart
    (REINFORCE, TRPO) this is the critic's."""
    policy_optimizer: str | None = None
    """The optimiser of a policy that steps apart from its critic, once per update
    (REINFORCE's); ``None``: the one ``optimizer`` names."""
    settings: Mapping[str, Any] | None = None
    """The algorithm's own settings by name (those its ``Algorithm``, ``Estimator`` and
    ``Learner`` declare, ``pgjax.algorithms.settings_of``), e.g. ``{"max_kl": 0.02}`` for
    TRPO; each may also be given as a keyword of its own, ``Config(algo="trpo",
    max_kl=0.02)``. Unset ones take the preset's value, else the part's default; resolved,
    this holds every one of them."""
    devices: int = 1
    """Devices to split one run's environments across (data parallel): each steps
    num_envs / devices environments and gradients are averaged. 0 means all of
    jax.devices()."""
    presets: bool = True
    """Unset fields take the environment's measured settings for the algorithm
    (``pgjax.pipeline.presets``) before the algorithm's and the global defaults. False: the defaults
    alone (the bare defaults)."""

    def __post_init__(self) -> None:
        layers = [("user", {n: getattr(self, n) for n in DEFAULTS if getattr(self, n) is not None})]
        registry = algorithms.REGISTRY
        known = isinstance(self.algo, str) and self.algo in registry
        if self.presets and known:
            layers += settings(self.env, registry[self.algo])
        # an unknown algo: PPO's defaults, until validate names it
        algo = registry[self.algo].defaults if known else PPO_DEFAULTS
        layers += [("algo", algo), ("default", DEFAULTS)]
        sources = []
        for name in DEFAULTS:
            source, value = next((s, v[name]) for s, v in layers if name in v)
            if name in ("hidden_sizes", "head_sizes") and isinstance(value, list):
                value = tuple(value)  # a list (from JSON, or the user's): hashable, comparable
            object.__setattr__(self, name, value)
            sources.append((name, source))
        if known:
            sources += self._resolve_settings(layers[1:-2], algorithms.settings_of(self.algo))
        elif self.settings is not None:  # kept as given: validate names the unknown algo
            object.__setattr__(self, "settings", Settings(self.settings))
        object.__setattr__(self, "_sources", tuple(sources))

    def _resolve_settings(self, layers: list, declared: dict[str, Setting]) -> list:
        """Every setting the algorithm declares: the user's, else a preset's, else the part's
        default (``"algo"``); ``ValueError`` for one it does not declare."""
        given = dict(self.settings or {})
        if not isinstance(self.settings, Mapping | None):
            raise ValueError(
                f"Config.settings={self.settings!r}: must be a dict of setting names to values"
            )
        wrong = [n for n in given if n not in declared]
        if wrong:
            raise ValueError(
                unknown(f"Config(algo={self.algo!r})", wrong, declared, list(DEFAULTS))
            )
        resolved, sources = {}, []
        for name, setting in declared.items():
            found = [("user", given), *layers]
            source, value = next(
                ((s, v[name]) for s, v in found if name in v), ("algo", setting.default)
            )
            if setting.kind == "float" and type(value) is int:
                value = float(value)  # 1 for 1.0: the traced value's dtype does not vary
            resolved[name] = value
            sources.append((name, source))
        object.__setattr__(self, "settings", Settings(resolved))
        return sources

    def named(self, name: str) -> str:
        """``Config.<name>=<value>``, saying where a value nobody set came from (an error
        about it should not leave the user wondering where 32 minibatches came from)."""
        where = {
            "preset": f" (the {self.env} preset's for {self.algo})",
            "env": f" ({self.env}'s setting)",
            "algo": f" ({self.algo}'s default)",
            "default": " (the default)",
        }.get(self.sources.get(name, "user"), "")
        if name in (self.settings or {}) and name not in DEFAULTS:
            return f"Config.settings[{name!r}]={self.settings[name]!r}{where}"
        return f"Config.{name}={getattr(self, name)!r}{where}"

    @property
    def sources(self) -> dict[str, str]:
        """Where each resolved field's value came from: ``"user"`` (given), ``"preset"`` (the
        (env, algo) pair's preset), ``"env"`` (the environment's settings), ``"algo"`` (the
        algorithm's defaults) or ``"default"`` (``DEFAULTS``)."""
        return dict(self._sources)

    def given(self) -> dict[str, Any]:
        """The fields that were set (``"user"``), with ``algo``, ``env``, the fields that
        never resolve and the settings given: ``Config(**config.given())`` resolves to
        ``config`` again."""
        sources = self.sources
        given = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "settings" and sources.get(f.name, "user") == "user"
        }
        own = {n: v for n, v in (self.settings or {}).items() if sources.get(n, "user") == "user"}
        return {**given, "settings": own or None}

    def as_given(self) -> Config:
        """This config with every value counted as given (as its ``config.json`` holds them),
        so that ``replace`` changes only the fields it names, ``env`` and ``algo`` included."""
        return Config.from_dict(dataclasses.asdict(self))

    def resolved(self) -> list[tuple[str, Any, str]]:
        """``(field, value, source)`` for every field whose value differs from ``DEFAULTS``
        (and every setting that differs from its part's default): what ``pgjax train``
        prints."""
        declared = algorithms.settings_of(self.algo) if self.algo in algorithms.REGISTRY else {}
        default = {**DEFAULTS, **{n: s.default for n, s in declared.items()}}
        return [
            (name, self._value(name), source)
            for name, source in self._sources
            if self._value(name) != default[name]
        ]

    def _value(self, name: str) -> Any:
        return self.settings[name] if name not in DEFAULTS else getattr(self, name)

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
        """This config's traceable hyperparameters, as the default for ``train``: the common
        fields, and in ``settings`` the algorithm's traced settings."""
        declared = algorithms.settings_of(self.algo)
        traced = {n: v for n, v in self.settings.items() if declared[n].traced}
        return HParams(**{f: getattr(self, f) for f in COMMON}, settings=traced)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (unknown names are rejected), resolved again from
        the fields that were set (``given``): changing ``env`` or ``algo`` takes the new pair's
        settings for every field left unset; ``None`` unsets a field. A name of the
        algorithm's settings sets that setting (``config.replace(max_kl=0.02)``)."""
        given = self.given()
        own = dict(given.pop("settings") or {})
        if "algo" in changes and changes["algo"] != self.algo:
            own = {}  # another algorithm: its own settings, from its defaults
        names = {f.name for f in dataclasses.fields(Config)}
        own.update(changes.pop("settings", None) or {})
        own.update({n: changes.pop(n) for n in list(changes) if n not in names})
        own = {n: v for n, v in own.items() if v is not None}
        return Config.from_dict({**given, **changes, "settings": own or None})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """Build from a plain dict (a ``config.json``'s); an unknown key raises ``ValueError``
        naming it. A key of the algorithm's settings goes into ``settings``. The former fields
        of ``MOVED`` that the algorithm does not declare are dropped (a ``config.json``
        written before they moved holds them all, whatever its algorithm)."""
        names = [f.name for f in dataclasses.fields(cls)]
        algo = values.get("algo", "ppo_clip")
        declared = algorithms.settings_of(algo) if algo in algorithms.REGISTRY else {}
        values = dict(values)
        own = dict(values.pop("settings", None) or {})
        # a former field the algorithm does not read is dropped, here as at the top level
        own = {k: v for k, v in own.items() if k in declared or k not in MOVED}
        for key in list(values):
            if key in names:
                continue
            if key in declared:
                own[key] = values.pop(key)
            elif key in MOVED:
                values.pop(key)
            else:
                raise ValueError(
                    f"Config has no field {key!r}{did_you_mean(key, names)}; fields are: "
                    f"{', '.join(names)}; {algo}'s settings: {', '.join(declared) or 'none'}"
                )
        return cls(**values, settings=own or None)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what is allowed: each field's
        kind and range, the environment's name, the sizes' divisibility, then the parts'
        own checks (the algorithm's, its estimator's and its learner's) and the devices."""
        algorithm = algorithms.get(self.algo)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        parse_network(self.network)
        check_choice("action_dist", self.action_dist, ACTION_DISTS)
        optimizers.get(self.optimizer, "optimizer")
        if self.policy_optimizer is not None:
            optimizers.get(self.policy_optimizer, "policy_optimizer")
        check_env(self.env)
        self._check_kinds()
        self._check_sizes(1)
        if self.num_updates < 1:
            raise ValueError(
                f"Config.total_timesteps={self.total_timesteps}: must be at least one batch, "
                f"num_envs * num_steps = {self.batch_size}"
            )
        if self.shared_torso and not algorithm.learner.joint:
            joint = [n for n, a in algorithms.REGISTRY.items() if a.learner.joint]
            raise ValueError(
                f"Config.shared_torso=True: algo={self.algo!r} steps its policy apart from its "
                f"critic, so they cannot share a torso; shared_torso works with "
                f"{', '.join(joint)}"
            )
        self._check_numbers()
        declared = algorithms.settings_of(self.algo)
        for name, setting in declared.items():
            setting.check(self.settings[name], f"Config(algo={self.algo!r})")
        for check in (algorithm.check, algorithm.estimator.check, algorithm.learner.check):
            check(self)
        if self.devices > 1:
            self.check_shards(self.devices)

    def _check_kinds(self) -> None:
        """Booleans are bools, counts integers the compiled program can count, widths tuples
        of them, ``devices`` a count or 0."""
        for name in (*BOOLEANS, "presets"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{self.named(name)}: must be True or False (a bool)")
        for name in COUNTS:
            if not is_positive_int(getattr(self, name)):
                raise ValueError(f"{self.named(name)}: must be an integer in [1, {INT32_MAX}]")
        for name, allowed in (
            ("hidden_sizes", "a non-empty tuple of positive integers, e.g. (64, 64)"),
            ("head_sizes", "a tuple of positive integers (empty: no layers of the heads' own)"),
        ):
            widths = getattr(self, name)
            if (
                not isinstance(widths, tuple)
                or (name == "hidden_sizes" and not widths)
                or not all(map(is_positive_int, widths))
            ):
                raise ValueError(f"{self.named(name)}: must be {allowed}")
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or self.devices < 0:
            raise ValueError(
                f"Config.devices={self.devices!r}: must be a positive integer, or 0 for all"
            )

    def _check_numbers(self) -> None:
        """The hyperparameters: finite, within their ranges."""
        for name in ("gamma", "gae_lambda"):
            check_interval(name, getattr(self, name), 0.0, 1.0)
        for name in ("lr", "max_grad_norm", "reward_scale"):
            value = getattr(self, name)
            if not (is_finite(value) and value > 0):
                raise ValueError(f"Config.{name}={value!r}: must be a finite number > 0")
        check_interval("clip_eps", self.clip_eps, 0.0, 1.0)
        for name in ("ent_coef", "vf_coef"):
            value = getattr(self, name)
            if not (is_finite(value) and value >= 0):
                raise ValueError(f"Config.{name}={value!r}: must be a finite number >= 0")

    @property
    def windows(self) -> bool:
        """Whether the learner learns from whole environment windows ``[T, N/M]`` rather than
        single steps: a recurrent network (its memory replays them), or an estimator that
        recomputes its weights per minibatch on time-ordered windows (V-trace)."""
        estimator = algorithms.get(self.algo).estimator
        return parse_network(self.network)[1] is not None or estimator.per_minibatch is not None

    def _check_sizes(self, shards: int) -> None:
        """The minibatches divide each device's share of the batch, and of its environments
        where the learner learns from whole windows."""
        if (self.batch_size // shards) % self.num_minibatches:
            share = "" if shards == 1 else "each device's share of the batch, "
            raise ValueError(
                f"{self.named('num_minibatches')}: must divide {share}"
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size}"
                f"{f' / {shards}' if shards > 1 else ''}; change num_minibatches, num_envs or "
                "num_steps"
            )
        if self.windows and (self.num_envs // shards) % self.num_minibatches:
            why = (
                f"a recurrent network (network={self.network!r})"
                if parse_network(self.network)[1]
                else f"algo={self.algo!r} (its estimator recomputes per window)"
            )
            envs = self.num_envs // shards
            raise ValueError(
                f"{self.named('num_minibatches')}: {why} learns from whole environment "
                f"windows, so num_minibatches must divide num_envs = {self.num_envs}"
                f"{f' / {shards} devices = {envs}' if shards > 1 else ''}; change "
                "num_minibatches or num_envs"
            )

    def check_shards(self, shards: int) -> None:
        """Raise ``ValueError`` unless the run can be split evenly over ``shards`` devices."""
        learner = algorithms.get(self.algo).learner
        if not learner.data_parallel:
            parallel = [n for n, a in algorithms.REGISTRY.items() if a.learner.data_parallel]
            raise ValueError(
                f"Config.devices={self.devices}: algo={self.algo!r} runs on one device: its "
                f"learner {learner.name!r} does not say that it averages over devices (each "
                "device would drift apart); data-parallel algorithms: "
                f"{', '.join(sorted(parallel))}; a learner of your own: Learner.from_loss "
                "(the loop averages), or data_parallel=True where it communicates itself"
            )
        if self.num_envs % shards:
            raise ValueError(
                f"Config.num_envs={self.num_envs}: must be divisible by the {shards} devices "
                "(Config.devices); change num_envs or devices"
            )
        self._check_sizes(shards)


def _keyword_settings(init):
    """``Config.__init__`` that takes the algorithm's settings as keywords of their own:
    ``Config(algo="trpo", max_kl=0.02)`` is ``Config(algo="trpo", settings={"max_kl": 0.02})``
    (a name that is neither a field nor a setting is refused naming both)."""
    fields = {f.name for f in dataclasses.fields(Config)}

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        own = {k: kwargs.pop(k) for k in list(kwargs) if k not in fields}
        if own:
            kwargs["settings"] = {**(kwargs.get("settings") or {}), **own}
        init(self, *args, **kwargs)

    return __init__


Config.__init__ = _keyword_settings(Config.__init__)  # type: ignore[method-assign]


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` if it is an ``int`` in ``[0, SEED_LIMIT)``, else ``ValueError`` naming ``what``
    (the flag or file that gave it) and what is allowed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(
            f"{what}={seed!r}: must be an integer in [0, 2**32 - 1] (a JAX key keeps a seed's "
            "low 32 bits: a larger seed would repeat a smaller one)"
        )
    return seed


def preset(env: str, algo: str = "ppo_clip") -> Config:
    """The tuned ``Config`` for ``env`` and ``algo``: ``Config(algo=algo, env=env)``, checked to
    have a preset of its own (options after a colon kept in the config's ``env``:
    ``brax/ant:backend=spring`` takes ``brax/ant``'s preset); ``ValueError`` lists those there
    are."""
    if (base_name(env), algo) not in PRESETS:
        known = ", ".join(f"{e} ({a})" for e, a in PRESETS)
        raise ValueError(f"no preset for env={env!r}, algo={algo!r}; presets: {known}") from None
    return Config(algo=algo, env=env)


def config_for(env: str, algo: str) -> tuple[Config, str]:
    """``Config(algo=algo, env=env)``, and where its settings come from: ``"preset"`` (the
    pair's own), ``"env settings"`` (the environment's fields of its PPO preset with the
    algorithm's own sizes and learning rate) or ``"defaults"`` (the algorithm's defaults)."""
    layers = settings(env, algorithms.get(algo))
    kind = {"preset": "preset", "env": "env settings"}[layers[0][0]] if layers else "defaults"
    return Config(algo=algo, env=env), kind
