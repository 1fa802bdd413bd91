"""Which solid do the walkers of a q6 MOMT run reach (issue 15)? Per store: each walker's start (crystal or
liquid), its share of frames in a crystal the cell holds without a defect (O/N of the best-fitting FCC
orientation > 0.25, `nnpdistill.md.order.fitted_order`), of those turned away from the box (box-aligned O
below half the fitted one: the <221> crystal of a 3x3x3 cell), and in another solid, with the biased
coordinate (`bias_order`: the count of solid-like atoms for q6_solid, the q6 sum for q6_bonds, about 0.9 N
in a hot crystal and 0.25 N in the liquid) > 0.8 N as "solid"; then the enthalpy per atom of both kinds of
solid frame at the same effective temperature. It stands in for ten Wolde's criterion of the reweighting
(which reads every frame's neighbours and takes minutes): it is the quantity the bias acted on.

    python docs/campaign/thermo/crossings/solid_kinds.py results/thermo_q6s_144_x2/Al/sample/momt_144.h5 ...
"""

from __future__ import annotations

import sys

import numpy as np

from nnpdistill.frames import FrameStore
from nnpdistill.md.order import fcc_cells, fitted_order


def main(paths: list[str]) -> None:
    for path in paths:
        with FrameStore(path) as st:
            meta = {k: st.meta(k)
                    for k in ("walker", "bias_order", "order_parameter", "enthalpy_eV", "t_eff_K")}
            n = int(st.attrs["n_atoms"])
            fit = np.concatenate([fitted_order(fr.positions, fr.cell, fcc_cells(n))
                                  for fr in st.iter_read(batch_size=4096, labels=False, meta=False)])
        solid = meta["bias_order"] / n > 0.8
        perfect, other = solid & (fit > 0.25), solid & (fit <= 0.25)
        turned = perfect & (meta["order_parameter"] / n < 0.5 * fit)
        walkers = np.unique(meta["walker"])
        print(f"## {path}\n\n| walker | starts | frames in a perfect crystal | of them turned | in another "
              "solid | fitted O/N of its other-solid frames (max) |\n|---|---|---|---|---|---|")
        for w in walkers:
            s = meta["walker"] == w
            start = "crystal" if solid[s][0] else "liquid"
            top = f"{fit[s & other].max():.3f}" if (s & other).any() else "–"
            print(f"| {w} | {start} | {perfect[s].mean():.2f} | {turned[s].sum()} | {other[s].mean():.2f} | "
                  f"{top} |")
        print("\n| T_eff (K) | H/N aligned crystal (eV) | turned − aligned (meV/atom) | other solid − "
              "aligned (meV/atom) | frames aligned / turned / other |\n|---|---|---|---|---|")
        t, h = meta["t_eff_K"], meta["enthalpy_eV"] / n
        aligned = perfect & ~turned
        for lo in np.arange(np.floor(t.min() / 50) * 50, t.max(), 50):
            b = (t >= lo) & (t < lo + 50)
            ha, ht, ho = h[aligned & b], h[turned & b], h[other & b]
            if len(ha) < 10 or not (len(ht) or len(ho)):
                continue
            dt, do = (f"{1000 * (x.mean() - ha.mean()):+.1f}" if len(x) else "–" for x in (ht, ho))
            print(f"| {lo:.0f}-{lo + 50:.0f} | {ha.mean():.4f} | {dt} | {do} | "
                  f"{len(ha)} / {len(ht)} / {len(ho)} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
