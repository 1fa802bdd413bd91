#!/bin/bash
# Copy the thirteenth run's second round (issue 15) from results/ into docs/campaign/thermo/q6s144/: Ni on the
# 48,000-frame q6_solid recipe with master seed 2024 (--config seed=2024
# results_dir=results/thermo_q6s_144_long_s2024) and Al with 96,000 frames
# (config/campaign-thermo-q6s-144-x2.yaml; a replicate with --config seed=2024
# results_dir=results/thermo_q6s_144_x2_s2024), with the passages of the biased count per walker.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=docs/campaign/thermo/q6s144
cp config/campaign-thermo-q6s-144-x2.yaml "$out/"
for run in "Ni thermo_q6s_144_long_s2024 48000_seed2024" "Al thermo_q6s_144_x2 96000" \
           "Al thermo_q6s_144_x2_s2024 96000_seed2024"; do
  set -- $run
  el=$1; r=results/$2/$1; tag=$3
  if [ ! -f "$r/sample/melting_144.json" ]; then echo "skipped $r: not reweighted yet" >&2; continue; fi
  cp "$r/sample/melting_144.json" "$out/${el}_melting_144_${tag}.json"
  cp "$r/sample/reweight_144.csv" "$out/${el}_reweight_144_${tag}.csv"
  for p in reweight free_energy flatness; do cp "$r/sample/plots/${p}_144.png" "$out/${el}_${p}_144_${tag}.png"; done
  cp "$r/benchmarks/sample_momt_144.tsv" "$out/${el}_sample_momt_144_${tag}.tsv"
  cp "$r/benchmarks/reweight_momt_144.tsv" "$out/${el}_reweight_momt_144_${tag}.tsv"
  python "$out/passages.py" "$r/sample/momt_144.h5" "$el" "$tag"
done
