"""pgjax: policy-gradient reinforcement learning in JAX.

The package is layered; a module imports only from its own layer or those below it:

    pgjax.core        checks, settings, hyperparameters, what a network knows of an env
    pgjax.math        the seed's mathematics: returns, losses, distributions, KL control, TRPO
    pgjax.envs        environments: the batched contract and every suite's adapter
    pgjax.nets        networks: torsos, recurrent cells, the actor-critic (no suite imported)
    pgjax.algorithms  the algorithm table, estimators, learners, optimisers
    pgjax.pipeline    Config and presets, what is fixed before tracing, rollout, make_train
    pgjax.tools       the command line, run folders and checkpoints, loggers, sweeps, evaluation

``import pgjax`` loads nothing else: each name below is imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and the API reference
    from pgjax import algorithms, envs, nets
    from pgjax.core.hparams import HParams
    from pgjax.math import distributions, kl_control, losses, returns
    from pgjax.pipeline.config import Config
    from pgjax.pipeline.train import (
        Pipeline,
        TrainResult,
        TrainState,
        make_pipeline,
        make_train,
        train_seeds,
    )
    from pgjax.tools.export import export

_PUBLIC = {
    "Config": "pgjax.pipeline.config",
    "HParams": "pgjax.core.hparams",
    "export": "pgjax.tools.export",
    "Pipeline": "pgjax.pipeline.train",
    "TrainResult": "pgjax.pipeline.train",
    "TrainState": "pgjax.pipeline.train",
    "make_pipeline": "pgjax.pipeline.train",
    "make_train": "pgjax.pipeline.train",
    "train_seeds": "pgjax.pipeline.train",
}
_MODULES = {  # public modules, by their short names
    "algorithms": "pgjax.algorithms",
    "distributions": "pgjax.math.distributions",
    "envs": "pgjax.envs",
    "kl_control": "pgjax.math.kl_control",
    "losses": "pgjax.math.losses",
    "nets": "pgjax.nets",
    "returns": "pgjax.math.returns",
}
_MOVED = {  # the paths of before the layers (0.1), still importable with a warning
    "pgjax.fields": ("pgjax.core.checks",),
    "pgjax.settings": ("pgjax.core.settings",),
    "pgjax.hparams": ("pgjax.core.hparams",),
    "pgjax.returns": ("pgjax.math.returns",),
    "pgjax.losses": ("pgjax.math.losses",),
    "pgjax.distributions": ("pgjax.math.distributions",),
    "pgjax.kl_control": ("pgjax.math.kl_control",),
    "pgjax.trpo": ("pgjax.math.natural_gradient",),
    "pgjax.envs.wrappers": ("pgjax.envs.statistics",),
    "pgjax.envs.done": ("pgjax.envs.done_adapter",),
    "pgjax.envs.memory": ("pgjax.envs.memory_tasks",),
    "pgjax.estimators": ("pgjax.algorithms.estimators",),
    "pgjax.learners": ("pgjax.algorithms.learners",),
    "pgjax.optimizers": ("pgjax.algorithms.optimizers",),
    "pgjax.config": ("pgjax.pipeline.config",),
    "pgjax.presets": ("pgjax.pipeline.presets",),
    "pgjax.static": ("pgjax.pipeline.static",),
    "pgjax.rollout": ("pgjax.pipeline.rollout",),
    "pgjax.train": ("pgjax.pipeline.train",),
    "pgjax.progress": ("pgjax.tools.chunks", "pgjax.tools.metrics_files"),
    "pgjax.runner": ("pgjax.tools.session",),
    "pgjax.loggers": ("pgjax.tools.loggers",),
    "pgjax.tracking": ("pgjax.tools.tracking",),
    "pgjax.sweep": ("pgjax.tools.sweep",),
    "pgjax.evaluate": ("pgjax.tools.evaluate",),
    "pgjax.render": ("pgjax.tools.render",),
    "pgjax.cli": ("pgjax.tools.cli",),
    "pgjax.checkpoint": (
        "pgjax.tools.checkpoint",
        "pgjax.tools.folders",
        "pgjax.tools.config_file",
        "pgjax.tools.metrics_files",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif f"pgjax.{name}" in _MOVED:
        value = importlib.import_module(f"pgjax.{name}")
    else:
        raise AttributeError(f"module 'pgjax' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC, *_MODULES])


class _OldPath(importlib.abc.Loader):
    """Imports a module's path of before the layers as the module(s) it became, warning once."""

    def __init__(self, new: tuple[str, ...]) -> None:
        self.new = new

    def create_module(self, spec):
        old = spec.name
        warnings.warn(
            f"{old} moved to {', '.join(self.new)}; import it from there (the old path "
            "will be removed in pgjax 0.3)",
            DeprecationWarning,
            stacklevel=3,
        )
        if len(self.new) == 1:
            module = importlib.import_module(self.new[0])
            self.spec = module.__spec__  # importlib sets the old path's; put it back after
            return module
        modules = [importlib.import_module(m) for m in self.new]
        merged = type(sys)(old)
        for m in reversed(modules):  # the first module's names win
            merged.__dict__.update({k: v for k, v in vars(m).items() if not k.startswith("__")})
        return merged

    def exec_module(self, module) -> None:
        if len(self.new) == 1:
            module.__spec__ = self.spec


class _OldPaths(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(name, _OldPath(_MOVED[name]))


if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
    sys.meta_path.append(_OldPaths())

__all__ = [
    "Config",
    "HParams",
    "Pipeline",
    "TrainResult",
    "TrainState",
    "algorithms",
    "distributions",
    "envs",
    "export",
    "kl_control",
    "losses",
    "make_pipeline",
    "make_train",
    "nets",
    "returns",
    "train_seeds",
]
__version__ = "0.1.0"
