"""Settings that learn, one per (environment, algorithm), each measured by a script in
``benchmarks/``. ``preset(env)`` gives the ``Config``; override any field with ``.replace``.

    from pgjax.presets import preset
    config = preset("Breakout-MinAtar").replace(total_timesteps=5_000_000)
"""

from __future__ import annotations

from pgjax.algorithms import REGISTRY
from pgjax.config import Config
from pgjax.envs import make_env
from pgjax.envs.registry import base_name

# Continuous control: 16 envs x 256 steps, 10 epochs of 32 minibatches; observations
# normalised, rewards scaled by 0.1, no entropy bonus, unclipped critic. On Pendulum at lr 1e-3
# one seed in eight learned to -280 and then collapsed to -1150; at 3e-4 none did.
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

_PRESETS: dict[tuple[str, str], Config] = {
    # PureJaxRL's published CartPole configuration (Config's defaults).
    ("CartPole-v1", "ppo_clip"): Config(),
    ("Pendulum-v1", "ppo_clip"): Config(env="Pendulum-v1", **_CONTINUOUS),
    # A longer horizon (γ 0.999) and an entropy bonus, so that the car keeps exploring until
    # it has found the flag (without them half the seeds settled on standing still, which
    # avoids the action cost; at lr 1e-3 one seed in eight still did).
    ("MountainCarContinuous-v0", "ppo_clip"): Config(
        env="MountainCarContinuous-v0", **{**_CONTINUOUS, "gamma": 0.999, "ent_coef": 0.01}
    ),
    # The defaults learn Acrobot as they are.
    ("Acrobot-v1", "ppo_clip"): Config(env="Acrobot-v1"),
}
# PureJaxRL's MinAtar settings: an MLP 64 wide on the flattened frames, 64 envs x 128 steps,
# 8 minibatches, lr 5e-3, relu. On Breakout the actor and critic share their torso: in
# exploratory sweeps (issue 3's notes) about 42 over 24 seeds at 2M steps against about 35
# with separate networks, and 1.2x the steps per second; no single change of gamma, lambda,
# entropy, clip, grad norm, learning rate, epochs, minibatches or layout did as well.
# benchmarks/learning.py measures it.
for _game in ("Breakout", "SpaceInvaders", "Asterix", "Freeway"):
    _PRESETS[(f"{_game}-MinAtar", "ppo_clip")] = Config(
        env=f"{_game}-MinAtar",
        total_timesteps=2_000_000,
        num_envs=64,
        num_steps=128,
        num_minibatches=8,
        lr=5e-3,
        activation="relu",
        network="mlp",
        shared_torso=_game == "Breakout",
    )


# Brax, after Brax's own PPO settings scaled to a CPU: a tanh-squashed Gaussian, observations
# normalised, γ 0.97, 4 epochs, no entropy bonus; 64 envs x 64 steps rather than Brax's 2048
# envs x 5 steps. benchmarks/learning.py measures them.
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
_PRESETS[("brax/inverted_pendulum", "ppo_clip")] = Config(
    env="brax/inverted_pendulum", total_timesteps=500_000, **_BRAX
)
# Locomotion: 128 envs x 16 steps, 4 minibatches, a little entropy. At 1.5M steps on the
# spring backend (2 seeds) ant went from about -400 to about 1000; rewards scaled by 0.1 with
# a gradient norm of 1 learned more slowly (about 700).
_PRESETS[("brax/ant", "ppo_clip")] = Config(
    env="brax/ant",
    total_timesteps=2_000_000,
    **{**_BRAX, "num_envs": 128, "num_steps": 16, "num_minibatches": 4, "ent_coef": 0.001},
)
# Craftax (symbolic), after the Craftax paper's PPO scaled to a CPU: λ 0.8, lr 2e-4, an
# entropy bonus, wider layers for its 1345 (Classic) or 8268 inputs.
for _name in ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1"):
    _PRESETS[(f"craftax/{_name}", "ppo_clip")] = Config(
        env=f"craftax/{_name}",
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

# Tasks that need memory (pgjax.envs.memory, and bsuite's MemoryChain): a small GRU learns the
# first two in 100k steps over 8 seeds (benchmarks/memory.py), where a feed-forward policy stays
# at chance. MaskedCartPole: PureJaxRL's CartPole settings with a 32-unit GRU after one 64-wide
# layer reaches about 350 at 500k steps, not yet CartPole's 475. Every seed reaches 500 at some
# update and falls back; of the sweeps in the README's Memory section only 8 epochs did better
# (386.5 over 8 seeds), and 128 units cost 5x the time.
_PRESETS[("MaskedCartPole-v1", "ppo_clip")] = Config(
    env="MaskedCartPole-v1", network="gru", rnn_size=32, hidden_sizes=(64,)
)
for _name in ("Cue-v0", "MemoryChain-bsuite"):
    _PRESETS[(_name, "ppo_clip")] = Config(
        env=_name,
        total_timesteps=100_000,
        num_envs=8,
        num_steps=64,
        num_minibatches=4,
        network="gru",
        rnn_size=32,
        hidden_sizes=(32,),
    )


def preset(env: str, algo: str = "ppo_clip") -> Config:
    """The tuned ``Config`` for ``env`` and ``algo`` (options after a colon kept in the
    config's ``env``: ``brax/ant:backend=spring`` takes ``brax/ant``'s preset);
    ``ValueError`` lists those there are."""
    try:
        found = _PRESETS[(base_name(env), algo)]
    except KeyError:
        known = ", ".join(f"{e} ({a})" for e, a in _PRESETS)
        raise ValueError(f"no preset for env={env!r}, algo={algo!r}; presets: {known}") from None
    return found.replace(env=env)


def presets() -> list[tuple[str, str]]:
    """The (env, algo) pairs that have a preset."""
    return list(_PRESETS)


# What an environment's PPO preset says about the environment rather than about PPO (its
# widths and Breakout's shared torso are PPO's: a shared torso is refused by REINFORCE and TRPO).
ENV_FIELDS = ("total_timesteps", "gamma", "ent_coef", "reward_scale", "normalize_obs",
              "vf_clip", "activation", "network", "rnn_size", "action_dist")  # fmt: skip


def config_for(env: str, algo: str) -> tuple[Config, str]:
    """The settings ``benchmarks/learning.py`` trains ``algo`` on ``env`` with, and which kind
    they are: ``"preset"`` (the pair's own); ``"env settings"`` (the environment's fields of
    its PPO preset, ``ENV_FIELDS``, with the algorithm's own sizes and learning rate); or
    ``"defaults"`` (the algorithm's defaults, 2M steps on MinAtar, else 500k)."""
    if (base_name(env), algo) in _PRESETS:
        return preset(env, algo), "preset"
    if (base_name(env), "ppo_clip") in _PRESETS:
        ppo = preset(env)
        fields = {f: getattr(ppo, f) for f in ENV_FIELDS}
        if REGISTRY[algo].estimator == "monte_carlo":
            # its critic regresses on Monte Carlo returns: never clipped; and a window as long
            # as the time limit, so that every episode can end inside it and be counted
            # (shorter windows count only the short episodes, or none: Freeway's 2500 steps)
            fields.pop("vf_clip")
            limit = make_env(env).spec.time_limit or 0
            fields["num_steps"] = max(REGISTRY[algo].defaults["num_steps"], limit)
        return Config(algo=algo, env=env, **fields), "env settings"
    budget = 2_000_000 if env.endswith("MinAtar") else 500_000
    return Config(algo=algo, env=env, total_timesteps=budget), "defaults"
