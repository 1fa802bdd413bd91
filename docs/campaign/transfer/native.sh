#!/usr/bin/env bash
# The native-frames variant of the taste transfer table (config/transfer-native.yaml, N = 10 by default):
# results under results/taste_native (N = 10) or results/taste_native{N}, with the taste campaign's
# sampled pools, EAM crystals and Ni distillation linked in (so only the translations, controls,
# trainings and evaluations run). Needs the taste campaign and its transfer run first
# (config/taste.yaml + config/transfer.yaml).
#   bash docs/campaign/transfer/native.sh        # N = 10
#   bash docs/campaign/transfer/native.sh 40     # N = 40
#   bash docs/campaign/transfer/native.sh 10 5   # N = 10 at loss weight W = 5 (translate.native_weight):
#                                                # results/taste_native_w5, the N-frame run's controls linked
set -euo pipefail
n=${1:-10}
w=${2:-1}
cd "$(dirname "$0")/../../.."
configs=(config/taste.yaml config/transfer.yaml config/transfer-native.yaml)
base=results/taste_native
[ "$n" != 10 ] && base=results/taste_native$n
out=$base
[ "$w" != 1 ] && out=${base}_w$w
if [ "$out" != results/taste_native ]; then
    mkdir -p "$out"
    printf 'results_dir: %s\nelement_overrides:\n  translate:\n    native_frames: %s\n    native_weight: %s\n' \
        "$out" "$n" "$w" > "$out/native.yaml"
    configs+=("$out/native.yaml")
fi
for el in Ni Al Cu Ag Au Pd Pt Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el"
    for part in sample eam; do ln -sfn "../../taste/$el/$part" "$out/$el/$part"; done
    # the weight changes the translated set only: the controls (subset/) are the N-frame run's
    [ "$w" != 1 ] && [ -d "$base/$el/subset" ] && ln -sfn "../../${base#results/}/$el/subset" "$out/$el/subset"
done
ln -sfn ../../taste/Ni/distill "$out/Ni/distill"
snakemake --cores "${CORES:-2}" --rerun-triggers mtime --configfile "${configs[@]}" -- "$out/transfer.csv"
