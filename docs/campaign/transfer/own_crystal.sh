#!/usr/bin/env bash
# The taste transfer table with the BCC and HCP targets judged on pools sampled from their own crystal
# (config/transfer-own-crystal.yaml): results under results/taste_own, with the taste campaign's Ni
# distillation, the FCC targets and every target's EAM crystals and translated ensembles linked in, so only
# the six new pools (Nb, Fe, W, Ta from BCC; Mg, Zr from HCP), their controls and the predictions on them
# run. Needs the taste campaign and its transfer run first (config/taste.yaml + config/transfer.yaml).
#   bash docs/campaign/transfer/own_crystal.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=results/taste_own
mkdir -p "$out"
for el in Ni Al Cu Ag Au Pd Pt; do ln -sfn "../taste/$el" "$out/$el"; done
for el in Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el/translated/from_Ni"
    ln -sfn "../../taste/$el/eam" "$out/$el/eam"
    ln -sfn "../../../taste/$el/translated/from_Ni.h5" "$out/$el/translated/from_Ni.h5"
    for part in members crystals_nnp.csv crystals_nnp.md; do
        ln -sfn "../../../../taste/$el/translated/from_Ni/$part" "$out/$el/translated/from_Ni/$part"
    done
done
# Snakemake reads a link's own time: give each link its target's, so nothing upstream looks newer
find "$out" -type l -exec sh -c 'touch -h -r "$(readlink -f "$1")" "$1"' _ {} \;
snakemake --cores "${CORES:-2}" --rerun-triggers mtime \
    --configfile config/taste.yaml config/transfer.yaml config/transfer-own-crystal.yaml -- "$out/transfer.csv"
