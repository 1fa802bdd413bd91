"""Direct solid–liquid coexistence: the melting temperature of an EAM from one NPH run with an interface.

The independent check of the MOMT estimate (Morris, Wang, Ho & Chan, Phys. Rev. B 49, 3109 (1994)).
An elongated FCC cell (``cells`` = nx × ny × nz conventional cells, the interface normal along z) is

1. equilibrated as a solid at ``temperature_guess_K`` (NPT, orthorhombic barostat, so each axis takes its
   own thermal expansion);
2. half-melted: atoms of the upper half thermostatted at ``melt_K`` (default 2 × the guess: a crystal
   with no free surface superheats, and at 1.6 × it did not melt in 3 ps), the lower half at the guess,
   the barostat on so that the melting half can expand;
3. held at the guess for ``settle_steps`` (NPT, orthorhombic): the liquid relaxes its density;
4. run NPH (no thermostat; orthorhombic barostat at P0) for ``nph_steps``. With both phases present the
   interface moves until the latent heat has brought the temperature to the melting point at P0; the
   melting temperature is the mean kinetic temperature over the second half of the NPH run, its error the
   standard error of ``n_blocks`` block means. If either phase disappears the run says so (null and a
   reason) instead of a number.

Phases per slab: slab k (one conventional cell thick along z) has the crystallinity
ψ_k = ⟨|Σ_{i∈k} exp(i g·r_i)|²⟩_g / n_k² over the four {111} vectors of the box's lattice (1 for a
perfect crystal, ~1/n_k for a liquid). A slab is solid when ψ_k exceeds half the mean ψ of the
equilibrated solid. The solid fraction is the fraction of solid slabs.

Resumable: a checkpoint ``<out_json>.ckpt`` after each stage and every ``checkpoint_every`` NPH steps.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..defaults import SCHEMA, from_schema
from ..errors import ConfigError
from .checkpoint import load_checkpoint, save_checkpoint
from .integrators import LangevinNPT, MDState, maxwell_boltzmann, pressure_bar
from .models import fcc_sites_frac
from .setup import run_plain

log = logging.getLogger("nnpdistill.md")


@dataclass
@from_schema("coexistence")
class CoexistenceSettings:
    """One coexistence run; every setting has a unit in its name or is a count."""

    temperature_guess_K: float
    cells: tuple[int, int, int] = SCHEMA
    timestep_fs: float = SCHEMA
    pressure_bar: float = SCHEMA
    melt_K: float | None = SCHEMA  # null: 2 × guess
    solid_steps: int = SCHEMA
    melt_steps: int = SCHEMA
    settle_steps: int = SCHEMA
    nph_steps: int = SCHEMA
    record_every: int = SCHEMA
    checkpoint_every: int = SCHEMA
    thermostat_tau_fs: float = SCHEMA
    barostat_tau_fs: float = SCHEMA
    compressibility_per_bar: float = SCHEMA
    n_blocks: int = SCHEMA
    min_solid_fraction: float = SCHEMA
    seed: int = SCHEMA
    lattice_A: float | None = SCHEMA

    def validate(self) -> None:
        if not self.temperature_guess_K or not self.temperature_guess_K > 0:
            raise ConfigError("coexistence.temperature_guess_K must be a positive temperature (a guess of "
                              f"the melting point within ~20 %), got {self.temperature_guess_K}")
        if len(self.cells) != 3 or min(self.cells) < 2 or self.cells[2] < 4:
            raise ConfigError(f"coexistence.cells must be [nx, ny, nz] with nx, ny >= 2 and nz >= 4, got "
                              f"{list(self.cells)}")
        for name in ("solid_steps", "melt_steps", "settle_steps"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"coexistence.{name} must be >= 0")
        for name in ("nph_steps", "record_every", "checkpoint_every", "n_blocks"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"coexistence.{name} must be >= 1")
        if self.nph_steps // self.record_every < 2 * self.n_blocks:
            raise ConfigError(f"coexistence: nph_steps/record_every = {self.nph_steps // self.record_every} "
                              f"records cannot fill 2 × n_blocks = {2 * self.n_blocks} blocks")
        if not self.timestep_fs > 0:
            raise ConfigError(f"coexistence.timestep_fs must be positive, got {self.timestep_fs}")

    @property
    def melt_temperature_K(self) -> float:
        return float(self.melt_K) if self.melt_K is not None else 2.0 * float(self.temperature_guess_K)


def slab_crystallinity(positions: torch.Tensor, cell: torch.Tensor,
                       cells: tuple[int, int, int]) -> np.ndarray:
    """(nz,) crystallinity ψ per slab of one conventional cell along z, for one configuration
    (positions (N,3), orthorhombic-ish cell (3,3) rows = vectors, ``cells`` = (nx, ny, nz))."""
    nx, ny, nz = cells
    frac = torch.linalg.solve(cell.T, positions.T).T  # (N,3) fractional
    slab = torch.floor(torch.remainder(frac[:, 2], 1.0) * nz).long().clamp(0, nz - 1)
    inv_t = torch.linalg.inv(cell).T  # reciprocal (rows) / 2π
    psi = torch.zeros(nz, dtype=torch.float64)
    count = torch.bincount(slab, minlength=nz).to(torch.float64)
    for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        g = 2 * math.pi * inv_t @ torch.tensor([sx * nx, sy * ny, nz], dtype=torch.float64)
        th = positions @ g
        c = torch.zeros(nz, dtype=torch.float64).index_add_(0, slab, torch.cos(th))
        s = torch.zeros(nz, dtype=torch.float64).index_add_(0, slab, torch.sin(th))
        psi += (c * c + s * s) / count.clamp(min=1) ** 2
    return (psi / 4).numpy()


def _fingerprint(settings: CoexistenceSettings, pot) -> dict:
    return {**asdict(settings), "cells": list(settings.cells), "potential_sha256": pot.sha256,
            "element": pot.element}


@dataclass
class _Progress:
    stage: str = "start"
    step: int = 0
    records: list = field(default_factory=list)
    psi_solid: float | None = None


def run_coexistence(out_json: str | os.PathLike, pot, settings: CoexistenceSettings,
                    out_csv: str | os.PathLike | None = None, progress: bool = False) -> dict:
    """Run (or resume) one coexistence run with ``pot`` (a :class:`nnpdistill.md.run.Potential`); write the
    summary ``out_json`` (strict JSON) and the time series ``out_csv``; return the summary."""
    from ..io_utils import atomic_path
    from ..io_utils import write_strict_json as write_json

    settings.validate()
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_csv = Path(out_csv) if out_csv is not None else out_json.with_suffix(".csv")
    ckpt = out_json.with_name(out_json.name + ".ckpt")
    fp = _fingerprint(settings, pot)
    gen = torch.Generator().manual_seed(int(settings.seed))
    nx, ny, nz = (int(c) for c in settings.cells)
    a = float(settings.lattice_A or pot.lattice_A)
    T = float(settings.temperature_guess_K)
    prog = _Progress()
    state = None
    if ckpt.exists():
        payload = load_checkpoint(ckpt)
        if payload.get("fingerprint") == fp:
            state = MDState.from_dict(payload["state"])
            gen.set_state(payload["rng"])
            prog = _Progress(**payload["progress"])
            log.info("resuming coexistence at stage %s, step %d", prog.stage, prog.step)
        else:
            log.warning("%s belongs to other settings: starting afresh", ckpt)
    if state is None:
        sites = fcc_sites_frac(1)
        ar = (torch.arange(nx), torch.arange(ny), torch.arange(nz))
        grid = torch.stack(torch.meshgrid(*ar, indexing="ij"), -1).reshape(-1, 1, 3).to(torch.float64)
        pos = ((grid + sites.reshape(1, 4, 3)).reshape(-1, 3)) * a
        cell = torch.diag(torch.tensor([nx * a, ny * a, nz * a], dtype=torch.float64))
        n = pos.shape[0]
        masses = torch.full((n,), float(pot.mass_amu), dtype=torch.float64)
        mom = maxwell_boltzmann(masses, T, (1, n), gen)
        state = MDState(pos[None].clone(), mom, cell[None].clone(), masses)

    def save():
        save_checkpoint(ckpt, {"fingerprint": fp, "state": state.to_dict(), "rng": gen.get_state(),
                               "progress": asdict(prog)})

    n_atoms = state.n_atoms
    frac_z = torch.remainder(torch.linalg.solve(state.cells[0].T, state.positions[0].T).T[:, 2], 1.0)
    upper = frac_z >= 0.5
    dt = settings.timestep_fs

    def integ(temperature, thermostat=True):
        return LangevinNPT(dt, temperature, settings.pressure_bar,
                           settings.thermostat_tau_fs if thermostat else None, settings.barostat_tau_fs,
                           settings.compressibility_per_bar, "orthorhombic", gen)

    def run(n_steps, integrator, record=None):
        return run_plain(state, pot.factory(), integrator, n_steps, record)

    stages = ["start", "solid", "melt", "settle", "nph", "done"]
    from ..runtime import Progress

    total = settings.solid_steps + settings.melt_steps + settings.settle_steps + settings.nph_steps
    bar = Progress(total, f"coexistence {pot.element} N={n_atoms}", "step", enabled=progress)
    done_before = {"start": 0, "solid": settings.solid_steps,
                   "melt": settings.solid_steps + settings.melt_steps,
                   "settle": settings.solid_steps + settings.melt_steps + settings.settle_steps}
    bar.update(done_before.get(prog.stage, done_before["settle"] + prog.step))

    if stages.index(prog.stage) < stages.index("solid"):
        run(settings.solid_steps, integ(T))
        prog.psi_solid = float(np.mean(slab_crystallinity(state.positions[0], state.cells[0], (nx, ny, nz))))
        prog.stage = "solid"
        save()
        bar.update(settings.solid_steps)
    if stages.index(prog.stage) < stages.index("melt"):
        t_atoms = torch.where(upper, settings.melt_temperature_K, T).to(torch.float64)[None]
        run(settings.melt_steps, integ(t_atoms))
        prog.stage = "melt"
        save()
        bar.update(settings.melt_steps)
    if stages.index(prog.stage) < stages.index("settle"):
        run(settings.settle_steps, integ(T))
        prog.stage, prog.step = "settle", 0
        save()
        bar.update(settings.settle_steps)
    threshold = 0.5 * float(prog.psi_solid)
    if stages.index(prog.stage) < stages.index("nph"):
        nph = integ(T, thermostat=False)

        def record(_state, res):
            prog.step += 1
            if prog.step % settings.record_every == 0:
                psi = slab_crystallinity(state.positions[0], state.cells[0], (nx, ny, nz))
                lengths = torch.linalg.norm(state.cells[0], dim=1)
                prog.records.append({
                    "step": prog.step, "time_ps": prog.step * dt / 1000.0,
                    "temperature_K": float(state.temperature_K()[0]),
                    "pressure_bar": float(pressure_bar(state, res.stress)[0]),
                    "potential_energy_eV_per_atom": float(res.energy[0]) / n_atoms,
                    "solid_fraction": float((psi > threshold).mean()),
                    "lx_A": float(lengths[0]), "ly_A": float(lengths[1]), "lz_A": float(lengths[2])})
            bar.update(1)

        while prog.step < settings.nph_steps:
            n = min(settings.checkpoint_every, settings.nph_steps - prog.step)
            run(n, nph, record)
            save()
        prog.stage = "nph"
        save()
    bar.close()

    import pandas as pd

    series = pd.DataFrame(prog.records)
    with atomic_path(out_csv) as tmp:
        series.to_csv(tmp, index=False)
    summary = summarize(series, settings, n_atoms)
    summary.update({"element": pot.element, "potential": pot.name, "potential_sha256": pot.sha256,
                    "n_atoms": n_atoms, "settings": {**asdict(settings), "cells": [nx, ny, nz]},
                    "psi_solid_reference": prog.psi_solid})
    write_json(summary, out_json)
    ckpt.unlink(missing_ok=True)
    return json.loads(Path(out_json).read_text())


def summarize(series, settings: CoexistenceSettings, n_atoms: int) -> dict:
    """Melting temperature (mean T over the second half of the NPH run) with a block error, or None and
    the reason when the interface did not survive."""
    half = series.iloc[len(series) // 2:]
    sf = half["solid_fraction"].to_numpy()
    lo, hi = settings.min_solid_fraction, 1.0 - settings.min_solid_fraction
    out = {"t_melt_K": None, "t_melt_err_K": None, "reason": None,
           "solid_fraction_final": float(series["solid_fraction"].iloc[-1]),
           "solid_fraction_window": [float(sf.min()), float(sf.max())],
           "pressure_bar_mean": float(half["pressure_bar"].mean()),
           "nph_time_ps": float(series["time_ps"].iloc[-1])}
    if sf.min() < lo:
        out["reason"] = (f"the solid melted away (solid fraction {sf.min():.2f} < {lo}) during the averaging "
                         "window: the start was too hot; lower temperature_guess_K")
    elif sf.max() > hi:
        out["reason"] = (f"the liquid froze (solid fraction {sf.max():.2f} > {hi}) during the averaging "
                         "window: the start was too cold; raise temperature_guess_K or melt_K")
    else:
        t = half["temperature_K"].to_numpy()
        blocks = np.array_split(t, settings.n_blocks)
        means = np.array([b.mean() for b in blocks])
        out["t_melt_K"] = float(t.mean())
        out["t_melt_err_K"] = float(means.std(ddof=1) / math.sqrt(len(means)))
        out["temperature_drift_K"] = float(means[-1] - means[0])
    return out


def coexistence_settings_from_config(cfg: dict) -> CoexistenceSettings:
    """CoexistenceSettings from an element's ``coexistence`` mapping (schema keys; missing → defaults)."""
    cfg = {k: v for k, v in dict(cfg or {}).items() if k != "enabled"}
    known = set(CoexistenceSettings.__dataclass_fields__)
    unknown = set(cfg) - known
    if unknown:
        raise ConfigError(f"unknown coexistence settings: {sorted(unknown)} (known: {sorted(known)})")
    if "cells" in cfg:
        cfg["cells"] = tuple(int(c) for c in cfg["cells"])
    s = CoexistenceSettings(**cfg)
    s.validate()
    return s


def coexistence(symbol: str, out_json, cfg: dict, potential: str | None = None, skin_A: float = 1.0,
                out_csv=None, progress: bool = True, device: str | None = None) -> dict:
    """One coexistence run for ``symbol`` with its EAM (the workflow's and the CLI's entry point).
    ``device``: where the forces are evaluated (default: the workflow's ``device.sample``, else the CPU)."""
    from ..device import device_for
    from .run import potential_from_eam

    settings = coexistence_settings_from_config(cfg)
    pot = potential_from_eam(symbol, potential, skin_A, settings.lattice_A, str(device_for("sample", device)))
    return run_coexistence(out_json, pot, settings, out_csv, progress)


def compare_melting(momt_jsons, coexistence_json, out_csv, out_md):
    """One row per MOMT estimate (size, T_m from ΔG = 0 and from the C_P peak, errors, reasons or cautions)
    beside the coexistence T_m: the relative difference and whether it is within 5 %. Writes CSV and
    Markdown."""
    import pandas as pd

    from ..io_utils import atomic_path

    ref = json.loads(Path(coexistence_json).read_text())
    t_ref = ref.get("t_melt_K")
    rows = [{"method": "coexistence", "n_atoms": ref.get("n_atoms"), "t_melt_K": t_ref,
             "t_melt_err_K": ref.get("t_melt_err_K"), "relative_difference": 0.0 if t_ref else None,
             "within_5_percent": None, "reason": ref.get("reason")}]
    for path in momt_jsons:
        d = json.loads(Path(path).read_text())
        for key, label in (("t_melt_p_solid", "momt (ΔG = 0)"), ("t_melt_cp_peak", "momt (C_P peak)")):
            t = d.get(f"{key}_K")
            rel = (t - t_ref) / t_ref if (t is not None and t_ref) else None
            rows.append({"method": label, "n_atoms": d.get("n_atoms"), "t_melt_K": t,
                         "t_melt_err_K": d.get(f"{key}_err_K"), "relative_difference": rel,
                         "within_5_percent": None if rel is None else bool(abs(rel) <= 0.05),
                         "reason": d.get(f"{key}_reason") or d.get(f"{key}_caution")})
    table = pd.DataFrame(rows)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)

    def fmt(x, spec):
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)

    lines = ["| method | atoms | T_m (K) | ± (K) | vs coexistence | within 5 % | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        rel = r["relative_difference"]
        rel_txt = "–" if rel is None else f"{100 * rel:+.1f} %"
        within = "–" if r["within_5_percent"] is None else ("yes" if r["within_5_percent"] else "no")
        lines.append(f"| {r['method']} | {r['n_atoms']} | {fmt(r['t_melt_K'], '.0f')} | "
                     f"{fmt(r['t_melt_err_K'], '.0f')} | {rel_txt} | {within} | {r['reason'] or ''} |")
    with atomic_path(out_md) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return table
