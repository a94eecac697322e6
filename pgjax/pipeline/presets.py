"""Settings that learn, one per (environment, algorithm), each measured by a script in
``benchmarks/``. ``Config(algo=A, env=E)`` uses them for every field left unset
(``pgjax.pipeline.config``): the pair's own preset where there is one, else the environment's
fields of its PPO preset (``ENV_FIELDS``), with the algorithm's defaults for the rest.

    from pgjax import Config
    config = Config(env="Breakout-MinAtar", total_timesteps=5_000_000)  # the preset, longer
    preset("Breakout-MinAtar")                                          # the preset itself

This module holds plain dicts of fields (``Config`` reads them while it is built); it builds
no environment and imports no config (``pgjax.pipeline.config.preset`` makes a preset's ``Config``).

Each preset's comment names the keys its search split seeds from: key 0 (the learning table's
key until issue 42) or key 1000 (``benchmarks/preset_search.py``'s default). The learning table
(``benchmarks/learning.py``) splits its seeds from key 99, which no search here used.
"""

from __future__ import annotations

from typing import Any

from pgjax.envs.registry import base_name, parse

# Continuous control: 16 envs x 256 steps, 10 epochs of 32 minibatches; observations
# normalised, rewards scaled by 0.1, no entropy bonus, unclipped critic. On Pendulum at lr 1e-3
# one seed in eight learned to -280 and then collapsed to -1150; at 3e-4 none did (key 0).
_CONTINUOUS = dict(
    total_timesteps=500_000,
    num_envs=16,
    num_steps=256,
    num_epochs=10,
    num_minibatches=32,
    lr=3e-4,
    ent_coef=0.0,
    normalize_obs=True,
    reward_scale=0.1,
    vf_clip=False,
)

PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    # PureJaxRL's published CartPole configuration (Config's global defaults), as published.
    ("CartPole-v1", "ppo_clip"): {},
    ("Pendulum-v1", "ppo_clip"): dict(_CONTINUOUS),
    # A longer horizon (γ 0.999) and an entropy bonus, so that the car keeps exploring until
    # it has found the flag (without them half the seeds settled on standing still, which
    # avoids the action cost; at lr 1e-3 one seed in eight still did). Searched on key 0.
    ("MountainCarContinuous-v0", "ppo_clip"): {**_CONTINUOUS, "gamma": 0.999, "ent_coef": 0.01},
    # The defaults learn Acrobot as they are (key 0).
    ("Acrobot-v1", "ppo_clip"): {},
}
# A2C on CartPole: 8 envs x 16 steps (a 128-step batch per update; its default is 16 x 32) and
# rewards scaled by 0.1. Over 8 seeds at 1M steps its defaults left seeds between 130 and 500
# whatever the learning rate (7e-4 to 2.5e-3), entropy bonus (0, 0.01) or λ (0.95, 1); 64 envs
# did no better; 8 x 16 alone left 1 or 2 seeds in 8 near 100-250. With rewards x 0.1 as well
# every one of 16 seeds reached 500 at 500k steps for each of lr 1e-3 and 2.5e-3 and gradient
# norm 0.5 and 5 (64 runs; unscaled, 4 to 8 of each 16 fell back). Searched on key 0.
PRESETS[("CartPole-v1", "a2c")] = dict(num_envs=8, num_steps=16, reward_scale=0.1)
# V-trace on CartPole as IMPALA forms it: λ 1 (the traces cut by c̄ alone), advantages not
# normalised, no entropy bonus, lr 5e-4. With the defaults (normalised advantages, λ 0.95,
# entropy 0.01) 16 seeds of key 1000 reached 500 and some fell back (mean 493.3, worst 392.3;
# key 99 before this preset: 454.6, worst 143.4): a normalised advantage keeps the step's
# size once the returns are all 500, and nothing in min(ρ̄, π/μ) stops it. No single change
# of lr (1.5e-4 to 5e-4), grad norm, epochs (1, 2), envs (8, 16) or λ fixed that; without the
# normalisation, entropy 0.01 held seeds near 450, 0.001 left one at 337, lr 1e-3 lost seeds
# at 9. These: all 16 seeds at 500 on key 1000 and on key 0 (lr 3.5e-4 as well on key 0).
# benchmarks/results/searches/CartPole-v1__vtrace.md has every candidate.
PRESETS[("CartPole-v1", "vtrace")] = dict(
    normalize_advantages=False, gae_lambda=1.0, ent_coef=0.0, lr=5e-4
)
# On Pendulum the other trust-region objectives need PPO's continuous sizes too: with their
# own (512-step batches, 4 x 4 minibatch steps) they stay near the random policy's -1230 in
# 500k steps; with these, benchmarks/ppo_variants.py (4 seeds) measured adaptive-KL PPO -156,
# TRPO -157 and the unconstrained surrogate -250 (key 0). benchmarks/learning.py measures them.
for _algo in ("is_pg", "ppo_penalty", "trpo"):
    PRESETS[("Pendulum-v1", _algo)] = dict(_CONTINUOUS)
# PureJaxRL's MinAtar settings: an MLP 64 wide on the flattened frames, 64 envs x 128 steps,
# 8 minibatches, lr 5e-3, relu. On Breakout the actor and critic share their torso: in
# exploratory sweeps (issue 3's notes) about 42 over 24 seeds at 2M steps against about 35
# with separate networks, and 1.2x the steps per second; no single change of gamma, lambda,
# entropy, clip, grad norm, learning rate, epochs, minibatches or layout did as well (key 0).
# benchmarks/learning.py measures it.
for _game in ("Breakout", "SpaceInvaders", "Asterix", "Freeway"):
    PRESETS[(f"{_game}-MinAtar", "ppo_clip")] = dict(
        total_timesteps=2_000_000,
        num_envs=64,
        num_steps=128,
        num_minibatches=8,
        lr=5e-3,
        activation="relu",
        network="mlp",
        shared_torso=_game == "Breakout",
    )

# PPO-Penalty on Breakout takes PPO-Clip's preset whole (its sizes, lr 5e-3, the shared torso):
# 4 seeds of key 0 gave 33.6-62.9 (mean 42.8) at lr 5e-3 and 19.0-43.2 at 2.5e-3, where with
# its own sizes (4 envs x 128 steps, lr 2.5e-4) 8 seeds stayed at 1.5-7.0 (a random
# policy scores 0.43). benchmarks/results/searches/Breakout-MinAtar__ppo_penalty.md.
# On SpaceInvaders and Asterix too, not searched further: with its own sizes 8 seeds reached
# IQMs of 94.9 (key 0) and 2.01 (key 99), 70% of PPO-Clip's held-out 135.8 and 2.89; PPO-Clip's
# preset was chosen on key 0.
for _game in ("Breakout", "SpaceInvaders", "Asterix"):
    PRESETS[(f"{_game}-MinAtar", "ppo_penalty")] = dict(PRESETS[(f"{_game}-MinAtar", "ppo_clip")])

# Brax, after Brax's own PPO settings scaled to a CPU: a tanh-squashed Gaussian, observations
# normalised, γ 0.97, 4 epochs, no entropy bonus; 64 envs x 64 steps rather than Brax's 2048
# envs x 5 steps (checked on key 0). benchmarks/learning.py measures them.
_BRAX = dict(
    action_dist="tanh_normal",
    num_envs=64,
    num_steps=64,
    num_epochs=4,
    num_minibatches=8,
    lr=3e-4,
    gamma=0.97,
    ent_coef=0.0,
    normalize_obs=True,
    vf_clip=False,
)
PRESETS[("brax/inverted_pendulum", "ppo_clip")] = dict(total_timesteps=500_000, **_BRAX)
# Locomotion: 128 envs x 16 steps, 4 minibatches, a little entropy. At 1.5M steps on the
# spring backend (2 seeds) ant went from about -400 to about 1000; rewards scaled by 0.1 with
# a gradient norm of 1 learned more slowly (about 700). Key 0.
PRESETS[("brax/ant", "ppo_clip")] = dict(
    total_timesteps=2_000_000,
    **{**_BRAX, "num_envs": 128, "num_steps": 16, "num_minibatches": 4, "ent_coef": 0.001},
)
# MuJoCo Playground's CartpoleBalance: Brax's settings with lr 1e-3, searched on key 0 (4 seeds,
# 2M steps, benchmarks/results/searches/playground_CartpoleBalance__ppo_clip.md: lr 3e-4 IQM
# 996.3, lr 1e-3 999.4 of the 1000 an episode can return).
PRESETS[("playground/CartpoleBalance", "ppo_clip")] = dict(
    total_timesteps=2_000_000, **{**_BRAX, "lr": 1e-3}
)
# Craftax (symbolic), after the Craftax paper's PPO scaled to a CPU: λ 0.8, lr 2e-4, an
# entropy bonus, wider layers for its 1345 (Classic) or 8268 inputs (checked on key 0).
for _name in ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1"):
    PRESETS[(f"craftax/{_name}", "ppo_clip")] = dict(
        total_timesteps=1_000_000,
        num_envs=64,
        num_steps=64,
        num_epochs=4,
        num_minibatches=8,
        lr=2e-4,
        gae_lambda=0.8,
        ent_coef=0.01,
        hidden_sizes=(256, 256),
    )

# Tasks that need memory (pgjax.envs.memory_tasks, and bsuite's MemoryChain): a small GRU learns the
# first two in 100k steps over 8 seeds (benchmarks/memory.py), where a feed-forward policy stays
# at chance. MaskedCartPole: PureJaxRL's CartPole settings with a 32-unit GRU after one 64-wide
# layer, and observations normalised (the angle's steps are hundredths of a radian: scaled up,
# the cell can tell the velocities from them), lr 5e-4, clip 0.1, no entropy bonus. Sweeps of 8
# seeds at 500k steps gave 460.7 (these), 445.2 (entropy 0.01), 462.6 and 463.0 (lr 3.5e-4 with
# λ 0.99; lr 7e-4), 449.8 (rewards x 0.1). 1M steps gave 477.4 in a sweep and 395.0 in
# benchmarks/memory.py, the same seeds on another floating-point path: not adopted.
# Unnormalised, nothing passed 432 over 4 seeds. On memory.py's own path (8 seeds, 500k), each
# change alone from these: 8 envs 435.8, 16 envs 324.0 (fewer updates), GRU 64 357.1 (three
# seeds at 500, three under 260), 64-step windows 291.8, the same with lr 3e-4 345.7. (That
# CPU's memory.py gave the preset 486.1, the one before it 456.2: the same code and seeds.)
# Every search here on key 0.
PRESETS[("MaskedCartPole-v1", "ppo_clip")] = dict(
    network="gru", rnn_size=32, hidden_sizes=(64,), normalize_obs=True, lr=5e-4, clip_eps=0.1,
    ent_coef=0.0,
)  # fmt: skip
for _name in ("Cue-v0", "MemoryChain-bsuite"):
    PRESETS[(_name, "ppo_clip")] = dict(
        total_timesteps=100_000,
        num_envs=8,
        num_steps=64,
        num_minibatches=4,
        network="gru",
        rnn_size=32,
        hidden_sizes=(32,),
    )


def presets() -> list[tuple[str, str]]:
    """The (env, algo) pairs that have a preset."""
    return list(PRESETS)


# What an environment's PPO preset says about the environment rather than about PPO (its
# widths and Breakout's shared torso are PPO's: a shared torso is refused by REINFORCE and TRPO).
ENV_FIELDS = ("total_timesteps", "gamma", "ent_coef", "reward_scale", "normalize_obs",
              "vf_clip", "activation", "network", "rnn_size", "action_dist")  # fmt: skip


TIME_LIMITS = {
    "CartPole-v1": 500, "Acrobot-v1": 500, "Pendulum-v1": 200, "MountainCarContinuous-v0": 999,
    "Breakout-MinAtar": 1000, "SpaceInvaders-MinAtar": 1000, "Asterix-MinAtar": 1000,
    "Freeway-MinAtar": 2500, "brax/inverted_pendulum": 1000, "brax/ant": 1000,
    "playground/CartpoleBalance": 1000,
    "craftax/Craftax-Classic-Symbolic-v1": 10000, "craftax/Craftax-Symbolic-v1": 100000,
    "MaskedCartPole-v1": 500, "Cue-v0": 0, "MemoryChain-bsuite": 1000,
}  # fmt: skip
"""The time limit (steps; 0: none) of each environment that has a preset, as its
``EnvSpec.time_limit`` says with its default options (tests/test_defaults.py checks each
against the environment): what a Monte Carlo algorithm's windows are sized by, without
building the environment."""
LIMIT_OPTIONS = ("max_steps_in_episode", "episode_length")
"""The options that change a time limit (gymnax's params, Brax's)."""


def time_limit(env: str) -> int:
    """The time limit of ``env`` (``TIME_LIMITS``, or the option after the colon that sets
    it); 0 where unknown."""
    options = parse(env)[1]
    limit = next((options[o] for o in LIMIT_OPTIONS if o in options), None)
    return limit if isinstance(limit, int) else TIME_LIMITS.get(base_name(env), 0)


def settings(env: str, algorithm: Any) -> list[tuple[str, dict]]:
    """What ``Config(algo=algorithm.name, env=env)`` takes for the fields it is not given,
    before the algorithm's defaults (``algorithm``: a ``pgjax.algorithms.Algorithm``):
    ``[("preset", fields)]``, the pair's own preset; or ``[("env", fields)]``, the
    environment's fields of its PPO preset (``ENV_FIELDS``, those it sets); or ``[]`` for an
    environment without presets.

    An algorithm whose estimator needs ``whole_episodes`` (REINFORCE) regresses its critic on
    whole returns, so its critic is never clipped, and its windows are as long as the time
    limit (at least its default ``num_steps``), so that every episode can end inside one and
    be counted (shorter windows count only the short episodes, or none: Freeway's 2500
    steps)."""
    name = base_name(env)
    if (name, algorithm.name) in PRESETS:
        return [("preset", PRESETS[(name, algorithm.name)])]
    if (name, "ppo_clip") not in PRESETS:
        return []
    ppo = PRESETS[(name, "ppo_clip")]
    fields: dict[str, Any] = {f: ppo[f] for f in ENV_FIELDS if f in ppo}
    if algorithm.estimator.whole_episodes:
        fields.pop("vf_clip", None)
        fields["num_steps"] = max(algorithm.defaults.get("num_steps", 0), time_limit(env))
    return [("env", fields)]
