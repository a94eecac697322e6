"""The pipeline's stages: the one ``Config`` of a run (``config``, with ``presets``), what is
fixed before tracing (``static``), collecting a rollout (``rollout``) and the train step and
``make_train`` (``train``). Built from the parts: ``pgjax.envs``, ``pgjax.nets``,
``pgjax.algorithms``."""
