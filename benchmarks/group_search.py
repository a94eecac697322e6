"""The search behind the group algorithms' defaults (search key 1000, 4 seeds, or the number
PGJAX_SEARCH_SEEDS names):

    python benchmarks/group_search.py CartPole-v1 rloo,grpo,dr_grpo 500000 "[dict(num_envs=16)]"

Each override dict is a Config field or a setting (group_size, return_type, kl_coef); prints
the mean episode return over the last tenth of updates, per seed.
"""

import os
import sys
import time

import jax
import numpy as np

from pgjax import Config, make_train

env = sys.argv[1]
algos = sys.argv[2].split(",")
steps = int(sys.argv[3])
grid = eval(sys.argv[4]) if len(sys.argv) > 4 else [{}]
seeds = int(os.environ.get("PGJAX_SEARCH_SEEDS", 4))
keys = jax.random.split(jax.random.key(1000), seeds)  # search key 1000
for algo in algos:
    for over in grid:
        settings = {
            k: over.pop(k) for k in list(over) if k in ("group_size", "return_type", "kl_coef")
        }
        c = Config(algo=algo, env=env, total_timesteps=steps, settings=settings or None, **over)
        over.update(settings)
        t = time.time()
        r = jax.jit(jax.vmap(make_train(c)))(keys)
        er = np.asarray(r.metrics["episode_return"])
        n = er.shape[1]
        last = np.nanmean(er[:, -max(1, n // 10) :], axis=1)
        print(
            algo,
            over,
            "updates",
            n,
            "final",
            np.round(last, 1),
            "mean",
            round(float(np.mean(last)), 1),
            f"{time.time() - t:.0f}s",
            flush=True,
        )
