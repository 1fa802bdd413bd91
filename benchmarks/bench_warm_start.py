"""What a warm start (``distill.warm_start``) saves per loop member at the paper's budgets, side by side in
one process: a member trained on ``--frames`` - ``--added`` frames of a pool (the previous iteration),
then the next iteration's member on those plus ``--added`` more, from fresh weights, from the previous
member, and from the previous member with at most ``--warm-epochs`` epochs
(``distill.warm_start_max_epochs``); the same seed, split rule and settings (the element's shipped
``nnp`` section, ``config/elements/{element}.yaml``: for Ni 600 epochs at most, early stopping after 80
stale). Prints the epochs, wall seconds and validation RMSE of each, their ratios, and the members' MAE
on the rest of the pool. One torch thread.

    python benchmarks/bench_warm_start.py POOL.h5 [--frames 1000] [--added 100] [--warm-epochs 200] \
        [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np

from nnpdistill.config import load_yaml
from nnpdistill.frames import FrameStore
from nnpdistill.io_utils import set_torch_threads
from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.predict import predict_pool
from nnpdistill.nnp.train import TrainSettings, train_member


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pool", help="a labelled pool (results/{element}/sample/momt_32.h5)")
    ap.add_argument("--frames", type=int, default=1000, help="the member's training frames")
    ap.add_argument("--added", type=int, default=100, help="frames the iteration adds")
    ap.add_argument("--warm-epochs", type=int, default=200, help="epoch cap of the capped warm start")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one block of rows per seed")
    ap.add_argument("--element", default="Ni")
    args = ap.parse_args()
    set_torch_threads(1)
    with FrameStore(args.pool) as st:
        frames = st.read()
    n = len(frames.energy)
    shipped = load_yaml(Path(__file__).parents[1] / "config/elements" / f"{args.element.lower()}.yaml")
    section = shipped.get("nnp", {})
    ts = TrainSettings.from_dict({**section.get("train", {}), "progress_every": 0})
    nnp = NNPSettings.from_dict({"element": args.element, **section.get("settings", {})})
    print(f"{platform.processor() or platform.machine()}, 1 torch thread, load average "
          f"{os.getloadavg()[0]:.2f}; {n}-frame pool {args.pool}; {args.frames - args.added} -> "
          f"{args.frames} frames; max_epochs {ts.max_epochs}, early stop {ts.early_stop_patience}")
    print(f"{'seed':>4} {'start':>6} {'epochs':>7} {'seconds':>8} {'valid RMSE':>11} {'pool MAE':>9} "
          "(meV/atom)")
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        chosen = rng.permutation(n)[:args.frames]
        rest = np.setdiff1d(np.arange(n), chosen)
        before = frames.select(np.sort(chosen[:args.frames - args.added]))
        now = frames.select(np.sort(chosen))
        prev = train_member(before, nnp, ts, seed=seed)
        rows = {}
        capped = dataclasses.replace(ts, max_epochs=args.warm_epochs)
        for start, init, settings in (("fresh", None, ts), ("warm", prev.model, ts),
                                      ("capped", prev.model, capped)):
            t0 = time.perf_counter()
            res = train_member(now, nnp, settings, seed=seed + 100, init_model=init)
            sec = time.perf_counter() - t0
            pred = predict_pool(res.model, frames.select(rest), progress=False)
            mae = float(pred.scores["abs_error_meV_per_atom"].mean())
            best = res.history[res.best_epoch - 1]["valid_rmse_meV_per_atom"]
            rows[start] = (len(res.history), sec, best, mae)
            print(f"{seed:>4} {start:>6} {len(res.history):>7d} {sec:>8.1f} {best:>11.2f} {mae:>9.2f}")
        ef, sf, vf, mf = rows["fresh"]
        for start in ("warm", "capped"):
            ew, sw, vw, mw = rows[start]
            print(f"{seed:>4} {'ratio':>6} {ew / ef:>7.2f} {sw / sf:>8.2f} {vw / vf:>11.2f} {mw / mf:>9.2f}  "
                  f"({start} / fresh)")


if __name__ == "__main__":
    main()
