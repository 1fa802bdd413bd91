#!/usr/bin/env bash
# Copy the small outputs of the thermodynamics campaign (config/campaign-thermo.yaml, issue 15) from
# results/thermo into docs/campaign/thermo (results/ is not committed). Run from the repository root after
#   snakemake --cores 2 --configfile config/campaign-thermo.yaml -- results/thermo/{Ni,Al}/sample/melting_comparison.md
set -euo pipefail
R=${1:-results/thermo}
D=docs/campaign/thermo
mkdir -p "$D"
for el in Ni Al; do
  [ -d "$R/$el" ] || { echo "missing: $R/$el" >&2; continue; }
  files="sample/melting_comparison.csv sample/melting_comparison.md coexistence/coexistence.json
         coexistence/coexistence.csv coexistence/coexistence.png logs/run_coexistence.log"
  for n in 32 108; do
    files="$files sample/melting_$n.json sample/reweight_$n.csv sample/plots/reweight_$n.png
           sample/plots/free_energy_$n.png sample/plots/flatness_$n.png logs/sample_momt_$n.log"
  done
  for f in $files; do
    if [ -e "$R/$el/$f" ]; then cp "$R/$el/$f" "$D/${el}_$(basename "$f")"; else echo "missing: $R/$el/$f" >&2; fi
  done
done
cp config/campaign-thermo.yaml "$D/"
git rev-parse HEAD > "$D/commit.txt"
