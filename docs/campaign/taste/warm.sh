#!/usr/bin/env bash
# Issue 20: warm-started loop members (distill.warm_start) against members trained from scratch, side by
# side on the taste campaign's 32-atom Ni pool (sampled once by the first run, at the taste settings, and
# linked into the others): the loop alone (5 iterations of 40 frames from 40, 3 members), judged on that
# pool, replicates 0..N-1 of the distillation (distill.replicate reseeds the initial subset, the
# selections and the members).
#   bash docs/campaign/taste/warm.sh 3      # results/taste_warm/{cold,warm}_r{R}/Ni/distill
set -euo pipefail
n=${1:-1}
cd "$(dirname "$0")/../../.."
for r in $(seq 0 $((n - 1))); do
    for variant in cold warm; do
        out=results/taste_warm/${variant}_r$r
        mkdir -p "$out/Ni"
        [ "$out" = results/taste_warm/cold_r0 ] || ln -sfn ../../cold_r0/Ni/sample "$out/Ni/sample"
        cat > "$out/variant.yaml" <<YAML
results_dir: $out
elements: [Ni]
element_overrides:
  distill:
    replicate: $r
    strategies: [uncertainty]
    eval_pools: [momt_32]
    whole_pool_control: false
    warm_start: $([ "$variant" = warm ] && echo true || echo false)
YAML
        start=$(date +%s)
        snakemake --cores "${CORES:-2}" --rerun-triggers mtime --configfile config/taste.yaml "$out/variant.yaml" \
            -- "$out/Ni/distill/learning_curve.csv"
        echo "$variant r$r: $(( $(date +%s) - start )) s wall" >> results/taste_warm/spans.txt
    done
done
