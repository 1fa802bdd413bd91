"""``nnpdistill crystals``: relax FCC/BCC/HCP with an element's EAM and write crystals.csv."""

from __future__ import annotations

import argparse

from ..defaults import default


def _run(args: argparse.Namespace) -> int:
    from ..crystals import write_eam_crystals
    from ..runtime import setup_job

    setup_job(args.log, args.threads)
    table = write_eam_crystals(args.element, args.out, potential=args.potential, fmax_eV_per_A=args.fmax)
    print(table.to_string(index=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "crystals",
        help="relax FCC (32), BCC (54), HCP (48) with an element's EAM; write crystals.csv",
        description="Relax cell and positions of FCC (32 atoms), BCC (54), HCP (48; c/a relaxed and "
        "fixed at sqrt(3)) with the element's EAM and write nn distance (Å), energy per atom (eV), "
        "volume per atom (Å^3) and the energy rank.",
    )
    p.add_argument("--element", required=True, help="element symbol, e.g. Ni")
    p.add_argument("--potential", default=None, help="EAM file (default: the shipped one for the element)")
    p.add_argument("--out", required=True, help="output CSV path")
    p.add_argument("--fmax", type=float, default=default("crystals.fmax_eV_per_A"),
                   help="force tolerance, eV/Å (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--log", default=None, help="also log to this file")
    p.set_defaults(func=_run)
