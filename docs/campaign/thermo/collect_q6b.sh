#!/usr/bin/env bash
# Copy the small outputs of the q6-coordinate MOMT runs on the phases' own O grid (issue 15, eighth run: config/campaign-thermo-q6b.yaml
# at 108 atoms, config/campaign-thermo-q6b-32.yaml at 32) from results/ into docs/campaign/thermo/q6b.
# Run from the repository root after both campaigns (their commands are in the configs' headers).
set -euo pipefail
D=docs/campaign/thermo/q6b
mkdir -p "$D"
for run in "results/thermo_q6b 108" "results/thermo_q6b_32 32"; do
  set -- $run
  R=$1 n=$2
  for el in Ni Al; do
    for f in sample/melting_$n.json sample/reweight_$n.csv sample/melting_comparison.md \
             sample/plots/reweight_$n.png sample/plots/free_energy_$n.png sample/plots/flatness_$n.png \
             logs/sample_momt_$n.log benchmarks/sample_momt_$n.tsv benchmarks/reweight_momt_$n.tsv; do
      base=$(basename "$f")
      [ "$base" = melting_comparison.md ] && base=melting_comparison_$n.md
      if [ -e "$R/$el/$f" ]; then cp "$R/$el/$f" "$D/${el}_$base"; else echo "missing: $R/$el/$f" >&2; fi
    done
  done
done
cp config/campaign-thermo-q6b.yaml config/campaign-thermo-q6b-32.yaml "$D/"
