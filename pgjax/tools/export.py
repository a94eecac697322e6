"""Taking a trained policy out of pgjax: its action function, the parameters and observation
statistics baked in, written as StableHLO (``jax.export``: any Python with ``jax`` and
``flatbuffers`` runs it, pgjax not needed) or as ONNX (``jax2onnx``, the ``[onnx]`` extra:
``onnxruntime`` and ``numpy`` run it), with ``signature.json`` naming every input and output,
its shape and dtype.

    pgjax export runs/cartpole exported --format onnx
    pgjax.export("runs/cartpole", "exported", format="stablehlo")           # from Python
    export_policy(config, result.state, "exported")                       # a make_train result

Two functions are written, each for any batch size ``B`` (the leading axis of every input):

- ``greedy``: ``obs [B, *obs_shape] → action [B, ...]``, the most likely action;
- ``sample``: ``obs, noise → action``, the action the policy samples with the given standard
  noise (``noise [B, K]`` Gumbel for discrete actions, ``[B, A]`` normal for continuous):
  a = argmax_k(logits_k + g_k), or a = μ + σ ε (then squashed or clipped as pgjax acts).
  The noise is an input so that the artefact is a pure function that needs no random
  number generator of its runtime.

A recurrent policy takes ``first [B]`` (bool, true where an episode starts: the hidden state is
reset there) and its hidden state (``hidden [B, H]`` for a GRU, ``hidden_c`` and ``hidden_h``
for an LSTM) after the observation, and returns the next hidden state after the action
(``next_hidden``...). The first call of an episode takes zeros and ``first = True``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from pgjax.envs import env_action, make_env, normalize
from pgjax.pipeline.config import Config
from pgjax.pipeline.static import actor_critic_for
from pgjax.pipeline.train import TrainState
from pgjax.tools.folders import check_new_folder, write_atomic

FORMATS = ("stablehlo", "onnx")
"""What ``export`` writes: ``.stablehlo`` (``jax.export``'s serialisation) or ``.onnx``."""
MODES = ("greedy", "sample")
"""The two functions each export holds."""
PLATFORMS = ("cpu", "cuda", "tpu")
"""The platforms a StableHLO export is lowered for (one artefact runs on each)."""
SIGNATURE_FILE = "signature.json"
BATCH = "batch"
"""The name of every input's and output's leading (batch) axis, of any size."""


class ExportError(ValueError):
    """A policy that cannot be exported in the asked format; one line names what failed."""


class Port(NamedTuple):
    """One input or output of an exported function: its name, shape (``"batch"`` first) and
    dtype's name."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str


class PolicyFunction(NamedTuple):
    """A function of flat arrays ``fn(*inputs) → tuple(outputs)`` and its ports."""

    fn: Callable[..., tuple[jax.Array, ...]]
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]


def _obs_ports(spec) -> tuple[Port, ...]:
    """The observation's inputs: ``obs``, or for a structured observation one per leaf
    (``obs_<name>``, the legal-action mask ``obs_action_mask`` among them), in its order."""
    if spec.obs_spec is None:
        return (Port("obs", (BATCH, *spec.obs_shape), "float32"),)
    return tuple(
        Port(f"obs_{k}", (BATCH, *v.shape), str(np.dtype(v.dtype)))
        for k, v in spec.obs_spec.items()
    )


def _hidden_ports(net) -> tuple[Port, ...]:
    """A recurrent policy's state inputs: ``hidden`` (GRU) or ``hidden_c``, ``hidden_h``
    (LSTM), the actor's only (acting never reads the critic's)."""
    if not net.recurrent:
        return ()
    leaves = jax.tree.leaves(net.initial_hidden(1).actor)
    names = ["hidden"] if len(leaves) == 1 else ["hidden_c", "hidden_h"]
    return tuple(
        Port(n, (BATCH, *x.shape[1:]), str(x.dtype)) for n, x in zip(names, leaves, strict=True)
    )


def policy_functions(config: Config, state: TrainState) -> dict[str, PolicyFunction]:
    """The greedy and sampling action functions of the policy in ``state`` (``MODES``), on flat
    arrays: observation normalisation, the network, the action distribution's mode or its
    sample from given noise, and the squash or clip to the action bounds, as
    ``pgjax.tools.evaluate`` acts."""
    env = make_env(config.env)
    net = actor_critic_for(config, env.spec)
    params, obs_norm, spec = state.params, state.obs_norm, env.spec
    obs_ports, hidden_ports = _obs_ports(spec), _hidden_ports(net)
    treedef = jax.tree.structure(net.initial_hidden(1).actor) if net.recurrent else None

    def act(obs, first, hidden, noise):
        if config.normalize_obs:
            obs = normalize(obs_norm, obs)
        if net.recurrent:
            full = net.initial_hidden(first.shape[0])._replace(actor=hidden)
            hidden, dist_params = net.policy_step(params, full, obs, first)
            hidden = hidden.actor
        else:
            dist_params = net.policy(params, obs)
        chosen = net.dist.mode(dist_params) if noise is None else net.dist.from_noise(
            dist_params, noise
        )  # fmt: skip
        return env_action(spec, net.dist.to_env(chosen)), hidden

    def flat(sampled: bool):
        def fn(*args):
            args = list(args)
            obs = [args.pop(0) for _ in obs_ports]
            obs = obs[0] if spec.obs_spec is None else dict(zip(spec.obs_spec, obs, strict=True))
            first = args.pop(0) if net.recurrent else None
            hidden = jax.tree.unflatten(treedef, args[: len(hidden_ports)]) if treedef else ()
            action, hidden = act(obs, first, hidden, args[-1] if sampled else None)
            return (action, *jax.tree.leaves(hidden))

        return fn

    first_port = (Port("first", (BATCH,), "bool"),) if net.recurrent else ()
    greedy_in = (*obs_ports, *first_port, *hidden_ports)
    outputs = jax.eval_shape(flat(False), *_avals(greedy_in, 1))
    out_ports = (
        Port("action", (BATCH, *outputs[0].shape[1:]), str(outputs[0].dtype)),
        *(p._replace(name=f"next_{p.name}") for p in hidden_ports),
    )
    noise_port = Port("noise", (BATCH, spec.num_actions), "float32")  # K logits, or A means
    return {
        "greedy": PolicyFunction(flat(False), greedy_in, out_ports),
        "sample": PolicyFunction(flat(True), (*greedy_in, noise_port), out_ports),
    }


def _avals(ports: tuple[Port, ...], batch: Any) -> list[jax.ShapeDtypeStruct]:
    return [
        jax.ShapeDtypeStruct(tuple(batch if d == BATCH else d for d in p.shape), p.dtype)
        for p in ports
    ]


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _stablehlo(function: PolicyFunction) -> bytes:
    (batch,) = jax.export.symbolic_shape(BATCH)
    try:
        exported = jax.export.export(jax.jit(function.fn), platforms=PLATFORMS)(
            *_avals(function.inputs, batch)
        )
        return bytes(exported.serialize())
    except Exception as error:  # a host callback, a custom call without a stable target...
        raise ExportError(
            f"stablehlo: jax.export cannot serialise this policy ({_one_line(error)})"
        ) from None


def _onnx(function: PolicyFunction, name: str) -> bytes:
    try:
        from jax2onnx import to_onnx
    except ImportError:
        raise ExportError(
            "--format onnx needs jax2onnx, the [onnx] extra: pip install 'pgjax[onnx]'"
        ) from None
    (batch,) = jax.export.symbolic_shape("B")
    quiet = logging.getLogger("onnx_ir")  # a warning per constant of unknown type, harmless
    level, quiet.level = quiet.level, logging.ERROR
    try:
        model = to_onnx(
            function.fn,
            _avals(function.inputs, batch),  # the batch axis symbolic, named "B" in the file
            model_name=name,
            input_names=[p.name for p in function.inputs],
            output_names=[p.name for p in function.outputs],
        )
    except Exception as error:  # jax2onnx raises many types for what it cannot convert
        raise ExportError(
            f"onnx: jax2onnx cannot convert this policy ({_one_line(error)})"
        ) from None
    finally:
        quiet.setLevel(level)
    return model.SerializeToString()


def export_policy(
    config: Config,
    state: TrainState,
    out: str | Path,
    *,
    format: str = "stablehlo",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the policy in ``state`` (trained with ``config``) to the folder ``out``: one file
    per mode (``greedy.<format>``, ``sample.<format>``) and ``signature.json`` (the ports of
    each, the format, the algorithm, environment and update it was trained to). ``out`` must
    be new or empty (or ``overwrite``). Returns the signature. ``ExportError`` naming what
    failed; no file is written before both functions are converted."""
    if format not in FORMATS:
        raise ExportError(f"format={format!r}: must be one of {', '.join(FORMATS)}")
    check_new_folder(out, overwrite, "out")
    functions = policy_functions(config, state)
    blobs = {
        mode: _stablehlo(f) if format == "stablehlo" else _onnx(f, f"pgjax_{mode}")
        for mode, f in functions.items()
    }
    out, discrete = Path(out), bool(make_env(config.env).spec.discrete)
    out.mkdir(parents=True, exist_ok=True)
    signature = {
        "format": format,
        "algo": config.algo,
        "env": config.env,
        "update": int(np.asarray(state.update)),
        "discrete": discrete,
        "noise": "gumbel" if discrete else "normal",
        "platforms": list(PLATFORMS) if format == "stablehlo" else None,
        "functions": {
            mode: {
                "file": f"{mode}.{format}",
                "inputs": [p._asdict() for p in f.inputs],
                "outputs": [p._asdict() for p in f.outputs],
            }
            for mode, f in functions.items()
        },
        "config": dataclasses.asdict(config),
    }
    text = json.dumps(signature, indent=2) + "\n"
    for mode, blob in blobs.items():
        write_atomic(out / f"{mode}.{format}", blob)
    write_atomic(out / SIGNATURE_FILE, text.encode())
    return json.loads(text)  # as the file holds it: shapes as lists


def export(
    run_dir: str | Path, out: str | Path, *, format: str = "stablehlo", overwrite: bool = False
) -> dict[str, Any]:
    """``export_policy`` of the run in ``run_dir`` (its ``config.json`` and last checkpoint)."""
    from pgjax.tools import checkpoint, config_file

    config, seed = config_file.load_config(run_dir)
    state, _ = checkpoint.restore(run_dir, config, seed)
    return export_policy(config, state, out, format=format, overwrite=overwrite)


def quiet_session():
    """``onnxruntime.SessionOptions`` that log errors only (not the unused constants jax2onnx's
    graphs carry, which onnxruntime removes with a warning each)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return options


def load_seconds(path: str | Path) -> float:
    """Seconds to read and deserialise an exported file, ready to call (StableHLO through
    ``jax.export.deserialize``, ONNX through an ``onnxruntime`` session)."""
    start = time.perf_counter()
    data = Path(path).read_bytes()
    if str(path).endswith(".onnx"):
        import onnxruntime

        onnxruntime.InferenceSession(data, quiet_session(), providers=["CPUExecutionProvider"])
    else:
        jax.export.deserialize(bytearray(data))
    return time.perf_counter() - start


__all__ = [
    "FORMATS",
    "MODES",
    "ExportError",
    "PolicyFunction",
    "Port",
    "export",
    "export_policy",
    "load_seconds",
    "policy_functions",
    "quiet_session",
]
