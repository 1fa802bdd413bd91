#!/bin/bash
# Copy the fifteenth run's small outputs (issue 15: 216 atoms, 3x3x6 cells, q6_solid, 48,000 frames;
# config/melting.yaml + config/campaign-thermo-q6s-216.yaml) from results/ into this folder.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=docs/campaign/thermo/q6s216
cp config/campaign-thermo-q6s-216.yaml "$out/"
for el in Ni Al; do
  r=results/thermo_q6s_216/$el
  cp "$r/sample/melting_216.json" "$out/${el}_melting_216.json"
  cp "$r/sample/reweight_216.csv" "$out/${el}_reweight_216.csv"
  for p in reweight free_energy flatness; do cp "$r/sample/plots/${p}_216.png" "$out/${el}_${p}_216.png"; done
  cp "$r/benchmarks/sample_momt_216.tsv" "$out/${el}_sample_momt_216.tsv"
  cp "$r/benchmarks/reweight_momt_216.tsv" "$out/${el}_reweight_momt_216.tsv"
done
