"""Build-time pages of the docs site (an mkdocs hook, named in ``mkdocs.yml``).

- ``api/<module>.md``: one page per public module (``API_MODULES``), generated from its
  docstrings by mkdocstrings, and ``api/index.md`` listing them;
- ``results/<file>.md``: every table in ``benchmarks/results/`` as it was written (its command,
  machine and commit included), never retyped, and ``results/index.md`` listing them; the
  plots and the quick-start pictures beside them, at ``benchmarks/results/...``;
- ``results/<suite>.md`` (``SUITE_PAGES``): per suite, the learning table as IQM with
  bootstrap intervals, the aggregate over the suite and its plots, computed by
  ``benchmarks/report.py`` from the runs in ``benchmarks/results/learning_runs/`` as the site is
  built;
- in any page, a line ``{{ results ALGO }}`` becomes the rows of
  ``benchmarks/results/learning_cpu.md`` for that algorithm, a line ``{{ defaults ALGO }}``
  the algorithm's own defaults (``pgjax.algorithms.get(ALGO).defaults``), and links into
  ``benchmarks/results/`` are made relative to the page.
"""

from __future__ import annotations

import os
import re
import sys

from mkdocs.structure.files import File, Files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
SUITE_PAGES = {"classic control": "results/classic_control.md", "MinAtar": "results/minatar.md"}
"""The results pages ``benchmarks/report.py`` builds, one per suite of its ``SUITES``."""

LAYERS = (
    ("The package", "", ("pgjax",)),
    (
        "core",
        "what every layer shares: checks, settings, hyperparameters, an environment's spaces",
        ("pgjax.core.checks", "pgjax.core.settings", "pgjax.core.hparams", "pgjax.core.spec"),
    ),
    (
        "math",
        "the seed's mathematics, pure and unbatched over time",
        (
            "pgjax.math.returns",
            "pgjax.math.losses",
            "pgjax.math.distributions",
            "pgjax.math.kl_control",
            "pgjax.math.group_baselines",
            "pgjax.math.natural_gradient",
        ),
    ),
    (
        "envs",
        "the batched environment contract and each suite's adapter",
        (
            "pgjax.envs",
            "pgjax.envs.base",
            "pgjax.envs.registry",
            "pgjax.envs.gymnax",
            "pgjax.envs.done_adapter",
            "pgjax.envs.statistics",
            "pgjax.envs.groups",
            "pgjax.envs.memory_tasks",
            "pgjax.envs.functional",
            "pgjax.envs.brax",
            "pgjax.envs.craftax",
            "pgjax.envs.jumanji",
            "pgjax.envs.navix",
            "pgjax.envs.xminigrid",
            "pgjax.envs.pgx",
        ),
    ),
    (
        "nets",
        "networks (no environment suite imported)",
        (
            "pgjax.nets",
            "pgjax.nets.actor_critic",
            "pgjax.nets.torsos",
            "pgjax.nets.recurrent",
            "pgjax.nets.init",
        ),
    ),
    (
        "algorithms",
        "the algorithm table and its parts",
        (
            "pgjax.algorithms",
            "pgjax.algorithms.trajectory",
            "pgjax.algorithms.estimators",
            "pgjax.algorithms.learners",
            "pgjax.algorithms.groups",
            "pgjax.algorithms.optimizers",
        ),
    ),
    (
        "pipeline",
        "the stages: configuration, what is fixed before tracing, rollout, make_train",
        (
            "pgjax.pipeline.config",
            "pgjax.pipeline.presets",
            "pgjax.pipeline.static",
            "pgjax.pipeline.rollout",
            "pgjax.pipeline.train",
        ),
    ),
    (
        "tools",
        "run tooling: the command line, run folders, checkpoints, loggers, sweeps, evaluation",
        (
            "pgjax.tools.cli",
            "pgjax.tools.session",
            "pgjax.tools.chunks",
            "pgjax.tools.folders",
            "pgjax.tools.config_file",
            "pgjax.tools.checkpoint",
            "pgjax.tools.metrics_files",
            "pgjax.tools.loggers",
            "pgjax.tools.tracking",
            "pgjax.tools.sweep",
            "pgjax.tools.stats",
            "pgjax.tools.evaluate",
            "pgjax.tools.export",
            "pgjax.tools.render",
        ),
    ),
)
"""The API reference's modules, by layer, lowest first (a module imports only from its own
layer or those below: ``tests/test_layers.py``)."""
API_MODULES = tuple(m for _, _, modules in LAYERS for m in modules)
"""Every module whose public names the API reference documents (``tests/test_docs.py``
checks that each of them is there)."""


def _api_pages() -> dict[str, str]:
    pages = {}
    for module in API_MODULES:
        pages[f"api/{module}.md"] = f"::: {module}\n    options:\n      heading_level: 1\n"
    listing = []
    for layer, what, modules in LAYERS:
        listing.append(f"\n## {layer}\n" + (f"\n{what}.\n" if what else ""))
        listing += [f"- [`{m}`]({m}.md)" for m in modules]
    pages["api/index.md"] = (
        "# API reference\n\nGenerated from the docstrings at build time: every public name of "
        "each module below (what its `__all__` says, else every name not starting with `_`), "
        "by layer, lowest first: a module imports only from its own layer or those below "
        "([the layout](../guides/extending.md#layout)).\n" + "\n".join(listing) + "\n"
    )
    return pages


def _result_files() -> list[str]:
    return sorted(
        name
        for name in os.listdir(RESULTS)
        if name.endswith((".md", ".txt")) and name != "README.md"
    )


def _results_pages() -> dict[str, str]:
    pages, listing = {}, []
    for name in _result_files():
        with open(os.path.join(RESULTS, name)) as f:
            text = f.read()
        stem = os.path.splitext(name)[0]
        body = text if name.endswith(".md") else f"```text\n{text}\n```"
        body = re.sub(r"^#+ ", "## ", body, flags=re.M)
        # the file's own links are to files beside it in benchmarks/results/
        body = re.sub(r"\]\((?!https?:|/|#)([^)]+)\)", r"](../benchmarks/results/\1)", body)
        pages[f"results/{stem}.md"] = (
            f"# {stem}\n\n`benchmarks/results/{name}`, as the script wrote it:\n\n{body}\n"
        )
        listing.append(f"- [`{name}`]({stem}.md)")
    pages["results/index.md"] = (
        "# Results\n\nEvery table below was written by a script in `benchmarks/`; each says "
        "the command that made it, the machine and the pgjax commit. They are read from "
        "`benchmarks/results/` when the site is built. [Results, discussed](discussion.md) "
        "walks through them. The learning results by suite, as IQM with bootstrap intervals "
        "and aggregated over each suite: "
        + ", ".join(f"[{suite}]({os.path.basename(uri)})" for suite, uri in SUITE_PAGES.items())
        + ".\n\n"
        + "\n".join(listing)
        + "\n"
    )
    return pages


def _suite_pages() -> tuple[dict[str, str], dict[str, bytes]]:
    """``SUITE_PAGES``' Markdown and their images (``results/<name>.png``)."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import report
    finally:
        sys.path.pop(0)
    runs = os.path.join(RESULTS, "learning_runs", "cpu")
    pages, images = {}, {}
    for suite, uri in SUITE_PAGES.items():
        text, pngs = report.suite_page(runs, suite, image_prefix="")
        pages[uri] = text
        images.update({f"results/{name}": png for name, png in pngs.items()})
    return pages, images


def on_files(files: Files, config) -> Files:
    suites, images = _suite_pages()
    for uri, text in {**_api_pages(), **_results_pages(), **suites}.items():
        files.append(File.generated(config, uri, content=text))
    for uri, png in images.items():
        files.append(File.generated(config, uri, content=png))
    for folder, _, names in os.walk(RESULTS):
        for name in names:
            if name.endswith((".png", ".gif", ".html", ".svg")):
                path = os.path.join(folder, name)
                uri = os.path.relpath(path, ROOT).replace(os.sep, "/")
                files.append(File.generated(config, uri, abs_src_path=path))
    return files


def _learning_rows(algo: str) -> str:
    with open(os.path.join(RESULTS, "learning_cpu.md")) as f:
        lines = f.read().splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("| env |")]
    if not header:
        raise ValueError("benchmarks/results/learning_cpu.md has no '| env |' table")
    top = lines[header[0] : header[0] + 2]
    rows = [line for line in lines if line.startswith("| ") and f"| {algo} |" in line]
    if not rows:
        raise ValueError(f"benchmarks/results/learning_cpu.md has no row for {algo!r}")
    intro = [line for line in lines[: header[0]] if line.startswith(("Each row", "device"))]
    return "\n".join([*intro, "", *top, *rows])


def on_page_markdown(markdown: str, page, config, files) -> str:
    depth = page.file.src_uri.count("/")
    up = "../" * depth
    markdown = markdown.replace("](benchmarks/results/", f"]({up}benchmarks/results/")
    markdown = re.sub(
        r"^\{\{ results (\w+) \}\}$", lambda m: _learning_rows(m.group(1)), markdown, flags=re.M
    )
    return re.sub(
        r"^\{\{ defaults (\w+) \}\}$", lambda m: _defaults(m.group(1)), markdown, flags=re.M
    )


def _defaults(algo: str) -> str:
    from pgjax import algorithms

    rows = [f"| `{k}` | `{v!r}` |" for k, v in algorithms.get(algo).defaults.items()]
    for name, setting in algorithms.settings_of(algo).items():
        kind = "traced" if setting.traced else "static"
        rows.append(f"| setting `{name}` ({kind}: {setting.doc}) | `{setting.default!r}` |")
    return "\n".join(["| field | default |", "| --- | --- |", *rows])
