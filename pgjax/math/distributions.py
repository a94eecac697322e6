"""Action distributions as pure functions of their parameters.

Categorical (discrete actions) is parameterised by unnormalised ``logits [..., K]``;
the diagonal Gaussian (continuous actions) by ``mean [..., A]`` and a state-independent
``log_std [A]`` (broadcast against ``mean``); the tanh-squashed Gaussian by the same two, of
the Gaussian before the squash. Leading axes broadcast; nothing is vmapped here.

KL(p‖q) is the behaviour distance of the seed's PPO section: a distance between the two
policies' action distributions at a state, not between their parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


# ---- categorical -----------------------------------------------------------------------------


def categorical_sample(key: Array, logits: Array) -> Array:
    """a ~ softmax(logits).  logits ``[..., K]`` → int ``[...]``."""
    return categorical_from_noise(logits, categorical_noise(key, jnp.shape(logits)))


def categorical_noise(key: Array, shape: tuple[int, ...]) -> Array:
    """The randomness of ``categorical_sample``: standard Gumbel noise of the logits' shape."""
    return jax.random.gumbel(key, shape)


def categorical_from_noise(logits: Array, noise: Array) -> Array:
    """The Gumbel-max trick: argmax_a (logits_a + g_a), g_a ~ Gumbel(0, 1) i.i.d., is
    distributed as softmax(logits) (what ``jax.random.categorical`` computes).
    logits, noise ``[..., K]`` → int ``[...]``."""
    return jnp.argmax(logits + noise, axis=-1)


def categorical_log_prob(logits: Array, action: Array) -> Array:
    """log π(a) = log_softmax(logits)[a].  logits ``[..., K]``, action int ``[...]`` → ``[...]``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, jnp.asarray(action)[..., None].astype(jnp.int32), -1)[..., 0]


def categorical_entropy(logits: Array) -> Array:
    """H(π) = −Σ_a π(a) log π(a).  logits ``[..., K]`` → ``[...]``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def categorical_kl(logits_p: Array, logits_q: Array) -> Array:
    """KL(p‖q) = Σ_a p(a) (log p(a) − log q(a)).  ``[..., K]`` each → ``[...]``, ≥ 0."""
    logp = jax.nn.log_softmax(logits_p, axis=-1)
    logq = jax.nn.log_softmax(logits_q, axis=-1)
    return jnp.sum(jnp.exp(logp) * (logp - logq), axis=-1)


# ---- diagonal Gaussian -----------------------------------------------------------------------


def gaussian_sample(key: Array, mean: Array, log_std: Array) -> Array:
    """a = μ + σ ε, ε ~ N(0, I).  mean ``[..., A]``, log_std ``[A]`` → ``[..., A]``.

    The sample is not clipped: store it as the action for log-probabilities and clip only the
    copy sent to the environment.
    """
    return gaussian_from_noise(mean, log_std, gaussian_noise(key, jnp.shape(mean)))


def gaussian_noise(key: Array, shape: tuple[int, ...]) -> Array:
    """The randomness of ``gaussian_sample``: ε ~ N(0, I) of the mean's shape."""
    return jax.random.normal(key, shape)


def gaussian_from_noise(mean: Array, log_std: Array, noise: Array) -> Array:
    """a = μ + σ ε.  mean, noise ``[..., A]``, log_std ``[A]`` → ``[..., A]``."""
    return mean + jnp.exp(log_std) * noise


def gaussian_log_prob(mean: Array, log_std: Array, action: Array) -> Array:
    """log N(a; μ, diag σ²) = Σ_i [−½((a_i − μ_i)/σ_i)² − log σ_i − ½ log 2π].  → ``[...]``."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(mean: Array, log_std: Array) -> Array:
    """H = Σ_i (log σ_i + ½ log 2πe).  Depends on ``mean`` only through its shape. → ``[...]``."""
    log_std = jnp.broadcast_to(log_std, jnp.shape(mean))
    return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)


def gaussian_kl(mean_p: Array, log_std_p: Array, mean_q: Array, log_std_q: Array) -> Array:
    """KL(p‖q) for diagonal Gaussians, summed over action dimensions.

    KL = Σ_i [ log(σ_q,i/σ_p,i) + (σ_p,i² + (μ_p,i − μ_q,i)²) / (2 σ_q,i²) − ½ ].  → ``[...]``.
    """
    var_ratio = jnp.exp(2.0 * (log_std_p - log_std_q))
    mean_term = (mean_p - mean_q) ** 2 * jnp.exp(-2.0 * log_std_q)
    per_dim = log_std_q - log_std_p + 0.5 * (var_ratio + mean_term - 1.0)
    return jnp.sum(per_dim, axis=-1)


# ---- tanh-squashed Gaussian -------------------------------------------------------------------
#
# u ~ N(μ, diag σ²), a = low + (tanh(u) + 1)(high − low)/2, so that a lies inside the bounds
# without clipping (Brax's and SAC's policy). The stored action is u: a's density follows from
# it exactly, while atanh(a) loses precision where tanh saturates.


def log1m_tanh_sq(u: Array) -> Array:
    """log(1 − tanh²(u)) = 2 (log 2 − u − softplus(−2u)), stable for large |u|."""
    return 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def tanh_normal_log_prob(mean: Array, log_std: Array, u: Array, log_scale: Array) -> Array:
    """log p(a) of a = low + (tanh(u) + 1)·scale, scale = (high − low)/2, by the change of
    variables: log N(u; μ, σ²) − Σ_i [log(1 − tanh²(u_i)) + log scale_i].  mean, u ``[..., A]``,
    log_std, log_scale ``[A]`` → ``[...]``.

    The log-determinant depends on u alone, so it cancels in π_new(a)/π_old(a): the importance
    ratio is the Gaussians' ratio at the same u."""
    jacobian = jnp.sum(log1m_tanh_sq(u) + log_scale, axis=-1)
    return gaussian_log_prob(mean, log_std, u) - jacobian


def squash(u: Array, low: Array, high: Array) -> Array:
    """a = low + (tanh(u) + 1)(high − low)/2, inside [low, high].  u ``[..., A]``."""
    return low + (jnp.tanh(u) + 1.0) * (0.5 * (high - low))


# ---- one interface over all three, chosen by the action space ------------------------------


class ActionDist(NamedTuple):
    """The operations the pipeline needs, over a distribution's parameters ``params``:
    logits ``[..., K]`` for the categorical, ``(mean, log_std)`` ``[..., A]`` each for the
    Gaussian.

    ``sample(key, params)`` equals ``from_noise(params, noise(key, shape))`` with ``shape`` the
    logits' (or the mean's) shape: a rollout draws all its noise before its sequential loop,
    in one batched call, and only applies it inside.
    """

    sample: Callable[[Array, Any], Array]
    noise: Callable[[Array, tuple[int, ...]], Array]
    """Standard noise of a given shape ``[..., K]`` or ``[..., A]`` (Gumbel, or normal)."""
    from_noise: Callable[[Any, Array], Array]
    """The sample that ``params`` make of that noise (deterministic)."""
    log_prob: Callable[[Any, Array], Array]
    entropy: Callable[[Any], Array]
    kl: Callable[[Any, Any], Array]
    mode: Callable[[Any], Array]
    """The greedy action (evaluation): argmax of the logits, or the mean (before the squash)."""
    to_env: Callable[[Array], Array] = lambda action: action
    """The stored action as the environment takes it, before ``pgjax.envs.env_action`` clips
    it to the bounds: itself, or the squashed u of the tanh-squashed Gaussian."""


CATEGORICAL = ActionDist(
    sample=categorical_sample,
    noise=categorical_noise,
    from_noise=categorical_from_noise,
    log_prob=categorical_log_prob,
    entropy=categorical_entropy,
    kl=categorical_kl,
    mode=lambda logits: jnp.argmax(logits, axis=-1),
)

GAUSSIAN = ActionDist(
    sample=lambda key, p: gaussian_sample(key, *p),
    noise=gaussian_noise,
    from_noise=lambda p, noise: gaussian_from_noise(*p, noise),
    log_prob=lambda p, action: gaussian_log_prob(*p, action),
    entropy=lambda p: gaussian_entropy(*p),
    kl=lambda p, q: gaussian_kl(*p, *q),
    mode=lambda p: p[0],
)


def tanh_normal(low: Array, high: Array) -> ActionDist:
    """The tanh-squashed Gaussian on the box [low, high] (``[A]`` each); the stored action is u.

    ``log_prob``: exact, with the log-determinant of the squash. ``kl``: exact, the Gaussians'
    KL (a KL is unchanged when both distributions go through the same bijection).
    ``entropy``: the Gaussian's H(u), not H(a), which has no closed form; H(a) = H(u) +
    E[Σ log(1 − tanh²(u_i)) + log scale_i] ≤ H(u) + Σ log scale_i, so the bonus rewards the
    spread of u, the squash's saturation unpenalised (Brax estimates H(a) from one sample
    instead). ``mode``: the mean μ, squashed by ``to_env``.
    """
    low, high = jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)
    log_scale = jnp.log(0.5 * (high - low))
    return GAUSSIAN._replace(
        log_prob=lambda p, u: tanh_normal_log_prob(*p, u, log_scale),
        to_env=lambda u: squash(u, low, high),
    )
