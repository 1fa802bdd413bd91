"""The six BCC and HCP targets judged on pools from their own crystal (results/taste_own, own_crystal.sh)
beside the same translated ensembles judged on the FCC-start pools (results/taste): pool MAE of the
translated and control ensembles, their ratio, the error on the pools' solid and liquid frames, the
controls' crystals, and what the pools hold (share of solid frames, O/N > 0.5).
    python docs/campaign/transfer/own_crystal_table.py      # writes own_crystal.csv and own_crystal.md here
    python docs/campaign/transfer/own_crystal_table.py cn   # run 8's recipe (results/taste_crystals_native
                                                            # beside results/taste_own_cn): own_crystal_cn.*
"""

import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
METALS = ["Nb", "Fe", "W", "Ta", "Mg", "Zr"]
COLS = ["pool_mae_translated_meV_per_atom", "pool_mae_control_meV_per_atom", "mae_ratio", "mae_ratio_target",
        "mae_solid_meV_per_atom", "mae_liquid_meV_per_atom", "mean_error_meV_per_atom",
        "max_nn_error_A", "max_energy_error_meV_per_atom", "order_right",
        "control_max_nn_error_A", "control_max_energy_error_meV_per_atom", "control_order_right"]


def solid_share(results: Path, metal: str, pool: str) -> tuple[float, float]:
    """Share of the pool's frames that are solid: by O/N > 0.5 (the transfer diagnostics' split; the
    box-aligned FCC O for an FCC start, q6 for a BCC or HCP one), and by more than half the atoms
    solid-like (ten Wolde's q6 criterion, any crystal in any orientation)."""
    import numpy as np

    from nnpdistill.frames import FrameStore
    from nnpdistill.md.structure import solid_like_fraction

    sc = pd.read_csv(results / metal / "translated" / "from_Ni" / f"pred_{pool}" / "scores.csv")
    with FrameStore(results / metal / "sample" / f"{pool}.h5") as store:
        frac = np.concatenate([solid_like_fraction(f.positions, f.cell) for f in store.groups(labels=False)])
    return float((sc["order_parameter"] / sc["n_atoms"] > 0.5).mean()), float((frac > 0.5).mean())


def main(variant: str = "") -> None:
    rows = []
    runs = (("FCC start", REPO / "results/taste"), ("own crystal", REPO / "results/taste_own"))
    name = "own_crystal"
    if variant == "cn":
        runs = (("FCC start", REPO / "results/taste_crystals_native"),
                ("own crystal", REPO / "results/taste_own_cn"))
        name = "own_crystal_cn"
    for label, results in runs:
        table = pd.read_csv(results / "transfer.csv").set_index("element")
        for metal in METALS:
            r = table.loc[metal]
            rows.append({"metal": metal, "ground_state": r["ground_state"], "pool_start": label,
                         "pool": r["pool"], **dict(zip(("solid_share_order", "solid_share_atoms"),
                                                       solid_share(results, metal, r["pool"]), strict=True)),
                         **{c: r[c] for c in COLS}})
    out = pd.DataFrame(rows).sort_values(["metal", "pool_start"], key=lambda s: s.map(
        {m: i for i, m in enumerate(METALS)}) if s.name == "metal" else s)
    out.to_csv(HERE / f"{name}.csv", index=False, float_format="%.4g")
    lines = ["| metal | pool | solid frames (O/N > ½; q6 atoms) | MAE translated | MAE control | "
             "ratio (target) | solid / liquid MAE, translated | mean error | "
             "control crystals: max Å / meV/atom, order |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in out.itertuples():
        lines.append(
            f"| {r.metal} ({r.ground_state}) | {r.pool} from {r.pool_start} | {r.solid_share_order:.0%}; "
            f"{r.solid_share_atoms:.0%} | "
            f"{r.pool_mae_translated_meV_per_atom:.2f} | {r.pool_mae_control_meV_per_atom:.2f} | "
            f"{r.mae_ratio:.2f} ({r.mae_ratio_target:g}) | {r.mae_solid_meV_per_atom:.2f} / "
            f"{r.mae_liquid_meV_per_atom:.2f} | {r.mean_error_meV_per_atom:+.2f} | "
            f"{r.control_max_nn_error_A:.3f} / {r.control_max_energy_error_meV_per_atom:.1f}, "
            f"{'right' if r.control_order_right else 'wrong'} |")
    (HERE / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
