"""Your own algorithm and your own network, by name: an algorithm registered from a file
trains through ``make_train`` and ``pgjax train --import``; a registered torso keeps its own
initialisers; the package has no import cycle and no function longer than 80 lines."""

import ast
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import Config, algorithms, losses, make_train, nets
from pgjax.pipeline.static import make_static
from tests.test_cli import TINY, pgjax

PACKAGE = Path(__file__).resolve().parents[1] / "pgjax"


def spo_loss(terms: losses.PolicyTerms, hp) -> jax.Array:
    """Simple Policy Optimization's surrogate, per element: −(r A − |A| (r − 1)² / (2ε))."""
    ratio = losses.importance_ratio(terms.log_prob, terms.old_log_prob)
    a = jax.lax.stop_gradient(terms.advantages)
    return -(ratio * a - jnp.abs(a) * (ratio - 1.0) ** 2 / (2.0 * hp.clip_eps))


def test_an_algorithm_registered_from_a_file_trains_through_make_train():
    spo = algorithms.REGISTRY["ppo_clip"]._replace(name="test_spo", policy_loss=spo_loss)
    algorithms.register(spo)
    assert "test_spo" in algorithms.names()
    config = Config(algo="test_spo", total_timesteps=60_000)
    config.validate()  # the registry as it is now, not as it was at import
    result = jax.jit(make_train(config))(jax.random.key(0))
    returns = np.asarray(result.metrics["episode_return"])
    assert np.isfinite(np.asarray(result.metrics["loss"])).all()
    assert np.nanmean(returns[-10:]) > 2 * np.nanmean(returns[:5])  # it learns CartPole
    # the surrogate is the one handed in: at r = 1 its value is −A, its slope in r is −A
    terms = losses.PolicyTerms(jnp.zeros(2), jnp.zeros(2), jnp.array([1.0, -2.0]), 0.0)
    np.testing.assert_allclose(spo_loss(terms, config.hparams()), [-1.0, 2.0])


def test_registration_refuses_what_is_not_an_algorithm():
    with pytest.raises(ValueError, match=r"is not a pgjax\.algorithms\.Algorithm"):
        algorithms.register({"name": "x"})
    bad = algorithms.REGISTRY["ppo_clip"]._replace(name="test_bad", estimator="gae")
    with pytest.raises(
        ValueError, match=r"its estimator must be a pgjax\.algorithms\.estimators\.Estimator"
    ):
        algorithms.register(bad)
    with pytest.raises(ValueError, match=r"Config.algo='test_nope' is unknown.*register"):
        Config(algo="test_nope").validate()


USER_ALGORITHMS = '''
"""A user's own algorithm, registered on import."""
import jax
import jax.numpy as jnp

from pgjax import algorithms, losses


def spo(terms, hp):
    ratio = losses.importance_ratio(terms.log_prob, terms.old_log_prob)
    a = jax.lax.stop_gradient(terms.advantages)
    return -(ratio * a - jnp.abs(a) * (ratio - 1.0) ** 2 / (2.0 * hp.clip_eps))


algorithms.register(algorithms.REGISTRY["ppo_clip"]._replace(name="my_spo", policy_loss=spo))
'''


def test_an_algorithm_registered_from_a_file_trains_through_the_cli(tmp_path):
    (tmp_path / "my_algos.py").write_text(USER_ALGORITHMS)
    out = pgjax("train", "--import", "my_algos", "--algo", "my_spo", *TINY, "--total-timesteps",
                640, "--run-dir", "run", "--no-progress", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "pgjax: my_spo on CartPole-v1" in out.stdout
    unknown = pgjax("train", "--algo", "my_spo", "--run-dir", "r2", cwd=tmp_path)
    assert unknown.returncode == 2 and "--import the module that registers it" in unknown.stderr


class Normed(nn.Module):
    """A user's torso: a Dense layer, then a LayerNorm, flax's own initialisers."""

    width: int

    @nn.compact
    def __call__(self, obs):
        x = nn.Dense(self.width, kernel_init=nn.initializers.normal(0.5))(obs)
        return nn.tanh(nn.LayerNorm()(x))


def test_a_registered_torso_keeps_its_own_initialisers():
    nets.register("test_normed", lambda spec: Normed(spec.hidden_sizes[0]))
    for network in ("test_normed", "test_normed_gru"):
        config = Config(network=network, hidden_sizes=(32,), rnn_size=8, num_envs=4)
        net = make_static(config).net
        params = net.init(jax.random.key(0))
        torso = params.actor["params"]["torso"]["module"]
        np.testing.assert_array_equal(torso["LayerNorm_0"]["scale"], np.ones(32))
        np.testing.assert_array_equal(torso["LayerNorm_0"]["bias"], np.zeros(32))
        kernel = np.asarray(torso["Dense_0"]["kernel"])
        # normal(0.5): not orthogonal (its columns are not orthonormal), its spread 0.5
        assert 0.4 < kernel.std() < 0.6
        assert not np.allclose(kernel.T @ kernel, np.eye(32) * (kernel.T @ kernel)[0, 0])
        # pgjax's own layers stay orthogonal with their gains: the policy head's 0.01
        head = np.asarray(params.actor["params"]["Dense_0"]["kernel"])
        np.testing.assert_allclose(np.linalg.norm(head, axis=0), 0.01, rtol=1e-4)
    result = jax.jit(make_train(Config(network="test_normed", total_timesteps=2048)))(
        jax.random.key(0)
    )
    assert np.isfinite(np.asarray(result.metrics["loss"])).all()


def test_network_names_are_checked_with_the_registered_ones():
    with pytest.raises(ValueError, match=r"Config.network='nope' is unknown.*nets.register"):
        Config(network="nope").validate()
    with pytest.raises(ValueError, match="must not end with a cell"):
        nets.register("x_gru", Normed)
    assert "cnn_lstm" in nets.network_names() and "auto" in nets.network_names()


def _imports(path: Path, modules: dict) -> set[str]:
    """The pgjax modules ``path`` imports, anywhere in it (in functions too), outside
    ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pgjax"):
            # ``from pgjax import algorithms`` depends on the module pgjax.algorithms
            found.update(f"{node.module}.{a.name}" for a in node.names)
            if not all(f"{node.module}.{a.name}" in modules for a in node.names):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pgjax"))
    return found


def test_the_package_has_no_import_cycle():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {
        m: {i for i in _imports(p, modules) if i in modules and i != m} for m, p in modules.items()
    }
    # a package's own __init__ imports its modules: an edge from a module to its package is
    # one to that __init__
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n) :], n] if n in stack else [m, n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    sys.setrecursionlimit(10_000)
    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.name} ({length})")
    assert not long, long
