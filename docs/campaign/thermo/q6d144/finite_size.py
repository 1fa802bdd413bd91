"""Issue 15, twelfth run: the MOMT melting points at 32, 108 and 144 atoms against direct coexistence,
and the 1/N line through them (T_m(N) = T_inf + b/N, the shift of a first-order transition in a periodic
cell), with the cell size where the shift falls to 5 %. Reads the committed JSONs; writes
finite_size.csv and prints a Markdown table.  Run from the repository root:
    python docs/campaign/thermo/q6d144/finite_size.py
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
THERMO = HERE.parent
COEX = {el: json.loads((THERMO / f"{el}_coexistence.json").read_text()) for el in ("Ni", "Al")}


def _tm(path: Path) -> tuple[float, float, int]:
    d = json.loads(path.read_text())
    return d["t_melt_p_solid_K"], d["t_melt_p_solid_err_K"], d.get("basin_crossings_used")


rows = []
for el in ("Ni", "Al"):
    t_coex, e_coex = COEX[el]["t_melt_K"], COEX[el]["t_melt_err_K"]
    pts = []
    t, e, c = _tm(THERMO / "q6d" / f"{el}_melting_32.json")  # the tenth run's 32-atom store
    pts.append((32, t, e, c, "tenth run, seed 2023"))
    seeds = [_tm(THERMO / "walkers" / f"{el}_melting_108_seed{s}.json") for s in (2023, 2024, 2025)]
    ts = np.array([s[0] for s in seeds])
    pts.append((108, ts.mean(), ts.std(ddof=1) / np.sqrt(3), sum(s[2] for s in seeds), "mean of three seeds"))
    f144 = HERE / f"{el}_melting_144.json"
    d144 = json.loads(f144.read_text())
    if d144["t_melt_p_solid_K"] is not None:
        pts.append((144, *_tm(f144), "twelfth run, seed 2023"))
    else:  # withheld: no walker crossed between the basins; the figure it would have given, not fitted
        u = d144["t_melt_p_solid_unsupported_K"]
        shift = 100 * (u / t_coex - 1)
        rows.append({"element": el, "n_atoms": 144, "t_melt_K": None, "err_K": None,
                     "basin_crossings": d144["basin_crossings_used"], "shift_pct": None,
                     "what": f"twelfth run, withheld (unsupported {u:.0f} K, {shift:+.1f} %)",
                     "shift_err_pct": None, "t_coexistence_K": t_coex, "t_coexistence_err_K": e_coex})
    for n, t, e, c, what in pts:
        rows.append({"element": el, "n_atoms": n, "t_melt_K": t, "err_K": e, "basin_crossings": c,
                     "shift_pct": 100 * (t / t_coex - 1), "what": what,
                     # the MOMT error and the coexistence error, in quadrature
                     "shift_err_pct": 100 * float(np.hypot(e / t_coex, t * e_coex / t_coex**2)),
                     "t_coexistence_K": t_coex, "t_coexistence_err_K": e_coex})
df = pd.DataFrame(rows)
fits = []
for el, g in df.dropna(subset=["t_melt_K"]).groupby("element", sort=False):
    x, y = 1.0 / g["n_atoms"].to_numpy(), g["shift_pct"].to_numpy(dtype=float)
    w = 1.0 / g["shift_err_pct"].to_numpy(dtype=float) ** 2
    A = np.stack([np.ones_like(x), x], 1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    a, b = cov @ (A.T @ (w * y))
    n5 = b / (5.0 - a) if a < 5 else float("inf")
    chi2 = float((w * (y - A @ [a, b]) ** 2).sum())
    fits.append({"element": el, "sizes": ",".join(str(n) for n in g["n_atoms"]), "shift_inf_pct": a,
                 "shift_inf_err_pct": float(np.sqrt(cov[0, 0])), "slope_pct_atoms": b,
                 "n_atoms_at_5pct": n5, "chi2": chi2, "dof": len(x) - 2})
df = df.sort_values(["element", "n_atoms"], ascending=[False, True], kind="stable")
df.to_csv(HERE / "finite_size.csv", index=False, float_format="%.4g")
pd.DataFrame(fits).to_csv(HERE / "finite_size_fit.csv", index=False, float_format="%.4g")
print(df.to_markdown(index=False, floatfmt=".1f"))
print()
print(pd.DataFrame(fits).to_markdown(index=False, floatfmt=".2f"))
