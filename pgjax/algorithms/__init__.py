"""The registry: each algorithm of the seed named as data — its policy surrogate, where its
weights come from (its ``Estimator``), how it learns from a batch (its ``Learner``), its default
sizes, the state it carries between updates and its own checks. The stages are shared
(``rollout.collect``, ``estimators.estimate``, ``learners.learn``) and call the parts they are
given; a new variant is a new entry, never a copied pipeline, and may come from a user's own
file: ``register(Algorithm(...))`` before the ``Config`` that names it is made (on the command
line, ``pgjax train --import my_algos --algo my_pg``).

| algo        | weights (estimator)   | batch use            | learner       | seed              |
| ----------- | --------------------- | -------------------- | ------------- | ----------------- |
| reinforce   | R(τ) or reward-to-go  | once, full batch     | policy step¹  | REINFORCE, tips   |
| a2c         | GAE(λ) advantage      | once, full batch     | joint         | actor-critic      |
| is_pg       | GAE, ratio p_θ/p_θ'   | epochs × minibatches | joint         | importance samp.  |
| ppo_penalty | GAE, ratio, − β KL    | epochs × minibatches | joint         | PPO1, adaptive β  |
| ppo_clip    | GAE, clipped ratio    | epochs × minibatches | joint         | PPO2              |
| trpo        | GAE, ratio, KL ≤ δ    | once (policy)        | natural grad. | TRPO              |
| vtrace      | V-trace: ratios π/μ   | epochs × windows²    | joint         | importance samp.  |
|             | cut at ρ̄ and c̄        |                      |               | over many steps   |
| rloo        | R − mean of the other | once, full batch     | policy only³  | tip 1: baseline   |
|             | k−1 of its group      |                      |               | from the group    |
| grpo        | (R − mean)/std, group | epochs × minibatches | policy only³  | tip 1, PPO-Clip   |
|             | clipped ratio + β KL  |                      |               | + KL to π_old     |
| dr_grpo     | R − mean of the group | epochs × minibatches | policy only³  | GRPO unbiased     |

¹ one full-batch gradient step on the policy alone, with its own Adam state; the critic (the
baseline b(s)) is regressed on the returns apart, by epochs × minibatches of its own.
² V-trace (Espeholt et al. 2018) carries the seed's importance sampling to multi-step
off-policy learning: its targets and advantages are recomputed from the current parameters at
every minibatch of every epoch, on time-ordered windows, so that reusing a batch is corrected
step by step by truncated ratios π/μ.
³ no critic at all (``Algorithm.critic=False``: ``Params.critic == ()``): the baseline comes
from the other episodes of a group of ``group_size`` that started from the same state
(``pgjax.algorithms.groups``, ``pgjax.envs.groups``).

A new surrogate, from any file (an existing entry as the template)::

    from pgjax import algorithms
    from pgjax.math import losses

    def spo(terms, hp):  # Simple Policy Optimization's surrogate, per element [B]
        ratio = losses.importance_ratio(terms.log_prob, terms.old_log_prob)
        a = terms.advantages
        return -(ratio * a - abs(a) * (ratio - 1) ** 2 / (2 * hp.clip_eps))

    algorithms.register(algorithms.REGISTRY["ppo_clip"]._replace(name="spo", policy_loss=spo))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.algorithms.estimators import GAE, MONTE_CARLO, VTRACE, Estimator, MeanBaseline
from pgjax.algorithms.groups import DR_GRPO, GRPO, POLICY_ONLY, RLOO
from pgjax.algorithms.learners import JOINT, NATURAL_GRADIENT, POLICY_GRADIENT, Learner
from pgjax.core.checks import did_you_mean
from pgjax.core.hparams import COMMON, HParams
from pgjax.core.settings import Setting, check_declarations, declared
from pgjax.math import kl_control, losses
from pgjax.math.losses import PolicyTerms

Array = jax.Array


def _same_hparams(state: Any, hp: HParams) -> HParams:
    return hp


def _no_metrics(state: Any) -> dict[str, Array]:
    return {}


class AlgoState(NamedTuple):
    """How an algorithm's own state is born and moves (the style of optax's transforms).

    ``init(hparams) → state``: the state at the start of a run (``()`` for none).
    ``after_update(state, kl, settings) → state``: after each update, from the measured mean
    KL(π_old‖π_new) of that update and the algorithm's resolved ``Config.settings``.
    ``hparams(state, hparams) → hparams``: what the estimator and learner read this update
    (PPO-Penalty puts its current β in ``settings["kl_beta"]``; the others change nothing).
    ``metrics(state) → dict``: scalars reported with every update (PPO-Penalty's ``beta``).
    """

    init: Callable[[HParams], Any]
    after_update: Callable[[Any, Array, Mapping[str, Any]], Any]
    hparams: Callable[[Any, HParams], HParams] = _same_hparams
    metrics: Callable[[Any], dict[str, Array]] = _no_metrics


STATELESS = AlgoState(lambda hp: (), lambda state, kl, settings: state)
MEAN_BASELINE = AlgoState(lambda hp: MeanBaseline(jnp.zeros(())), lambda state, kl, s: state)
"""REINFORCE's: the estimator moves it (``update_mean_baseline``), before the update."""
ADAPTIVE_BETA = AlgoState(
    lambda hp: kl_control.init_adaptive_kl(hp.settings["kl_beta"]),
    lambda state, kl, settings: kl_control.update_adaptive_kl(state, kl, settings["kl_target"]),
    lambda state, hp: hp.set(kl_beta=state.beta),
    lambda state: {"beta": state.beta},
)
"""PPO-Penalty's β, adapted after each update by the seed's rule (``kl_control``) and read by
its surrogate as ``hp.settings["kl_beta"]``."""
KL_BETA = Setting(
    "kl_beta", 1.0, "PPO-Penalty's β: its initial value (adaptive) or its value (fixed)",
    traced=True, low=0.0,
)  # fmt: skip
KL_TARGET = Setting(
    "kl_target", 0.01,
    "PPO-Penalty's d_targ: β adapts after each update so that KL stays near it; None keeps β "
    "fixed", low=0.0, optional=True,
)  # fmt: skip


def _no_checks(config: Any) -> None:
    return None


class Algorithm(NamedTuple):
    """An entry of the registry.

    ``name``: what ``Config.algo`` says. ``policy_loss(terms, hparams) → [B]``: the
    per-element surrogate to minimise (``terms``: ``pgjax.math.losses.PolicyTerms``, carrying at
    least ``log_prob``, ``old_log_prob`` and ``advantages``). ``estimator``: where the weights
    and the critic's targets come from (``pgjax.algorithms.estimators``: ``GAE``, ``MONTE_CARLO``,
    ``VTRACE``). ``learner``: how the parameters move on a batch (``pgjax.algorithms.learners``:
    ``JOINT``, ``POLICY_GRADIENT``, ``NATURAL_GRADIENT``). ``reuse``: several epochs of
    minibatches per batch; else one full-batch step. ``uses_kl``: the surrogate reads
    ``PolicyTerms.kl`` (else it is left at 0, not computed). ``defaults``: the ``Config``
    fields this algorithm sets when the user leaves them unset. ``state``: what it carries
    between updates (``AlgoState``). ``check(config)``: ``ValueError`` for settings it cannot
    use (its estimator's and learner's checks run as well). ``settings``: its own knobs
    (``pgjax.core.settings.Setting``), besides those its estimator and learner declare
    (``settings_of``), held in ``Config.settings`` and, when traced, ``HParams.settings``.
    ``critic``: whether the network has a critic (False: no value head is built, and
    ``Params.critic`` is ``()``). An algorithm whose parts declare ``group_size`` runs on
    grouped environments (``pgjax.envs.groups.GroupedEnv``).
    """

    name: str
    policy_loss: Callable[[PolicyTerms, HParams], Array]
    estimator: Estimator = GAE
    learner: Learner = JOINT
    reuse: bool = True
    uses_kl: bool = False
    defaults: Mapping[str, Any] = MappingProxyType({})
    state: AlgoState = STATELESS
    check: Callable[[Any], None] = _no_checks
    settings: tuple[Setting, ...] = ()
    critic: bool = True


def _log_prob_weighted(t: PolicyTerms, hp: HParams) -> Array:
    return losses.policy_gradient_loss(t.log_prob, t.advantages)


def _importance_sampled(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.importance_sampled_pg_loss(ratio, t.advantages)


def _kl_penalised(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.kl_penalty_loss(ratio, t.advantages, t.kl, hp.settings["kl_beta"])


def _clipped(t: PolicyTerms, hp: HParams) -> Array:
    ratio = losses.importance_ratio(t.log_prob, t.old_log_prob)
    return losses.clipped_surrogate_loss(ratio, t.advantages, hp.clip_eps)


def _clipped_kl(t: PolicyTerms, hp: HParams) -> Array:
    """GRPO's surrogate: PPO-Clip's, plus β · KL(π_ref‖π_θ) with the reference the policy
    that collected the batch (the policy at the start of the update), KL exact from the stored
    distribution parameters."""
    return _clipped(t, hp) + hp.settings["kl_coef"] * t.kl


# Default sizes: PPO's are PureJaxRL's published CartPole settings; the others learn
# CartPole-v1 (see benchmarks/family.py).
def _sizes(num_envs, num_steps, num_epochs, num_minibatches, **rest) -> Mapping[str, Any]:
    sizes = dict(num_envs=num_envs, num_steps=num_steps, num_epochs=num_epochs)
    rest = {**rest, "vf_clip": rest.get("vf_clip", True)}
    return MappingProxyType(dict(sizes, num_minibatches=num_minibatches, **rest))


PPO_DEFAULTS = _sizes(4, 128, 4, 4, lr=2.5e-4, vf_clip=True)
VTRACE_DEFAULTS = _sizes(4, 128, 4, 4, lr=2.5e-4, vf_clip=True)

REGISTRY: dict[str, Algorithm] = {}
"""The algorithms by name; read when a ``Config`` is made and validated, so an algorithm
registered later (``register``) is known from then on."""


def register(algorithm: Algorithm) -> Algorithm:
    """Make ``Config(algo=algorithm.name)`` train ``algorithm``; registering a name again
    replaces its entry. ``ValueError`` for an entry that is not an ``Algorithm`` of the right
    parts (a name without ``:``, ``,`` or spaces; a callable surrogate; an ``Estimator``; a
    ``Learner``). Returns the algorithm."""
    if not isinstance(algorithm, Algorithm):
        raise ValueError(
            f"algorithms.register: {algorithm!r} is not a pgjax.algorithms.Algorithm; make one "
            "from an entry of REGISTRY, e.g. REGISTRY['ppo_clip']._replace(name=..., "
            "policy_loss=...)"
        )
    name = algorithm.name
    if not isinstance(name, str) or not name or any(c in name for c in ":, "):
        raise ValueError(f"algorithms.register: name {name!r} must be a word (no ':', ',', ' ')")
    parts = [
        ("policy_loss", callable(algorithm.policy_loss), "a function (terms, hparams) -> [B]"),
        (
            "estimator",
            isinstance(algorithm.estimator, Estimator),
            "a pgjax.algorithms.estimators.Estimator",
        ),
        ("learner", isinstance(algorithm.learner, Learner), "a pgjax.algorithms.learners.Learner"),
        ("state", isinstance(algorithm.state, AlgoState), "a pgjax.algorithms.AlgoState"),
    ]
    for field, ok, allowed in parts:
        if not ok:
            raise ValueError(f"algorithms.register({name!r}): its {field} must be {allowed}")
    for part in (algorithm, algorithm.estimator, algorithm.learner):
        check_declarations(f"algorithms.register({name!r})", part.settings, RESERVED)
    declared((algorithm, algorithm.estimator, algorithm.learner))  # no name twice, differently
    REGISTRY[name] = algorithm
    return algorithm


RESERVED = (*COMMON, "settings", "algo", "env", "total_timesteps", "num_envs", "num_steps",
            "num_epochs", "num_minibatches", "anneal_lr", "vf_clip", "normalize_obs",
            "normalize_advantages", "activation", "hidden_sizes", "head_sizes", "shared_torso",
            "network", "rnn_size", "action_dist", "devices", "presets")  # fmt: skip
"""Names a setting may not take: the ``Config`` and ``HParams`` fields."""


def settings_of(algo: str | Algorithm) -> dict[str, Setting]:
    """Every setting of the algorithm (``algo``: its name or entry) by name: its own, its
    estimator's and its learner's."""
    algorithm = get(algo) if isinstance(algo, str) else algo
    return declared((algorithm, algorithm.estimator, algorithm.learner))


def names() -> list[str]:
    """The registered algorithms' names, as ``Config.algo`` may say them."""
    return list(REGISTRY)


def get(name: str) -> Algorithm:
    """The algorithm registered as ``name``; ``ValueError`` naming the close matches, the
    registered names and how to add one."""
    if isinstance(name, str) and name in REGISTRY:
        return REGISTRY[name]
    raise ValueError(
        f"Config.algo={name!r} is unknown{did_you_mean(str(name), names())}; allowed: "
        f"{', '.join(names())}; an algorithm of your own: pgjax.algorithms.register(...), "
        "and on the command line --import the module that registers it"
    )


register(
    Algorithm(
        "reinforce",
        _log_prob_weighted,
        MONTE_CARLO,
        POLICY_GRADIENT,
        reuse=False,
        # its epochs and minibatches fit the critic; the policy takes one step per batch
        defaults=_sizes(8, 500, 4, 4, lr=2.5e-3, vf_clip=False),
        state=MEAN_BASELINE,
    )
)
register(
    Algorithm("a2c", _log_prob_weighted, reuse=False, defaults=_sizes(16, 32, 1, 1, lr=2.5e-3))
)
register(Algorithm("is_pg", _importance_sampled, defaults=_sizes(4, 128, 4, 4, lr=1e-4)))
register(
    Algorithm(
        "ppo_penalty",
        _kl_penalised,
        uses_kl=True,
        defaults=PPO_DEFAULTS,
        state=ADAPTIVE_BETA,
        settings=(KL_BETA, KL_TARGET),
    )
)
register(Algorithm("ppo_clip", _clipped, defaults=PPO_DEFAULTS))
register(
    Algorithm(
        "trpo",
        _importance_sampled,
        learner=NATURAL_GRADIENT,
        reuse=False,
        defaults=_sizes(8, 128, 5, 4, lr=1e-3),
    )
)
register(Algorithm("vtrace", _log_prob_weighted, VTRACE, defaults=VTRACE_DEFAULTS))

GROUP_DEFAULTS = _sizes(16, 500, 2, 4, lr=2.5e-3, vf_clip=False)
"""The group algorithms' sizes: 16 environments (2 groups of 8) of whole CartPole episodes.
Searched on key 1000, 500k steps (benchmarks/group_search.py): RLOO (one step per batch) 354
at lr 2.5e-3, 499.0 at 5e-3 (4 seeds); GRPO and Dr. GRPO with 2 epochs (8 seeds, CartPole):
497.9 and 499.9, against 439.1 and 499.6 with 4 epochs (GRPO's seeds at 4 stalled at 215 and
377); Acrobot −85.0 and −86.5 with 2, −84.7 and −87.6 with 4."""
KL_COEF = Setting(
    "kl_coef", 0.04,
    "GRPO's β: the weight of KL(π_ref‖π_θ), the reference the policy at the start of the update "
    "(DeepSeekMath's 0.04; 0: none, as Dr. GRPO)", traced=True, low=0.0, low_open=False,
)  # fmt: skip
register(
    Algorithm(
        "rloo", _log_prob_weighted, RLOO, POLICY_ONLY, reuse=False,
        defaults=MappingProxyType({**GROUP_DEFAULTS, "lr": 5e-3}),
        critic=False,
    )
)  # fmt: skip
register(
    Algorithm(
        "grpo", _clipped_kl, GRPO, POLICY_ONLY, uses_kl=True, defaults=GROUP_DEFAULTS,
        settings=(KL_COEF,), critic=False,
    )
)  # fmt: skip
register(
    Algorithm(
        "dr_grpo", _clipped_kl, DR_GRPO, POLICY_ONLY, uses_kl=True, defaults=GROUP_DEFAULTS,
        settings=(KL_COEF._replace(default=0.0),), critic=False,
    )
)  # fmt: skip
