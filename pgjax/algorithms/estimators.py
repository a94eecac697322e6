"""The estimate stage: from a ``Trajectory`` ``[T, N]`` to the weights the policy learns from
and the critic's targets, by the algorithm's ``Estimator``: a value, as an optax transform is.

``estimate`` evaluates V of every observation and of every true next observation in two
batched passes, then calls the estimator, an unbatched-in-time function of ``pgjax.math.returns``
vmapped over the environments. An estimator that recomputes its weights from the parameters
being learned (V-trace) does so again at every minibatch (``Estimator.per_minibatch``), on
whole time-ordered windows.

    GAE            GAE(γ, λ) advantages, bootstrapped at truncations and the window's end
    MONTE_CARLO    REINFORCE's R(τ) or reward-to-go, minus its baseline (its setting baseline)
    VTRACE         V-trace targets and advantages, with truncated importance weights ρ̄, c̄

A new estimator is an ``Estimator(...)`` of a function of the same form (here, or in a user's
file), named by an ``Algorithm`` (``pgjax.algorithms.register``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.algorithms.trajectory import Trajectory
from pgjax.core.hparams import HParams
from pgjax.core.settings import Setting
from pgjax.envs import ObsNorm
from pgjax.math import returns
from pgjax.nets import Memory

Array = jax.Array


class Steps(NamedTuple):
    """What a per-minibatch estimator reads besides a ``Batch``'s own fields, ``[T, N]``:
    the rewards (scaled), terminations, truncations and the next observations as the networks
    see them."""

    reward: Array
    terminated: Array
    truncated: Array
    next_obs: Array


class Batch(NamedTuple):
    """What the learner learns from: transitions, each field ``[T, N, ...]``
    (``transitions()`` flattens them to ``[T·N, ...]`` for minibatches of single steps).

    ``obs``: as the networks see them (normalised); ``action``, ``log_prob``: the stored
    action and log π_old(a|s); ``advantages``: the policy's weights; ``targets``: the critic's;
    ``values``: V_old(s); ``old_dist_params``: π_old(·|s)'s parameters; ``mask``: 1 for the
    steps that count, or ``None`` where all do (only REINFORCE masks steps out); ``memory``:
    a recurrent policy's ``pgjax.nets.Memory`` of the windows (hidden states ``[N, ...]``,
    ``first [T, N]``), or ``None``; ``steps``: the ``Steps`` a per-minibatch estimator reads,
    or ``None``.
    """

    obs: Array
    action: Array
    log_prob: Array
    advantages: Array
    targets: Array
    values: Array
    old_dist_params: Any
    mask: Array | None = None
    memory: Memory | None = None
    steps: Steps | None = None

    def transitions(self) -> Batch:
        """What the learner shuffles: the same data with time and environments flattened into
        one axis ``[T·N, ...]`` (single transitions); a recurrent batch as it is, whole
        windows ``[T, N, ...]`` (its memory replays them). An estimator that recomputes per
        minibatch keeps windows too (``Static.windows``)."""
        if self.memory is not None:
            return self
        return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), self)


class Estimate(NamedTuple):
    """An estimator's answer for a batch, each ``[T, N]``: the policy's ``advantages``, the
    critic's ``targets``, a ``mask`` of the steps that count (``None``: all), the
    algorithm's state it moved (``algo``), and scalars it reports with the update's metrics
    (``metrics``, or ``None``)."""

    advantages: Array
    targets: Array
    mask: Array | None
    algo: Any
    metrics: dict[str, Array] | None = None


def _always(config: Any) -> bool:
    return True


def _no_checks(config: Any) -> None:
    return None


class Estimator(NamedTuple):
    """Where the policy's weights and the critic's targets come from.

    ``estimate(static, hp, traj, values, next_values, algo_state, first) → Estimate``: once
    per batch, from the rollout ``traj`` ``[T, N]``, V(s_t) and V(s'_t) ``[T, N]``, the
    algorithm's state and whether this is the run's first update.
    ``per_minibatch(static, params, mb, dist_params, values, hp) → (advantages, targets)``:
    where given, the weights and targets again at every minibatch, from the parameters being
    learned (``dist_params``, ``values``: theirs on the minibatch's windows ``[T, B]``); the
    learner then shuffles whole environment windows, never single steps.
    ``fresh_episodes``: every rollout starts from fresh resets (REINFORCE's R(τ) needs whole
    episodes). ``whole_episodes``: its windows should be as long as the time limit (presets
    make them so). ``normalize``: advantages may be standardised per minibatch
    (``Config.normalize_advantages``). ``reads_critic(config)``: whether V(s) is read at all
    (if not, no critic is fitted). ``check(config)``: ``ValueError`` for settings it cannot
    use. ``settings``: its own knobs (``pgjax.core.settings.Setting``), in ``Config.settings``.
    """

    name: str
    estimate: Callable[..., Estimate]
    per_minibatch: Callable[..., tuple[Array, Array]] | None = None
    fresh_episodes: bool = False
    whole_episodes: bool = False
    normalize: bool = True
    reads_critic: Callable[[Any], bool] = _always
    check: Callable[[Any], None] = _no_checks
    settings: tuple[Setting, ...] = ()


def _per_env(f, *args):
    """``f`` of time-major ``[T]`` arrays, vmapped over the environment axis of ``[T, N]``."""
    return jax.vmap(f, in_axes=(1,) * len(args), out_axes=1)(*args)


# ---- GAE ------------------------------------------------------------------------------------


def gae_estimate(static, hp: HParams, traj: Trajectory, values, next_values, algo, first):
    """GAE(γ, λ) advantages ``[T, N]`` (bootstrapped from V(final observation) at truncations
    and at the window's end, never at terminations) and their critic targets A + V."""
    advantages = jax.vmap(returns.gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
        traj.reward * hp.reward_scale,
        values,
        next_values,
        traj.terminated,
        traj.truncated,
        hp.gamma,
        hp.gae_lambda,
    )
    return Estimate(advantages, advantages + values, None, algo)


GAE = Estimator("gae", gae_estimate)


# ---- Monte Carlo: REINFORCE -------------------------------------------------------------------


class MeanBaseline(NamedTuple):
    """REINFORCE's running mean of the returns, the seed's tip 1 baseline b ≈ E[R] (scalar)."""

    mean_return: Array


def update_mean_baseline(state: MeanBaseline, batch_mean: Array, valid: Array, first: Array):
    """b ← batch mean at the first update, else b ← 0.9 b + 0.1 · batch mean; unchanged when
    the batch had no valid weight (``valid == 0``). All scalars; returns a new state."""
    mean = jnp.where(first, batch_mean, 0.9 * state.mean_return + 0.1 * batch_mean)
    return MeanBaseline(jnp.where(valid > 0, mean, state.mean_return))


def monte_carlo_weights(static, hp, traj, values, next_values, baseline: MeanBaseline):
    """REINFORCE's weights ``[T, N]``, their regression targets and validity mask.

    ``return_type="episode"``: R(τ) of each step's episode; ``"reward_to_go"``: G_t. The
    baseline is subtracted: 0, the running mean ``baseline`` (computed before this batch, so
    it stays independent of it: unbiased), or the critic's V(s_t).

    A step whose episode is still running at the end of the window has no R(τ) and no full
    reward-to-go: it is masked out, except for reward-to-go with a critic, where the window's
    end is bootstrapped with V(s_T) like any cut.
    """
    return_type, baseline_kind = (static.config.settings[n] for n in ("return_type", "baseline"))
    rewards = traj.reward * hp.reward_scale
    episode_return, complete = _per_env(
        returns.episode_returns, rewards, traj.terminated, traj.truncated
    )
    bootstrap = return_type == "reward_to_go" and baseline_kind == "critic"
    if return_type == "episode":
        weights = episode_return
    else:
        nv = next_values if bootstrap else jnp.zeros_like(next_values)
        weights = jax.vmap(returns.discounted_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
            rewards, traj.terminated, traj.truncated, nv, hp.gamma
        )
    mask = jnp.ones_like(weights) if bootstrap else complete.astype(weights.dtype)
    subtract = {"none": 0.0, "mean": baseline.mean_return, "critic": values}[baseline_kind]
    return weights - subtract, weights, mask


def monte_carlo_estimate(static, hp, traj, values, next_values, algo: MeanBaseline, first):
    """``monte_carlo_weights``, and the running mean of the weights (the seed's b ≈ E[R])
    moved by this batch, for the next one."""
    advantages, targets, mask = monte_carlo_weights(static, hp, traj, values, next_values, algo)
    valid = static.sum_all(jnp.sum(mask))
    batch_mean = static.sum_all(jnp.sum(targets * mask)) / jnp.maximum(valid, 1.0)
    return Estimate(advantages, targets, mask, update_mean_baseline(algo, batch_mean, valid, first))


RETURN_TYPES = ("episode", "reward_to_go")
"""REINFORCE's weights (its setting ``return_type``)."""
BASELINES = ("none", "mean", "critic")
"""REINFORCE's baselines (its setting ``baseline``)."""
RETURN_TYPE = Setting(
    "return_type", "reward_to_go",
    "REINFORCE's weight: episode (every step weighted by its whole episode's R(τ)) or "
    "reward_to_go (Σ_{t'≥t} γ^{t'−t} r_{t'})", kind="choice", choices=RETURN_TYPES,
)  # fmt: skip
BASELINE = Setting(
    "baseline", "critic",
    "REINFORCE's baseline b: none, mean (a running average of episode returns) or critic (a "
    "learned V(s), regressed on the returns)", kind="choice", choices=BASELINES,
)  # fmt: skip
RHO_BAR = Setting(
    "rho_bar", 1.0,
    "V-trace's ρ̄: each step's ratio π/μ is cut at ρ̄ in its TD error and its policy weight "
    "(the fixed point the policy learns toward)", traced=True, low=0.0, inf=True,
)  # fmt: skip
C_BAR = Setting(
    "c_bar", 1.0,
    "V-trace's c̄: the ratios that carry the traces back are λ·min(c̄, π/μ) (their variance)",
    traced=True, low=0.0, inf=True,
)  # fmt: skip


MONTE_CARLO = Estimator(
    "monte_carlo",
    monte_carlo_estimate,
    fresh_episodes=True,
    whole_episodes=True,
    normalize=False,
    # without the critic baseline REINFORCE never reads V(s): nothing to fit
    reads_critic=lambda config: config.settings["baseline"] == "critic",
    settings=(RETURN_TYPE, BASELINE),
)


# ---- V-trace ----------------------------------------------------------------------------------


def _vtrace(hp: HParams, steps: Steps, values, next_values, log_rhos):
    """``returns.vtrace`` over the environments of ``[T, N]`` arrays."""
    return jax.vmap(returns.vtrace, in_axes=(1, 1, 1, 1, 1, 1, None, None, None, None), out_axes=1)(
        steps.reward,
        values,
        next_values,
        steps.terminated,
        steps.truncated,
        log_rhos,
        hp.gamma,
        hp.gae_lambda,
        hp.settings["rho_bar"],
        hp.settings["c_bar"],
    )


def vtrace_estimate(static, hp, traj, values, next_values, algo, first):
    """V-trace of the batch as collected: π = μ, every ratio 1 (what the first minibatch
    sees; later ones recompute it, ``vtrace_per_minibatch``)."""
    steps = Steps(traj.reward * hp.reward_scale, traj.terminated, traj.truncated, None)
    targets, advantages = _vtrace(hp, steps, values, next_values, jnp.zeros_like(values))
    return Estimate(advantages, targets, None, algo)


def vtrace_per_minibatch(static, params, mb: Batch, dist_params, values, hp):
    """V-trace on the minibatch's windows ``[T, B]`` under the parameters being learned: the
    ratios π_θ/μ of the stored actions, V_θ(s_t) and V_θ(s'_t), so that each epoch's reuse of
    the batch is corrected step by step."""
    net = static.net
    if mb.memory is None:
        next_values = net.value(params, mb.steps.next_obs)
    else:  # V(s'_t) from the hidden state after step t
        next_values = net.values_and_next(params, mb.obs, mb.steps.next_obs, mb.memory)[1]
    log_rhos = net.dist.log_prob(dist_params, mb.action) - mb.log_prob
    targets, advantages = _vtrace(hp, mb.steps, values, next_values, log_rhos)
    return advantages, targets


VTRACE = Estimator(
    "vtrace", vtrace_estimate, per_minibatch=vtrace_per_minibatch, settings=(RHO_BAR, C_BAR)
)


# ---- the stage --------------------------------------------------------------------------------


def estimate(
    static, params, obs_norm: ObsNorm, traj: Trajectory, algo_state, hp: HParams, first: Array
) -> tuple[Batch, Any, dict[str, Array]]:
    """The batch the learner learns from, the algorithm's state moved by it (REINFORCE's
    running mean of the returns, for the next batch; the others' unchanged) and the
    estimator's own metrics (``{}`` for none). ``first``: whether this is the run's first
    update (scalar bool)."""
    net, estimator = static.net, static.algorithm.estimator
    obs = static.norm(obs_norm, traj.obs)
    next_obs = static.norm(obs_norm, traj.next_obs)
    if traj.memory is None:
        values, next_values = net.value(params, obs), net.value(params, next_obs)
    else:  # replayed from the window's start, V(s'_t) from the state after step t
        values, next_values = net.values_and_next(params, obs, next_obs, traj.memory)
    out = estimator.estimate(static, hp, traj, values, next_values, algo_state, first)
    steps = None
    if estimator.per_minibatch is not None:
        scaled = traj.reward * hp.reward_scale
        steps = Steps(scaled, traj.terminated, traj.truncated, next_obs)
    batch = Batch(
        obs,
        traj.action,
        traj.log_prob,
        out.advantages,
        out.targets,
        values,
        traj.dist_params,
        out.mask,
        traj.memory,
        steps,
    )
    return batch, out.algo, out.metrics or {}
