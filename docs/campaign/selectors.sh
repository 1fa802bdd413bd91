#!/usr/bin/env bash
# Issue 16 at the paper's scale: every selector of the package beside the paper's loop, on the main job's
# 20,000-frame 32-atom Ni pool (distilled) and judged on it and on the 108-atom pool, at 100, 200, 300, 500
# and 1,000 frames. The pools are the main job's (results/Ni/sample, linked: run `snakemake --cores 2`, or
# at least its Ni sampling, first); nothing is re-sampled. Replicate N reseeds the whole distillation
# (initial subset, selections, members): N = 0 keeps the main job's seeds.
#   bash docs/campaign/selectors.sh 0       # then 1 and 2; results in results/selectors{N}/Ni/distill
# Baselines (random, grid, fps_aev, direct, quests) are trained only at the compared budgets; the
# model-based strategies (the loop, force_committee, uncertainty_diverse, the ceiling) at every
# iteration, since each selection needs the previous ensemble.
set -euo pipefail
n=${1:?usage: selectors.sh N  (N >= 0)}
cd "$(dirname "$0")/../.."
out=results/selectors$n
mkdir -p "$out/Ni"
ln -sfn ../../Ni/sample "$out/Ni/sample"
cat > "$out/selectors.yaml" <<YAML
results_dir: $out
elements: [Ni]
element_overrides:
  distill:
    replicate: $n
    strategies: [uncertainty, random, grid, fps_aev, direct, quests, force_committee, uncertainty_diverse, ceiling]
    baseline_iterations: [1, 2, 4, 9]
    whole_pool_control: false
  validate:
    ensembles: []
YAML
snakemake --cores "${CORES:-2}" --configfile config/config.yaml "$out/selectors.yaml" ${EXTRA:-} \
    -- "$out/Ni/distill/learning_curve.csv"
