"""``nnpdistill select`` and ``nnpdistill distilled``: one distillation step and the final export."""

from __future__ import annotations

import argparse
import json

from ..selection import STRATEGIES


def _select(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..distill import initial_selection, read_selection, select_iteration, write_selection
    from ..frames import FrameStore

    with FrameStore(args.pool) as store:
        n_pool = len(store)
    if args.previous is None:
        selection = initial_selection(n_pool, args.n_initial, args.seed)
        reason = "initial random subset"
    else:
        cfg = {
            "n_per_iteration": args.n_add,
            "score": args.score,
            "grid_bins": args.grid_bins,
            "guard_bins": args.guard_bins,
            "guard_max_per_cell": args.guard_max_per_cell,
            "acquisition": args.acquisition,
            "power_beta": args.power_beta,
            "target_mae_meV_per_atom": args.target_mae,
            "target_uq_eV": args.target_uq,
        }
        selection, reason = select_iteration(
            args.strategy,
            read_selection(args.previous),
            pd.read_csv(args.scores),
            args.iteration,
            cfg,
            args.seed,
            n_pool,
        )
    write_selection(selection, args.out)
    print(f"{len(selection)} of {n_pool} frames ({reason}) -> {args.out}")
    return 0


def _distilled(args: argparse.Namespace) -> int:
    from ..distill import export_distilled

    manifest = export_distilled(
        args.selection,
        args.pool,
        args.out,
        args.extxyz,
        args.manifest,
        strategy=args.strategy,
        iteration=args.iteration,
        seeds={"seed": args.seed},
    )
    print(json.dumps({k: manifest[k] for k in ("n_frames", "fraction_of_pool", "distilled_sha256")}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="one distillation step: initial subset or the next iteration's picks"
    )
    p.add_argument("--pool", required=True, help="the selection pool (.h5)")
    p.add_argument("--out", required=True, help="selection CSV to write")
    p.add_argument("--previous", default=None, help="previous selection CSV (omit for iteration 0)")
    p.add_argument("--scores", default=None, help="previous ensemble's scores.csv over the whole pool")
    p.add_argument("--strategy", default="uncertainty", choices=list(STRATEGIES),
                   help="how the new frames are chosen (ceiling: largest true error; needs a labelled pool)")
    p.add_argument("--iteration", type=int, default=1, help="the iteration to write (0: the initial subset)")
    p.add_argument("--n-initial", type=int, default=100, help="frames of iteration 0")
    p.add_argument("--n-add", type=int, default=100, help="frames added per iteration")
    p.add_argument(
        "--score", default="max", choices=["max", "mean"], help="frame score from atomic uncertainty"
    )
    p.add_argument("--grid-bins", type=int, nargs=2, default=[10, 10], metavar=("E", "O"),
                   help="energy x order-parameter cells of the grid strategy")
    p.add_argument("--guard-bins", type=int, nargs=2, default=[20, 20], metavar=("H", "O"),
                   help="enthalpy x order-parameter cells of the uncertainty guard")
    p.add_argument("--guard-max-per-cell", type=int, default=None,
                   help="uncertainty strategy: at most this many new frames per guard cell (default: none)")
    p.add_argument("--acquisition", default="top_k", choices=["top_k", "power"],
                   help="top_k: highest scores; power: drawn with probability ~ score**beta (seeded)")
    p.add_argument("--power-beta", type=float, default=1.0, help="exponent of the power acquisition")
    p.add_argument("--target-mae", type=float, default=None, help="early stop: pool MAE, meV/atom")
    p.add_argument("--target-uq", type=float, default=None, help="early stop: mean frame score, eV")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random choices (initial subset, random, grid)")
    p.set_defaults(func=_select)

    d = subparsers.add_parser("distilled", help="write a final selection as frame store + extxyz + manifest")
    d.add_argument("selection", help="selection CSV")
    d.add_argument("--pool", required=True, help="the pool the selection indexes (.h5)")
    d.add_argument("--out", required=True, help="distilled frame store (.h5)")
    d.add_argument("--extxyz", required=True, help="the same frames as extended XYZ")
    d.add_argument("--manifest", required=True, help="manifest JSON")
    d.add_argument("--strategy", default="uncertainty", help="recorded in the manifest")
    d.add_argument("--iteration", type=int, default=0, help="recorded in the manifest")
    d.add_argument("--seed", type=int, default=0, help="recorded in the manifest")
    d.set_defaults(func=_distilled)
