#!/bin/bash
# Copy the eleventh run's small outputs (issue 15) from results/ into docs/campaign/thermo/q6e/.
# 256-atom Al with a wider T_eff window (config/campaign-thermo-q6e-256.yaml) and the 108-atom seed
# replicates of the tenth run's recipe (--config seed=2024 / seed=2025, results_dir thermo_q6d_s2024 / _s2025).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=docs/campaign/thermo/q6e
mkdir -p "$out"
cp config/campaign-thermo-q6e-256.yaml "$out/"
r=results/thermo_q6e_256/Al
cp "$r/sample/melting_256.json" "$out/Al_melting_256.json"
cp "$r/sample/reweight_256.csv" "$out/Al_reweight_256.csv"
for p in reweight free_energy flatness; do cp "$r/sample/plots/${p}_256.png" "$out/Al_${p}_256.png"; done
cp "$r/logs/sample_momt_256.log" "$out/Al_sample_momt_256.log"
cp "$r/benchmarks/sample_momt_256.tsv" "$out/Al_sample_momt_256.tsv"
cp "$r/benchmarks/reweight_momt_256.tsv" "$out/Al_reweight_momt_256.tsv"
for seed in 2024 2025; do
  for el in Ni Al; do
    r=results/thermo_q6d_s$seed/$el
    cp "$r/sample/melting_108.json" "$out/${el}_melting_108_seed$seed.json"
    cp "$r/sample/reweight_108.csv" "$out/${el}_reweight_108_seed$seed.csv"
    cp "$r/sample/plots/reweight_108.png" "$out/${el}_reweight_108_seed$seed.png"
    cp "$r/benchmarks/sample_momt_108.tsv" "$out/${el}_sample_momt_108_seed$seed.tsv"
  done
done
