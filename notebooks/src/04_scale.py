# %% [markdown]
# # 4. Scale: many runs in one compiled function, many devices, and watching the agent
#
# Everything in pgjax — rollout, returns, losses, optimiser — is a pure JAX function, so a whole
# training run is one `jax.jit`-compiled function of a PRNG key, and `jax.vmap` turns it into
# many runs that share one compilation and run side by side. This notebook measures what that
# buys, shows how the same code uses several devices, and renders a trained agent.

# %%
import os
import time

import jax
import matplotlib.pyplot as plt
import numpy as np

from pgjax import Config, make_train, train_seeds
from pgjax.tools.evaluate import evaluate, record_episode
from pgjax.tools.render import frames
from pgjax.tools.sweep import summarize, sweep

QUICK = os.environ.get("PGJAX_QUICK") == "1"
print("backend:", jax.default_backend(), "| devices:", jax.devices())

# %% [markdown]
# ## Seeds × hyperparameters in one call
#
# `pgjax.tools.sweep.sweep` vmaps `train` over a grid of traced hyperparameters and over seeds; every
# setting sees the same seeds, so differences between settings are not seed luck.

# %%
config = Config(total_timesteps=10_000 if QUICK else 300_000)
start = time.perf_counter()
grid = sweep(config, {"lr": [1e-4, 2.5e-4, 1e-3], "clip_eps": [0.1, 0.3]}, seeds=2 if QUICK else 8)
seconds = time.perf_counter() - start
runs = len(grid.settings) * grid.metrics["episode_return"].shape[1]
print(
    f"{runs} runs of {config.num_updates * config.batch_size:,} steps in one call: {seconds:.1f} s including compilation"
)
for row in sorted(summarize(grid), key=lambda r: -r.mean):
    print(f"{row.setting}  final return {row.mean:6.1f} ± {row.ci:5.1f}")

# %% [markdown]
# ## Throughput as runs and environments grow
#
# On a CPU with few cores, vmapping more seeds or environments keeps the cores busier up to a
# point; on a GPU the same code keeps thousands of environments in flight. We time a short
# training run (compilation excluded) for growing numbers of seeds and of environments per run.


# %%
def steps_per_second(config: Config, seeds: int) -> float:
    keys = jax.random.split(jax.random.key(0), seeds)
    train = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
    jax.block_until_ready(train(keys))
    start = time.perf_counter()
    jax.block_until_ready(train(keys))
    return seeds * config.num_updates * config.batch_size / (time.perf_counter() - start)


counts = [1, 4] if QUICK else [1, 4, 16, 64]
budget = 4_096 if QUICK else 50_000
by_seeds = [steps_per_second(Config(total_timesteps=budget), n) for n in counts]
by_envs = [
    steps_per_second(Config(num_envs=n, num_steps=128, total_timesteps=max(budget, n * 128 * 4)), 1)
    for n in counts
]
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.loglog(counts, by_seeds, marker="o", label="seeds (4 envs each)")
ax.loglog(counts, by_envs, marker="s", label="environments (one run)")
ax.set_xlabel("number vmapped")
ax.set_ylabel("environment steps per second")
ax.set_title(f"PPO-Clip on CartPole-v1, {jax.devices()[0].device_kind}")
ax.legend()
plt.show()

# %% [markdown]
# *Training steps per second (all runs together, compilation excluded) as the number of
# vmapped seeds or of environments per run grows, on the machine that built this notebook (a
# shared 2-core CPU, timed while other jobs ran: rerun it for your machine). There, more
# environments in one run raised the rate about threefold up to 64, while more seeds of 4
# environments each kept the total flat near 100k steps/s: two cores are already busy with
# one run's minibatch arithmetic.
# `benchmarks/throughput.py` and `benchmarks/scale.py` measure this against the raw
# environment-stepping ceiling.*
#
# ## More than one device
#
# The same functions run on a GPU or TPU unchanged (JAX picks the device). Beyond one device:
#
# - `train_seeds(config, keys)` shards the seed axis over all devices, with `NamedSharding`;
# - `Config(devices=n)` splits one run's environments over n devices with `shard_map`,
#   averaging gradients and statistics so that every device holds the same parameters;
# - across hosts, call `jax.distributed.initialize()` on each host before importing pgjax;
#   `jax.devices()` then spans them all.
#
# On this machine:

# %%
n = len(jax.devices())
keys = jax.random.split(jax.random.key(0), 2 * n)
result = train_seeds(Config(total_timesteps=4_096 if QUICK else 20_000), keys)
print(
    "seeds:",
    len(keys),
    "| devices:",
    n,
    "| sharding of the metrics:",
    result.metrics["loss"].sharding,
)

# %% [markdown]
# ## Watching a trained agent
#
# `pgjax.tools.evaluate.evaluate` runs many episodes at once (vmapped) until each ends;
# `record_episode` keeps every step of one episode, and `pgjax.tools.render` draws it (`save_gif`
# writes an animation; `pgjax eval RUN --render out.gif` does it from the terminal).

# %%
config = Config(total_timesteps=20_000 if QUICK else 500_000)
trained = jax.jit(make_train(config))(jax.random.key(3))
returns = evaluate(config, trained.state, jax.random.key(4), episodes=32, greedy=True)
print(f"greedy return over 32 episodes: {returns.mean():.1f} ± {returns.std():.1f}")
episode = record_episode(config, trained.state, jax.random.key(5), greedy=True)
images = frames(config.env, episode._replace(rewards=episode.rewards[:200]))
picks = np.linspace(0, len(images) - 1, 5).astype(int)
fig, axs = plt.subplots(1, 5, figsize=(14, 2.4))
for ax, i in zip(axs, picks, strict=True):
    ax.imshow(images[i])
    ax.set_title(f"step {i}")
    ax.axis("off")
plt.show()

# %% [markdown]
# *Five frames of one greedy episode of the trained CartPole agent: the pole stays upright
# throughout. The printed mean is over 32 greedy episodes run together.*
