"""The notebooks: committed with their outputs, in step with their sources, and each runs top
to bottom in quick mode (PGJAX_QUICK=1: small budgets)."""

import base64
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
from build import parse  # noqa: E402

NAMES = [
    "01_policy_gradient",
    "02_importance_sampling",
    "03_ppo",
    "04_scale",
    "05_memory",
    "06_group_baselines",
]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source_and_shows_its_plots(name):
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    source = parse((NOTEBOOKS / "src" / f"{name}.py").read_text())
    assert [c.source for c in committed.cells] == [c.source for c in source.cells], (
        f"{name}.ipynb is out of date: run python notebooks/build.py {name}"
    )
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell was run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [
        base64.b64decode(o.data["image/png"])
        for c in code
        for o in c.outputs
        if o.output_type == "display_data" and "image/png" in o.data
    ]
    assert images and all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in images)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_quick_mode(name, monkeypatch):
    monkeypatch.setenv("PGJAX_QUICK", "1")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises on the first cell that fails
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
