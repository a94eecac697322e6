# %% [markdown]
# # 5. What the policy sees: memory
#
# The seed, on the policy's input: *the network's input is what the machine sees now — in a
# game, the screen. What it sees decides how well it can be trained. You may feel that the
# frames of a game are related, that the policy should see everything from the start of the
# game up to now; you might think you need an RNN for that, though it is harder to handle.
# What the policy gets to see is your decision.*
#
# This notebook makes that remark concrete. A policy that sees only the present observation is
# a function π(a | s_t); where s_t does not say what to do, no such function does well, however
# it is trained. Two ways out: show the policy more (the last few observations), or give it
# memory: a recurrent cell whose hidden state h_t summarises everything seen so far in the
# episode, π(a | h_t), h_t = f(h_{t−1}, s_t). `Config(network="gru")` (or `"lstm"`) does the
# latter for every algorithm of the family.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from gymnax.environments import environment, spaces

from pgjax import Config, envs, make_train
from pgjax.envs.memory_tasks import MaskedCartPole
from pgjax.pipeline.config import preset
from pgjax.pipeline.static import actor_critic_for
from pgjax.tools.chunks import final_return

QUICK = os.environ.get("PGJAX_QUICK") == "1"
SEEDS = 2 if QUICK else 8
keys = jax.random.split(jax.random.key(0), SEEDS)


def train(config: Config) -> dict:
    """``SEEDS`` runs of ``config`` vmapped: host metrics ``[SEEDS, num_updates]``."""
    return jax.device_get(jax.jit(jax.vmap(make_train(config)))(keys).metrics)


def compare(runs: dict, title: str, solved: float) -> None:
    """Each run's mean curve over seeds (the band: lowest to highest seed) and its final
    return per seed."""
    _, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, metrics in runs.items():
        steps, returns = metrics["timesteps"][0], metrics["episode_return"]
        ax.plot(steps, np.nanmean(returns, 0), label=label)
        ax.fill_between(steps, np.nanmin(returns, 0), np.nanmax(returns, 0), alpha=0.2)
        finals = [final_return({"episode_return": r}) for r in returns]
        print(f"{label:>25}: final return {np.mean(finals):6.2f}, per seed {np.round(finals, 2)}")
    ax.axhline(solved, color="k", ls=":", lw=1)
    ax.set(xlabel="environment steps", ylabel="episode return", title=title)
    ax.legend(fontsize=8)
    plt.show()


# %% [markdown]
# ## A cue seen once
#
# `Cue-v0` shows a cue, −1 or +1, in the first observation; then 8 steps of nothing; then a
# query flag asks for the action that matches the cue (+1 if right, −1 if wrong). At the query
# the observation is `[0, 1]` whichever the cue was: a feed-forward policy cannot tell the two
# episodes apart there, so the best it can do is guess, for an expected return of 0.

# %%
env = envs.make_env("Cue-v0")
state, obs = env.reset(jax.random.split(jax.random.key(0), 2))  # cues −1 and +1
seen = [obs]
for t in range(9):
    state, step = env.step(jax.random.split(jax.random.key(t), (2, 2)), state, jnp.zeros(2, int))
    seen.append(step.final_obs)
seen = np.stack(seen)
for i in range(2):
    print(f"episode {i}: cue {seen[0, i, 0]:+.0f}, query step sees {seen[8, i]}")

# %% [markdown]
# The same settings with and without a GRU (the preset: 8 environments, a 32-unit GRU after a
# 32-unit layer), over the same seeds:

# %%
recurrent = preset("Cue-v0")
if QUICK:
    recurrent = recurrent.replace(total_timesteps=20_480)
cue_runs = {"gru": train(recurrent), "feed-forward": train(recurrent.replace(network="auto"))}
compare(cue_runs, "Cue-v0 (delay 8)", solved=1.0)

# %% [markdown]
# ## Inside the memory
#
# What does the GRU keep? Run the trained policy (the first seed) through two episodes that
# differ only in their cue and measure how far apart its hidden states are at every step. The
# cue is seen at step 0 only; the distance stays away from zero until the query, where the
# two episodes must end in different actions.

# %%
result = jax.jit(make_train(recurrent))(keys[0])
net = actor_critic_for(recurrent, env.spec)
params = result.state.params
observations = jnp.zeros((9, 2, 2)).at[0, :, 0].set(jnp.array([-1.0, 1.0])).at[8, :, 1].set(1.0)
hidden, first = net.initial_hidden(2), jnp.array([True, True])
distance, probs = [], []
for t in range(9):
    hidden, logits, _ = net.step(params, hidden, observations[t], first)
    first = jnp.array([False, False])
    distance.append(float(jnp.linalg.norm(hidden.actor[0] - hidden.actor[1])))
    probs.append(np.asarray(jax.nn.softmax(logits)[:, 1]))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(distance, marker="o")
axes[0].set(xlabel="step", ylabel="‖h(cue −1) − h(cue +1)‖", title="the actor's hidden state")
axes[1].plot(np.array(probs), marker="o", label=["cue −1", "cue +1"])
axes[1].set(xlabel="step", ylabel="π(action 1)", title="the policy")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## CartPole without its velocities
#
# `MaskedCartPole-v1` is CartPole observing the cart's position and the pole's angle only. The
# velocities, which say where the pole is going, are what balancing needs; a policy with memory
# can recover them from successive observations. The seed's other way out is to choose the
# input: show the policy the observation and its change since the last step, divided by the
# step's 0.02 s, an estimate of the velocities. We try all three: feed-forward on the masked
# observation, feed-forward on the observation and its change, and a GRU.


# %%
class WithChange(environment.Environment):
    """An environment's observation and its change since the last step per second,
    ``[obs, (obs − previous) / 0.02]`` (CartPole steps 0.02 s; 0 at an episode's start)."""

    def __init__(self, env):
        super().__init__()
        self.env = env

    @property
    def default_params(self):
        return self.env.default_params

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return jnp.concatenate([obs, jnp.zeros_like(obs)]), (state, obs)

    def step_env(self, key, state, action, params):
        inner, previous = state
        obs, inner, reward, terminated, info = self.env.step_env(key, inner, action, params)
        change = (obs - previous) / 0.02
        return jnp.concatenate([obs, change]), (inner, obs), reward, terminated, info

    def is_truncated(self, state, params):
        return self.env.is_truncated(state[0], params)

    def action_space(self, params=None):
        return self.env.action_space(params)

    def observation_space(self, params):
        size = self.env.observation_space(params).shape[0]
        return spaces.Box(-jnp.inf, jnp.inf, (2 * size,), jnp.float32)


envs.register("MaskedCartPole-change", lambda: WithChange(MaskedCartPole()))

masked = preset("MaskedCartPole-v1")
if QUICK:
    masked = masked.replace(total_timesteps=8_192)
masked_runs = {
    "gru": train(masked),
    "feed-forward": train(masked.replace(network="auto")),
    "feed-forward, with the change": train(
        masked.as_given().replace(network="auto", env="MaskedCartPole-change")
    ),
}
compare(masked_runs, "MaskedCartPole-v1", solved=500.0)

# %% [markdown]
# Memory costs time: every step of a window waits for the one before it, in the rollout and in
# the learner, which replays each environment's window from the hidden state stored at its
# start (with the same resets at the same steps, so that before any update it recomputes the
# rollout's log-probabilities to float rounding, 1e-6).
# `python benchmarks/throughput.py --memory-cost` measures the price against a feed-forward
# policy, `--memory` against PureJaxRL's PPO-RNN; `python benchmarks/memory.py` reruns the
# comparisons above with their tables.
