"""A run's ``config.json``: the ``Config`` it was made with, its seed, and the modules
imported to name its parts.

    from pgjax.tools import config_file
    config, seed = config_file.load_config("runs/a")
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from pgjax.pipeline.config import DEFAULTS, Config, check_seed
from pgjax.tools.folders import CONFIG_FILE, CheckpointError, write_atomic


def save_config(
    run_dir: str | Path, config: Config, seed: int, imports: Sequence[str] = ()
) -> None:
    """Write ``config.json``: every ``Config`` field, the seed, and the modules imported to
    name its parts (``pgjax train --import``: those a run folder was made with, and any
    ``imports`` given now), so that evaluating or resuming it imports them again."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    modules = list(dict.fromkeys([*load_imports(run_dir), *imports]))
    body = {"config": dataclasses.asdict(config), "seed": seed}
    if modules:
        body["imports"] = modules
    write_atomic(run_dir / CONFIG_FILE, json.dumps(body, indent=2).encode())


def load_imports(run_dir: str | Path) -> list[str]:
    """The modules ``config.json`` says the run was made with (``[]`` if none, or no run)."""
    try:
        body = json.loads((Path(run_dir) / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return []
    modules = body.get("imports", []) if isinstance(body, dict) else []
    return [m for m in modules if isinstance(m, str)] if isinstance(modules, list) else []


def load_config(run_dir: str | Path) -> tuple[Config, int]:
    """Read ``config.json``; ``CheckpointError`` if ``run_dir`` is not a run folder. Every
    field it holds counts as given; a field it lacks (saved before the field existed) takes
    its global default, the value such a run had."""
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir}: not a pgjax run folder (it has no {CONFIG_FILE}; "
            "run folders are made by `pgjax train`)"
        )
    try:
        body = json.loads(path.read_text())
        values = {**DEFAULTS, **body["config"]}
        config = Config.from_dict(values)
        seed = check_seed(body["seed"], "seed")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged or not a pgjax config ({error})") from None
    try:
        config.validate()
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return config, seed
