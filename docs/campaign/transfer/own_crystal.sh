#!/usr/bin/env bash
# The taste transfer table with the BCC and HCP targets judged on pools sampled from their own crystal
# (config/transfer-own-crystal.yaml). Needs the taste campaign and its transfer run first (config/taste.yaml
# + config/transfer.yaml); the variant needs docs/campaign/transfer/crystals.sh's native run too.
#   bash docs/campaign/transfer/own_crystal.sh       # the paper's rule: results/taste_own, with the taste
#       # campaign's Ni distillation, the FCC targets and the six targets' EAM crystals and translated
#       # ensembles linked in, so only the six new pools, their controls and the predictions on them run
#   bash docs/campaign/transfer/own_crystal.sh cn    # the source's cold crystals and ten native frames
#       # (run 8's recipe): results/taste_own_cn, the six pools of results/taste_own linked in; the native
#       # frames now come from the own-crystal pools, so the six translated sets are made and trained again
set -euo pipefail
variant=${1:-}
cd "$(dirname "$0")/../../.."
configs=(config/taste.yaml config/transfer.yaml)
out=results/taste_own
fcc_from=taste
if [ "$variant" = cn ]; then
    out=results/taste_own_cn
    fcc_from=taste_crystals_native
    configs+=(config/transfer-crystals.yaml)
fi
configs+=(config/transfer-own-crystal.yaml)
mkdir -p "$out"
if [ "$variant" = cn ]; then
    printf 'results_dir: %s\nelement_overrides:\n  translate:\n    native_frames: 10\n' "$out" > "$out/variant.yaml"
    configs+=("$out/variant.yaml")
fi
ln -sfn ../taste/Ni "$out/Ni"
for el in Al Cu Ag Au Pd Pt; do ln -sfn "../$fcc_from/$el" "$out/$el"; done
for el in Nb Fe W Ta Mg Zr; do
    mkdir -p "$out/$el"
    ln -sfn "../../taste/$el/eam" "$out/$el/eam"
    if [ "$variant" = cn ]; then
        ln -sfn "../../taste_own/$el/sample" "$out/$el/sample"
    else
        mkdir -p "$out/$el/translated/from_Ni"
        ln -sfn "../../../taste/$el/translated/from_Ni.h5" "$out/$el/translated/from_Ni.h5"
        for part in members crystals_nnp.csv crystals_nnp.md; do
            ln -sfn "../../../../taste/$el/translated/from_Ni/$part" "$out/$el/translated/from_Ni/$part"
        done
    fi
done
# Snakemake reads a link's own time: give each link its target's, so nothing upstream looks newer
find "$out" -type l -exec sh -c 'touch -h -r "$(readlink -f "$1")" "$1"' _ {} \;
snakemake --cores "${CORES:-2}" --rerun-incomplete --rerun-triggers mtime --configfile "${configs[@]}" -- "$out/transfer.csv"
