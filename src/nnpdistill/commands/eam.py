"""``nnpdistill eam-info FILE``: elements, cutoff and grids of an EAM potential file."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("eam-info", help="print the elements, cutoff and grids of an EAM file")
    p.add_argument("file", help="LAMMPS eam, eam/alloy (.eam.alloy/.setfl) or eam/fs file")
    p.add_argument("--format", default=None, help="eam, eam/alloy or eam/fs (default: from the extension)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io_utils import sha256_file
    from ..potentials import read_eam_file

    d = read_eam_file(args.file, format=args.format)
    print(f"file      {d.path}")
    print(f"sha256    {sha256_file(d.path)}")
    print(f"format    {d.format}")
    print(f"cutoff    {d.cutoff} Å")
    print(f"rho grid  nrho={d.nrho} drho={d.drho} (rhomax={d.rhomax:.6g})")
    print(f"r grid    nr={d.nr} dr={d.dr} (rmax={(d.nr - 1) * d.dr:.6g} Å)")
    for k, el in enumerate(d.elements):
        print(f"element   {el}: Z={d.atomic_numbers[k]} mass={d.masses[k]} amu "
              f"lattice={d.lattice_types[k] or '-'} a={d.lattice_constants[k]} Å")
    return 0
