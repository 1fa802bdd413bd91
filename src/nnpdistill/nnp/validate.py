"""Validate an NNP ensemble in molecular dynamics against its reference potential (issue 17).

At each state point (the solid at ``solid_fraction`` × T_m, the liquid at ``liquid_fraction`` × T_m of
the reference, and any ``extra_temperatures_K``, all at ``pressure_bar``) the same start (a perfect FCC
cell; for liquids, the reference's melt quenched to the target temperature) is run in NPT twice, with
the reference (EAM) and with the NNP ensemble, by the project's batched integrators: one walker per
state point, each with its own seeded generator, so a point's trajectory does not depend on the others.
Then the NNP's final state runs in NVE to measure energy drift.

Per point (one row of ``validation.csv``): the mean density of each run; the mean potential energy per
atom of the reference run and of the NNP's own frames re-labelled by the reference (the NNP samples the
right structures when these agree), and the NNP's energy error on its frames; the overlap of the NNP's
radial distribution function with the reference's, 1 − ½∫|g_NNP − g_ref| dr / ∫g_ref dr over
r ≤ ``rdf_shells`` × (first-peak distance), capped at half the cell width; the largest atomic
uncertainty seen; the closest pair distance (stable: never below ``min_distance_floor_A``, finite
energies); the NVE drift; and whether the run stayed inside the ensemble's data (largest atomic
uncertainty ≤ ``uncertainty_threshold_eV``). NNP frames above that threshold go to ``candidates.h5``, an
unlabelled frame store the labelling stage can take (the first step of an exploration loop).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..defaults import SCHEMA, from_schema
from ..errors import ConfigError
from ..io_utils import atomic_path, sha256_file
from ..md.structure import half_width_A, pair_distances, rdf, rdf_overlap
from ..units import FS
from .md import EnsembleEvaluator

log = logging.getLogger("nnpdistill.validate")
AMU_G = 1.66053906660e-24  # g per amu
PS = 1000.0 * FS


@dataclass
@from_schema("validate")
class ValidateSettings:
    """Settings of :func:`validate_ensemble`; the schema's ``validate`` section (same names, units)."""

    melting_point_K: float | None = SCHEMA
    solid_fraction: float = SCHEMA
    liquid_fraction: float = SCHEMA
    extra_temperatures_K: list = SCHEMA
    pressure_bar: float = SCHEMA
    n_atoms: int = SCHEMA
    timestep_fs: float = SCHEMA
    thermostat_tau_fs: float = SCHEMA
    barostat_tau_fs: float = SCHEMA
    compressibility_per_bar: float = SCHEMA
    melt_steps: int = SCHEMA
    equilibration_steps: int = SCHEMA
    production_steps: int = SCHEMA
    frame_stride: int = SCHEMA
    nve_steps: int = SCHEMA
    rdf_bins: int = SCHEMA
    rdf_shells: float = SCHEMA
    min_distance_floor_A: float = SCHEMA
    uncertainty_threshold_eV: float = SCHEMA

    def validate(self) -> None:
        if self.melting_point_K is None or not self.melting_point_K > 0:
            raise ConfigError(f"validate.melting_point_K must be a positive temperature (K), got "
                              f"{self.melting_point_K}")
        for name in ("solid_fraction", "liquid_fraction", "timestep_fs", "pressure_bar", "rdf_shells",
                     "min_distance_floor_A", "uncertainty_threshold_eV"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"validate.{name} must be positive, got {getattr(self, name)}")
        if not self.solid_fraction < 1.0 < self.liquid_fraction:
            raise ConfigError(f"validate: solid_fraction < 1 < liquid_fraction needed, got "
                              f"{self.solid_fraction}, {self.liquid_fraction}")
        if self.production_steps < self.frame_stride or self.frame_stride < 1:
            raise ConfigError(f"validate: production_steps ({self.production_steps}) must hold at least one "
                              f"frame_stride ({self.frame_stride})")
        if min(self.melt_steps, self.equilibration_steps, self.nve_steps) < 0:
            raise ConfigError("validate: step counts must not be negative")

    def points(self) -> list[tuple[str, float]]:
        """(phase, temperature_K) of every state point; extra points above T_m are liquid."""
        tm = float(self.melting_point_K)
        pts = [("solid", self.solid_fraction * tm), ("liquid", self.liquid_fraction * tm)]
        pts += [("liquid" if t > tm else "solid", float(t)) for t in self.extra_temperatures_K]
        return pts

    @classmethod
    def from_dict(cls, d: dict | None) -> ValidateSettings:
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown validate settings {sorted(unknown)}")
        s = cls(**d)
        s.validate()
        return s


def melting_point_from(value: float | None, coexistence_json: str | os.PathLike | None) -> float:
    """``value`` when given, else the coexistence run's ``t_melt_K`` (a clear error when it has none)."""
    if value is not None:
        return float(value)
    if coexistence_json is None:
        raise ConfigError("validate.melting_point_K is null and no coexistence result was given: set it, "
                          "or enable the coexistence stage")
    d = json.loads(Path(coexistence_json).read_text())
    if d.get("t_melt_K") is None:
        raise ConfigError(f"{coexistence_json} has no melting point ({d.get('reason', 'no reason given')}): "
                          "set validate.melting_point_K")
    return float(d["t_melt_K"])


# ---- the runs --------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What one NPT run (B walkers) leaves: per saved frame (T, B) series and the frames themselves."""

    positions: list = field(default_factory=list)  # (B,N,3) each
    cells: list = field(default_factory=list)
    energy: list = field(default_factory=list)  # (B,) eV
    uncertainty: list = field(default_factory=list)  # (B,N) eV, NNP only
    step: list = field(default_factory=list)

    def add(self, state, res, step: int) -> None:
        self.positions.append(state.positions.numpy().copy())
        self.cells.append(state.cells.numpy().copy())
        self.energy.append(res.energy.detach().numpy().copy())
        if hasattr(res, "uncertainty"):
            self.uncertainty.append(res.uncertainty.detach().numpy().copy())
        self.step.append(step)

    def arrays(self) -> dict:
        out = {k: np.stack(v) for k, v in asdict(self).items() if k != "step" and v}
        out["step"] = np.asarray(self.step)
        return out


def _generators(seed: int, n: int, tag: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(np.random.SeedSequence([seed, tag, b]).generate_state(1)[0]))
            for b in range(n)]


def _integrator(s: ValidateSettings, temps: torch.Tensor, gens, npt: bool = True):
    from ..md.integrators import LangevinNPT

    return LangevinNPT(s.timestep_fs, temps, s.pressure_bar, s.thermostat_tau_fs if npt else None,
                       s.barostat_tau_fs if npt else None, s.compressibility_per_bar, "isotropic", gens)


def initial_state(pot, s: ValidateSettings, seed: int):
    """The common start of both engines: FCC at every point; liquids melted at 2 T_m by the reference
    and quenched to their temperature (``melt_steps`` each)."""
    from ..md.setup import fcc_state, run_plain

    phases, temps = zip(*s.points(), strict=True)
    t = torch.tensor(temps, dtype=torch.float64)
    gens = _generators(seed, len(t), 0)
    state = fcc_state(len(t), s.n_atoms, pot.lattice_A, pot.mass_amu, t, gens)
    liquid = torch.tensor([p == "liquid" for p in phases])
    if bool(liquid.any()) and s.melt_steps > 0:
        ev = pot.factory()
        melt = torch.where(liquid, torch.full_like(t, 2.0 * float(s.melting_point_K)), t)
        run_plain(state, ev, _integrator(s, melt, gens), s.melt_steps)
        run_plain(state, ev, _integrator(s, t, gens), s.melt_steps)
    state.step = 0
    return state


def run_npt(state, evaluator, s: ValidateSettings, seed: int, tag: int, progress=None) -> RunRecord:
    """Equilibrate and produce in NPT at the points' temperatures; record every ``frame_stride`` steps."""
    from ..md.integrators import plain_forces

    temps = torch.tensor([t for _, t in s.points()], dtype=torch.float64)
    integ = _integrator(s, temps, _generators(seed, state.n_walkers, tag))
    fn = plain_forces(evaluator)
    f, st, res = fn(state.positions, state.cells)
    rec = RunRecord()
    for k in range(s.equilibration_steps + s.production_steps):
        f, st, res = integ.step(state, fn, f, st)
        if k >= s.equilibration_steps and (k - s.equilibration_steps + 1) % s.frame_stride == 0:
            rec.add(state, res, k + 1)
        if progress is not None:
            progress.update(1)
    return rec


def run_nve(state, evaluator, s: ValidateSettings, progress=None) -> np.ndarray:
    """(steps+1, B) total energy (eV) along ``nve_steps`` of NVE from ``state``."""
    from ..md.integrators import plain_forces

    temps = torch.tensor([t for _, t in s.points()], dtype=torch.float64)
    integ = _integrator(s, temps, _generators(0, state.n_walkers, 2), npt=False)
    fn = plain_forces(evaluator)
    f, st, res = fn(state.positions, state.cells)
    e = [(res.energy + state.kinetic_energy()).numpy().copy()]
    for _ in range(s.nve_steps):
        f, st, res = integ.step(state, fn, f, st)
        e.append((res.energy + state.kinetic_energy()).numpy().copy())
        if progress is not None:
            progress.update(1)
    return np.stack(e)


def drift_meV_per_atom_ps(e_tot: np.ndarray, timestep_fs: float, n_atoms: int) -> np.ndarray:
    """(B,) slope of a straight-line fit of total energy against time, meV/atom/ps."""
    t_ps = np.arange(len(e_tot)) * timestep_fs / 1000.0
    if len(t_ps) < 3:
        return np.full(e_tot.shape[1], np.nan)
    return np.polyfit(t_ps, e_tot, 1)[0] * 1000.0 / n_atoms


# ---- the front door --------------------------------------------------------------------------


def _cached_run(path: Path, fingerprint: str, compute):
    """Resume at run granularity: a finished run's record is kept beside the outputs (``path``, keyed
    by the settings' fingerprint) until the stage completes, so a killed job redoes only the run it
    was in."""
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) == fingerprint:
                log.info("resuming: %s is complete", path.name)
                return {k: z[k] for k in z.files if k != "fingerprint"}
    out = compute()
    from ..io_utils import save_npz

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        save_npz(fh, fingerprint=np.asarray(fingerprint), **out)
    return out


def validate_ensemble(members: list[str | os.PathLike], out_dir: str | os.PathLike,
                      settings: ValidateSettings,
                      symbol: str, potential: str | None = None, seed: int = 0,
                      progress: bool = True, device: str | None = None) -> pd.DataFrame:
    """Validate ``members`` (one ensemble's model files) against the element's EAM; write ``validation.csv``
    /``.md``/``.json``, ``rdf.png``, ``candidates.h5`` in ``out_dir``; return the table. ``device``: where
    both MD runs evaluate forces (default: the workflow's ``device.validate``, else the CPU)."""
    from ..device import device_for
    from ..md.run import potential_from_eam
    from ..runtime import Progress
    from .predict import load_ensemble

    settings.validate()
    s = settings
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_ensemble(members)
    if model.n_members < 2:
        raise ConfigError(f"validation needs at least 2 members (the spread), got {model.n_members}")
    pot = potential_from_eam(symbol, potential, device=str(device_for("validate", device)))
    if pot.atomic_number != int(model.atomic_number):
        raise ConfigError(f"the ensemble is for Z = {model.atomic_number}, the reference potential for "
                          f"{symbol} (Z = {pot.atomic_number})")
    points = s.points()
    member_sha256 = [sha256_file(p) for p in members]
    fp = json.dumps({"settings": asdict(s), "seed": seed, "potential": pot.sha256, "members": member_sha256},
                    sort_keys=True)
    n_md = s.equilibration_steps + s.production_steps
    with Progress(2 * n_md + s.nve_steps, f"validate {symbol} ({len(points)} state points)", "step",
                  enabled=progress) as bar:
        starts = []  # the common start, made once and only when a run is not already kept

        def run_with(evaluator, tag, nve):
            if not starts:
                starts.append(initial_state(pot, s, seed))
            state = type(starts[0]).from_dict(starts[0].to_dict())
            rec = run_npt(state, evaluator, s, seed, tag, bar).arrays()
            if nve:
                rec["nve_energy"] = run_nve(state, evaluator, s, bar)
            return rec

        ref = _cached_run(out / "validate_reference.partial.npz", fp,
                          lambda: run_with(pot.factory(), 1, False))
        nnp = _cached_run(out / "validate_nnp.partial.npz", fp,
                          lambda: run_with(EnsembleEvaluator(model, pot.device), 2, s.nve_steps > 0))
    # the NNP's own frames re-labelled by the reference
    ev = pot.factory()
    F, B = nnp["energy"].shape
    e_ref_on_nnp = np.stack([ev(torch.from_numpy(nnp["positions"][k]), torch.from_numpy(nnp["cells"][k]))
                             .energy.numpy() for k in range(F)])
    table, curves = _table(points, ref, nnp, e_ref_on_nnp, s, pot)
    _write_candidates(out / "candidates.h5", points, nnp, s, pot, symbol)
    from .plots import validation_plot

    with atomic_path(out / "rdf.png") as tmp:
        validation_plot(curves, points, nnp, s, tmp)
    meta = {"symbol": symbol, "potential": pot.name, "potential_sha256": pot.sha256, "seed": seed,
            "member_sha256": member_sha256, "settings": asdict(s),
            "rdf": {f"{p}_{t:.0f}K": {k: v.tolist() for k, v in c.items()}
                    for (p, t), c in zip(points, curves, strict=True)}}
    with atomic_path(out / "validation.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    with atomic_path(out / "validation.md") as tmp:
        tmp.write_text(markdown_table(table, s))
    with atomic_path(out / "validation.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")
    for name in ("validate_reference.partial.npz", "validate_nnp.partial.npz"):
        (out / name).unlink(missing_ok=True)
    return table


MARKDOWN_COLUMNS = {  # column -> (header, format)
    "phase": ("phase", "{}"), "temperature_K": ("T (K)", "{:.0f}"),
    "density_reference_g_cm3": ("ρ EAM (g/cm³)", "{:.4f}"), "density_nnp_g_cm3": ("ρ NNP (g/cm³)", "{:.4f}"),
    "density_error_percent": ("Δρ (%)", "{:+.2f}"),
    "epot_difference_meV_per_atom": ("ΔE_pot (meV/atom)", "{:+.2f}"),
    "energy_mae_meV_per_atom": ("NNP error (meV/atom)", "{:.2f}"), "rdf_overlap": ("g(r) overlap", "{:.4f}"),
    "max_atomic_uncertainty_eV": ("max σ_atom (meV)", "{:.1f}"), "min_distance_A": ("closest (Å)", "{:.2f}"),
    "nve_drift_meV_per_atom_ps": ("NVE drift (meV/atom/ps)", "{:+.1e}"), "stable": ("stable", "{}"),
    "within_data": ("within data", "{}"), "simulated_ps": ("NPT (ps)", "{:g}"),
}


def markdown_table(table: pd.DataFrame, s: ValidateSettings) -> str:
    """The validation table for people: the columns that answer the questions, with units."""
    head = [h for h, _ in MARKDOWN_COLUMNS.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in table.iterrows():
        cells = []
        for col, (_, fmt) in MARKDOWN_COLUMNS.items():
            v = row[col] * 1000.0 if col == "max_atomic_uncertainty_eV" else row[col]
            cells.append("–" if isinstance(v, float) and np.isnan(v) else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"ΔE_pot: the NNP's frames re-labelled by the EAM minus the EAM run; g(r) overlap over r ≤ "
                 f"{s.rdf_shells} × the first peak; within data: max σ_atom ≤ "
                 f"{s.uncertainty_threshold_eV * 1000:.0f} meV.")
    return "\n".join(lines) + "\n"


def _density(cells: np.ndarray, n_atoms: int, mass_amu: float) -> np.ndarray:
    return n_atoms * mass_amu * AMU_G / (np.abs(np.linalg.det(cells)) * 1e-24)


def _table(points, ref, nnp, e_ref_on_nnp, s: ValidateSettings, pot):
    rows, curves = [], []
    N = s.n_atoms
    drift = drift_meV_per_atom_ps(nnp["nve_energy"], s.timestep_fs, N) if "nve_energy" in nnp else None
    for b, (phase, t) in enumerate(points):
        rho_ref = _density(ref["cells"][:, b], N, pot.mass_amu).mean()
        rho_nnp = _density(nnp["cells"][:, b], N, pot.mass_amu).mean()
        r_max = min(half_width_A(c) for run in (ref, nnp) for c in run["cells"][:, b])
        r, g_ref = rdf(ref["positions"][:, b], ref["cells"][:, b], r_max, s.rdf_bins)
        _, g_nnp = rdf(nnp["positions"][:, b], nnp["cells"][:, b], r_max, s.rdf_bins)
        r_cut = min(s.rdf_shells * r[np.argmax(g_ref)], r_max)
        curves.append({"r_A": r, "g_reference": g_ref, "g_nnp": g_nnp, "r_cut_A": np.asarray(r_cut)})
        frames_b = zip(nnp["positions"][:, b], nnp["cells"][:, b], strict=True)
        d_min = min(pair_distances(p, c).min() for p, c in frames_b)
        uq = float(nnp["uncertainty"][:, b].max())
        e_nnp = nnp["energy"][:, b]
        stable = bool(d_min >= s.min_distance_floor_A and np.isfinite(e_nnp).all()
                      and (drift is None or np.isfinite(drift[b])))
        rows.append({
            "phase": phase, "temperature_K": t, "pressure_bar": s.pressure_bar,
            "density_reference_g_cm3": rho_ref, "density_nnp_g_cm3": rho_nnp,
            "density_error_percent": 100.0 * (rho_nnp / rho_ref - 1.0),
            "epot_reference_eV_per_atom": ref["energy"][:, b].mean() / N,
            "epot_nnp_frames_reference_eV_per_atom": e_ref_on_nnp[:, b].mean() / N,
            "epot_difference_meV_per_atom":
                1000.0 * (e_ref_on_nnp[:, b].mean() - ref["energy"][:, b].mean()) / N,
            "energy_mae_meV_per_atom": 1000.0 * np.abs(e_nnp - e_ref_on_nnp[:, b]).mean() / N,
            "rdf_overlap": rdf_overlap(r, g_nnp, g_ref, r_cut), "rdf_r_cut_A": r_cut,
            "max_atomic_uncertainty_eV": uq, "min_distance_A": d_min,
            "nve_drift_meV_per_atom_ps": float(drift[b]) if drift is not None else np.nan,
            "stable": stable, "within_data": bool(uq <= s.uncertainty_threshold_eV),
            "n_candidates": int((nnp["uncertainty"][:, b].max(-1) > s.uncertainty_threshold_eV).sum()),
            "n_frames": int(len(e_nnp)),
            "simulated_ps": (s.equilibration_steps + s.production_steps) * s.timestep_fs / 1000,
        })
    return pd.DataFrame(rows), curves


def _write_candidates(path: Path, points, nnp, s: ValidateSettings, pot, symbol: str) -> None:
    """NNP frames whose largest atomic uncertainty exceeds the threshold, unlabelled (always written,
    possibly empty, so the workflow has its output)."""
    from ..frames import Frames, FrameWriter

    F, B = nnp["energy"].shape
    umax = nnp["uncertainty"].max(-1)  # (F, B)
    k, b = np.nonzero(umax > s.uncertainty_threshold_eV)
    attrs = {"element": symbol, "method": "nnp_md_candidates", "potential": pot.name,
             "uncertainty_threshold_eV": s.uncertainty_threshold_eV}
    with atomic_path(path) as tmp:
        with FrameWriter(tmp, attrs) as w:
            if len(k):
                w.append(Frames(numbers=np.full((len(k), s.n_atoms), pot.atomic_number, dtype=np.int64),
                                positions=nnp["positions"][k, b], cell=nnp["cells"][k, b],
                                meta={"temperature_K": np.array([points[i][1] for i in b]),
                                      "phase": np.array([points[i][0] for i in b]),
                                      "step": nnp["step"][k].astype(np.int64),
                                      "max_atomic_uncertainty_eV": umax[k, b]}))
