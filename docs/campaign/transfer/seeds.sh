#!/usr/bin/env bash
# Seed replicates of issue 19's transfer table: the paper's rule (run 1) and cold crystals with ten
# native frames (run 8) at another master seed, everything resampled (the Ni pool and its distilled
# set, the twelve target pools, the native-frame draws, the controls and every member's split), so the
# spread of the ratios between seeds is measured rather than guessed.
#   bash docs/campaign/transfer/seeds.sh 2024     # results/taste_s2024, results/taste_crystals_native_s2024
set -euo pipefail
seed=${1:?usage: seeds.sh SEED}
cd "$(dirname "$0")/../../.."
base=results/taste_s$seed
out=results/taste_crystals_native_s$seed
smk=(snakemake --cores "${CORES:-2}" --rerun-triggers mtime)
"${smk[@]}" --configfile config/taste.yaml config/transfer.yaml \
    --config seed="$seed" results_dir="$base" -- "$base/transfer.csv"
for el in Ni Al Cu Ag Au Pd Pt Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el"
    for part in sample eam; do mkdir -p "$base/$el/$part"; ln -sfn "../../${base#results/}/$el/$part" "$out/$el/$part"; done
done
ln -sfn "../../${base#results/}/Ni/distill" "$out/Ni/distill"
"${smk[@]}" --configfile config/taste.yaml config/transfer.yaml config/transfer-crystals.yaml \
    docs/campaign/transfer/transfer-crystals-native.yaml \
    --config seed="$seed" results_dir="$out" -- "$out/transfer.csv"
