"""The learn stage: how an algorithm's parameters move on a batch, by its ``Learner``: a
value (``init`` and ``step``, as an optax transform has), named by an ``Algorithm``.

    JOINT              ``num_epochs`` × ``num_minibatches`` optax steps on the joint loss
                       (policy surrogate + critic + entropy), a fresh shuffle of single
                       transitions every epoch (of whole environment windows for a recurrent
                       policy, each replayed from its stored hidden state, or for an estimator
                       that recomputes its weights per minibatch; one full-batch step for A2C)
    POLICY_GRADIENT    one full-batch step on the policy's loss alone, with its own
                       optimiser state, while the optax loop fits the critic alone (REINFORCE)
    NATURAL_GRADIENT   TRPO's conjugate-gradient step within KL ≤ δ, the critic fit likewise

The loop itself (``minibatch_loop``: shuffle, replay windows, average over devices, step) is a
part of its own, and the optimiser a value (``Config.optimizer``, ``pgjax.algorithms.optimizers``):
a learner of your own is a loss and an optimiser, ``Learner.from_loss(name, loss, optimizer)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from pgjax.algorithms import optimizers
from pgjax.algorithms.estimators import Batch
from pgjax.core.hparams import HParams
from pgjax.core.settings import Setting
from pgjax.math import losses, natural_gradient
from pgjax.math.losses import PolicyTerms
from pgjax.nets import Memory, Params

Array = jax.Array


class OptState(NamedTuple):
    """Optax states: ``sgd``, of the loss fit by epochs × minibatches (policy and critic
    together, or the critic alone where the policy steps apart); ``policy``, of the policy's
    own gradient step (``learner="policy_gradient"``; else ``()``)."""

    sgd: Any
    policy: Any


def fit_optimizer(static, hp: HParams) -> optax.GradientTransformation:
    """The optax loop's optimiser (``Config.optimizer``, ``pgjax.algorithms.optimizers``),
    counting its ``sgd_epochs × sgd_minibatches`` steps per update for the annealing."""
    steps = static.sgd_epochs * static.sgd_minibatches
    return optimizers.build(static.config.optimizer, static.config, hp, steps)


def policy_optimizer(static, hp: HParams) -> optax.GradientTransformation:
    """The optimiser of a policy that steps apart, once per update (``Config.policy_optimizer``,
    else ``Config.optimizer``)."""
    config = static.config
    name = config.policy_optimizer or config.optimizer
    return optimizers.build(name, config, hp, 1, "policy_optimizer")


def init_sgd(static, params: Params, hp: HParams) -> OptState:
    """The optax loop's state (its ``epochs × minibatches`` steps per update); no policy
    optimiser of its own."""
    return OptState(fit_optimizer(static, hp).init(ravel_pytree(params)[0]), ())


def init_policy_apart(static, params: Params, hp: HParams) -> OptState:
    """``init_sgd``'s, and the policy's own optimiser state (one step per update)."""
    policy = policy_optimizer(static, hp).init(ravel_pytree(params.actor)[0])
    return init_sgd(static, params, hp)._replace(policy=policy)


def init_opt_state(static, params: Params, hp: HParams) -> OptState:
    """The optimisers' states at the start of a run (the learner's ``init``)."""
    return static.algorithm.learner.init(static, params, hp)


def permutation(key: Array, n: int) -> Array:
    """A uniformly random permutation of ``range(n)``, by sorting random keys.

    Each round gives every element ``b = 32 − ⌈log₂ n⌉`` random bits, packed above its
    position into one ``uint32`` and sorted as a single array (no key–value sort), which XLA's
    CPU backend runs about four times faster than ``lax.top_k`` or ``argsort`` of the keys.
    A later round breaks its ties by the order of the earlier ones, so ``r`` rounds sort by an
    ``r·b``-bit key; there are enough rounds for at least 32 bits (ties between two elements
    then have probability ≤ 2⁻³², as for a sort of 32-bit keys). ``n`` ≤ 2³¹.
    """
    index_bits = max(1, (n - 1).bit_length())
    random_bits = 32 - index_bits
    mask = jnp.uint32((1 << index_bits) - 1)
    position = jnp.arange(n, dtype=jnp.uint32)
    perm = jnp.arange(n, dtype=jnp.int32)
    for bits in jax.random.bits(key, (-(-32 // random_bits), n), jnp.uint32):
        perm = perm[(jnp.sort((bits & ~mask) | position) & mask).astype(jnp.int32)]
    return perm


# ---- the losses, per minibatch ------------------------------------------------------------


def policy_terms(static, dist_params, mb: Batch) -> PolicyTerms:
    """A minibatch's inputs to the surrogate; advantages standardised over the whole
    minibatch, all devices (unless REINFORCE's, or ``Config.normalize_advantages`` is off)."""
    dist = static.net.dist
    log_prob = dist.log_prob(dist_params, mb.action)
    adv = mb.advantages
    if static.normalize_advantages:
        mean = static.mean_all(adv.mean())
        std = jnp.sqrt(jnp.maximum(static.mean_all(jnp.mean(adv**2)) - mean**2, 0.0))
        adv = (adv - mean) / (std + 1e-8)
    kl = dist.kl(mb.old_dist_params, dist_params) if static.algorithm.uses_kl else jnp.zeros(())
    return PolicyTerms(log_prob, mb.log_prob, adv, kl)


def masked_mean(x: Array, mb: Batch) -> Array:
    """The mean over the steps that count (all, unless the batch has a mask)."""
    if mb.mask is None:
        return jnp.mean(x)
    return jnp.sum(x * mb.mask) / jnp.maximum(jnp.sum(mb.mask), 1.0)


def policy_objective(static, dist_params, mb: Batch, hp: HParams):
    """(the surrogate's loss, the mean entropy) of π with ``dist_params`` on ``mb``."""
    terms = policy_terms(static, dist_params, mb)
    policy_loss = masked_mean(static.algorithm.policy_loss(terms, hp), mb)
    return policy_loss, jnp.mean(static.net.dist.entropy(dist_params))


def policy_loss_fn(static, actor_params, mb: Batch, hp: HParams):
    """The policy's loss alone (surrogate − entropy bonus), for a policy that steps apart."""
    dist_params = static.net.policy(Params(actor_params, None), mb.obs, mb.memory)
    policy_loss, entropy = policy_objective(static, dist_params, mb, hp)
    total = policy_loss + hp.ent_coef * losses.entropy_bonus(entropy)
    return total, {"policy_loss": policy_loss, "entropy": entropy}


def loss_fn(static, params: Params, mb: Batch, hp: HParams):
    """The joint loss (surrogate + vf_coef · critic − entropy bonus), or the critic's alone
    where the policy steps apart. An estimator that recomputes its weights per minibatch
    (V-trace) does so here, from ``params``."""
    config, net = static.config, static.net
    if static.critic_apart:
        values = net.value(params, mb.obs, mb.memory)
    else:  # a shared torso is passed through once, for both heads
        dist_params, values = net.policy_and_value(params, mb.obs, mb.memory)
    per_minibatch = static.algorithm.estimator.per_minibatch
    if per_minibatch is not None:
        advantages, targets = per_minibatch(static, params, mb, dist_params, values, hp)
        mb = mb._replace(advantages=advantages, targets=targets)
    value_loss = masked_mean(
        losses.value_loss(
            values,
            mb.targets,
            mb.values if config.vf_clip else None,
            hp.clip_eps if config.vf_clip else None,
        ),
        mb,
    )
    if static.critic_apart:  # the policy moves by its own step
        return hp.vf_coef * value_loss, {"value_loss": value_loss}
    policy_loss, entropy = policy_objective(static, dist_params, mb, hp)
    total = policy_loss + hp.vf_coef * value_loss + hp.ent_coef * losses.entropy_bonus(entropy)
    return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}


# ---- the steps ----------------------------------------------------------------------------


def shuffle(static, data: Batch, key: Array, minibatches: int) -> Batch:
    """``data`` in ``minibatches`` random minibatches, stacked on a new leading axis: single
    transitions (``[B, ...]`` → ``[minibatches, B / minibatches, ...]``), or, recurrent, whole
    environment windows, each with its starting hidden state (``[T, N, ...]`` →
    ``[minibatches, T, N / minibatches, ...]``): shuffled over environments, never over time.
    Windows where ``static.windows`` (a recurrent policy, or a per-minibatch estimator)."""
    if not static.windows:
        perm = permutation(key, static.batch)
        return jax.tree.map(lambda x: x[perm].reshape((minibatches, -1, *x.shape[1:])), data)
    perm = permutation(key, static.num_envs)

    def windows(x: Array) -> Array:  # [T, N, ...] -> [minibatches, T, N / minibatches, ...]
        x = x[:, perm].reshape((x.shape[0], minibatches, -1, *x.shape[2:]))
        return jnp.swapaxes(x, 0, 1)

    shuffled = jax.tree.map(windows, data._replace(memory=None))
    if data.memory is None:
        return shuffled
    hidden = jax.tree.map(
        lambda h: h[perm].reshape((minibatches, -1, *h.shape[1:])), data.memory.hidden
    )
    return shuffled._replace(memory=Memory(hidden, windows(data.memory.first)))


def minibatch_loop(
    static, loss, optimizer, params, opt_state, data: Batch, key, hp, epochs: int, minibatches: int
):
    """``epochs`` × ``minibatches`` steps of the optax ``optimizer`` on
    ``loss(static, params, mb, hp) → (scalar, stats)`` over ``data`` (transitions
    ``[B, ...]``, or whole environment windows ``[T, N, ...]`` where ``static.windows``: a
    recurrent policy's, each replayed from its stored hidden state), freshly shuffled every
    epoch; gradients, loss and statistics averaged over the devices of a data-parallel run
    (``static.mean_all``) before each step, so every device takes the same step. Returns the
    parameters, the optimiser state and the mean of each statistic over the steps.

    The reusable part of every learner that steps by gradients: a learner of your own is a
    loss and an optimiser (``Learner.from_loss``), not a copy of this loop.

    One flat parameter vector is optimised: on a CPU, the per-leaf work of Adam and of the
    gradient clip over a dozen small arrays costs more than the arithmetic.
    """
    flat, unravel = ravel_pytree(params)
    grad_fn = jax.value_and_grad(lambda f, mb: loss(static, unravel(f), mb, hp), has_aux=True)

    def sgd_step(carry, mb: Batch):
        flat, opt_state = carry
        (value, aux), grads = grad_fn(flat, mb)
        grads, value, aux = static.mean_all(grads), static.mean_all(value), static.mean_all(aux)
        updates, opt_state = optimizer.update(grads, opt_state, flat)
        return (flat + updates, opt_state), {
            "loss": value,
            "grad_norm": optax.tree.norm(grads),
            **aux,
        }

    def epoch(carry, k: Array):
        # shuffle once per epoch, then slice: one gather per field per epoch, not per step
        return jax.lax.scan(sgd_step, carry, shuffle(static, data, k, minibatches))

    if minibatches == 1 and epochs == 1:  # one full-batch step: nothing to shuffle
        carry, stats = sgd_step((flat, opt_state), data)
    else:
        carry, stats = jax.lax.scan(epoch, (flat, opt_state), jax.random.split(key, epochs))
    flat, opt_state = carry
    return unravel(flat), opt_state, jax.tree.map(jnp.mean, stats)


def natural_step(static, actor_params, data: Batch, hp: HParams):
    """TRPO's policy step on the whole batch: the natural-gradient direction of the
    importance-sampled surrogate by conjugate gradient on Fisher-vector products, then a
    backtracking line search that keeps KL(π_old‖π) ≤ δ (``pgjax.math.natural_gradient``)."""
    config, net, algorithm = static.config, static.net, static.algorithm
    flat, unravel = ravel_pytree(actor_params)

    def policy(f):
        return net.policy(Params(unravel(f), None), data.obs, data.memory)

    def surrogate(f):
        terms = policy_terms(static, policy(f), data)
        return -jnp.mean(algorithm.policy_loss(terms, hp))

    def mean_kl(f):
        return jnp.mean(net.dist.kl(data.old_dist_params, policy(f)))

    own = config.settings
    new_flat, info = natural_gradient.trpo_step(
        surrogate,
        mean_kl,
        flat,
        hp.settings["max_kl"],
        cg_iters=own["cg_iters"],
        damping=own["cg_damping"],
        line_search_steps=own["line_search_steps"],
    )
    stats = {
        "policy_loss": -surrogate(new_flat),
        "step_accepted": info.accepted.astype(jnp.float32),
        "step_fraction": info.step_fraction,
        "line_search_steps": info.line_search_steps.astype(jnp.float32),
    }
    return unravel(new_flat), stats


def _fit(static, params: Params, opt_state: OptState, data: Batch, key: Array, hp):
    """The optax loop (``loss_fn``: the joint loss, or the critic's alone where the policy
    steps apart), where the critic is read at all; else nothing moves."""
    if not static.fit_critic:
        return params, opt_state, {}
    new_params, sgd_opt, stats = minibatch_loop(
        static, loss_fn, fit_optimizer(static, hp), params, opt_state.sgd, data, key, hp,
        static.sgd_epochs, static.sgd_minibatches,
    )  # fmt: skip
    return new_params, opt_state._replace(sgd=sgd_opt), stats


def step_joint(static, params: Params, opt_state: OptState, batch: Batch, key, hp):
    """Policy and critic by one loss: the optax loop alone."""
    data = batch if static.algorithm.uses_kl else batch._replace(old_dist_params=None)
    return _fit(static, params, opt_state, data, key, hp)


def step_policy_apart(static, params: Params, opt_state: OptState, batch: Batch, key, hp):
    """The critic by the optax loop, then one full-batch step on the policy alone, with its
    own optimiser (``policy_optimizer``; its ``loss`` and ``grad_norm`` are reported)."""
    data = batch if static.algorithm.uses_kl else batch._replace(old_dist_params=None)
    new_params, opt_state, stats = _fit(static, params, opt_state, data, key, hp)
    new_actor, policy_opt, policy_stats = minibatch_loop(
        static, policy_loss_fn, policy_optimizer(static, hp), params.actor, opt_state.policy,
        data, key, hp, 1, 1,
    )  # fmt: skip
    new_params = Params(new_actor, new_params.critic)
    return new_params, opt_state._replace(policy=policy_opt), {**stats, **policy_stats}


def step_natural(static, params: Params, opt_state: OptState, batch: Batch, key, hp):
    """The critic by the optax loop, then TRPO's natural-gradient step on the policy."""
    data = batch if static.algorithm.uses_kl else batch._replace(old_dist_params=None)
    new_params, opt_state, stats = _fit(static, params, opt_state, data, key, hp)
    new_actor, trpo_stats = natural_step(static, params.actor, batch, hp)
    return Params(new_actor, new_params.critic), opt_state, {**stats, **trpo_stats}


class Learner(NamedTuple):
    """How an algorithm's parameters move on a batch.

    ``init(static, params, hp) → OptState``: the optimisers' states at the start of a run.
    ``step(static, params, opt_state, batch, key, hp) → (params, opt_state, stats)``:
    one update's learning on ``batch`` (``Batch``: transitions ``[B, ...]``, or windows
    ``[T, N, ...]``), ``stats`` a dict of scalars reported as metrics; ``hp`` as the
    algorithm's state gives it (``AlgoState.hparams``: PPO-Penalty's current β in
    ``hp.settings["kl_beta"]``).
    ``joint``: policy and critic move by one loss (so they may share a torso); else the
    critic is fitted apart by the optax loop (``num_epochs × num_minibatches``) and the policy
    by ``step``'s own rule. ``data_parallel``: it says that every device of a data-parallel
    run (``Config.devices > 1``) takes the same step: it averages its gradients over them
    (``minibatch_loop`` does, and so ``from_loss``'s learners) or does its own communication.
    A learner that does not say so is refused under ``devices > 1``: its shards would drift
    apart, and one device's parameters would come back as the run's.
    ``check(config)``: ``ValueError`` for settings it cannot use. ``settings``: its own knobs
    (``pgjax.core.settings.Setting``), in ``Config.settings``.
    """

    name: str
    init: Callable[..., OptState]
    step: Callable[..., tuple[Params, OptState, dict[str, Array]]]
    joint: bool = True
    data_parallel: bool = False
    check: Callable[[Any], None] = lambda config: None
    settings: tuple[Setting, ...] = ()

    @classmethod
    def from_loss(
        cls,
        name: str,
        loss: Callable[..., tuple[Array, dict[str, Array]]] | None = None,
        optimizer: Callable[[Any, HParams], optax.GradientTransformation] | None = None,
        settings: tuple[Setting, ...] = (),
    ) -> Learner:
        """A joint learner that is a loss and an optimiser, stepped by ``minibatch_loop``
        (``num_epochs × num_minibatches`` where the algorithm reuses its batch, else one
        full-batch step), and so averaged over devices.

        ``loss(static, params, mb, hp) → (scalar, stats)``: default ``loss_fn``, the joint
        loss (the algorithm's surrogate + vf_coef · critic − entropy bonus). ``optimizer``:
        a factory ``(lr, hp) → optax.GradientTransformation`` (``pgjax.algorithms.optimizers``),
        ``lr`` the annealed schedule of ``hp.lr``; default the one ``Config.optimizer`` names.
        ``settings``: the learner's own (e.g. a traced ``critic_lr`` its factory reads from
        ``hp.settings``)."""
        loss = loss_fn if loss is None else loss

        def make(static, hp: HParams) -> optax.GradientTransformation:
            if optimizer is None:
                return fit_optimizer(static, hp)
            steps = static.sgd_epochs * static.sgd_minibatches
            return optimizer(optimizers.schedule(static.config, hp, steps), hp)

        def init(static, params: Params, hp: HParams) -> OptState:
            return OptState(make(static, hp).init(ravel_pytree(params)[0]), ())

        def step(static, params: Params, opt_state: OptState, batch: Batch, key, hp):
            data = batch if static.algorithm.uses_kl else batch._replace(old_dist_params=None)
            new_params, state, stats = minibatch_loop(
                static, loss, make(static, hp), params, opt_state.sgd, data, key, hp,
                static.sgd_epochs, static.sgd_minibatches,
            )  # fmt: skip
            return new_params, OptState(state, ()), stats

        return cls(name, init, step, data_parallel=True, settings=settings)


MAX_KL = Setting(
    "max_kl", 0.01, "TRPO's trust region δ: KL(π_old‖π) ≤ δ after every policy step",
    traced=True, low=0.0,
)  # fmt: skip
CG_ITERS = Setting(
    "cg_iters", 10, "TRPO: conjugate-gradient iterations for the natural-gradient direction",
    kind="int",
)  # fmt: skip
CG_DAMPING = Setting(
    "cg_damping", 0.1, "TRPO: damping added to the Fisher-vector product, F + damping·I",
    low=0.0, low_open=False,
)  # fmt: skip
LINE_SEARCH_STEPS = Setting(
    "line_search_steps", 10,
    "TRPO: backtracking steps (each halves the step) before the update is rejected", kind="int",
)  # fmt: skip


JOINT = Learner("joint", init_sgd, step_joint, data_parallel=True)
POLICY_GRADIENT = Learner(
    "policy_gradient", init_policy_apart, step_policy_apart, joint=False, data_parallel=True
)
NATURAL_GRADIENT = Learner(
    "natural_gradient", init_sgd, step_natural, joint=False, data_parallel=False,
    settings=(MAX_KL, CG_ITERS, CG_DAMPING, LINE_SEARCH_STEPS),
)  # fmt: skip


def learn(static, params: Params, opt_state: OptState, batch: Batch, key: Array, hp):
    """Move ``params`` on ``batch`` by the algorithm's learner (``Learner.step``); returns the
    parameters, the optimiser states and the update's statistics."""
    return static.algorithm.learner.step(static, params, opt_state, batch, key, hp)
