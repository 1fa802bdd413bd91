"""``nnpdistill train``, ``nnpdistill predict``, ``nnpdistill relax``: the NNP stage."""

from __future__ import annotations

import json
from pathlib import Path

from ..defaults import default
from . import add_device_argument


def _json_arg(text: str | None) -> dict:
    if not text:
        return {}
    path = Path(text)
    return json.loads(path.read_text()) if path.is_file() else json.loads(text)


def run_train(args) -> int:
    from ..nnp.builder import NNPSettings
    from ..nnp.train import TrainSettings, train_member
    from ..runtime import setup_job

    setup_job(None, threads=args.threads)
    nnp = NNPSettings.from_dict({"element": args.element, **_json_arg(args.nnp_settings)})
    ts = TrainSettings.from_dict(_json_arg(args.train_settings))
    res = train_member(args.frames, nnp, ts, seed=args.seed, out_dir=args.out, device=args.device)
    best = res.history[res.best_epoch - 1]
    print(f"member written to {args.out}/model.pt: best epoch {res.best_epoch}, validation RMSE "
          f"{best['valid_rmse_meV_per_atom']:.2f} meV/atom, {res.seconds:.1f} s")
    return 0


def run_predict(args) -> int:
    from ..nnp.predict import score_pool
    from ..runtime import setup_job

    setup_job(None, threads=args.threads)
    folder = Path(args.scores).parent
    beside = {name: None if args.no_metrics else str(folder / default)
              for name, default in (("metrics", "metrics.csv"), ("parity", "parity.png"),
                                    ("uq", "uq_vs_error.png"))}
    outputs = {name: getattr(args, name) or beside[name] for name in beside}
    pred = score_pool(args.members, args.pool, args.scores, args.atomic or folder / "atomic.npz", **outputs,
                      aevs=args.aevs, batch_frames=args.batch_frames, progress=not args.quiet,
                      forces=args.forces, device=args.device)
    print(f"{len(pred.scores)} frames scored at {pred.atoms_per_second:.0f} atoms/s -> {args.scores}")
    return 0


def run_relax(args) -> int:
    from ..nnp.calculator import NNPCalculator
    from ..nnp.predict import load_ensemble
    from ..nnp.relax import markdown_table, read_reference, relax_with_nnp, write_relax_outputs
    from ..runtime import setup_job

    setup_job(None, threads=args.threads)
    model = load_ensemble(args.members)
    ref = read_reference(args.reference)
    res = relax_with_nnp(model.settings.element, lambda: NNPCalculator(model), ref,
                         strains=args.strains, fmax_eV_per_A=args.fmax)
    write_relax_outputs(res, markdown_table(res, ref, model.settings.element), args.csv, args.markdown)
    print(Path(args.markdown).read_text())
    return 0


def run_export_nnp(args) -> int:
    from ..nnp.export import export_torchscript
    from ..runtime import setup_job

    setup_job(None, threads=1)
    path = export_torchscript(args.members, args.out)
    print(f"{len(args.members)}-member ensemble written to {path} (TorchScript: torch.jit.load, no "
          "nnpdistill needed)")
    return 0


def run_validate_nnp(args) -> int:
    from ..nnp.validate import ValidateSettings, melting_point_from, validate_ensemble
    from ..runtime import setup_job

    setup_job(None, threads=args.threads)
    cfg = _json_arg(args.settings)
    cfg["melting_point_K"] = melting_point_from(args.melting_point_K if args.melting_point_K is not None
                                                else cfg.get("melting_point_K"), args.coexistence)
    table = validate_ensemble(args.members, args.out, ValidateSettings.from_dict(cfg), args.element,
                              potential=args.potential, seed=args.seed, progress=not args.quiet,
                              device=args.device)
    cols = ["phase", "temperature_K", "density_error_percent", "epot_difference_meV_per_atom", "rdf_overlap",
            "max_atomic_uncertainty_eV", "nve_drift_meV_per_atom_ps", "stable", "within_data"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"-> {args.out}/validation.csv, rdf.png, candidates.h5")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one NNP ensemble member on a frame store")
    p.add_argument("frames", help="labelled frame store (.h5)")
    p.add_argument("--element", required=True, help="element symbol of the frames, e.g. Ni")
    p.add_argument("--out", required=True, help="output folder (model.pt, learning_curve.csv, split.npz)")
    p.add_argument("--seed", type=int, default=0, help="weights, split and batch order")
    p.add_argument("--nnp-settings", help="JSON text or file: NNPSettings fields")
    p.add_argument("--train-settings", help="JSON text or file: TrainSettings fields")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: run jobs side by side instead)")
    add_device_argument(p, "train")
    p.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "predict", help="score a pool with an ensemble (energies, atomic uncertainty, metrics, plots)",
        description="Score every frame of a pool with an ensemble, as rule predict_pool does: per frame the "
        "energy, its error against the pool's labels, and the atomic uncertainty (member spread of per-atom "
        "energies, eV); and, for a labelled pool, the metrics table and the parity and uncertainty plots. "
        "Outputs default to the workflow's names beside --scores.")
    p.add_argument("pool", help="frame store to score (.h5)")
    p.add_argument("--members", nargs="+", required=True, help="member model files (model.pt)")
    p.add_argument("--scores", required=True, help="output CSV (one row per frame)")
    p.add_argument("--atomic", default=None,
                   help="output NPZ of per-atom values (default: atomic.npz beside --scores)")
    p.add_argument("--metrics", default=None, help="MAE/RMSE table, meV/atom, overall, per phase and per "
                   "order-parameter bin (default: metrics.csv beside --scores)")
    p.add_argument("--parity", default=None, help="parity plot (default: parity.png beside --scores)")
    p.add_argument("--uq", default=None,
                   help="uncertainty against error plot (default: uq_vs_error.png beside --scores)")
    p.add_argument("--no-metrics", action="store_true",
                   help="write scores and per-atom values only (no metrics or plots unless named)")
    p.add_argument("--batch-frames", type=int, default=default("nnp.predict_batch_frames"),
                   help="frames evaluated at once (memory vs speed; default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: run jobs side by side instead)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--aevs", default=None,
                   help="the pool's AEV cache (results/{element}/sample/aev/{pool}.h5): much faster scoring")
    p.add_argument("--forces", action="store_true",
                   help="add the force committee's frame scores (uq_force_max_eV_per_A, DP-GEN's max_devi_f, "
                   "and uq_force_mean_eV_per_A): one backward pass per member, slower")
    add_device_argument(p, "predict")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser("relax", help="relax FCC/BCC/HCP with an NNP ensemble and compare with EAM")
    p.add_argument("--members", nargs="+", required=True, help="member model files (model.pt)")
    p.add_argument("--reference", required=True, help="results/{element}/eam/crystals.csv")
    p.add_argument("--csv", required=True, help="the NNP crystal table to write (CSV)")
    p.add_argument("--markdown", required=True, help="the same beside the reference (Markdown)")
    p.add_argument("--strains", type=float, nargs="+", default=default("nnp.relax_strains"),
                   help="start each relaxation from these isotropic strains of the reference lattice")
    p.add_argument("--fmax", type=float, default=default("nnp.relax_fmax_eV_per_A"),
                   help="force tolerance, eV/Å (default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: run jobs side by side instead)")
    p.set_defaults(func=run_relax)

    p = subparsers.add_parser("export-nnp", help="an ensemble as one portable TorchScript file (energy, "
                              "forces, stress, atomic uncertainty; loads with plain torch)")
    p.add_argument("--members", nargs="+", required=True, help="member model files (model.pt)")
    p.add_argument("--out", required=True, help="the TorchScript file to write (.pt)")
    p.set_defaults(func=run_export_nnp)

    p = subparsers.add_parser("validate-nnp", help="NPT with the NNP ensemble and with the EAM at the same "
                              "state points: density, energy, RDF, uncertainty, stability, NVE drift")
    p.add_argument("--members", nargs="+", required=True, help="member model files (model.pt)")
    p.add_argument("--element", required=True, help="element symbol; its EAM is the reference")
    p.add_argument("--out", required=True,
                   help="output folder (validation.csv/.md/.json, rdf.png, candidates.h5)")
    p.add_argument("--potential", default=None, help="EAM file (default: the shipped one for the element)")
    p.add_argument("--melting-point-K", type=float, default=None,
                   help="the reference's melting point (K); the state points are fractions of it")
    p.add_argument("--coexistence", default=None,
                   help="or read it from a coexistence result "
                   "(results/{element}/coexistence/coexistence.json)")
    p.add_argument("--settings",
                   help="JSON text or file: ValidateSettings fields (the config's validate section)")
    p.add_argument("--seed", type=int, default=0, help="initial velocities and thermostat noise")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: run jobs side by side instead)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p, "validate")
    p.set_defaults(func=run_validate_nnp)
