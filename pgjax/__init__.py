"""pgjax: policy-gradient reinforcement learning in JAX."""

from pgjax import algorithms, distributions, envs, kl_control, losses, nets, returns
from pgjax.config import Config
from pgjax.hparams import HParams
from pgjax.train import (
    Pipeline,
    TrainResult,
    TrainState,
    make_pipeline,
    make_train,
    train_seeds,
)

__all__ = [
    "Config",
    "HParams",
    "Pipeline",
    "TrainResult",
    "TrainState",
    "algorithms",
    "distributions",
    "envs",
    "kl_control",
    "losses",
    "make_pipeline",
    "make_train",
    "nets",
    "returns",
    "train_seeds",
]
__version__ = "0.1.0"
