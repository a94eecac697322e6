"""The package's layers: every import of a pgjax module goes to its own layer or one below, the
networks never reach an environment suite, and importing pgjax loads only what is used."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pgjax"
RANK = {"core": 0, "math": 1, "envs": 2, "nets": 2, "algorithms": 3, "pipeline": 4, "tools": 5}
"""Each layer's height: a module may import from a layer of its height or lower (``envs`` and
``nets`` are side by side and may not import each other)."""


def layer(module: str) -> str:
    """``pgjax.math.returns`` → ``math``."""
    parts = module.split(".")
    assert parts[0] == "pgjax" and len(parts) > 1 and parts[1] in RANK, module
    return parts[1]


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test)


def pgjax_imports(source: str, package: str) -> list[str]:
    """The pgjax modules a module's source imports, anywhere in it (functions included),
    except under ``if TYPE_CHECKING:``. ``from pgjax.x import y`` counts as ``pgjax.x.y`` when
    ``y`` is a module of ``pgjax.x``, else as ``pgjax.x``; ``package`` resolves relative ones."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("pgjax."))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base == "pgjax" or base.startswith("pgjax."):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append(sub if _is_module(sub) else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def modules() -> list[tuple[str, Path]]:
    """Every module of pgjax below its ``__init__`` (which imports lazily), by dotted name."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if len(parts) > 1:
            out.append((".".join(parts), path))
    return out


def violations(name: str, source: str) -> list[str]:
    """``importer → imported`` for each import of ``source`` (module ``name``) that goes up a
    layer, or sideways between ``envs`` and ``nets``."""
    package = name if source_is_package(name) else name.rsplit(".", 1)[0]
    mine = layer(name)
    bad = []
    for imported in pgjax_imports(source, package):
        if imported == "pgjax":
            bad.append(f"{name} → pgjax (the top level: import the module itself)")
            continue
        theirs = layer(imported)
        if RANK[theirs] > RANK[mine] or (RANK[theirs] == RANK[mine] and theirs != mine):
            bad.append(f"{name} ({mine}) → {imported} ({theirs})")
    return bad


def source_is_package(name: str) -> bool:
    return (PACKAGE.parent.joinpath(*name.split(".")) / "__init__.py").is_file()


def test_every_layer_folder_is_known():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(RANK)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]


def test_no_module_imports_a_higher_layer():
    found = modules()
    assert len(found) > 50
    bad = [v for name, path in found for v in violations(name, path.read_text())]
    assert bad == []


def test_the_check_sees_an_import_that_goes_up():
    # a network module reaching for an environment suite, a learner for the pipeline, a
    # lazy import inside a function, and one under TYPE_CHECKING (allowed: no import at run)
    assert violations("pgjax.nets.torsos", "from pgjax.envs import make_env\n") == [
        "pgjax.nets.torsos (nets) → pgjax.envs (envs)"
    ]
    assert violations("pgjax.algorithms.learners", "def f():\n    import pgjax.pipeline.train\n")
    assert violations("pgjax.math.losses", "from pgjax import Config\n")
    assert violations("pgjax.math.losses", "from .. import tools\n")
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pgjax.tools import cli\n"
    assert violations("pgjax.math.losses", typed) == []
    assert violations("pgjax.tools.cli", "from pgjax.math import returns\n") == []


def loaded_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    script = f"import sys\n{code}\nprint('\\nLOADED', *sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.rsplit("\nLOADED ", 1)[1].split())


def test_import_pgjax_loads_only_pgjax():
    loaded = loaded_after("import pgjax")
    assert {m for m in loaded if m.startswith("pgjax")} == {"pgjax"}
    assert not {"jax", "flax", "optax", "gymnax"} & loaded


def test_the_networks_load_no_environment_suite():
    loaded = loaded_after("import pgjax.nets")
    assert "gymnax" not in loaded
    assert not any(m.startswith(("pgjax.envs", "pgjax.pipeline", "pgjax.tools")) for m in loaded)


def test_config_and_help_do_not_load_the_pipeline():
    stages = {"pgjax.pipeline.train", "pgjax.pipeline.rollout", "pgjax.pipeline.static"}
    assert not stages & loaded_after("import pgjax; pgjax.Config(algo='trpo')")
    help_ = "from pgjax.tools import cli\ntry:\n    cli.main(['train', '--help'])\nexcept SystemExit:\n    pass"  # noqa: E501
    loaded = loaded_after(help_)
    assert "pgjax.tools.cli" in loaded and not stages & loaded


def test_the_public_entry_points_are_where_they_were():
    import pgjax
    from pgjax import Config, algorithms, envs, make_train, nets, train_seeds
    from pgjax.pipeline import train

    assert make_train is train.make_train and train_seeds is train.train_seeds
    assert Config is pgjax.pipeline.config.Config
    assert callable(algorithms.register) and callable(nets.register)
    assert callable(envs.register)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pgjax.nothing  # noqa: B018


@pytest.mark.parametrize(
    "old, name, new",
    [
        ("pgjax.runner", "run", "pgjax.tools.session"),
        ("pgjax.config", "Config", "pgjax.pipeline.config"),
        ("pgjax.envs.wrappers", "ObsNorm", "pgjax.envs.statistics"),
        ("pgjax.checkpoint", "write_atomic", "pgjax.tools.folders"),
        ("pgjax.checkpoint", "restore", "pgjax.tools.checkpoint"),
        ("pgjax.progress", "merge", "pgjax.tools.metrics_files"),
    ],
)
def test_an_old_path_imports_with_a_warning_naming_the_new(old, name, new):
    import importlib

    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(new in str(w.message) and w.category is DeprecationWarning for w in caught)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert importlib.import_module(new).__spec__.name == new  # the new module's own name kept
