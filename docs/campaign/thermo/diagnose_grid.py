"""Where a MOMT run's walkers went, against its bias grid (issue 15's fourth and fifth runs):
    python docs/campaign/thermo/diagnose_grid.py results/thermo_long/Ni/sample/momt_108.h5
prints the frozen bias's enthalpy grid, the fraction of frames below / above it (Wang-Landau phase and
production), per walker the share below the grid and the median order parameter there, the production
frames' order-parameter histogram, and the frozen bias (in k_B T0) along the enthalpy of the solid-like
in-grid production frames, across the order parameter, so that overfilled basins show as ridges. The order
parameter is the one the bias acted on (``bias_order`` for a run with momt.order q6_bonds)."""

import sys

import numpy as np
import torch

from nnpdistill.frames import FrameStore
from nnpdistill.md.run import read_bias

path = sys.argv[1]
with FrameStore(path) as store:
    meta = {k: store.meta(k) for k in ("enthalpy_eV", "order_parameter", "walker", "production")}
    if "bias_order" in store.meta_names:  # biased on the q6 coordinate (seventh run): O is that one
        meta["order_parameter"] = store.meta("bias_order")
    attrs = store.attrs
bias, raw = read_bias(attrs, frozen=True)
kT0 = raw["kT0_eV"]
H, O, W, P = meta["enthalpy_eV"], meta["order_parameter"], meta["walker"], meta["production"] == 1
below, above = H < bias.h_lo, H > bias.h_hi
print(f"{path}: {H.size} frames, grid H [{bias.h_lo:.2f}, {bias.h_hi:.2f}] eV, "
      f"O [{bias.o_lo:.0f}, {bias.o_hi:.0f}], beyond-grid slopes {bias.beyond_slopes}")
print(f"below the grid: {below.mean():.3f} (Wang-Landau {below[~P].mean():.3f}, "
      f"production {below[P].mean():.3f}); above: {above.mean():.3f}")
for w in np.unique(W):
    m = W == w
    if below[m].any():
        print(f"  walker {w:2d}: {below[m].mean():.2f} below, median O there {np.median(O[m & below]):.1f}, "
              f"median H there {np.median(H[m & below]):.1f} eV")
edges = [-10, 5, 15, 25, 35, 45, 55, 65, 75, 85, 95, 120]
hist, _ = np.histogram(O[P], bins=edges)
labels = [f"{a}..{b}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
print("production O histogram:", dict(zip(labels, hist.tolist(), strict=True)))
inside = P & ~below & ~above
solid_h = float(np.median(H[inside & (O > 54)])) if (inside & (O > 54)).any() else float(np.median(H[inside]))
o_nodes = np.linspace(bias.o_lo, bias.o_hi, 12)
vals = bias(torch.full((o_nodes.size,), solid_h, dtype=torch.float64), torch.tensor(o_nodes))[0].numpy() / kT0
print(f"frozen bias at H = {solid_h:.1f} eV (median in-grid production solid), kT0 above its minimum, by O:",
      " ".join(f"{o:.0f}:{v:.0f}" for o, v in zip(o_nodes, vals - vals.min(), strict=True)))
