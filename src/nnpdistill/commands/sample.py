"""``nnpdistill sample``: MOMT / NPT sampling with the element's EAM, and MOMT reweighting."""

from __future__ import annotations

import json

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="batched NPT / MOMT sampling with EAM (frames to HDF5)")
    sub = p.add_subparsers(dest="sample_command", metavar="ACTION")
    r = sub.add_parser("run", help="run (or resume) one sampling job")
    r.add_argument("--element", required=True, help="chemical symbol, e.g. Ni")
    r.add_argument("--method", required=True, choices=["momt", "npt_fcc", "npt_liq"])
    r.add_argument("--n-atoms", type=int, default=32, help="4 L^3 atoms (32, 108, ...)")
    r.add_argument("--out", required=True, help="output frame store (.h5)")
    r.add_argument("--potential", default=None, help="EAM file (default: shipped file for the element)")
    r.add_argument("--config", default=None, help="YAML with the element's `sample` mapping (or a whole "
                   "element file holding `sample:`)")
    r.add_argument("--n-frames", type=int, default=None)
    r.add_argument("--n-walkers", type=int, default=None)
    r.add_argument("--frame-stride", type=int, default=None)
    r.add_argument("--temperature-K", type=float, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_run)
    w = sub.add_parser("reweight", help="reweight a MOMT store to canonical averages; prints T_melt")
    w.add_argument("store")
    w.add_argument("--csv", required=True)
    w.add_argument("--t-min-K", type=float, default=1000.0)
    w.add_argument("--t-max-K", type=float, default=3000.0)
    w.add_argument("--n-temperatures", type=int, default=201)
    w.add_argument("--skip-fraction", type=float, default=0.25)
    w.add_argument("--o-solid-fraction", type=float, default=0.5)
    w.set_defaults(func=_reweight)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def _run(args) -> int:
    from ..config import load_yaml
    from ..md.run import sample
    from ..runtime import setup_job

    setup_job(None, 1)
    cfg = {}
    if args.config:
        data = load_yaml(args.config)
        cfg = data.get("sample", data)
    for key in ("n_frames", "n_walkers", "frame_stride", "temperature_K"):
        val = getattr(args, key)
        if val is not None:
            cfg[key] = val
    path = sample(args.element, args.method, args.n_atoms, args.out, cfg, args.seed, args.potential,
                  progress=not args.no_progress)
    print(path)
    return 0


def _reweight(args) -> int:
    from ..io_utils import atomic_path
    from ..md.reweight import reweight_store

    temps = np.linspace(args.t_min_K, args.t_max_K, args.n_temperatures)
    table, tm = reweight_store(args.store, temps, args.skip_fraction, args.o_solid_fraction)
    with atomic_path(args.csv) as tmp:
        table.to_csv(tmp, index=False)
    print(json.dumps(tm))
    return 0
