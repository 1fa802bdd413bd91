"""Issue 15, thirteenth run: per walker of a q6_solid MOMT store, the biased count of solid-like atoms O/N at
the start, its lowest and highest value, and its passages between O/N <= 0.1 and >= 0.9 (the reweighting
counts crossings in ten Wolde's solid-like fraction over the stages it uses; this is the biased coordinate
over the whole run). Writes passages_<element>_<frames or TAG>.csv.  From the repository root, e.g.
    python docs/campaign/thermo/q6s144/passages.py results/thermo_q6s_144_long/Ni/sample/momt_144.h5 Ni [TAG]
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnpdistill.frames import FrameStore

path, element = sys.argv[1], sys.argv[2]
with FrameStore(path) as st:
    meta = st.read().meta
n_atoms = 144
O, W = meta["bias_order"] / n_atoms, meta["walker"]
rows = []
for w in np.unique(W):
    s = O[W == w]
    side, n = None, 0
    for v in s:
        now = "liquid" if v <= 0.1 else "solid" if v >= 0.9 else None
        if now is not None and side is not None and now != side:
            n += 1
        side = now or side
    rows.append({"walker": int(w), "start": s[0], "min": s.min(), "max": s.max(), "passages": n})
df = pd.DataFrame(rows)
tag = sys.argv[3] if len(sys.argv) > 3 else str(len(O))  # e.g. 48000_seed2024 for a seed replicate
df.to_csv(Path(__file__).with_name(f"passages_{element}_{tag}.csv"), index=False, float_format="%.3f")
print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
print("total passages", int(df.passages.sum()))
