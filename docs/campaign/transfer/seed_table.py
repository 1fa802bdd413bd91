"""Issue 19 across master seeds: each transfer recipe's table at every seed (the ratio of the translated
ensemble's pool MAE to its control's, and whether each metal meets its targets), per metal the mean and
spread of the ratio, and per seed how many of the twelve metals meet the ratio and crystal targets.

    python docs/campaign/transfer/seed_table.py --out docs/campaign/transfer/seeds \\
        paper_rule=docs/campaign/transfer/transfer_rerun_paper_rule.csv,results/taste_s2024/transfer.csv \\
        crystals_native=docs/campaign/transfer/transfer_crystals_native.csv,...

Each argument is RECIPE=CSV[,CSV...]: that recipe's transfer.csv at each seed, in seed order.
Writes OUT.csv (one row per recipe, metal and seed) and OUT.md (the summary tables).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipes", nargs="+", help="RECIPE=CSV[,CSV...] (one CSV per seed)")
    ap.add_argument("--seeds", default="2023,2024,2025", help="the master seeds, in the CSVs' order")
    ap.add_argument("--out", type=Path, required=True, help="output stem (OUT.csv, OUT.md)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = []
    for arg in args.recipes:
        name, _, paths = arg.partition("=")
        for seed, path in zip(seeds, paths.split(","), strict=False):
            t = pd.read_csv(path)
            t.insert(0, "seed", seed)
            t.insert(0, "recipe", name)
            parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    cols = ["recipe", "seed", "element", "ground_state", "mae_ratio", "mae_ratio_target", "meets_mae_target",
            "max_nn_error_A", "max_energy_error_meV_per_atom", "order_right", "meets_crystal_target"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table[cols].to_csv(args.out.with_suffix(".csv"), index=False, float_format="%.4g")
    lines = []
    for name, t in table.groupby("recipe", sort=False):
        metals = list(dict.fromkeys(t["element"]))
        done = sorted(t["seed"].unique())
        lines += [f"### {name}: ratio of pool MAE to the control's, seeds {', '.join(map(str, done))}", "",
                  "| metal | target | " + " | ".join(f"seed {s}" for s in done) + " | mean ± sd |",
                  "|---|---|" + "---|" * len(done) + "---|"]
        for el in metals:
            r = t[t["element"] == el].set_index("seed")
            vals = [r.loc[s, "mae_ratio"] if s in r.index else float("nan") for s in done]
            cells = [f"**{v:.2f}**" if s in r.index and r.loc[s, "meets_mae_target"] else f"{v:.2f}"
                     for s, v in zip(done, vals, strict=True)]
            ser = pd.Series(vals)
            lines.append(f"| {el} | ≤ {r['mae_ratio_target'].iloc[0]:.1f} | " + " | ".join(cells)
                         + f" | {ser.mean():.2f} ± {ser.std(ddof=1):.2f} |")
        per_seed = t.groupby("seed").agg(ratios_met=("meets_mae_target", "sum"),
                                         mean_ratio=("mae_ratio", "mean"),
                                         crystals_met=("meets_crystal_target", "sum"),
                                         metals=("element", "count"))
        lines += ["", "| seed | ratios met | mean ratio | crystal rows met |", "|---|---|---|---|"]
        for seed, row in per_seed.iterrows():
            lines.append(f"| {seed} | {int(row.ratios_met)} of {int(row.metals)} | {row.mean_ratio:.2f} | "
                         f"{int(row.crystals_met)} of {int(row.metals)} |")
        lines.append("")
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
