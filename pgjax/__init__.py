"""pgjax: policy-gradient reinforcement learning in JAX."""

from pgjax import distributions, kl_control, losses, returns

__all__ = ["distributions", "kl_control", "losses", "returns"]
__version__ = "0.1.0"
