"""The seed's mathematics as pure functions, unbatched over time and vmapped by the caller:
returns and advantages (``returns``), the surrogate losses (``losses``), action distributions
(``distributions``), the adaptive KL coefficient (``kl_control``) and TRPO's
natural-gradient step (``natural_gradient``). Imports only ``pgjax.core``."""
