"""``nnpdistill sample``: MOMT / NPT sampling with the element's EAM, and MOMT reweighting."""

from __future__ import annotations

import json

from . import add_device_argument


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="batched NPT / MOMT sampling with EAM (frames to HDF5)")
    sub = p.add_subparsers(dest="sample_command", metavar="ACTION")
    r = sub.add_parser("run", help="run (or resume) one sampling job")
    r.add_argument("--element", required=True, help="chemical symbol, e.g. Ni")
    r.add_argument("--method", required=True, choices=["momt", "npt_fcc", "npt_liq"],
                   help="momt: biased NPT across solid and liquid; npt_fcc, npt_liq: NPT from FCC, liquid")
    r.add_argument("--n-atoms", type=int, default=32,
                   help="4 L^3 atoms (32, 108, 256, ...), or 144 / 192 (3x3x4 / 3x4x4 cells)")
    r.add_argument("--out", required=True, help="output frame store (.h5)")
    r.add_argument("--potential", default=None, help="EAM file (default: shipped file for the element)")
    r.add_argument("--nnp", nargs="+", default=None, metavar="MODEL",
                   help="member model files of an NNP ensemble that drives the run instead of the EAM "
                   "(each frame records the largest and mean atomic uncertainty)")
    r.add_argument("--config", default=None, help="YAML with the element's `sample` mapping (or a whole "
                   "element file holding `sample:`)")
    r.add_argument("--n-frames", type=int, default=None,
                   help="frames to write, all walkers together (default 20000)")
    r.add_argument("--n-walkers", type=int, default=None, help="walkers run side by side (default 16)")
    r.add_argument("--frame-stride", type=int, default=None,
                   help="MD steps between saved frames (default 100)")
    r.add_argument("--temperature-K", type=float, default=None,
                   help="T of NPT, T0 of MOMT (default 2000 K, the paper's)")
    r.add_argument("--order", default=None, choices=["fcc_box", "q6_bonds", "q6_solid"],
                   help="momt: the bias's order parameter: fcc_box (the paper's, box-aligned; default) or "
                   "q6_bonds (q6 bond-order correlation: a crystal in any orientation counts as solid) or "
                   "q6_solid (the smooth count of solid-like atoms by it)")
    r.add_argument("--structure", default=None, choices=["fcc", "bcc", "hcp"],
                   help="the crystal the walkers start from (default fcc; bcc: N = 2 L^3, hcp: 64, 96, 144, "
                   "180 atoms; MOMT then needs --order q6_bonds)")
    r.add_argument("--c-over-a", type=float, default=None, help="hcp: c/a of the start (default sqrt(8/3))")
    r.add_argument("--seed", type=int, default=0, help="initial velocities and thermostat noise")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_argument(r, "sample")
    r.set_defaults(func=_run)
    w = sub.add_parser("reweight", help="thermodynamics of a MOMT store: <H>(T), C_P(T), P_solid(T), dG(T) "
                       "with error bars and the melting temperature (frozen-bias production frames)")
    w.add_argument("store", help="a MOMT frame store (.h5): its frozen-bias production frames, and its "
                                 "Wang-Landau stages when it recorded them")
    w.add_argument("--csv", required=True, help="table out (CSV)")
    w.add_argument("--json", default=None, help="summary out (default: the CSV's name with .json)")
    w.add_argument("--plots", default=None, help="folder for reweight.png, free_energy.png, flatness.png")
    w.add_argument("--config", default=None,
                   help="YAML with the element's sample.reweight mapping (or a whole element file)")
    w.add_argument("--t-min-K", type=float, default=None, help="lowest temperature of the table")
    w.add_argument("--t-max-K", type=float, default=None, help="highest temperature of the table")
    w.add_argument("--n-temperatures", type=int, default=None, help="temperatures in the table")
    w.add_argument("--skip-fraction", type=float, default=None,
                   help="fraction of the production frames dropped at its start (equilibration)")
    w.add_argument("--o-solid-fraction", type=float, default=None,
                   help="a frame is solid when its order parameter exceeds this fraction of N")
    w.add_argument("--estimator", choices=["auto", "frozen", "mbar"], default=None,
                   help="frozen: production frames under the frozen bias only; mbar: every Wang-Landau stage "
                        "too (runs with momt.stage_rounds > 0), combined by MBAR; auto (default): mbar when "
                        "the run has stages")
    w.add_argument("--crossings-into", choices=["perfect_crystal", "any_solid"], default=None,
                   help="which solid a crossing must reach to count: a crystal the cell holds without a "
                        "defect (default; FCC starts) or any solid (the count before 2026-12-07)")
    w.set_defaults(func=_reweight)
    m = sub.add_parser("combine-melting",
                       help="one melting temperature from runs at other seeds: weighted mean, error scaled "
                       "by the Birge ratio so it covers the spread between them")
    m.add_argument("summaries", nargs="+", help="melting summaries (.json) of one recipe, one per seed")
    m.add_argument("--out", required=True, help="combined summary out (.json)")
    m.add_argument("--reference", default=None,
                   help="a coexistence summary (.json): each estimate's difference from its T_m")
    m.set_defaults(func=_combine_melting)
    c = sub.add_parser("coexistence",
                       help="the EAM's melting point from direct solid-liquid coexistence (NPH)")
    c.add_argument("--element", required=True, help="chemical symbol, e.g. Ni")
    c.add_argument("--temperature-guess-K", type=float, default=None,
                   help="start temperature, within ~20 %% of the melting point (or from --config)")
    c.add_argument("--out", required=True,
                   help="summary out (.json); the time series goes beside it (.csv, .png)")
    c.add_argument("--potential", default=None, help="EAM file (default: shipped file for the element)")
    c.add_argument("--config", default=None, help="YAML with the element's `coexistence` mapping (or a whole "
                   "element file)")
    c.add_argument("--cells", type=int, nargs=3, default=None, metavar=("NX", "NY", "NZ"),
                   help="conventional FCC cells; the interface is normal to z (default 6 6 14)")
    c.add_argument("--nph-steps", type=int, default=None, help="steps of the NPH coexistence run")
    c.add_argument("--seed", type=int, default=None, help="initial velocities and thermostat noise")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_argument(c, "sample")
    c.set_defaults(func=_coexistence)
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
    for key in ("n_frames", "n_walkers", "frame_stride", "temperature_K", "structure", "c_over_a"):
        val = getattr(args, key)
        if val is not None:
            cfg[key] = val
    if args.order is not None:
        cfg["momt"] = {**(cfg.get("momt") or {}), "order": args.order}
    path = sample(args.element, args.method, args.n_atoms, args.out, cfg, args.seed, args.potential,
                  progress=not args.no_progress, nnp_members=args.nnp, device=args.device)
    print(path)
    return 0


def _section(path, key: str) -> dict:
    from ..config import load_yaml

    if not path:
        return {}
    data = load_yaml(path) or {}
    if key == "reweight":
        data = data.get("sample", data)
    return dict(data.get(key, data) or {})


def _reweight(args) -> int:
    from pathlib import Path

    from ..md.reweight import reweight_run
    from ..runtime import setup_job

    setup_job(None, 1)
    cfg = _section(args.config, "reweight")
    for key in ("t_min_K", "t_max_K", "n_temperatures", "skip_fraction", "o_solid_fraction", "estimator",
                "crossings_into"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    out_json = args.json or str(Path(args.csv).with_suffix(".json"))
    plots = Path(args.plots) if args.plots else None
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
    pngs = ((plots / "reweight.png", plots / "free_energy.png", plots / "flatness.png") if plots
            else (None, None, None))
    summary = reweight_run(args.store, args.csv, out_json, *pngs, cfg=cfg)
    print(json.dumps({k: v for k, v in summary.items() if k.startswith("t_melt")}))
    return 0


def _combine_melting(args) -> int:
    from ..md.melting import combine_melting_files

    out = combine_melting_files(args.summaries, args.out, args.reference)
    print(json.dumps({k: v for k, v in out.items() if k.startswith("t_melt")}))
    return 0


def _coexistence(args) -> int:
    from pathlib import Path

    import pandas as pd

    from ..md.coexistence import coexistence
    from ..md.plotting import plot_coexistence
    from ..runtime import setup_job

    setup_job(None, 1)
    cfg = {k: v for k, v in _section(args.config, "coexistence").items() if k != "enabled"}
    for key, name in (("temperature_guess_K", "temperature_guess_K"), ("cells", "cells"),
                      ("nph_steps", "nph_steps"), ("seed", "seed")):
        if getattr(args, key) is not None:
            cfg[name] = getattr(args, key)
    out = Path(args.out)
    summary = coexistence(args.element, out, cfg, args.potential, out_csv=out.with_suffix(".csv"),
                          progress=not args.no_progress, device=args.device)
    plot_coexistence(pd.read_csv(out.with_suffix(".csv")), summary, out.with_suffix(".png"))
    print(json.dumps({k: summary[k] for k in ("t_melt_K", "t_melt_err_K", "reason")}))
    return 0
