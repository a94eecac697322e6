"""pytest's settings for pgjax's tests."""

import os
import shutil
import tempfile

# One persistent compilation cache for the whole test session: its workers, the ``pgjax``
# subprocesses and the notebooks' kernels all inherit these variables (set by the first process
# that imports this file, before any worker starts), so a program that several tests build (the
# CLI's tiny run, a notebook's cell, a docs example) is compiled once instead of once per
# process. A cached executable is the one XLA compiled, so results are the same bits.
_MADE_HERE = "PGJAX_TEST_CACHE" not in os.environ  # a worker inherits its controller's
if _MADE_HERE:
    os.environ["PGJAX_TEST_CACHE"] = tempfile.mkdtemp(prefix="pgjax-test-cache-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["PGJAX_TEST_CACHE"]
os.environ["PGJAX_CACHE_DIR"] = os.environ["PGJAX_TEST_CACHE"]
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (the default run's): a worker per core, at most 4. Each worker is a Python
    process with JAX and its compilations (1–2 GiB); most of a test's time is compiling, which
    a core does alone, so more workers than cores only contend."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def pytest_unconfigure(config) -> None:
    """The process that made the cache (xdist's controller, or the only one) removes it; a
    folder given in ``PGJAX_TEST_CACHE`` is left as it was."""
    if _MADE_HERE:
        shutil.rmtree(os.environ["PGJAX_TEST_CACHE"], ignore_errors=True)
