"""The ``pgjax`` command.

    pgjax train                                   # PPO-Clip on CartPole-v1, about a minute
    pgjax train --env Breakout-MinAtar --preset   # the preset that learns that environment
    pgjax train --lr 1e-3 --num-envs 16           # any Config field is a flag

Flags, defaults and help text come from ``Config`` and its field docstrings (through tyro).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import jax
import tyro

from pgjax.config import Config
from pgjax.presets import preset
from pgjax.progress import final_return, format_report, train_in_chunks


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train one run and print its progress and result."""

    config: Annotated[Config, tyro.conf.arg(name="")]
    seed: int = 0
    """PRNG seed."""
    use_preset: Annotated[bool, tyro.conf.arg(name="preset")] = False
    """Start from the tuned preset for --env (and --algo); other flags still override it."""


def run_train(args: TrainArgs) -> int:
    config = args.config
    if args.use_preset:
        # a flag counts as given where it differs from the default (the preset wins on ties)
        plain = Config(algo=config.algo, env=config.env)
        given = {
            f.name: getattr(config, f.name)
            for f in dataclasses.fields(Config)
            if getattr(config, f.name) != getattr(plain, f.name)
        }
        config = preset(config.env, config.algo).replace(**given)
    try:
        config.validate()
    except ValueError as error:
        print(f"pgjax: {error}", file=sys.stderr)
        return 2
    print(
        f"pgjax: {config.algo} on {config.env}, {config.num_updates * config.batch_size:,} steps "
        f"({config.num_envs} envs x {config.num_steps} steps x {config.num_updates} updates) "
        f"on {jax.default_backend()}"
    )
    result = train_in_chunks(
        config,
        jax.random.key(args.seed),
        on_chunk=lambda report, _: print(format_report(report), flush=True),
    )
    print(f"pgjax: final return (mean of the last 10 updates) {final_return(result.metrics):.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    commands = {"train": TrainArgs}
    args = tyro.extras.subcommand_cli_from_dict(
        {name: cls for name, cls in commands.items()}, args=argv, prog="pgjax"
    )
    return run_train(args)


if __name__ == "__main__":
    sys.exit(main())
