"""What the source's MOMT pool and its distilled set cover, per seed (issue 19's seed study): frames,
energy per atom (mean ± sd), effective temperature (mean, 5-95 %), share of solid frames (box-aligned
O/N > 0.5) and of frames at the effective-temperature clip.

    python docs/campaign/transfer/source_pools.py results/taste_s2024/Ni/sample/momt_32.h5 \\
        results/taste_s2024/Ni/distill/uncertainty/distilled.h5 ...
"""

from __future__ import annotations

import sys

import numpy as np

from nnpdistill.frames import FrameStore


def main(paths: list[str]) -> None:
    print("| store | frames | E (eV/atom) | T_eff mean [5-95 %] (K) | solid share | at the clip |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        with FrameStore(path) as st:
            fr = st.read()
        n = fr.positions.shape[1]
        e, t = fr.energy / n, fr.meta["t_eff_K"]
        solid = np.mean(fr.meta["order_parameter"] / n > 0.5)
        clip = np.mean(fr.meta["clipped"]) if "clipped" in fr.meta else float("nan")
        print(f"| {path} | {len(e)} | {e.mean():.3f} ± {e.std():.3f} | {t.mean():.0f} "
              f"[{np.percentile(t, 5):.0f}-{np.percentile(t, 95):.0f}] | {solid:.2f} | {clip:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
