#!/usr/bin/env bash
# The README's terminal quick-start, run for real: its outputs are the pictures the README shows.
#   bash benchmarks/quickstart.sh            (from the repository root; a few minutes on a CPU)
set -euo pipefail
out=benchmarks/results/quickstart
work=$(mktemp -d)
pgjax train --run-dir "$work/cartpole" --no-progress | tee "$out/train.txt"
pgjax eval "$work/cartpole" --episodes 32 --greedy --render "$out/cartpole.gif" | tee "$out/eval.txt"
pgjax sweep --seeds 4 --lr 1e-4,2.5e-4,1e-3 --out "$work/sweep" | tee "$out/sweep.txt"
cp "$work/cartpole/curve.png" "$out/curve.png"
cp "$work/sweep/sweep.png" "$out/sweep.png"
rm -rf "$work"
