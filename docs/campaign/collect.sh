#!/usr/bin/env bash
# Copy the small outputs of the paper-scale campaign (config/campaign.yaml) from results/ into
# docs/campaign/ (results/ is not committed). Run from the repository root after
#   snakemake --cores 2 --configfile config/campaign.yaml
set -euo pipefail
R=${1:-results}
D=docs/campaign
# cp that names a missing file instead of failing: a partly finished campaign collects what it has
cp() { for a in "${@:1:$#-1}"; do [ -e "$a" ] || { echo "missing: $a" >&2; return 0; }; done; command cp "$@"; }
cp "$R/summary.md" "$D/summary.md"
# distillation (issue 6): learning curves, Figure 2, Table 2, the distilled dataset's manifest
mkdir -p "$D/distill"
cp "$R/Ni/distill/learning_curve.csv" "$R/Ni/distill/figure2.png" "$D/distill/"
last=$(ls -d "$R"/Ni/distill/uncertainty/iter_* | sed 's/.*iter_//' | sort -n | tail -1)
cp "$R/Ni/distill/uncertainty/iter_$last/crystals_nnp.md" "$D/distill/table2_distilled_crystals_nnp.md"
cp "$R/Ni/distill/uncertainty/iter_$last/crystals_nnp.csv" "$D/distill/table2_distilled_crystals_nnp.csv"
cp "$R/Ni/subset/momt_32_all/crystals_nnp.md" "$D/distill/table2_whole_pool_crystals_nnp.md"
cp "$R/Ni/subset/momt_32_all/crystals_nnp.csv" "$D/distill/table2_whole_pool_crystals_nnp.csv"
for pool in momt_32 momt_108; do
  cp "$R/Ni/distill/uncertainty/iter_$last/pred_$pool/metrics.csv" "$D/distill/distilled_metrics_on_$pool.csv"
  cp "$R/Ni/distill/uncertainty/iter_$last/pred_$pool/parity.png" "$D/distill/distilled_parity_$pool.png"
  cp "$R/Ni/distill/uncertainty/iter_$last/pred_$pool/uq_vs_error.png" "$D/distill/distilled_uq_vs_error_$pool.png"
  cp "$R/Ni/subset/momt_32_all/pred_$pool/metrics.csv" "$D/distill/whole_pool_metrics_on_$pool.csv"
done
for s in uncertainty random grid; do
  cp "$R/Ni/distill/$s/manifest.json" "$D/distill/manifest_$s.json"
done
# translation (issue 7): Table 3 and Figure 3 per target, with the control
for el in Al Nb Cu; do
  [ -d "$R/$el" ] || continue
  mkdir -p "$D/translate/$el"
  cp "$R/$el/eam/crystals.csv" "$D/translate/$el/eam_crystals.csv"
  cp "$R/$el/translated/from_Ni/crystals_nnp.md" "$D/translate/$el/table3_translated_crystals_nnp.md"
  cp "$R/$el/translated/from_Ni/crystals_nnp.csv" "$D/translate/$el/table3_translated_crystals_nnp.csv"
  for f in "$R/$el"/translated/from_Ni/pred_*/metrics.csv; do
    cp "$f" "$D/translate/$el/translated_metrics_on_$(basename "$(dirname "$f")" | sed 's/pred_//').csv"
  done
  for f in "$R/$el"/translated/from_Ni/pred_*/parity.png; do
    cp "$f" "$D/translate/$el/figure3_parity_$(basename "$(dirname "$f")" | sed 's/pred_//').png"
  done
  for d in "$R/$el"/subset/*_n*; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    cp "$d/crystals_nnp.md" "$D/translate/$el/control_${n}_crystals_nnp.md" 2>/dev/null || true
    for f in "$d"/pred_*/metrics.csv; do
      cp "$f" "$D/translate/$el/control_${n}_metrics_on_$(basename "$(dirname "$f")" | sed 's/pred_//').csv"
    done
  done
  cp "$R/$el"/sample/melting_*.json "$D/translate/$el/" 2>/dev/null || true
  cp "$R/$el"/sample/plots/reweight_*.png "$D/translate/$el/" 2>/dev/null || true
done
mkdir -p "$D/sample"
cp "$R"/Ni/sample/melting_*.json "$D/sample/" 2>/dev/null || true
cp "$R"/Ni/sample/plots/reweight_*.png "$D/sample/" 2>/dev/null || true
cp config/campaign.yaml "$D/campaign.yaml"
git rev-parse HEAD > "$D/commit.txt"
echo "collected into $D"
