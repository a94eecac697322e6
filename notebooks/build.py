"""Build the notebooks from their sources in ``notebooks/src/`` and run them, so that the
committed ``.ipynb`` files carry their outputs (plots visible without running anything).

    python notebooks/build.py              # full budgets: minutes on a 2-core CPU
    python notebooks/build.py 03_ppo       # one notebook
    PGJAX_QUICK=1 python notebooks/build.py --check   # run each in quick mode, write nothing

A source is a Python file in the "percent" format: ``# %%`` starts a code cell and
``# %% [markdown]`` a markdown cell whose lines are comments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent


def parse(source: str) -> nbformat.NotebookNode:
    """Percent-format source → notebook (cells in order, no outputs)."""
    cells, kind, lines = [], None, []

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#")
                for line in text.splitlines()
            )
            cells.append(nbformat.v4.new_markdown_cell(text))
        elif kind == "code" and text:
            cells.append(nbformat.v4.new_code_cell(text))

    for line in source.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def run(notebook: nbformat.NotebookNode, timeout: int = 1800) -> nbformat.NotebookNode:
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(HERE)}},
    ).execute()
    return notebook


def with_old_outputs(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """``notebook`` with the outputs of the built notebook at ``path``; ``SystemExit`` if a
    code cell changed (then it must be run again)."""
    old = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    new = [c for c in notebook.cells if c.cell_type == "code"]
    if [c.source for c in old] != [c.source for c in new]:
        raise SystemExit(f"{path.name}: code cells changed; rebuild it without --text-only")
    for a, b in zip(old, new, strict=True):
        b.outputs, b.execution_count = a.outputs, a.execution_count
    notebook.metadata = nbformat.read(path, as_version=4).metadata
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    parser.add_argument("--check", action="store_true", help="run only, write nothing")
    parser.add_argument(
        "--text-only",
        action="store_true",
        help="update the markdown cells, keeping the outputs (the code cells must be unchanged)",
    )
    args = parser.parse_args()
    sources = sorted((HERE / "src").glob("*.py"))
    if args.names:
        sources = [s for s in sources if s.stem in args.names]
    for src in sources:
        target = HERE / f"{src.stem}.ipynb"
        if args.text_only:
            nbformat.write(with_old_outputs(parse(src.read_text()), target), target)
            continue
        print(f"running {src.stem} ...", flush=True)
        notebook = run(parse(src.read_text()))
        if not args.check:
            nbformat.write(notebook, target)
    return None


if __name__ == "__main__":
    sys.exit(main())
