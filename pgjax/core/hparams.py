"""The hyperparameters that may be traced, apart from the static ``Config`` (so that
``config.py`` and ``algorithms.py`` need not import each other)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class HParams(NamedTuple):
    """Hyperparameters that may be traced (and so vmapped) in ``train(key, hparams)``.

    The fields every run has are scalars (or, under ``jax.vmap``, batches of scalars); see
    ``Config`` for their meaning. ``settings``: the algorithm's own traced settings by name
    (``pgjax.core.settings.Setting`` with ``traced=True``: PPO-Penalty's ``kl_beta``, TRPO's
    ``max_kl``, V-trace's ``rho_bar`` and ``c_bar``, a user's own knob), read as
    ``hp.settings["max_kl"]``.
    """

    lr: Any
    gamma: Any
    gae_lambda: Any
    clip_eps: Any
    ent_coef: Any
    vf_coef: Any
    max_grad_norm: Any
    reward_scale: Any
    settings: Mapping[str, Any]

    def names(self) -> list[str]:
        """What may be traced: the common fields, then the algorithm's traced settings."""
        return [*COMMON, *self.settings]

    def set(self, **values: Any) -> HParams:
        """A copy with ``values`` in place, each a common field or one of ``settings``;
        ``ValueError`` for any other name."""
        wrong = [n for n in values if n not in COMMON and n not in self.settings]
        if wrong:
            raise ValueError(f"HParams has no {wrong[0]!r}; traced here: {', '.join(self.names())}")
        own = {n: v for n, v in values.items() if n in self.settings}
        common = {n: v for n, v in values.items() if n in COMMON}
        return self._replace(**common, settings={**self.settings, **own})

    def axes(self, names: Iterable[str], axis: int = 0) -> HParams:
        """The ``in_axes`` of ``jax.vmap`` that batch ``names`` along ``axis`` and broadcast
        the rest::

            hp = config.hparams().set(lr=jnp.array([1e-4, 3e-4]))
            jax.vmap(train, in_axes=(None, hp.axes(["lr"])))(key, hp)
        """
        names = set(names)
        self.set(**dict.fromkeys(names))  # a name nothing traces raises here
        return HParams(
            *[axis if f in names else None for f in COMMON],
            {n: axis if n in names else None for n in self.settings},
        )


COMMON = HParams._fields[:-1]
"""The traced fields every run has (``HParams`` less ``settings``)."""
