"""Settings that learn, one per (environment, algorithm), each measured by a script in
``benchmarks/``. ``preset(env)`` gives the ``Config``; override any field with ``.replace``.

    from pgjax.presets import preset
    config = preset("Breakout-MinAtar").replace(total_timesteps=5_000_000)
"""

from __future__ import annotations

from pgjax.config import Config

_PRESETS: dict[tuple[str, str], Config] = {
    # PureJaxRL's published CartPole configuration (Config's defaults).
    ("CartPole-v1", "ppo_clip"): Config(),
    # Continuous control: 16 envs x 256 steps, 10 epochs of 32 minibatches; observations
    # normalised, rewards scaled by 0.1, no entropy bonus, unclipped critic.
    ("Pendulum-v1", "ppo_clip"): Config(
        env="Pendulum-v1",
        total_timesteps=500_000,
        num_envs=16,
        num_steps=256,
        num_epochs=10,
        num_minibatches=32,
        lr=1e-3,
        ent_coef=0.0,
        normalize_obs=True,
        reward_scale=0.1,
        vf_clip=False,
    ),
    # PureJaxRL's MinAtar settings: an MLP on the flattened frames, 64 envs x 128 steps.
    ("Breakout-MinAtar", "ppo_clip"): Config(
        env="Breakout-MinAtar",
        total_timesteps=2_000_000,
        num_envs=64,
        num_steps=128,
        num_minibatches=8,
        lr=5e-3,
        activation="relu",
        network="mlp",
    ),
}


def preset(env: str, algo: str = "ppo_clip") -> Config:
    """The tuned ``Config`` for ``env`` and ``algo``; ``ValueError`` lists those there are."""
    try:
        return _PRESETS[(env, algo)]
    except KeyError:
        known = ", ".join(f"{e} ({a})" for e, a in _PRESETS)
        raise ValueError(f"no preset for env={env!r}, algo={algo!r}; presets: {known}") from None


def presets() -> list[tuple[str, str]]:
    """The (env, algo) pairs that have a preset."""
    return list(_PRESETS)
