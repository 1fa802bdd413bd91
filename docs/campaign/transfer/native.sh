#!/usr/bin/env bash
# The native-frames variant of the taste transfer table (config/transfer-native.yaml): results under
# results/taste_native, with the taste campaign's sampled pools, EAM crystals and Ni distillation linked
# in (so only the translations, controls, trainings and evaluations run). Needs the taste campaign and
# its transfer run first (config/taste.yaml + config/transfer.yaml).
#   bash docs/campaign/transfer/native.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=results/taste_native
for el in Ni Al Cu Ag Au Pd Pt Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el"
    for part in sample eam; do ln -sfn "../../taste/$el/$part" "$out/$el/$part"; done
done
ln -sfn ../../taste/Ni/distill "$out/Ni/distill"
snakemake --cores "${CORES:-2}" --rerun-triggers mtime \
    --configfile config/taste.yaml config/transfer.yaml config/transfer-native.yaml -- "$out/transfer.csv"
