"""``nnpdistill select``, ``distilled``, ``dataset-card``: a distillation step, the final export, its card."""

from __future__ import annotations

import argparse
import json

from ..defaults import default
from ..errors import NNPDistillError
from ..selection import RANKED_STRATEGIES, STRATEGIES


def _select(args: argparse.Namespace) -> int:
    from ..distill import initial_selection, select_step, write_selection
    from ..frames import FrameStore

    if args.previous is None:
        with FrameStore(args.pool) as store:
            n_pool = len(store)
        selection = initial_selection(n_pool, args.n_initial, args.seed)
        write_selection(selection, args.out)
        print(f"{len(selection)} of {n_pool} frames (initial random subset) -> {args.out}")
        return 0
    if args.scores is None:
        raise NNPDistillError("--scores is needed after iteration 0 (the previous ensemble's scores.csv)")
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
        "diverse_candidates": args.diverse_candidates,
    }
    selection, reason = select_step(args.strategy, args.previous, args.scores, args.pool, args.iteration, cfg,
                                    args.seed, args.out, aevs=args.aevs, ranking=args.ranking)
    print(f"{len(selection)} frames ({reason}) -> {args.out}")
    return 0


def _rank(args: argparse.Namespace) -> int:
    from ..distill import rank_frames, read_selection
    from ..runtime import setup_job

    setup_job(args.log, args.threads)
    cfg = {"quests_k": args.quests_k, "quests_cutoff_A": args.quests_cutoff,
           "quests_bandwidth_per_A": args.quests_bandwidth}
    df = rank_frames(args.strategy, args.pool, read_selection(args.initial), args.size, args.out, cfg,
                     threads=args.threads)
    print(f"ranked {len(df)} frames ({args.strategy}) -> {args.out}")
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


def _card(args: argparse.Namespace) -> int:
    import yaml

    from ..card import dataset_card, write_dataset_card

    settings = yaml.safe_load(open(args.config)) if args.config else {}
    card = dataset_card(args.manifest, args.distilled, args.extxyz, args.pool,
                        distill_settings=settings.get("distill") or {},
                        nnp_settings=settings.get("nnp") or {}, transfer_csv=args.transfer)
    write_dataset_card(card, args.out_json, args.out_md)
    print(f"{card['name']}: {card['n_frames']} frames -> {args.out_json}, {args.out_md}")
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
                   help="how the new frames are chosen (ceiling: largest true error, needs a labelled pool; "
                   "force_committee: largest force deviation, its --scores from "
                   "`nnpdistill predict --forces`)")
    p.add_argument("--iteration", type=int, default=1, help="the iteration to write (0: the initial subset)")
    p.add_argument("--n-initial", type=int, default=default("distill.n_initial"),
                   help="frames of iteration 0 (default %(default)s)")
    p.add_argument("--n-add", type=int, default=default("distill.n_per_iteration"),
                   help="frames added per iteration (default %(default)s)")
    p.add_argument(
        "--score", default=default("distill.score"), choices=["max", "mean"],
        help="frame score from atomic uncertainty"
    )
    p.add_argument("--grid-bins", type=int, nargs=2, default=default("distill.grid_bins"),
                   metavar=("E", "O"),
                   help="energy x order-parameter cells of the grid strategy")
    p.add_argument("--guard-bins", type=int, nargs=2, default=default("distill.guard_bins"),
                   metavar=("H", "O"),
                   help="enthalpy x order-parameter cells of the uncertainty guard")
    p.add_argument("--guard-max-per-cell", type=int, default=None,
                   help="uncertainty strategy: at most this many new frames per guard cell (default: none)")
    p.add_argument("--acquisition", default=default("distill.acquisition"), choices=["top_k", "power"],
                   help="top_k: highest scores; power: drawn with probability ~ score**beta (seeded)")
    p.add_argument("--power-beta", type=float, default=default("distill.power_beta"),
                   help="exponent of the power acquisition (default %(default)s)")
    p.add_argument("--diverse-candidates", type=float, default=default("distill.diverse_candidates"),
                   help="uncertainty_diverse: the most uncertain N x (frames added) are clustered into "
                   "that many groups, each giving its most uncertain frame (default %(default)s)")
    p.add_argument("--target-mae", type=float, default=None, help="early stop: pool MAE, meV/atom")
    p.add_argument("--target-uq", type=float, default=None, help="early stop: mean frame score, eV")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random choices (initial subset, random, grid)")
    p.add_argument("--aevs", default=None,
                   help="fps_aev, direct: the pool's AEV cache (.h5) for per-frame descriptors")
    p.add_argument("--ranking", default=None, help="quests: the pool's ranking CSV (nnpdistill rank)")
    p.set_defaults(func=_select)

    r = subparsers.add_parser(
        "rank", help="rank a pool once for a ranked strategy (quests: QUESTS minimum-set-cover order)",
        description="Order the pool's frames after the initial selection the way the strategy would pick "
        "them (quests: QUESTS descriptors, per-frame entropies and the minimum-set-cover order given the "
        "initial frames); `nnpdistill select --strategy quests --ranking` then takes the next frames.")
    r.add_argument("--pool", required=True, help="the selection pool (.h5)")
    r.add_argument("--initial", required=True, help="the initial selection CSV (iteration 0)")
    r.add_argument("--out", required=True, help="ranking CSV to write (rank, frame_index, entropy_nats)")
    r.add_argument("--size", type=int, required=True,
                   help="frames to rank (the loop's budget after iteration 0)")
    r.add_argument("--strategy", default="quests", choices=list(RANKED_STRATEGIES),
                   help="the ranked strategy")
    r.add_argument("--quests-k", type=int, default=default("distill.quests_k"),
                   help="neighbours per atom of the descriptor (default %(default)s)")
    r.add_argument("--quests-cutoff", type=float, default=default("distill.quests_cutoff_A"),
                   help="descriptor weight-function cutoff, Å (default %(default)s)")
    r.add_argument("--quests-bandwidth", type=float, default=default("distill.quests_bandwidth_per_A"),
                   help="kernel bandwidth in descriptor space, 1/Å (default %(default)s)")
    r.add_argument("--threads", type=int, default=1, help="numba threads (default 1)")
    r.add_argument("--log", default=None, help="also log to this file")
    r.set_defaults(func=_rank)

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

    c = subparsers.add_parser("dataset-card", help="the card of a distilled set: how it was made, files, "
                              "checksums, licences, transfer table (card.json + card.md)")
    c.add_argument("manifest", help="the distilled set's manifest.json (from `nnpdistill distilled`)")
    c.add_argument("--distilled", required=True, help="the distilled frame store (.h5)")
    c.add_argument("--extxyz", required=True, help="the same frames as extended XYZ")
    c.add_argument("--pool", required=True, help="the pool it was distilled from (.h5)")
    c.add_argument("--config", default=None,
                   help="element config YAML whose `distill` and `nnp` mappings are recorded "
                   "(default: none)")
    c.add_argument("--transfer", default=None,
                   help="a transfer table (transfer.csv) to include (default: none)")
    c.add_argument("--out-json", required=True, help="card.json to write")
    c.add_argument("--out-md", required=True, help="card.md to write")
    c.set_defaults(func=_card)
