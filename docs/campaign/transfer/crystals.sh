#!/usr/bin/env bash
# The cold-crystal variant of the taste transfer table (config/transfer-crystals.yaml: Ni's FCC, BCC and
# HCP cells at five strains join each translated set, at the default loss weight 0.05): results under
# results/taste_crystals, or results/taste_crystals_w{W} with the crystal frames at loss weight W
# (translate.crystal_weight; that run links the first run's controls, which do not depend on the weight). The taste campaign's
# sampled pools, EAM crystals and Ni distillation are linked in, so only the translations, controls,
# trainings and evaluations run. Needs the taste campaign's transfer run first
# (config/taste.yaml + config/transfer.yaml, target results/taste/transfer.csv).
#   bash docs/campaign/transfer/crystals.sh      # weight 0.05 (the default)
#   bash docs/campaign/transfer/crystals.sh 1    # weight 1
set -euo pipefail
w=${1:-}
cd "$(dirname "$0")/../../.."
configs=(config/taste.yaml config/transfer.yaml config/transfer-crystals.yaml)
base=results/taste_crystals
out=$base
if [ -n "$w" ]; then
    out=${base}_w$w
    mkdir -p "$out"
    printf 'results_dir: %s\nelement_overrides:\n  translate:\n    crystal_weight: %s\n' "$out" "$w" \
        > "$out/crystals.yaml"
    configs+=("$out/crystals.yaml")
fi
for el in Ni Al Cu Ag Au Pd Pt Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el"
    for part in sample eam; do ln -sfn "../../taste/$el/$part" "$out/$el/$part"; done
    [ -n "$w" ] && [ -d "$base/$el/subset" ] && ln -sfn "../../${base#results/}/$el/subset" "$out/$el/subset"
done
ln -sfn ../../taste/Ni/distill "$out/Ni/distill"
snakemake --cores "${CORES:-2}" --rerun-triggers mtime --configfile "${configs[@]}" -- "$out/transfer.csv"
