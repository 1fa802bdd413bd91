#!/usr/bin/env bash
# Replicate N of the campaign's distillation at its small budgets (100, 200 and 300 frames of the
# 32-atom Ni pool), for the seed spread of the learning curves. `distill.replicate: N` gives the
# initial subset, the selections and the members new seeds; the sampled pools are the campaign's
# (results/Ni/sample, linked), so nothing is re-sampled.
#   bash docs/campaign/replicate.sh 1      # then 2, ...; results in results/replicate{N}/Ni/distill
set -euo pipefail
n=${1:?usage: replicate.sh N  (N >= 1)}
cd "$(dirname "$0")/../.."
out=results/replicate$n
mkdir -p "$out/Ni"
ln -sfn ../../Ni/sample "$out/Ni/sample"
cat > "$out/replicate.yaml" <<YAML
results_dir: $out
elements: [Ni]
element_overrides:
  distill:
    replicate: $n
    n_iterations: 2
    baseline_iterations: [1, 2]
    whole_pool_control: false
YAML
snakemake --cores "${CORES:-2}" --configfile config/campaign.yaml "$out/replicate.yaml" \
    -- "$out/Ni/distill/learning_curve.csv"
