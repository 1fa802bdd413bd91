"""Issue 15, twelfth run: how far each 144-atom walker got from its starting phase. For every walker of a
MOMT store, its share of solid-like atoms (the reweighting's solid score, q6 criterion) at the start and its
lowest and highest value over the run: a crossing needs <= 0.1 and >= 0.9 on one walker. Writes
walker_extremes_<element>.csv into this folder, or into OUT_DIR when given (thirteenth run: q6s144/).
Run from the repository root with the store, e.g.
    python docs/campaign/thermo/q6d144/walker_extremes.py results/thermo_q6d_144/Al/sample/momt_144.h5 Al
    python docs/campaign/thermo/q6d144/walker_extremes.py results/thermo_q6s_144/Al/sample/momt_144.h5 Al \
        docs/campaign/thermo/q6s144
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnpdistill.md.momt_store import read_momt_store, solid_scores

path, element = sys.argv[1], sys.argv[2]
out_dir = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).parent
store = read_momt_store(path)
meta = store["meta"]
sel = {"attrs": store["attrs"], "meta": meta, "index": np.arange(store["n_total"])}
score = solid_scores(path, sel, "solid_atoms")
rows = []
for w in np.unique(meta["walker"]):
    s = score[meta["walker"] == w]
    rows.append({"walker": int(w), "start": s[0], "min": s.min(), "max": s.max(),
                 "share_of_frames_above_half": float((s > 0.5).mean())})
df = pd.DataFrame(rows)
df.to_csv(out_dir / f"walker_extremes_{element}.csv", index=False, float_format="%.3f")
print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
