"""The optimisers as values: a name (``Config.optimizer``, ``Config.policy_optimizer``) gives a
factory that builds an optax ``GradientTransformation`` from the learning rate and the traced
hyperparameters, so that a run's optimiser is any optax chain without touching the loop that
steps it (``pgjax.algorithms.learners.minibatch_loop``).

    adam      global-norm clip (max_grad_norm), Adam (eps 1e-5), the learning rate: the default
              (PureJaxRL's and CleanRL's PPO)
    rmsprop   global-norm clip, RMSProp (decay 0.99, eps 1e-5: A2C's), the learning rate
    sgd       global-norm clip, the learning rate

A factory of your own, from any file (``pgjax train --import my_opt --optimizer lion``)::

    import optax
    from pgjax.algorithms import optimizers

    @optimizers.register("lion")
    def lion(lr, hp):
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.lion(lr, b1=0.9))

``lr`` is a schedule (``count → rate``: ``hp.lr``, annealed linearly to 0 where
``Config.anneal_lr``) and ``hp`` the run's ``HParams`` (its own traced settings in
``hp.settings``). A factory includes the norm clip itself if it wants one (the three above do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from pgjax.core.checks import did_you_mean

Factory = Callable[[Any, Any], optax.GradientTransformation]
"""``factory(lr, hparams) → optax.GradientTransformation``."""

REGISTRY: dict[str, Factory] = {}
"""The optimisers by name."""


def register(name: str, factory: Factory | None = None):
    """Make ``Config(optimizer=name)`` (or ``policy_optimizer``) build ``factory(lr, hp)``;
    registering a name again replaces it. Usable as a decorator, ``@register("lion")``.
    ``ValueError`` for a name that is not a word or a factory that is not callable."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"optimizers.register: name {name!r} must be a word (letters, _)")

    def add(factory: Factory) -> Factory:
        if not callable(factory):
            raise ValueError(f"optimizers.register({name!r}): {factory!r} is not callable")
        REGISTRY[name] = factory
        return factory

    return add if factory is None else add(factory)


def names() -> list[str]:
    """The registered optimisers' names."""
    return list(REGISTRY)


def get(name: str, field: str = "optimizer") -> Factory:
    """The factory registered as ``name``; ``ValueError`` naming ``Config.<field>``, the close
    matches and the registered names."""
    if isinstance(name, str) and name in REGISTRY:
        return REGISTRY[name]
    raise ValueError(
        f"Config.{field}={name!r} is unknown{did_you_mean(str(name), names())}; allowed: "
        f"{', '.join(names())}; your own: pgjax.algorithms.optimizers.register(name, factory), "
        "and on the command line --import the module that registers it"
    )


def schedule(config: Any, hp: Any, steps_per_update: int) -> Callable[[jax.Array], jax.Array]:
    """The learning rate at optax step ``count``: ``hp.lr``, or, where ``Config.anneal_lr``,
    ``hp.lr · (1 − ⌊count / steps_per_update⌋ / num_updates)`` (linear to 0 over the run)."""

    def lr(count: jax.Array) -> jax.Array:
        if not config.anneal_lr:
            return jnp.asarray(hp.lr, jnp.float32)
        return hp.lr * (1.0 - (count // steps_per_update) / config.num_updates)

    return lr


def build(
    name: str, config: Any, hp: Any, steps_per_update: int, field: str = "optimizer"
) -> optax.GradientTransformation:
    """The optimiser ``name`` for ``config``'s run, counting ``steps_per_update`` optax steps
    per update for the annealing."""
    return get(name, field)(schedule(config, hp, steps_per_update), hp)


@register("adam")
def adam(lr: Any, hp: Any) -> optax.GradientTransformation:
    """Adam (eps 1e-5) after a global-norm clip."""
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_adam(eps=1e-5),
        optax.scale_by_learning_rate(lr),
    )


@register("rmsprop")
def rmsprop(lr: Any, hp: Any) -> optax.GradientTransformation:
    """RMSProp (decay 0.99, eps 1e-5, as A2C's code) after a global-norm clip."""
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_rms(decay=0.99, eps=1e-5),
        optax.scale_by_learning_rate(lr),
    )


@register("sgd")
def sgd(lr: Any, hp: Any) -> optax.GradientTransformation:
    """Plain gradient descent after a global-norm clip."""
    clip = optax.clip_by_global_norm(hp.max_grad_norm)
    return optax.chain(clip, optax.scale_by_learning_rate(lr))
