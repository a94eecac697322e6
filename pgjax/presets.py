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
