"""The documentation cannot rot: the site builds strictly, its API reference holds every public
name, every metric a run reports is on the metrics page, every code block runs (or says why
not), and the built pages render in a real browser with nothing they load missing.

Needs the ``docs`` extra (``pip install -e ".[docs]"``: mkdocs and Selenium) and Chromium with
its driver (Debian's ``chromium`` and ``chromium-driver``); ``.ci/run`` installs both. Each
check is also run on a deliberately broken copy, which it must reject.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
import threading
import zlib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
from hooks import API_MODULES  # noqa: E402

NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
ENV = re.compile(r"<!-- env: (\w+)=(\S+)")
BLOCK = re.compile(r"((?:<!--.*?-->\n)?)```(\w*)\n(.*?)\n```", re.S)


def build(docs_root: Path, out: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of the project at ``docs_root`` into ``out``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=docs_root,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT, out)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


# ---- the API reference ----


def public_names(module_name: str) -> list[str]:
    """A module's public names: its ``__all__``, else every top-level name its source defines
    or assigns that does not start with ``_`` (imports excluded)."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = ast.parse(Path(module.__file__).read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                parts = target.elts if isinstance(target, ast.Tuple) else [target]
                names += [t.id for t in parts if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def inventory(site_dir: Path) -> set[str]:
    """The names in a built site's ``objects.inv`` (Sphinx's format, which mkdocstrings
    writes: four header lines, then zlib-compressed ``name domain:role priority uri …``)."""
    data = (site_dir / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if line}


def missing_from_reference(site_dir: Path) -> list[str]:
    names = inventory(site_dir)
    return [
        f"{module}.{name}"
        for module in API_MODULES
        if importlib.util.find_spec(module.split(".")[0]) is not None
        for name in public_names(module)
        if f"{module}.{name}" not in names
    ]


def test_api_reference_holds_every_public_name(site):
    assert len(inventory(site)) > 300
    assert missing_from_reference(site) == []


def test_api_check_catches_a_name_left_out(site, tmp_path):
    # a copy whose reference filters one public name out
    copy = tmp_path / "project"
    skip = shutil.ignore_patterns(".git", ".cache", "site", "runs", "*.egg-info")
    shutil.copytree(ROOT, copy, ignore=skip)
    config = (copy / "mkdocs.yml").read_text()
    (copy / "mkdocs.yml").write_text(
        config.replace('filters: ["!^_"]', 'filters: ["!^_", "!^make_train$"]')
    )
    done = build(copy, tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pgjax.make_train" in missing_from_reference(tmp_path / "site")


# ---- the metrics page ----


def test_every_reported_metric_is_documented():
    import jax

    from pgjax import Config, make_train
    from pgjax.algorithms import names

    page = (DOCS / "metrics.md").read_text()
    documented = set(re.findall(r"`(\w+)`", page))
    reported = set()
    for algo in names():
        config = Config(algo=algo, env="CartPole-v1")
        config = config.replace(total_timesteps=config.batch_size)
        reported |= set(jax.eval_shape(make_train(config), jax.random.key(0)).metrics)
    assert reported - documented == set()
    assert {"no_legal_action", "episode_count", "beta"} <= documented


# ---- the code blocks ----


def blocks(page: Path) -> list[tuple[str, str, str | None, dict[str, str]]]:
    """``(language, code, reason it is not run or None, environment)`` of every fenced block."""
    found = []
    for marker, language, code in BLOCK.findall(page.read_text()):
        reason = NOT_RUN.search(marker)
        env = dict(ENV.findall(marker))
        found.append((language, code, reason.group(1) if reason else None, env))
    return found


def run_page(page: Path, cwd: Path) -> list[str]:
    """Runs a page's Python blocks in order, in one process, and each shell line that invokes
    ``pgjax``; returns what failed (empty: all ran)."""
    failures = []
    python, env = [], dict(os.environ)
    for language, code, reason, extra in blocks(page):
        if reason:
            continue
        if language == "python":
            python.append(code)
            env.update(extra)
        elif language in ("bash", "sh", "shell"):
            for line in code.splitlines():
                command = line.split("#")[0].strip()
                if not command:
                    continue
                command = command.removeprefix("exec ")  # a job script's last line
                assert command.startswith("pgjax "), (
                    f"{page}: a shell block runs `{command}`: only pgjax commands run in the "
                    "docs test; mark the block <!-- not run: why -->"
                )
                done = subprocess.run(command, shell=True, cwd=cwd, capture_output=True,
                                      text=True, timeout=600)  # fmt: skip
                if done.returncode:
                    failures.append(f"{command}: {done.stderr[-1500:]}")
    if python:
        done = subprocess.run([sys.executable, "-c", "\n\n".join(python)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        if done.returncode:
            failures.append(f"python: {done.stderr[-3000:]}")
    return failures


PAGES = [
    ROOT / "README.md",
    *sorted(p for p in DOCS.rglob("*.md") if "notebooks" not in p.relative_to(DOCS).parts),
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_runs_or_says_why_not(page, tmp_path):
    for language, code, reason, _ in blocks(page):
        if language in ("bash", "sh", "shell") and "pip install" in code:
            assert reason, f"{page}: a block that installs must say why it is not run"
    assert run_page(page, tmp_path) == []


def test_the_code_check_catches_a_block_that_raises(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("# Broken\n\n```python\nimport pgjax\nraise RuntimeError('stale')\n```\n")
    failures = run_page(page, tmp_path)
    assert len(failures) == 1 and "RuntimeError: stale" in failures[0]


# ---- in a browser ----


class Recorder(SimpleHTTPRequestHandler):
    """Serves the site and records every request's path and status."""

    log: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        self.log.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args):
        pass


def browse(site_dir: Path, pages: dict[str, str], shots: Path) -> tuple[list[str], list]:
    """Opens each page (``path → expected words in its title``) in headless Chromium; returns
    what went wrong and every request the pages made ``(path, status)``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, (
        "Chromium and its driver: apt-get install chromium chromium-driver"
    )
    log: list[tuple[str, int]] = []
    handler = type("Handler", (Recorder,), {"log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    problems = []
    try:
        for path, title in pages.items():
            driver.get(f"http://127.0.0.1:{server.server_port}/{path}")
            if title.lower() not in driver.title.lower():
                problems.append(f"{path}: title {driver.title!r} lacks {title!r}")
            headings = [
                h.text for h in driver.find_elements(By.CSS_SELECTOR, "article h1, article h2")
            ]
            if not any(headings):
                problems.append(f"{path}: no heading rendered")
            broken = driver.execute_script(
                "return Array.from(document.images)"
                ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            if broken:
                problems.append(f"{path}: images not shown: {broken}")
            driver.save_screenshot(
                str(shots / f"{path.strip('/').replace('/', '_') or 'home'}.png")
            )
    finally:
        driver.quit()
        server.shutdown()
    return problems, log


PAGES_SEEN = {
    "": "pgjax",
    "guides/environments/": "Environments",
    "api/pgjax.pipeline.config/": "pgjax.pipeline.config",
    "notebooks/01_policy_gradient/": "policy",
}


def test_the_site_renders_in_a_browser(site, tmp_path):
    shots = Path(os.environ.get("PGJAX_DOCS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    problems, log = browse(site, PAGES_SEEN, shots)
    assert problems == []
    assert [request for request in log if request[1] >= 400] == []
    assert len(log) > len(PAGES_SEEN)  # the pages' scripts, styles and images were fetched
    names = (
        "home",
        "guides_environments",
        "api_pgjax.pipeline.config",
        "notebooks_01_policy_gradient",
    )
    for name in names:
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_the_browser_check_catches_a_missing_image(site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    index = copy / "index.html"
    index.write_text(index.read_text().replace("</article>", '<img src="gone.png"></article>', 1))
    problems, log = browse(copy, {"": "pgjax"}, tmp_path)
    assert any("images not shown" in p for p in problems)
    assert ("/gone.png", 404) in log
