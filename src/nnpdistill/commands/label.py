"""``nnpdistill label``: label a frame store (or one chunk of it) with a reference method; merge chunks;
compute the reference's crystal table."""

from __future__ import annotations

import argparse

from ..defaults import default


def _reference(args: argparse.Namespace):
    import yaml

    from ..errors import ConfigError
    from ..reference import make_reference

    config: dict = {}
    if args.reference_config:
        with open(args.reference_config, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        config = dict(data.get("reference", data))  # an element config or a bare reference mapping
    if args.kind:
        config["kind"] = args.kind
    if args.calculator:
        config["calculator"] = args.calculator
    params = dict(config.get("parameters") or {})
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param takes KEY=VALUE, got {item!r}")
        params[key] = yaml.safe_load(value)
    config["parameters"] = params
    return make_reference(args.element, config, potential=args.potential)


def _add_reference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--element", required=True, help="element symbol, e.g. Al")
    p.add_argument(
        "--reference-config",
        default=None,
        help="YAML with a `reference:` mapping (an element config works), e.g. config/elements/al.yaml",
    )
    p.add_argument(
        "--kind", choices=["eam", "cp2k", "ase"], default=None, help="reference kind (default eam)"
    )
    p.add_argument("--calculator", default=None, help="ase kind: 'module.path:ClassName'")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a reference parameter (YAML value), repeatable: --param basis_set=SZV-MOLOPT-SR-GTH "
        "--param kpoints='[2,2,2]'",
    )
    p.add_argument("--potential", default=None, help="eam kind: EAM file (default: the shipped one)")


def _run(args: argparse.Namespace) -> int:
    from ..label import label_chunk
    from ..runtime import setup_job

    setup_job(args.log, args.threads)
    k, _, n = args.chunk.partition("/")
    report = label_chunk(
        args.store,
        args.out,
        _reference(args),
        chunk=(int(k), int(n or 1)),
        max_frames=args.max_frames,
        max_failed_fraction=args.max_failed_fraction,
        progress=not args.no_progress,
    )
    spf = report["seconds_per_frame"]
    print(
        f"{report['n_frames']} frames: {report['n_computed']} computed"
        f"{f' ({spf:.2f} s/frame)' if spf else ''}, {report['n_from_journal']} from the journal, "
        f"{report['n_failed']} failed -> {args.out}"
    )
    for failure in report["failures"]:
        print(f"  frame {failure['index']}: {failure['reason']}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from ..label import merge_labelled

    info = merge_labelled(args.chunks, args.out)
    print(f"{info['n_frames']} frames ({info['n_failed']} failed, left out) -> {args.out}")
    return 0


def _crystals(args: argparse.Namespace) -> int:
    from ..crystals import write_reference_crystals
    from ..runtime import setup_job

    setup_job(args.log, args.threads)
    table = write_reference_crystals(
        _reference(args),
        args.start,
        args.out,
        n_points=args.eos_points,
        strain=args.eos_strain,
        hcp_c_over_a_points=args.hcp_c_over_a_points,
    )
    print(table.to_string(index=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "label",
        help="label frames with a reference method (EAM, CP2K DFT, any ASE calculator)",
        description="Label a frame store with an element's reference method, frame by frame, resuming "
        "from <out>.journal.jsonl after a kill. Failed frames (unconverged SCF, calculator errors) are "
        "recorded and left out; the job fails when more than --max-failed-fraction of them failed.",
    )
    sub = p.add_subparsers(dest="label_command", metavar="ACTION")
    run = sub.add_parser(
        "run",
        help="label a store or one chunk of it",
        description="Label the frames of STORE (or chunk k of K) into --out.",
    )
    run.add_argument("store", help="input frame store (.h5)")
    run.add_argument("--out", required=True, help="labelled frame store (.h5)")
    _add_reference_options(run)
    run.add_argument(
        "--chunk", default="0/1", help="k/K: label the k-th of K contiguous chunks (default 0/1)"
    )
    run.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="label only this many frames, spread evenly over the store (default: all)",
    )
    run.add_argument(
        "--max-failed-fraction",
        type=float,
        default=default("label.max_failed_fraction"),
        help="fail when more than this fraction of the chunk's frames failed (default %(default)s)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    run.add_argument("--log", default=None, help="also log to this file")
    run.set_defaults(func=_run)
    merge = sub.add_parser("merge", help="join labelled chunks into one store")
    merge.add_argument("chunks", nargs="+", help="labelled chunk stores, in order")
    merge.add_argument("--out", required=True, help="merged store (.h5)")
    merge.set_defaults(func=_merge)
    cry = sub.add_parser(
        "crystals",
        help="FCC/BCC/HCP with the reference (E(V) scans; EAM relaxes)",
        description="The crystal table of a reference method: E(V) scans fitted with "
        "Birch-Murnaghan around the crystals of --start (an EAM crystals.csv).",
    )
    cry.add_argument("--start", required=True, help="crystals.csv whose volumes centre the scans")
    cry.add_argument("--out", required=True, help="output CSV")
    _add_reference_options(cry)
    cry.add_argument("--eos-points", type=int, default=default("crystals.eos_points"),
                     help="volumes per scan (default %(default)s)")
    cry.add_argument("--eos-strain", type=float, default=default("crystals.eos_strain"),
                     help="lattice span 1 +- this (default %(default)s)")
    cry.add_argument(
        "--hcp-c-over-a-points", type=int, default=default("crystals.hcp_c_over_a_points"),
        help="c/a values for HCP (default %(default)s; 0: skip)"
    )
    cry.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    cry.add_argument("--log", default=None, help="also log to this file")
    cry.set_defaults(func=_crystals)
    p.set_defaults(func=lambda args: p.print_help() or 1)
