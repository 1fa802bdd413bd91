#!/usr/bin/env bash
# Copy the small outputs of the q6-coordinate MOMT runs (issue 15, seventh run: config/campaign-thermo-q6.yaml
# at 108 atoms, config/campaign-thermo-q6-32.yaml at 32) from results/ into docs/campaign/thermo/q6.
# Run from the repository root after both campaigns (their commands are in the configs' headers).
# Another pair of runs: collect_q6.sh NAME (results/thermo_NAME and results/thermo_NAME_32, configs
# config/campaign-thermo-NAME.yaml and config/campaign-thermo-NAME-32.yaml, into docs/campaign/thermo/NAME);
# a 256-atom run (results/thermo_NAME_256, config/campaign-thermo-NAME-256.yaml) is collected when it exists.
set -euo pipefail
NAME=${1:-q6}
D=docs/campaign/thermo/$NAME
mkdir -p "$D"
for run in "results/thermo_$NAME 108" "results/thermo_${NAME}_32 32" "results/thermo_${NAME}_256 256"; do
  set -- $run
  R=$1 n=$2
  [ "$n" = 256 ] && [ ! -d "$R" ] && continue
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
cp "config/campaign-thermo-$NAME.yaml" "config/campaign-thermo-$NAME-32.yaml" "$D/"
if [ -d "results/thermo_${NAME}_256" ]; then cp "config/campaign-thermo-$NAME-256.yaml" "$D/"; fi
