"""pytest's settings for pgjax's tests."""

import os


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (the default run's): a worker per core, at most 4. Each worker is a Python
    process with JAX and its compilations (1–2 GiB); most of a test's time is compiling, which
    a core does alone, so more workers than cores only contend."""
    return max(1, min(4, len(os.sched_getaffinity(0))))
