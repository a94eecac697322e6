"""Where a recurrent update's time goes: kernels per scanned step and the learner's share.

    python benchmarks/recurrent_step.py          # PureJaxRL's PPO-RNN network and sizes
    python benchmarks/recurrent_step.py --quick

For PPO-Clip on CartPole with the reference's recurrent network (a shared relu torso of 128,
GRU 128, heads of 128; 4 envs x 128 steps, 4 epochs x 4 minibatches: row (a) of
``throughput.py --memory``) it prints: the instructions XLA runs at every step of each loop
(``while`` body) of the compiled replay, forward and forward+backward (one minibatch's
``policy_and_value`` and its gradient; fused instructions count once, bookkeeping —
parameters, tuples, constants — not at all); and the time of one update against the time of
its rollout alone (the rest is the learner: estimation and the epochs of minibatch steps).
"""

from __future__ import annotations

import argparse
import re
import time

import jax
import jax.numpy as jnp
from common import machine, script

from pgjax import Config
from pgjax.algorithms.estimators import estimate
from pgjax.pipeline.rollout import collect
from pgjax.pipeline.static import make_static
from pgjax.pipeline.train import init, make_train

BOOKKEEPING = ("parameter", "tuple", "get-tuple-element", "constant", "bitcast")


def loop_sizes(hlo: str) -> list[int]:
    """Instructions per iteration of every ``while`` loop in a compiled module's text."""
    sizes = []
    for name in re.findall(r"while\(.*?body=%?([\w.\-]+)", hlo):
        match = re.search(rf"^%?{re.escape(name)} .*?\{{\n(.*?)\n\}}", hlo, re.S | re.M)
        if match is None:
            continue
        ops = re.findall(r"^\s*(?:ROOT\s+)?%[\w.\-]+ = .*? ([a-z][\w\-]*)\(", match.group(1), re.M)
        sizes.append(sum(op not in BOOKKEEPING for op in ops))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(machine())
    config = Config(env="CartPole-v1", num_envs=4, num_steps=128, num_minibatches=4,
                    network="gru", rnn_size=128, hidden_sizes=(128,), head_sizes=(128,),
                    activation="relu", shared_torso=True, presets=False,
                    total_timesteps=(2 if args.quick else 20) * 512)  # fmt: skip
    static, hp = make_static(config), config.hparams()
    state = init(static, jax.random.key(0), hp)
    carry, traj, _ = collect(static, state.params, state.obs_norm, state.env, jax.random.key(1))
    batch, *_ = estimate(static, state.params, state.obs_norm, traj, state.algo, hp, True)
    mb = jax.tree.map(lambda x: x[:, :1], batch.transitions())  # one environment's window
    memory = mb.memory._replace(hidden=jax.tree.map(lambda x: x[:1], batch.memory.hidden))
    net = static.net

    def forward(params):
        dist_params, values = net.policy_and_value(params, mb.obs, memory)
        return jnp.sum(net.dist.log_prob(dist_params, mb.action)) + jnp.sum(values)

    for name, fn in (("forward", forward), ("forward+backward", jax.grad(forward))):
        hlo = jax.jit(fn).lower(state.params).compile().as_text()
        print(f"replay {name}: instructions per scanned step {loop_sizes(hlo)}")

    rollout = jax.jit(lambda k: collect(static, state.params, state.obs_norm, carry, k)[1])
    train = jax.jit(make_train(config))
    for fn, key in ((rollout, jax.random.key(2)), (train, jax.random.key(0))):
        jax.block_until_ready(fn(key))
    best = {"rollout": float("inf"), "update": float("inf")}
    for _ in range(1 if args.quick else 5):
        start = time.perf_counter()
        jax.block_until_ready(rollout(jax.random.key(2)))
        best["rollout"] = min(best["rollout"], time.perf_counter() - start)
        start = time.perf_counter()
        jax.block_until_ready(train(jax.random.key(0)))
        best["update"] = min(best["update"], (time.perf_counter() - start) / config.num_updates)
    learner = best["update"] - best["rollout"]
    print(
        f"one update {best['update'] * 1e3:.1f} ms: rollout {best['rollout'] * 1e3:.1f} ms, "
        f"learner {learner * 1e3:.1f} ms ({learner / best['update']:.0%} of the update)"
    )


if __name__ == "__main__":
    script(main)
