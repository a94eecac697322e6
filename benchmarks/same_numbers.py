"""The same numbers before and after a refactor: a fingerprint of every metric and parameter.

    python benchmarks/same_numbers.py --record   # writes benchmarks/results/same_numbers.json
    python benchmarks/same_numbers.py            # trains again, compares, exit 1 on a change
    python benchmarks/same_numbers.py --quick    # 4 updates each, recorded and checked in a
                                                 # temporary file: a smoke test

For every algorithm on CartPole-v1, ppo_clip and trpo on Pendulum-v1, and ppo_clip on
MaskedCartPole-v1 (its preset: a recurrent policy), it runs
``jax.jit(make_train(Config(algo=A, env=E)))(jax.random.key(0))`` (what ``Config`` resolves
the unset fields to, the whole run) and keeps the SHA-256 of every metric's bytes and of the
final parameters.
Bits depend on the machine and the JAX version as well as on the code: compare only runs on
the same machine with the same JAX (the file records both, the processor with a digest of
its feature flags, and the check says when they differ). A file recorded on another machine is
recorded again, at the commit before the refactor, before it is compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys

import jax
import numpy as np
from common import RESULTS, machine, script

from pgjax import Config, make_train
from pgjax.algorithms import names as algorithm_names
from pgjax.tools.chunks import final_return

CASES = [(algo, "CartPole-v1") for algo in algorithm_names()] + [
    ("ppo_clip", "Pendulum-v1"),
    ("trpo", "Pendulum-v1"),
    ("ppo_clip", "MaskedCartPole-v1"),
]


def _digest(x) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(x)).tobytes()).hexdigest()[:16]


def fingerprint(algo: str, env: str, quick: bool) -> dict:
    config = Config(algo=algo, env=env)
    if quick:
        config = config.replace(total_timesteps=4 * config.batch_size)
    result = jax.device_get(jax.jit(make_train(config))(jax.random.key(0)))
    params = result.state.params
    return {
        "metrics": {k: _digest(v) for k, v in sorted(result.metrics.items())},
        "params": _digest(np.concatenate([np.ravel(x) for x in jax.tree.leaves(params)])),
        "final_return": final_return(result.metrics),
    }


def cpu() -> str:
    """The host's processor and a digest of its feature flags: XLA compiles for the CPU it runs
    on (AVX-512 or not, say), so two machines with the same model name and JAX can differ."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    field = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines[::-1])}
    flags = hashlib.sha256(field.get("flags", "").encode()).hexdigest()[:8]
    return f"{field.get('model name', platform.machine())}, flags {flags}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help="write the fingerprints")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--file", default=os.path.join(RESULTS, "same_numbers.json"))
    args = parser.parse_args()
    print(machine())
    path = args.file
    if args.quick:
        import tempfile

        path = os.path.join(tempfile.mkdtemp(prefix="pgjax-quick-"), "same_numbers.json")
    where = {"jax": jax.__version__, "device": jax.devices()[0].device_kind, "cpu": cpu()}
    runs = {f"{a}/{e}": fingerprint(a, e, args.quick) for a, e in CASES}
    if args.record or args.quick:
        with open(path, "w") as f:
            json.dump({"where": where, "runs": runs}, f, indent=1)
        print(f"recorded {len(runs)} runs in {path}")
    with open(path) as f:
        recorded = json.load(f)
    if recorded["where"] != where:
        print(f"note: recorded on {recorded['where']}, running on {where}: bits may differ")
    print("| run | final return | metrics that differ | no longer reported | parameters |")
    print("| --- | --- | --- | --- | --- |")
    changed = 0
    for name, run in runs.items():
        if name not in recorded["runs"]:  # an algorithm registered after the recording
            print(f"| {name} | {run['final_return']:.1f} | (not recorded) | | |")
            continue
        old = recorded["runs"][name]
        # a metric the run no longer reports (a constant an algorithm without it carried, as
        # every algorithm once carried PPO-Penalty's beta) is listed apart: it holds no number
        # that could have changed
        gone = [k for k in old["metrics"] if k not in run["metrics"]]
        differ = [
            k
            for k in old["metrics"]
            if k in run["metrics"] and run["metrics"][k] != old["metrics"][k]
        ]
        differ += [k for k in run["metrics"] if k not in old["metrics"]]
        same_params = run["params"] == old["params"]
        changed += bool(differ) or not same_params
        print(
            f"| {name} | {run['final_return']:.1f} | {', '.join(differ) or 'none'} | "
            f"{', '.join(gone) or '-'} | {'same' if same_params else 'DIFFERENT'} |"
        )
    compared = sum(name in recorded["runs"] for name in runs)
    print(
        f"same numbers ({compared} runs recorded)"
        if not changed
        else f"{changed} of {compared} runs changed"
    )
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(script(main))
