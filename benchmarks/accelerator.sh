#!/usr/bin/env bash
# One prepared accelerator run: the headline comparisons with the references, side by side,
# written to benchmarks/results/accelerator_<backend>.md (about 8 minutes on one GPU).
#
#   bash benchmarks/accelerator.sh            # on a GPU or TPU host, from the repository root
#   bash benchmarks/accelerator.sh --quick    # small sizes, into a temporary folder (a CPU
#                                             # smoke test: tests/test_benchmarks.py)
#
# 1. CartPole, PureJaxRL's configuration, 2048 runs vmapped on each side (PureJaxRL published
#    2048 CartPole agents in about 98 s on an A100), against benchmarks/reference_ppo.py;
# 2. Breakout-MinAtar, PureJaxRL's MinAtar settings (the preset, actor and critic separate),
#    256 runs vmapped on each side;
# 3. Brax ant (spring backend, its preset) at 2048 environments against the reference
#    (skipped, and said so, where the brax extra is not installed);
# 4. recurrent PPO against PureJaxRL's PPO-RNN (benchmarks/reference_ppo_rnn.py), three rows.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
quick=()
cartpole=2048 breakout=256 ant=2048 total=()
if [[ "${1:-}" == "--quick" ]]; then
    quick=(--quick) cartpole=4 breakout=1 ant=16  # Breakout with --agents 2 stalls on a 2-core CPU
    out=$(mktemp -d -t pgjax-accelerator-XXXX)
else
    out="$here/results"
    total=(--total-timesteps 500000)
fi
work=$(mktemp -d -t pgjax-accelerator-runs-XXXX)
backend=$(python -c "import jax; print(jax.default_backend())")
report="$out/accelerator_${backend}.md"
run() {  # one comparison: its command and its output, into the report
    echo "## python benchmarks/throughput.py $*" | tee -a "$report.tmp"
    (cd "$here" && python throughput.py "$@" --out-dir "$work") | tee -a "$report.tmp"
    echo | tee -a "$report.tmp"
}
: > "$report.tmp"
echo "# pgjax against the references on $backend ($(date -u +%F))" >> "$report.tmp"
echo >> "$report.tmp"
run "${quick[@]}" ${total[@]+"${total[@]}"} --agents "$cartpole" --rounds 2
run "${quick[@]}" --env Breakout-MinAtar --preset --separate --agents "$breakout" --rounds 2
if python -c "import brax" 2>/dev/null; then
    run "${quick[@]}" --env brax/ant:backend=spring --preset --num-envs "$ant" --rounds 2
else
    echo "## brax/ant: skipped, the brax extra is not installed (pip install -e '.[brax]')" \
        | tee -a "$report.tmp"
fi
run "${quick[@]}" --memory --rounds 3
mv "$report.tmp" "$report"
rm -rf "$work"
echo "wrote $report"
