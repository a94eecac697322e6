"""The seed's claims, measured on CartPole-v1 with seeds trained together by vmap.

    python benchmarks/seed_claims.py                 # 8 seeds; writes benchmarks/results/
    python benchmarks/seed_claims.py --quick         # 2 seeds, short: a smoke test

1. REINFORCE's tips, added one at a time: R(τ) with no baseline; + a mean baseline (tip 1);
   + reward-to-go (tip 2); + discount γ = 0.99; + a critic baseline.
2. Reusing a batch: ``is_pg`` (no constraint) against ``ppo_clip`` and ``ppo_penalty`` as the
   epochs per batch grow (1, 4, 16); half as many seeds, to keep the run short.
3. The adaptive β: the KL each update moved the policy, against ``kl_target`` (lr 1e-3, not
   annealed, 10 epochs: settings under which the policy can move that far).

Each row gives the mean over seeds of the return averaged over the whole run (area under the
curve, the sample-efficiency summary) and over its last 10 updates, with 95% confidence
intervals; the plots show the mean curve with a 95% band.
"""

from __future__ import annotations

import argparse
import os

import matplotlib
import numpy as np
from common import (
    band,
    machine,
    mean_and_ci,
    out_dir,
    script,
    smooth_returns,
    vmapped_run,
    write_table,
)

from pgjax import Config

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def run(config: Config, seeds: int) -> dict[str, np.ndarray]:
    return vmapped_run(config, seeds)[0]


def summary(returns: np.ndarray) -> tuple[str, str]:
    """Mean ± 95% CI over seeds of the return averaged over the whole run, and over its last
    10 updates."""
    curve = smooth_returns(returns)
    return mean_and_ci(curve.mean(1)), mean_and_ci(curve[:, -10:].mean(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--epochs-lr",
        type=float,
        help="run only the epochs-per-batch study, every algorithm at this learning rate",
    )
    parser.add_argument(
        "--tips-steps", type=int, help="run only the REINFORCE tips study, with this budget"
    )
    parser.add_argument("--out-dir", help="default: benchmarks/results (quick: a temp folder)")
    args = parser.parse_args()
    studies = ["tips", "epochs", "beta"]
    if args.epochs_lr:
        studies = ["epochs"]
    if args.tips_steps:
        studies = ["tips"]
    lr = {} if args.epochs_lr is None else {"lr": args.epochs_lr}
    seeds = 2 if args.quick else args.seeds
    study_seeds = max(2, seeds // 2)  # the epochs and β studies: half the seeds, for time
    scale = 0.1 if args.quick else 1.0
    args.out_dir = out_dir(args.out_dir, args.quick)
    lines = [
        f"Command: `python benchmarks/seed_claims.py --seeds {seeds}"
        f"{' --quick' if args.quick else ''}"
        f"{f' --epochs-lr {args.epochs_lr}' if args.epochs_lr else ''}"
        f"{f' --tips-steps {args.tips_steps}' if args.tips_steps else ''}`",
        "",
        machine(),
        "",
    ]
    print(machine(), flush=True)
    fig, panels = plt.subplots(1, len(studies), figsize=(6 * len(studies), 4.5), squeeze=False)
    axes = dict(zip(studies, panels[0], strict=True))

    # 1. REINFORCE's tips
    tips = [
        ("R(τ), no baseline", dict(return_type="episode", baseline="none", gamma=1.0)),
        ("+ mean baseline (tip 1)", dict(return_type="episode", baseline="mean", gamma=1.0)),
        ("+ reward-to-go (tip 2)", dict(return_type="reward_to_go", baseline="mean", gamma=1.0)),
        ("+ discount γ=0.99", dict(return_type="reward_to_go", baseline="mean", gamma=0.99)),
        ("+ critic baseline", dict(return_type="reward_to_go", baseline="critic", gamma=0.99)),
    ]
    if "tips" in studies:
        lines += [
            f"{seeds} seeds:",
            "",
            "| REINFORCE variant | steps | mean return over the run | final return |",
            "| --- | --- | --- | --- |",
        ]
    for label, changes in tips if "tips" in studies else []:
        steps = args.tips_steps or int(400_000 * scale)
        config = Config(algo="reinforce", total_timesteps=steps, **changes)
        m = run(config, seeds)
        band(axes["tips"], m["timesteps"][0], m["episode_return"], label)
        whole, final = summary(m["episode_return"])
        lines.append(
            f"| {label} | {config.num_updates * config.batch_size:,} | {whole} | {final} |"
        )
        print(lines[-1], flush=True)
    if "tips" in studies:
        axes["tips"].set(
            title="REINFORCE: each tip of the seed",
            xlabel="environment steps",
            ylabel="episode return (mean, 95% band)",
        )
        axes["tips"].legend(fontsize=8)

    # 2. reusing one batch for several epochs
    if "epochs" in studies:
        lines += [
            "",
            f"{study_seeds} seeds{f', lr {args.epochs_lr}' if lr else ''}:",
            "",
            "| algo | epochs per batch | mean return over the run | final return |",
            "| --- | --- | --- | --- |",
        ]
    finals: dict[str, list[float]] = {}
    epochs = [1, 4, 16]
    for algo in ["is_pg", "ppo_clip", "ppo_penalty"] if "epochs" in studies else []:
        for n in epochs:
            config = Config(algo=algo, num_epochs=n, total_timesteps=int(200_000 * scale), **lr)
            m = run(config, study_seeds)
            whole, final = summary(m["episode_return"])
            finals.setdefault(algo, []).append(smooth_returns(m["episode_return"]).mean())
            lines.append(f"| {algo} | {n} | {whole} | {final} |")
            print(lines[-1], flush=True)
    for algo, values in finals.items():
        axes["epochs"].plot(epochs, values, marker="o", label=algo)
    if "epochs" in studies:
        axes["epochs"].set(
            title="Reusing a batch: epochs per batch",
            xlabel="epochs per batch",
            ylabel="mean return over the run",
            xscale="log",
        )
        axes["epochs"].set_xticks(epochs, [str(e) for e in epochs])
        axes["epochs"].legend(fontsize=8)

    # 3. adaptive β
    if "beta" in studies:
        lines += [
            "",
            f"{study_seeds} seeds:",
            "",
            "| kl_target | median KL per update | share of updates within [target/1.5, "
            "1.5·target] | final β |",
            "| --- | --- | --- | --- |",
        ]
    for target in [0.003, 0.01, 0.03] if "beta" in studies else []:
        # a learning rate that lets the policy move (with PPO's 2.5e-4 annealed to 0, the KL
        # per update stays far below any of these targets whatever β is)
        config = Config(
            algo="ppo_penalty",
            kl_target=target,
            lr=1e-3,
            anneal_lr=False,
            num_epochs=10,
            total_timesteps=int(200_000 * scale),
        )
        m = run(config, study_seeds)
        kl = m["kl"]
        inside = np.mean((kl >= target / 1.5) & (kl <= 1.5 * target))
        lines.append(
            f"| {target} | {np.median(kl):.4f} | {inside:.0%} | {np.median(m['beta'][:, -1]):.3g} |"
        )
        print(lines[-1], flush=True)
        line = axes["beta"].plot(m["timesteps"][0], np.median(kl, 0), label=f"KL, target {target}")
        axes["beta"].axhline(target, color=line[0].get_color(), linestyle="--")
    if "beta" in studies:
        axes["beta"].set(
            title="PPO-Penalty: KL per update (median over seeds)",
            xlabel="environment steps",
            ylabel="KL(π_old‖π) after the update",
            yscale="log",
        )
        axes["beta"].legend(fontsize=8)
    fig.tight_layout()
    suffix = ("_quick" if args.quick else "") + (f"_epochs_lr{args.epochs_lr}" if lr else "")
    suffix += f"_tips_{args.tips_steps}" if args.tips_steps else ""
    fig.savefig(os.path.join(args.out_dir, f"seed_claims{suffix}.png"), dpi=110)
    picture = ["", f"![curves](seed_claims{suffix}.png)"]
    write_table(lines + picture, os.path.join(args.out_dir, f"seed_claims{suffix}.md"))


if __name__ == "__main__":
    script(main)
