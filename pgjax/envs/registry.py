"""Environments by name: what ``Config.env`` may say.

    "CartPole-v1", "gymnax/CartPole-v1"           gymnax's ids
    "brax/ant"                                    Brax (pip install 'pgjax[brax]')
    "craftax/Craftax-Classic-Symbolic-v1"         Craftax (pip install 'pgjax[craftax]')
    "jumanji/Snake-v1:num_rows=6,num_cols=6"      Jumanji (pip install 'pgjax[jumanji]')
    "navix/Navix-Empty-5x5-v0"                    Navix (pip install 'pgjax[navix]')
    "xminigrid/MiniGrid-DoorKey-5x5"              XLand-MiniGrid (pip install 'pgjax[xminigrid]')
    "pgx/2048"                                    Pgx (pip install 'pgjax[pgx]')
    "playground/CartpoleBalance"                  MuJoCo Playground (pgjax[playground])
    "my-maze"                                     after envs.register("my-maze", factory)
    "my-maze:size=8"                              factory(size=8), where it takes options
    "mine/level-1:k=v"                            after envs.register_suite("mine", ...)

Options follow a colon, ``key=value`` separated by commas: a Brax environment's backend and
episode length (``brax/ant:backend=positional,episode_length=500``), a gymnax environment's
params (``CartPole-v1:max_steps_in_episode=200``). A name stays a plain string, so configs,
run folders, checkpoints, sweeps and the CLI carry it as they carry any other field.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

from pgjax.envs.base import Env, check_contract
from pgjax.envs.gymnax import from_gymnax, gymnax_names, make_gymnax, replace_params

_FACTORIES: dict[str, Callable[[], Any]] = {}
_SUITES: dict[str, tuple[str, str, str]] = {
    "brax": ("pgjax.envs.brax", "brax_names", "make_brax"),
    "craftax": ("pgjax.envs.craftax", "craftax_names", "make_craftax"),
    "jumanji": ("pgjax.envs.jumanji", "jumanji_names", "make_jumanji"),
    "navix": ("pgjax.envs.navix", "navix_names", "make_navix"),
    "xminigrid": ("pgjax.envs.xminigrid", "xminigrid_names", "make_xminigrid"),
    "pgx": ("pgjax.envs.pgx", "pgx_names", "make_pgx"),
    "playground": ("pgjax.envs.playground", "playground_names", "make_playground"),
}
"""The optional suites: each one module of ``pgjax.envs`` (imported only when a name of the
suite is used) with its names function (``() -> ["<suite>/<id>", ...]``) and its make function
(``(id, **options) -> Env``); installed by the extra of the suite's name (``pgjax[brax]``). A
new suite is its module and a line here."""
_IMPORTS = {"playground": "mujoco_playground"}
"""A suite's Python package where its name is not the suite's (the extra is the suite's)."""
SUITES = ["gymnax", *_SUITES]
"""The suites a name may start with (``<suite>/<id>``); gymnax's ids also stand alone (a
suite of your own joins them by ``register_suite``)."""
_OWN_SUITES: dict[str, tuple[Callable[[], list[str]], Callable[..., Any]]] = {}


def register_suite(suite: str, names: Callable[[], list[str]], make: Callable[..., Any]) -> None:
    """Make ``Config(env="<suite>/<id>:k=v")`` train on ``make(id, **options)``: a pgjax
    ``Env``, or an environment with gymnax's interface (adapted as ``register``'s factories
    are); ``names()`` lists the suite's names, each ``<suite>/<id>``. A suite of pgjax's own
    cannot be replaced; registering a suite of your own again replaces it."""
    if not isinstance(suite, str) or not suite.isidentifier() or suite in _SUITES:
        raise ValueError(
            f"envs.register_suite: {suite!r} must be a word, not one of pgjax's suites "
            f"({', '.join(SUITES)})"
        )
    if not (callable(names) and callable(make)):
        raise ValueError(f"envs.register_suite({suite!r}, ...): names and make must be callable")
    _OWN_SUITES[suite] = (names, make)
    if suite not in SUITES:
        SUITES.append(suite)


_RENDERERS: dict[str, Callable[[Any, Any], Any]] = {}


def register(name: str, factory: Callable[[], Any], render: Callable | None = None) -> None:
    """Make ``Config(env=name)`` train on ``factory()``: a pgjax ``Env``, or an environment with
    gymnax (>= 1.0)'s interface (a ``gymnax.environments.Environment`` subclass; its default
    params, or none). An environment whose ``step`` returns five values (``done`` without
    truncation) is wrapped first: ``lambda: envs.five_value(MyEnv(), time_limit=500)``. One
    that defines ``action_mask(state, params) → bool [num_actions]`` acts on its legal actions
    only.

    ``render(env_state, obs) → image`` (a PIL image, or ``uint8 [H, W, 3]``) draws one step of
    one environment: ``pgjax eval --render x.gif`` then draws an episode with it.

    Registering a name again replaces its factory. The name is this process's: a script or
    ``pgjax --import mymodule`` registers it before the config that names it is used (a run
    folder records the ``--import`` modules, so that ``eval`` and ``--resume`` import them).
    """
    if not isinstance(name, str) or not name or ":" in name or "," in name:
        raise ValueError(
            f"envs.register: name {name!r} must be a non-empty string without ':' or ','"
        )
    suite = name.partition("/")[0]
    if ("/" in name and suite in SUITES) or name in gymnax_names():
        owner = suite if "/" in name else "gymnax"
        raise ValueError(f"envs.register: {name!r} is a name of the {owner} suite; choose another")
    if not callable(factory) or (render is not None and not callable(render)):
        raise ValueError(
            f"envs.register({name!r}, ...): the factory and the renderer must be callable"
        )
    _FACTORIES[name] = factory
    _RENDERERS.pop(name, None)
    if render is not None:
        _RENDERERS[name] = render


def register_renderer(name: str, render: Callable) -> None:
    """Draw the environment ``name`` (any name: a registered one, a suite's, a gymnax id) with
    ``render(env_state, obs) → image`` (a PIL image, or ``uint8 [H, W, 3]``) in
    ``pgjax eval --render x.gif``; it replaces pgjax's own drawing of that environment."""
    if not callable(render):
        raise ValueError(f"envs.register_renderer({name!r}, ...): the renderer must be callable")
    _RENDERERS[parse(name)[0]] = render


def renderer(name: str) -> Callable | None:
    """The renderer registered with the environment ``name`` (options after a colon aside), if
    any."""
    return _RENDERERS.get(parse(name)[0])


def env_names() -> list[str]:
    """gymnax's ids, then the registered names (the suites' own: ``suite_names``)."""
    return [*gymnax_names(), *(n for n in _FACTORIES if n not in gymnax_names())]


def suite_names(suite: str) -> list[str]:
    """Every name of ``suite`` (one of ``SUITES``), each ``<suite>/<id>``; ``ValueError`` with
    the ``pip install`` that adds a suite that is not installed."""
    if suite == "gymnax":
        return [f"gymnax/{n}" for n in gymnax_names()]
    if suite not in _SUITES and suite not in _OWN_SUITES:
        raise ValueError(f"no suite {suite!r}; suites: {', '.join(SUITES)}")
    _require(suite, suite)
    return _suite(suite, 1)()


def _suite(suite: str, which: int) -> Callable:
    """The suite's names function (``which=1``) or make function (2), from its module (or as
    ``register_suite`` was given them)."""
    if suite in _OWN_SUITES:
        return _OWN_SUITES[suite][which - 1]
    module = importlib.import_module(_SUITES[suite][0])
    return getattr(module, _SUITES[suite][which])


def parse(name: str) -> tuple[str, dict[str, Any]]:
    """``"brax/ant:backend=spring,episode_length=500"`` → ``("brax/ant", {"backend": "spring",
    "episode_length": 500})``; values are ints, floats, ``true``/``false`` or strings."""
    base, _, text = name.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(
                f"Config.env={name!r}: option {item!r} is not key=value "
                "(e.g. brax/ant:backend=positional,episode_length=500)"
            )
        options[key.strip()] = _value(value.strip())
    return base, options


def base_name(name: str) -> str:
    """A name without its options and without gymnax's ``gymnax/`` prefix: the one presets
    are filed under and renderers are chosen by (``gymnax/CartPole-v1:x=1`` → ``CartPole-v1``)."""
    return name.partition(":")[0].removeprefix("gymnax/")


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_env(name: str) -> None:
    """``ValueError`` unless ``make_env(name)`` knows the name: naming the close matches, or
    the ``pip install`` of a suite that is missing. Creates nothing."""
    _resolve(name)


def make_env(name: str) -> Env:
    """The environment ``name`` (see the module's docstring)."""
    kind, base, options = _resolve(name)
    if kind == "registered":
        factory = _FACTORIES[base]
        if options and _takes_options(factory):  # my_env:size=8 → factory(size=8)
            env = _adapt(_call(factory, name, **options), base, name, {})
        else:
            env = _adapt(factory(), base, name, options)
        check_contract(env, name)
        return env
    if kind == "gymnax":
        return make_gymnax(base, **options)
    if kind in _OWN_SUITES:
        env = _adapt(_call(_suite(kind, 2), name, base, **options), name, name, {})
        check_contract(env, name)
        return env
    return _suite(kind, 2)(base, **options)


def _takes_options(factory: Callable) -> bool:
    """Whether ``factory`` has parameters (so options are its keywords, not gymnax params)."""
    try:
        return bool(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return False


def _call(factory: Callable, name: str, *args: Any, **options: Any) -> Any:
    """``factory(*args, **options)``, a ``TypeError`` from the binding (an option it does not
    take) as a ``ValueError`` naming the options it does."""
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as error:
        takes = ", ".join(inspect.signature(factory).parameters)
        raise ValueError(f"Config.env={name!r}: {error}; the factory takes: {takes}") from None
    return factory(*args, **options)


def _resolve(name: str) -> tuple[str, str, dict[str, Any]]:
    """(kind, the suite's own id, options) of a name, or the ``ValueError`` it deserves."""
    if not isinstance(name, str):
        raise ValueError(f"Config.env={name!r}: must be a string naming an environment")
    base, options = parse(name)
    if base in _FACTORIES:
        return "registered", base, options
    suite, slash, rest = base.partition("/")
    if not slash or suite not in SUITES:
        suite, rest = "gymnax", base
    if suite == "gymnax":
        if rest in gymnax_names():
            return "gymnax", rest, options
        _unknown(name, rest, env_names(), "names: pgjax.envs.env_names()")
    _require(suite, name)
    known = suite_names(suite)
    if base not in known:
        _unknown(name, base, known, f"{suite}'s: {', '.join(known)}")
    return suite, rest, options


def _unknown(name: str, base: str, known: list[str], listing: str) -> None:
    close = difflib.get_close_matches(base, known, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    own = base.partition("/")[0] not in SUITES or "/" not in base  # not a suite's name
    extra = (
        "; an environment of your own: envs.register(name, factory), and on the command "
        "line --import the module that registers it"
        if own
        else ""
    )
    raise ValueError(f"Config.env={name!r} is unknown{hint}; {listing}{extra}")


def _require(suite: str, name: str) -> None:
    if suite not in _OWN_SUITES and importlib.util.find_spec(_IMPORTS.get(suite, suite)) is None:
        raise ValueError(
            f"Config.env={name!r} needs {suite}, which is not installed: "
            f"pip install 'pgjax[{suite}]' (in a clone of pgjax: pip install -e '.[{suite}]')"
        )


def _adapt(made: Any, name: str, full_name: str = "", options: dict | None = None) -> Env:
    """A registered factory's result as an ``Env``; ``options`` replace fields of a gymnax
    environment's default params (a pgjax ``Env`` takes none)."""
    if hasattr(made, "spec") and hasattr(made, "step") and hasattr(made, "reset"):
        if options:
            raise ValueError(
                f"Config.env={full_name!r}: {name!r} is registered as a pgjax Env, which takes "
                "no options; register one name per variant"
            )
        return made
    if all(hasattr(made, a) for a in ("step", "reset", "observation_space", "action_space")):
        params = getattr(made, "default_params", None)
        if params is not None or options:
            params = replace_params(full_name or name, params, options or {})
        return from_gymnax(made, params, name=name)
    hint = (
        " (a jumanji environment: name it jumanji/<id>, pip install 'pgjax[jumanji]')"
        if hasattr(made, "observation_spec") and hasattr(made, "action_spec")
        else ""
    )
    raise ValueError(
        f"the factory registered as {name!r} returned {type(made).__name__}{hint}; it must "
        "return a pgjax Env, a gymnax (>= 1.0) Environment, or a five-value one wrapped by "
        "envs.five_value"
    )
