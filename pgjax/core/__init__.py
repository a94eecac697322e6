"""The lowest layer: what every other layer shares and nothing of its own imports beyond NumPy
and JAX: argument checks (``checks``), settings a part declares (``settings``), the traced
hyperparameters (``hparams``) and what a network knows of an environment (``spec``)."""
