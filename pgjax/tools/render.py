"""Drawing an episode: classic control from the environment's state, MinAtar from its
observation channels, Craftax by its own renderer, to a GIF (Pillow: no display, no gym
needed); Brax to its own HTML viewer.

    from pgjax.tools.evaluate import record_episode
    from pgjax.tools.render import save_gif
    save_gif(config.env, record_episode(config, result.state, jax.random.key(0)), "out.gif")
"""

from __future__ import annotations

import colorsys
import math
import os
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from PIL import Image, ImageDraw

from pgjax.envs.registry import base_name, renderer
from pgjax.tools.evaluate import Episode

W, H = 400, 300
_BG, _FG, _ACCENT = (255, 255, 255), (40, 40, 40), (204, 102, 51)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (W, H), _BG)
    return image, ImageDraw.Draw(image)


def _cartpole(states, i: int, obs) -> Image.Image:
    image, draw = _canvas()
    x, theta = float(states.x[i]), float(states.theta[i])
    scale = W / 4.8  # the track spans x in [-2.4, 2.4]
    cx, cy = W / 2 + x * scale, H * 0.7
    draw.line([(0, cy + 15), (W, cy + 15)], fill=_FG, width=1)
    draw.rectangle([cx - 25, cy - 15, cx + 25, cy + 15], fill=_FG)
    length = 1.0 * scale  # the pole is 2 * 0.5 m long
    tip = (cx + length * math.sin(theta), cy - length * math.cos(theta))
    draw.line([(cx, cy), tip], fill=_ACCENT, width=8)
    return image


def _acrobot(states, i: int, obs) -> Image.Image:
    image, draw = _canvas()
    t1, t2 = float(states.joint_angle1[i]), float(states.joint_angle2[i])
    scale, (ox, oy) = H / 5, (W / 2, H / 2)
    p1 = (ox + scale * math.sin(t1), oy + scale * math.cos(t1))
    p2 = (p1[0] + scale * math.sin(t1 + t2), p1[1] + scale * math.cos(t1 + t2))
    draw.line([(0, oy - scale), (W, oy - scale)], fill=_FG, width=1)  # the height to reach
    draw.line([(ox, oy), p1], fill=_FG, width=8)
    draw.line([p1, p2], fill=_ACCENT, width=8)
    return image


def _pendulum(states, i: int, obs) -> Image.Image:
    image, draw = _canvas()
    theta = float(states.theta[i])  # 0 is upright
    scale, (ox, oy) = H / 3, (W / 2, H / 2)
    draw.line(
        [(ox, oy), (ox + scale * math.sin(theta), oy - scale * math.cos(theta))],
        fill=_ACCENT,
        width=10,
    )
    draw.ellipse([ox - 5, oy - 5, ox + 5, oy + 5], fill=_FG)
    return image


def _mountain_car(states, i: int, obs) -> Image.Image:
    image, draw = _canvas()
    lo, hi = -1.2, 0.6
    to_px = lambda x: ((x - lo) / (hi - lo) * W, H - (np.sin(3 * x) * 0.45 + 0.55) * H * 0.8 - 20)  # noqa: E731
    draw.line([to_px(x) for x in np.linspace(lo, hi, 100)], fill=_FG, width=2)
    gx, gy = to_px(0.45)
    draw.line([(gx, gy), (gx, gy - 40)], fill=_FG, width=2)
    px, py = to_px(float(states.position[i]))
    draw.ellipse([px - 10, py - 20, px + 10, py], fill=_ACCENT)
    return image


def _minatar(states, i: int, obs) -> Image.Image:
    channels = np.asarray(obs[i], dtype=float)  # [10, 10, C], one binary channel per object
    c = channels.shape[-1]
    colours = np.array([colorsys.hsv_to_rgb(k / c, 0.7, 0.9) for k in range(c)]) * 255
    frame = np.full((*channels.shape[:2], 3), 255.0)
    present = channels.sum(-1) > 0
    frame[present] = (channels[present] @ colours) / channels[present].sum(-1, keepdims=True)
    cell = 24
    return Image.fromarray(frame.astype(np.uint8)).resize(
        (channels.shape[1] * cell, channels.shape[0] * cell), Image.NEAREST
    )


_RENDERERS: dict[str, Callable] = {
    "CartPole-v1": _cartpole,
    "Acrobot-v1": _acrobot,
    "Pendulum-v1": _pendulum,
    "MountainCar-v0": _mountain_car,
    "MountainCarContinuous-v0": _mountain_car,
}


def _craftax(env: str, episode: Episode) -> list[Image.Image]:
    """Craftax's own pixel renderer (16-pixel blocks) on each step's game state."""
    import jax

    if "Classic" in env:
        from craftax.craftax_classic.constants import BLOCK_PIXEL_SIZE_IMG
        from craftax.craftax_classic.renderer import make_craftax_pixel_renderer
    else:
        from craftax.craftax.constants import BLOCK_PIXEL_SIZE_IMG
        from craftax.craftax.renderer import make_craftax_pixel_renderer

    draw = jax.jit(jax.vmap(make_craftax_pixel_renderer(BLOCK_PIXEL_SIZE_IMG)))
    pixels = np.asarray(draw(episode.env_states.env_state))
    return [Image.fromarray(np.clip(p, 0, 255).astype(np.uint8)) for p in pixels]


def can_render(env: str) -> bool:
    base = base_name(env)
    if renderer(env) is not None:
        return True
    return base in _RENDERERS or base.endswith("-MinAtar") or base.split("/")[0] in SUITES


SUITES = ("brax", "craftax")  # Brax: an HTML page (its own renderer); Craftax: a GIF


def renderable() -> list[str]:
    """The environments ``save`` can draw (every ``*-MinAtar`` id, Brax's and Craftax's
    besides these)."""
    return [*_RENDERERS, "*-MinAtar", "brax/* (.html)", "craftax/*",
            "environments registered with render=..."]  # fmt: skip


def frames(env: str, episode: Episode) -> list[Image.Image]:
    """One image per step of ``episode``; ``ValueError`` for an environment not drawn."""
    base = base_name(env)
    if not can_render(env):
        raise ValueError(f"cannot render {env!r}; renderable: {', '.join(renderable())}")
    draw_registered = renderer(env)
    if draw_registered is not None:  # the one registered with the environment
        step = lambda tree, i: jax.tree.map(lambda x: x[i], tree)  # noqa: E731
        return [
            _image(draw_registered(step(episode.env_states, i), step(episode.obs, i)))
            for i in range(len(episode.rewards))
        ]
    if base.startswith("brax/"):
        raise ValueError(f"{env!r} renders to an HTML page (save_html), not to frames")
    if base.startswith("craftax/"):
        return _craftax(base, episode)
    draw = _minatar if base.endswith("-MinAtar") else _RENDERERS[base]
    return [draw(episode.env_states, i, episode.obs) for i in range(len(episode.rewards))]


def _image(drawn) -> Image.Image:
    """A registered renderer's drawing as an RGB image (a PIL image, or ``uint8 [H, W, 3]``)."""
    if isinstance(drawn, Image.Image):
        return drawn.convert("RGB")
    return Image.fromarray(np.clip(np.asarray(drawn), 0, 255).astype(np.uint8)).convert("RGB")


def save_gif(env: str, episode: Episode, path: str | Path, fps: int = 30) -> Path:
    """Write ``episode`` as an animated GIF (temporary file, then renamed)."""
    images = frames(env, episode)
    if not images:
        raise ValueError("the episode has no steps to draw")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
    )
    os.replace(tmp, path)
    return path


def save_html(env: str, episode: Episode, path: str | Path) -> Path:
    """Write a Brax ``episode`` as Brax's interactive HTML viewer (a page with the scene)."""
    import jax
    from brax.io import html

    from pgjax.envs import make_env

    states = episode.env_states.env_state.pipeline_state
    steps = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(len(episode.rewards))]
    page = html.render(make_env(env).env.sys, steps, colab=False)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page)
    os.replace(tmp, path)
    return path


def suffixes(env: str) -> tuple[str, ...]:
    """The file suffixes ``save`` writes for ``env``: ``.html`` for Brax (its viewer), else
    ``.gif``."""
    return (".html",) if base_name(env).startswith("brax/") else (".gif",)


def check_path(env: str, path: str | Path) -> None:
    """``ValueError`` unless ``path`` ends with a suffix that ``env`` renders to."""
    allowed = suffixes(env)
    if Path(path).suffix.lower() not in allowed:
        raise ValueError(
            f"--render {path}: {env} renders to {' or '.join(allowed)}; name a file that ends "
            f"so (e.g. episode{allowed[0]})"
        )


def save(env: str, episode: Episode, path: str | Path) -> Path:
    """Draw ``episode`` to ``path``: an HTML page for Brax (``.html``), else a GIF
    (``.gif``); ``ValueError`` for another suffix (``check_path``)."""
    check_path(env, path)
    if base_name(env).startswith("brax/"):
        return save_html(env, episode, path)
    return save_gif(env, episode, path)


__all__ = [
    "can_render",
    "check_path",
    "frames",
    "renderable",
    "save",
    "save_gif",
    "save_html",
    "suffixes",
]
