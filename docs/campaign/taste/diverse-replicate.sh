#!/usr/bin/env bash
# Replicate N of the taste campaign's distillation for the loop, random and batch-diverse uncertainty
# (the seed spread of issue 16's comparison): distill.replicate N reseeds the initial subset, the
# selections and the members; the sampled pools and their AEV caches are the taste campaign's
# (results/taste/Ni/sample, linked), so nothing is re-sampled.
#   bash docs/campaign/taste/diverse-replicate.sh 1     # then 2; results in results/taste_rep{N}/Ni/distill
# STRATEGIES overrides the strategies compared (the force-committee run: STRATEGIES="uncertainty, random,
# uncertainty_diverse, force_committee"; on finished replicates add --rerun-triggers mtime via EXTRA).
set -euo pipefail
n=${1:?usage: diverse-replicate.sh N  (N >= 1)}
cd "$(dirname "$0")/../../.."
out=results/taste_rep$n
mkdir -p "$out/Ni"
ln -sfn ../../taste/Ni/sample "$out/Ni/sample"
cat > "$out/replicate.yaml" <<YAML
results_dir: $out
elements: [Ni]
element_overrides:
  distill:
    replicate: $n
    strategies: [${STRATEGIES:-uncertainty, random, uncertainty_diverse}]
    whole_pool_control: false
YAML
snakemake --cores "${CORES:-2}" ${EXTRA:-} --configfile config/taste.yaml "$out/replicate.yaml" \
    -- "$out/Ni/distill/learning_curve.csv"
