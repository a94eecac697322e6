"""Settings declared by the part that reads them: an algorithm, its estimator or its learner
names each of its own knobs as a ``Setting`` (name, default, kind and range, and whether it is
traced or static), and ``Config.settings`` holds the chosen algorithm's values.

A **traced** setting is a number the compiled program reads as a value: it travels in
``HParams.settings`` (so ``train(key, hparams)`` takes it and ``jax.vmap`` and ``pgjax sweep``
sweep it without recompiling). A **static** setting shapes the program (a count of
iterations, a choice): it is read from ``static.config.settings`` while tracing.

    from pgjax.core.settings import Setting

    DUAL_CLIP = Setting("dual_clip", 3.0, "the dual-clip bound c > 1", traced=True, low=1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from pgjax.core.checks import INT32_MAX, did_you_mean, is_number

KINDS = ("float", "int", "bool", "choice")
"""What a ``Setting`` holds."""


class Setting(NamedTuple):
    """One knob of a part.

    ``name``: how ``Config.settings``, ``config.json`` and the command line (``--name``)
    spell it. ``default``: its value when nobody sets it. ``doc``: one line for ``--help``.
    ``traced``: a number in ``HParams.settings`` (vmappable, sweepable), else static.
    ``kind``: ``float``, ``int`` (a count in ``[1, INT32_MAX]``), ``bool`` or ``choice``
    (one of ``choices``). ``low``, ``high``: the bounds of a number (``None``: none);
    ``low_open``: the value must exceed ``low`` (else it may equal it). ``inf``: ``+inf``
    is allowed (no bound). ``optional``: ``None`` is allowed (its meaning in ``doc``).
    """

    name: str
    default: Any
    doc: str
    traced: bool = False
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = True
    inf: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        """What may be given, in words."""
        if self.kind == "choice":
            text = f"one of {', '.join(self.choices)}"
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "int":
            text = f"an integer in [1, {INT32_MAX}]"
        else:
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
            if self.high is not None:
                bounds.append(f"<= {self.high:g}")
            text = f"a {'number' if self.inf else 'finite number'} {' and '.join(bounds)}"
            text = text.rstrip() + (" (inf: no bound)" if self.inf else "")
        return text + (", or None" if self.optional else "")

    def check(self, value: Any, owner: str) -> Any:
        """``value`` as this setting holds it (an ``int`` given for a float becomes a
        ``float``), or ``ValueError`` naming ``owner``'s setting, the value and what is
        allowed."""
        if value is None and self.optional:
            return None
        ok, held = False, value
        if self.kind == "choice":
            ok = isinstance(value, str) and value in self.choices
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT32_MAX
        elif is_number(value) and not math.isnan(value):
            held = float(value)
            ok = (math.isfinite(held) or (self.inf and held > 0)) and (
                self.low is None or (held > self.low if self.low_open else held >= self.low)
            )
            ok = ok and (self.high is None or held <= self.high)
        if not ok:
            hint = did_you_mean(str(value), self.choices) if self.kind == "choice" else ""
            raise ValueError(
                f"{owner}: setting {self.name}={value!r}{hint}: must be {self.allowed()}"
            )
        return held

    def parse(self, text: str) -> Any:
        """``text`` (from the command line) as this setting's kind; ``ValueError`` if it is
        not one."""
        flag = f"--{self.name.replace('_', '-')}"
        if self.optional and text.lower() == "none":
            return None
        if self.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError(f"{flag} {text}: must be true or false")
            return text.lower() == "true"
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError(
                    f"--{self.name.replace('_', '-')} {text}: not an integer"
                ) from None
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{flag} {text}: not a number") from None
        return text


def declared(parts: Iterable[Any]) -> dict[str, Setting]:
    """The settings the ``parts`` declare (each part's ``settings``), by name; ``ValueError``
    if two parts declare one name differently."""
    out: dict[str, Setting] = {}
    for part in parts:
        for setting in getattr(part, "settings", ()):
            if setting.name in out and out[setting.name] != setting:
                raise ValueError(
                    f"setting {setting.name!r} is declared twice, differently, by "
                    f"{getattr(part, 'name', part)!r} and another part"
                )
            out[setting.name] = setting
    return out


def check_declarations(owner: str, settings: Any, reserved: Iterable[str]) -> None:
    """``ValueError`` unless ``settings`` is a tuple of ``Setting`` with distinct names, none
    a name in ``reserved`` (the ``Config`` and ``HParams`` fields), each default allowed."""
    if not isinstance(settings, tuple) or not all(isinstance(s, Setting) for s in settings):
        raise ValueError(f"{owner}: settings must be a tuple of pgjax.core.settings.Setting")
    names = [s.name for s in settings]
    reserved = set(reserved)
    for s in settings:
        if not s.name.isidentifier() or s.name in reserved or names.count(s.name) > 1:
            raise ValueError(
                f"{owner}: setting name {s.name!r} must be a Python identifier, used once, and "
                "not a Config field"
            )
        if s.kind not in KINDS:
            raise ValueError(f"{owner}: setting {s.name!r} has kind {s.kind!r}; kinds: {KINDS}")
        if s.traced and s.kind != "float":
            raise ValueError(f"{owner}: setting {s.name!r} is traced, so it must be a float")
        s.check(s.default, owner)


class Settings(dict):
    """A resolved algorithm's settings: a ``dict`` that cannot change and hashes (a
    ``Config`` is a cache key)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def _frozen(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Config.settings cannot change; use config.replace(name=value)")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _frozen  # type: ignore[assignment]

    def __reduce__(self):  # copy and pickle as a plain dict would, then freeze again
        return (Settings, (dict(self),))


def unknown(
    owner: str, names: Iterable[str], declared_: Mapping[str, Setting], fields: Iterable[str] = ()
) -> str:
    """The message for settings (or keywords) that ``owner`` does not declare, with the close
    matches among its settings and the ``fields``."""
    names, fields = list(names), list(fields)
    allowed = ", ".join(declared_) or "none"
    hint = did_you_mean(names[0], [*declared_, *fields])
    return (
        f"{owner}: no field or setting {names[0]!r}{hint}; its settings: {allowed}; the "
        f"fields: {', '.join(fields)}"
    )
