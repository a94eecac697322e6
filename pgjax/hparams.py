"""The hyperparameters that may be traced, apart from the static ``Config`` (so that
``config.py`` and ``algorithms.py`` need not import each other)."""

from __future__ import annotations

from typing import Any, NamedTuple


class HParams(NamedTuple):
    """Hyperparameters that may be traced (and so vmapped) in ``train(key, hparams)``.

    Each field is a scalar (or, under ``jax.vmap``, a batch of scalars); see ``Config`` for
    their meaning.
    """

    lr: Any
    gamma: Any
    gae_lambda: Any
    clip_eps: Any
    ent_coef: Any
    vf_coef: Any
    max_grad_norm: Any
    reward_scale: Any
    kl_beta: Any
    max_kl: Any
    rho_bar: Any
    c_bar: Any
