"""``nnpdistill translate``: scale frames to another element, relabel, label with its EAM."""

from __future__ import annotations

import argparse

from ..defaults import default


def _run(args: argparse.Namespace) -> int:
    from ..runtime import setup_job
    from ..translate import translate_dataset

    setup_job(None, args.threads)
    info = translate_dataset(
        args.frames if len(args.frames) > 1 else args.frames[0],
        args.source_crystals if len(args.source_crystals) > 1 else args.source_crystals[0],
        args.target_crystals,
        args.element,
        args.out,
        potential=args.potential,
        rule=args.rule,
        multipliers=args.multipliers,
        native_pool=args.native_pool,
        n_native=args.native_frames,
        native_seed=args.native_seed,
        native_weight=args.native_weight,
        crystal_strains=args.crystal_strains,
        crystal_weight=args.crystal_weight,
    )
    print(
        f"{info['n_frames']} frames {info['source_element']} -> {args.element}: "
        f"scale factor {info['scale_factor']:.5f} ({info['scale_rule']}) -> {args.out}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "translate", help="translate frames to another element and label them with its EAM"
    )
    p.add_argument("frames", nargs="+",
                   help="source frame store (.h5); several (e.g. distilled Ni and a BCC complement of "
                   "distilled V) are each translated with their own factor into one set")
    p.add_argument("--element", required=True, help="target element symbol, e.g. Al")
    p.add_argument("--source-crystals", required=True, nargs="+",
                   help="crystals.csv of the source element (one per source store, in the same order)")
    p.add_argument("--target-crystals", required=True, help="crystals.csv of the target element")
    p.add_argument("--out", required=True, help="output frame store (.h5)")
    p.add_argument("--potential", default=None, help="target EAM file (default: the shipped one)")
    p.add_argument(
        "--rule",
        default=default("translate.scale_rule"),
        choices=["auto", "fcc_lattice", "ground_state_volume", "pressure_match"],
        help="scale rule (default auto: FCC lattice ratio if both are FCC, else atomic volume; "
        "pressure_match: the factor at which the mean virial pressure under the target EAM equals "
        "the source frames')",
    )
    p.add_argument("--multipliers", type=float, nargs="+", default=default("translate.scale_multipliers"),
                   metavar="M",
                   help="each frame at the rule's factor times each M (default 1.0, the paper's one "
                   "factor; e.g. 0.97 1.0 1.03 spans the target's solid-to-liquid densities)")
    p.add_argument("--native-pool", default=None,
                   help="the target's own pool (.h5), from which --native-frames frames join the set")
    p.add_argument("--native-frames", type=int, default=default("translate.native_frames"),
                   help="seeded random frames of --native-pool added to the translated ones "
                   "(default %(default)s: translated frames only, the paper)")
    p.add_argument("--native-seed", type=int, default=0, help="seed of the native frames' draw (default 0)")
    p.add_argument("--native-weight", type=float, default=default("translate.native_weight"),
                   help="loss weight of each native frame relative to a translated one when members train on "
                   "the set (default %(default)s: alike)")
    p.add_argument("--crystal-strains", type=float, nargs="+", default=default("translate.crystal_strains"),
                   metavar="S",
                   help="add the first source's cold FCC, BCC and HCP crystals at each linear strain S "
                   "(e.g. -0.03 0 0.03), translated and labelled like the other frames (default: none, "
                   "the paper's set)")
    p.add_argument("--crystal-weight", type=float, default=default("translate.crystal_weight"),
                   help="loss weight of each cold-crystal frame relative to a translated one "
                   "(default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: run jobs side by side instead)")
    p.set_defaults(func=_run)
