"""A trained policy taken out of pgjax (``pgjax export``): the exported functions act as pgjax's
own evaluation acts (``pgjax.tools.evaluate``), greedy and sampled from the same noise, for a
feed-forward and a recurrent policy, discrete and continuous; the StableHLO files run in a
Python where pgjax cannot be imported, the ONNX files in onnxruntime (the ``[onnx]`` extra,
installed by ``.ci/run`` for its suites' stage)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax import envs, nets
from pgjax.pipeline.static import actor_critic_for
from pgjax.tools import cli
from pgjax.tools.evaluate import _policy
from pgjax.tools.export import SIGNATURE_FILE, ExportError, export_policy
from pgjax.tools.folders import CheckpointError
from tests import probes

CASES = {
    "mlp-discrete": dict(env="CartPole-v1"),
    "mlp-continuous": dict(env="Pendulum-v1"),
    "gru-discrete": dict(env="CartPole-v1", network="gru"),
    "lstm-continuous": dict(env="Pendulum-v1", network="lstm", num_minibatches=4),
    "dict-observation": dict(env="split-cartpole"),
    "legal-action-mask": dict(env="pick-legal", network="gru"),
}
BATCH, STEPS = 5, 3


def trained_like(config: pgjax.Config, seed: int = 1) -> pgjax.TrainState:
    """A ``TrainState`` of ``config`` with random parameters and observation statistics far
    from (0, 1), so that leaving out the normalisation would show."""
    state = pgjax.make_pipeline(config).init(jax.random.key(seed), config.hparams())
    keys = iter(jax.random.split(jax.random.key(seed + 1), 64))

    def far(norm):  # a structured observation's statistics are a dict of them, leaf by leaf
        mean = jax.random.normal(next(keys), norm.mean.shape)
        return norm._replace(mean=mean, var=jnp.exp(jax.random.normal(next(keys), mean.shape)))

    is_norm = lambda x: hasattr(x, "var")  # noqa: E731
    return state._replace(obs_norm=jax.tree.map(far, state.obs_norm, is_leaf=is_norm))


def observations(spec, rng):
    """``BATCH`` random observations of ``spec``: normal numbers, or for a structured one a dict
    of them, a mask's leaf random booleans."""
    if spec.obs_spec is None:
        return rng.normal(0.0, 2.0, (BATCH, *spec.obs_shape)).astype(np.float32)
    return {
        k: rng.random((BATCH, *v.shape)) < 0.5
        if np.dtype(v.dtype) == bool
        else rng.normal(0.0, 2.0, (BATCH, *v.shape)).astype(v.dtype)
        for k, v in spec.obs_spec.items()
    }


def episode_inputs(config: pgjax.Config, state: pgjax.TrainState, greedy: bool):
    """``STEPS`` steps of ``BATCH`` environments: the inputs of the exported function by port
    name, and pgjax's own actions and next hidden states (``evaluate``'s ``act``) for them."""
    env, act, start = _policy(config, state, greedy)
    net = actor_critic_for(config, env.spec)
    hidden, steps, rng = start(BATCH), [], np.random.default_rng(0)
    for t in range(STEPS):
        obs = observations(env.spec, rng)
        first = np.ones(BATCH, bool) if t == 0 else rng.random(BATCH) < 0.3
        keys = jax.random.split(jax.random.key(t), BATCH)
        inputs = (
            {"obs": obs} if env.spec.obs_spec is None else {f"obs_{k}": v for k, v in obs.items()}
        )
        if net.recurrent:
            inputs["first"] = first
            names = ["hidden"] if config.network == "gru" else ["hidden_c", "hidden_h"]
            inputs |= dict(zip(names, map(np.asarray, jax.tree.leaves(hidden.actor)), strict=True))
        if not greedy:  # the noise pgjax's own sample draws from each environment's key
            noise = jax.vmap(net.dist.noise, in_axes=(0, None))  # K logits, or the A means
            inputs["noise"] = np.asarray(noise(keys, (env.spec.num_actions,)))
        hidden, action = act(keys, jax.tree.map(jnp.asarray, obs), hidden, jnp.asarray(first))
        outputs = [np.asarray(action)]
        if net.recurrent:
            outputs += [np.asarray(x) for x in jax.tree.leaves(hidden.actor)]
        steps.append((inputs, outputs))
    return steps


def assert_same(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (what, g.shape, g.dtype, w.dtype)
        if np.issubdtype(w.dtype, np.integer):
            np.testing.assert_array_equal(g, w, err_msg=what)
        else:
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=0, err_msg=what)


@pytest.fixture(scope="module")
def cases():
    """Each case's config, state and (per mode) its steps."""
    envs.register("split-cartpole", probes.SplitCartPole)  # {"cart": [2], "pole": [2]}
    envs.register("pick-legal", probes.PickLegal)  # {"obs": [4], "action_mask": bool [4]}
    out = {}
    for name, fields in CASES.items():
        config = pgjax.Config(total_timesteps=16384, normalize_obs=True, **fields)
        state = trained_like(config)
        steps = {m: episode_inputs(config, state, m == "greedy") for m in ("greedy", "sample")}
        out[name] = (config, state, steps)
    return out


RUNNER = """
import sys
sys.modules["pgjax"] = None  # pgjax cannot be imported here: only jax, numpy, the files
try:
    import pgjax
except ImportError:
    pass
else:
    raise SystemExit("pgjax was importable")
import json, pathlib
import jax, numpy as np
for folder in sys.argv[1:]:
    folder = pathlib.Path(folder)
    signature = json.loads((folder / "signature.json").read_text())
    for mode, function in signature["functions"].items():
        exported = jax.export.deserialize(bytearray((folder / function["file"]).read_bytes()))
        data = np.load(folder / f"inputs_{mode}.npz")
        steps = int(data["steps"])
        results = {}
        for t in range(steps):
            args = [data[f"{t}/{p['name']}"] for p in function["inputs"]]
            for i, value in enumerate(exported.call(*args)):
                results[f"{t}/{i}"] = np.asarray(value)
        np.savez(folder / f"outputs_{mode}.npz", **results)
"""


def save_inputs(folder, steps, mode) -> None:
    arrays = {f"{t}/{k}": v for t, (inputs, _) in enumerate(steps) for k, v in inputs.items()}
    np.savez(folder / f"inputs_{mode}.npz", steps=len(steps), **arrays)


def test_stablehlo_acts_as_pgjax_in_a_python_without_pgjax(cases, tmp_path):
    folders = []
    for name, (config, state, steps) in cases.items():
        folder = tmp_path / name
        export_policy(config, state, folder, format="stablehlo")
        for mode, mode_steps in steps.items():
            save_inputs(folder, mode_steps, mode)
        folders.append(folder)
    script = tmp_path / "runner.py"
    script.write_text(textwrap.dedent(RUNNER))
    done = subprocess.run(
        [sys.executable, str(script), *map(str, folders)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for folder, (name, (_, _, steps)) in zip(folders, cases.items(), strict=True):
        for mode, mode_steps in steps.items():
            results = np.load(folder / f"outputs_{mode}.npz")
            for t, (_, want) in enumerate(mode_steps):
                got = [results[f"{t}/{i}"] for i in range(len(want))]
                assert_same(got, want, f"{name} {mode} step {t}")


def test_the_signature_names_the_stablehlo_files_inputs_and_outputs(cases, tmp_path):
    config, state, _ = cases["lstm-continuous"]
    signature = export_policy(config, state, tmp_path, format="stablehlo")
    assert json.loads((tmp_path / SIGNATURE_FILE).read_text()) == signature
    for function in signature["functions"].values():
        exported = jax.export.deserialize(bytearray((tmp_path / function["file"]).read_bytes()))
        for ports, avals in ((function["inputs"], exported.in_avals),
                             (function["outputs"], exported.out_avals)):  # fmt: skip
            assert [p["dtype"] for p in ports] == [str(a.dtype) for a in avals]
            assert [[str(d) for d in p["shape"]] for p in ports] == [
                [str(d) for d in a.shape] for a in avals
            ]
    names = [p["name"] for p in signature["functions"]["sample"]["inputs"]]
    assert names == ["obs", "first", "hidden_c", "hidden_h", "noise"]
    assert signature["noise"] == "normal" and signature["update"] == 0


def test_onnx_acts_as_pgjax_in_onnxruntime(cases, tmp_path):
    pytest.importorskip("jax2onnx", reason="the [onnx] extra")
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra")
    from pgjax.tools.export import quiet_session

    for name, (config, state, steps) in cases.items():
        signature = export_policy(config, state, tmp_path / name, format="onnx")
        for mode, mode_steps in steps.items():
            function = signature["functions"][mode]
            path = tmp_path / name / function["file"]
            session = ort.InferenceSession(str(path), quiet_session())
            assert [i.name for i in session.get_inputs()] == [p["name"] for p in function["inputs"]]
            assert [o.name for o in session.get_outputs()] == [
                p["name"] for p in function["outputs"]
            ]
            for t, (inputs, want) in enumerate(mode_steps):
                assert_same(session.run(None, inputs), want, f"{name} {mode} step {t}")


def test_the_batch_axis_is_any_size(cases, tmp_path):
    config, state, _ = cases["mlp-discrete"]
    signature = export_policy(config, state, tmp_path)
    exported = jax.export.deserialize(bytearray((tmp_path / "greedy.stablehlo").read_bytes()))
    assert signature["functions"]["greedy"]["inputs"][0]["shape"] == ["batch", 4]
    for batch in (1, 3, 64):
        (action,) = exported.call(np.zeros((batch, 4), np.float32))
        assert action.shape == (batch,)


def test_refusals_name_what_is_wrong_and_write_nothing(cases, tmp_path):
    config, state, _ = cases["mlp-discrete"]
    with pytest.raises(ExportError, match="format='tflite': must be one of stablehlo, onnx"):
        export_policy(config, state, tmp_path / "a", format="tflite")
    assert not (tmp_path / "a").exists()
    export_policy(config, state, tmp_path / "c")
    with pytest.raises(CheckpointError, match="not empty"):
        export_policy(config, state, tmp_path / "c")


class _OnTheHost(nn.Module):
    """A torso that calls back into Python (numpy), which neither format can hold."""

    @nn.compact
    def __call__(self, obs):
        doubled = jax.pure_callback(
            lambda a: np.asarray(a) * 2, jax.ShapeDtypeStruct(obs.shape, obs.dtype), obs
        )
        return nn.Dense(8)(doubled.reshape((obs.shape[0], -1)))


@pytest.mark.parametrize("format", ["stablehlo", "onnx"])
def test_a_network_that_cannot_be_converted_is_one_line(format, tmp_path):
    if format == "onnx":
        pytest.importorskip("jax2onnx", reason="the [onnx] extra")
    nets.register("on_the_host", lambda spec: _OnTheHost())
    config = pgjax.Config(network="on_the_host", total_timesteps=16384)
    with pytest.raises(ExportError) as refused:
        export_policy(config, trained_like(config), tmp_path / "x", format=format)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{format}: ")
    assert "callback" in message, message
    assert not (tmp_path / "x").exists()


def test_pgjax_export_from_the_command_line(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "out"
    assert cli.main(["train", "--total-timesteps", "4096", "--run-dir", str(run),
                     "--no-progress"]) == 0  # fmt: skip
    assert cli.main(["export", str(run), str(out)]) == 0
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith("pgjax: exported ppo_clip on CartPole-v1 after 8 updates: ")
    assert "greedy.stablehlo (greedy(obs); " in said and "sample(obs, noise)" in said
    signature = json.loads((out / SIGNATURE_FILE).read_text())
    assert signature["update"] == 8 and signature["config"]["env"] == "CartPole-v1"
    assert cli.main(["export", str(run), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(run), str(out), "--overwrite"]) == 0
