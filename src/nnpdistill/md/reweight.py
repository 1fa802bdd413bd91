"""Thermodynamics from a MOMT run: reweight its frames to canonical NPT averages.

A frame recorded under a fixed bias Φ was drawn from p(x) ∝ exp(−β0 (H + Φ(H, O))) (H = U + P0 V,
potential enthalpy; frozen and staged biases honour the effective-temperature clip, so no clip acted:
``clipped`` is checked). Reweighting to temperature T: ln w_i = β0 (H_i + Φ_i) − β H_i,
⟨A⟩_T = Σ w_i A_i / Σ w_i. Two estimators:

- ``frozen``: the production frames under the one frozen bias. Frames made while the bias grew under the
  walkers are never used.
- ``mbar``: a run with Wang–Landau stages (``momt.stage_rounds``) recorded every acting bias Φ_k; the
  frames of all stages (those that began with ln f ≤ ``mbar_max_ln_f``, and production) are one mixture,
  p_mix(x) ∝ Σ_k N_k exp(f_k − β0 (H + Φ_k)), whose free energies f_k MBAR solves (:mod:`.mbar`: pymbar;
  Shirts & Chodera, J. Chem. Phys. 129, 124105 (2008)); then ln w_i = −β H_i − ln Σ_k N_k exp(f_k − u_k(x_i)).
  Stages where the walkers still cross between solid and liquid thus carry the phase balance that a
  frozen bias alone may not sample.

Per temperature: ⟨H⟩/N (eV/atom), configurational C_P/N = Var(H)/(N k_B T²) (k_B per atom; add 3/2 for
the kinetic part), P_solid (a frame is solid when most of its atoms are solid-like by the q6 bond-order
criterion, ``phase_by: solid_atoms``, or when O > o_solid_fraction·N), ΔG = G_solid − G_liquid =
−k_B T ln(P_s/P_l) per atom, and the Kish effective sample
size. Error bars: a bootstrap over whole walkers (``n_blocks`` = 1, the default) or over blocks (each
walker's frames cut into ``n_blocks`` contiguous blocks), resampled with replacement; with MBAR the f_k
are solved again for every replica. Walkers of a 108-atom run stay in one basin for long stretches
(5-6 of 16 cross), so blocks shorter than a stay are not independent: ten blocks per walker gave T_m
errors of 1.5-4.3 K where three seeds spread by 7 K (Al) and 14 K (Ni); whole walkers give 3.7-4.5 K and
11-13 K. The melting
temperature is where ΔG = 0 (P_solid = ½); the C_P peak is reported beside it. Where the data cannot
support an estimate the summary holds ``null`` and a reason in words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..defaults import default
from ..errors import ConfigError
from ..io_utils import write_strict_json
from ..runtime import Progress
from ..units import KB_EV_PER_K
from .mbar import mbar_log_density
from .melting import melting_temperature
from .momt import Bias2D, bias_values
from .momt_store import (
    ORDER_AXIS_LABEL,
    basin_bridge,
    bias_coordinate,
    bias_coordinate_kind,
    choose_estimator,
    count_basin_crossings,
    count_phase_switches,
    perfect_crystal_frames,
    read_history,
    select_frames,
    solid_scores,
)


def _blocks(walker: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block id per frame: each walker's frames (in order) cut into ``n_blocks`` contiguous blocks."""
    ids = np.empty(walker.shape[0], dtype=np.int64)
    for k, w in enumerate(np.unique(walker)):
        idx = np.flatnonzero(walker == w)
        nb = max(1, min(n_blocks, idx.size))
        ids[idx] = k * n_blocks + (np.arange(idx.size) * nb) // idx.size
    return ids


def _moments(E: np.ndarray, m: np.ndarray, h: np.ndarray, solid: np.ndarray):
    """Weighted sums for multiplicity columns ``m`` (F, R): Z, Σh, Σh², Σsolid, Σw² (each (nT, R))."""
    z = E @ m
    s1 = E @ (m * h[:, None])
    s2 = E @ (m * (h * h)[:, None])
    ss = E @ (m * solid[:, None])
    ww = (E * E) @ (m * m)
    return z, s1, s2, ss, ww


def reweight(enthalpy_eV: np.ndarray, order: np.ndarray, bias: Bias2D | None, t_ref_K: float, temperatures_K,
             n_atoms: int, o_solid_fraction: float = 0.5, walker: np.ndarray | None = None,
             n_blocks: int = 1, n_bootstrap: int = 200, seed: int = 0, stage: np.ndarray | None = None,
             stage_biases: list[Bias2D] | None = None,
             solid: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Canonical averages at ``temperatures_K`` from frames (H (F,) eV, O (F,)) sampled under the frozen
    ``bias`` at ``t_ref_K``, or, with ``stage_biases`` and ``stage`` (F,), under the staged biases combined
    by MBAR. Returns the table (values and bootstrap standard errors) and the bootstrap replicas of
    P_solid, (n_bootstrap, nT), for estimates derived from it (the melting temperature). ``solid`` (F,)
    bool: which frames are solid (e.g. by solid-like atoms); default O > ``o_solid_fraction`` · N."""
    H = np.asarray(enthalpy_eV, dtype=np.float64)
    O = np.asarray(order, dtype=np.float64)
    if H.size == 0 or H.shape != O.shape:
        raise ConfigError(f"reweighting needs matching non-empty H and O arrays, got {H.shape} and {O.shape}")
    temps = np.asarray(temperatures_K, dtype=np.float64)
    if temps.size == 0 or np.any(temps <= 0):
        raise ConfigError(f"reweighting temperatures must be positive and non-empty, got {temps}")
    if n_blocks < 1 or n_bootstrap < 0:
        raise ConfigError(f"reweighting needs n_blocks >= 1 and n_bootstrap >= 0, got {n_blocks}, "
                          f"{n_bootstrap}")
    if (stage_biases is None) == (bias is None):
        raise ConfigError("reweighting needs either one frozen bias or the staged biases, not both")
    walker = np.zeros(H.size, dtype=np.int64) if walker is None else np.asarray(walker)
    beta0 = 1.0 / (KB_EV_PER_K * t_ref_K)
    betas = 1.0 / (KB_EV_PER_K * temps)
    c = float(H.mean())
    h = H - c
    if solid is None:
        solid = O > o_solid_fraction * n_atoms
    solid = np.asarray(solid, dtype=np.float64)
    if solid.shape != H.shape:
        raise ConfigError(f"the solid labels have shape {solid.shape}, the frames {H.shape}")

    if n_blocks == 1 and n_bootstrap and np.unique(walker).size < 2:
        raise ConfigError("n_blocks = 1 resamples whole walkers, and this run has one: set n_blocks >= 2 "
                          "(blocks of its frames) for its error bars")
    blocks = _blocks(walker, n_blocks)
    n_blk = int(blocks.max()) + 1
    rng = np.random.default_rng(seed)
    m = np.ones((H.size, 1 + n_bootstrap))
    if n_bootstrap:
        draws = rng.integers(0, n_blk, size=(n_bootstrap, n_blk))
        counts = np.stack([np.bincount(d, minlength=n_blk) for d in draws], 1).astype(np.float64)
        m[:, 1:] = counts[blocks]
    Ht, Ot = torch.from_numpy(H), torch.from_numpy(O)
    if stage_biases is None:
        # one frozen bias: ln p(x) = −β0 (H + Φ) + const, the same for every replica
        log_den = -beta0 * (h + bias(Ht, Ot)[0].numpy())
        lw = -betas[:, None] * h[None, :] - log_den[None, :]  # (nT, F)
        E = np.exp(lw - lw.max(1, keepdims=True))
        z, s1, s2, ss, ww = _moments(E, m, h, solid)
    else:
        u_kn = beta0 * (h + bias_values(stage_biases, Ht, Ot))  # (K, F)
        parts = []
        f_full = None
        with Progress(m.shape[1], "MBAR, estimate and bootstrap", "replica") as bar:
            for r in range(m.shape[1]):  # MBAR again for every replica: the f_k carry their own error
                log_den, f = mbar_log_density(u_kn, stage, m[:, r], f_full)
                if r == 0:
                    f_full = f
                lw = -betas[:, None] * h[None, :] - log_den[None, :]
                E = np.exp(lw - lw.max(1, keepdims=True))
                parts.append(_moments(E, m[:, r:r + 1], h, solid))
                bar.update()
        z, s1, s2, ss, ww = (np.concatenate([p[i] for p in parts], 1) for i in range(5))
    mean = s1 / z
    var = np.maximum(s2 / z - mean * mean, 0.0)
    kT = (KB_EV_PER_K * temps)[:, None]
    cp = var / (n_atoms * kT * kT)
    ps = ss / z
    with np.errstate(divide="ignore", invalid="ignore"):
        dg = -kT * np.log(ps / (1.0 - ps)) / n_atoms
    dg[~np.isfinite(dg)] = np.nan
    n_eff = z[:, 0] ** 2 / ww[:, 0]

    def err(a):
        if n_bootstrap < 2:
            return np.full(len(temps), np.nan)
        reps = a[:, 1:]
        good = np.isfinite(reps)
        n = good.sum(1)
        mu = np.where(good, reps, 0.0).sum(1) / np.maximum(n, 1)
        v = np.where(good, (reps - mu[:, None]) ** 2, 0.0).sum(1) / np.maximum(n - 1, 1)
        return np.where(n > 1, np.sqrt(v), np.nan)

    table = pd.DataFrame({
        "temperature_K": temps,
        "enthalpy_eV_per_atom": (mean[:, 0] + c) / n_atoms, "enthalpy_err_eV_per_atom": err(mean) / n_atoms,
        "cp_config_kB_per_atom": cp[:, 0], "cp_config_err_kB_per_atom": err(cp),
        "p_solid": ps[:, 0], "p_solid_err": err(ps),
        "delta_g_eV_per_atom": dg[:, 0], "delta_g_err_eV_per_atom": err(dg),
        "n_eff": n_eff,
    })
    return table, ps[:, 1:].T


def reweight_store(path, temperatures_K, **settings) -> tuple[pd.DataFrame, dict]:
    """Reweight the MOMT store ``path``; ``settings`` are ``sample.reweight`` keys (the schema's defaults
    fill the rest): its production (frozen-bias) frames, after dropping the first ``skip_fraction`` of
    each walker's production frames (relaxation onto the frozen bias), and with the ``mbar`` estimator
    also the Wang–Landau stages that began with ln f ≤ ``mbar_max_ln_f`` (each without its first
    ``mbar_skip_rounds`` frame rounds). ``estimator``: frozen, mbar or auto (mbar when the run recorded
    stages). ``phase_by``: a frame is solid when more than ``solid_atoms_fraction`` of its atoms are
    solid-like (``solid_atoms``: the q6 bond-order criterion, which sees crystals in any orientation;
    reads the frames' positions) or when O > ``o_solid_fraction`` · N (``order_parameter``). Returns the
    table and the summary (melting temperatures with errors or reasons, run diagnostics).

    The solid/liquid balance is only sampled if walkers cross between the phases in the frames used: with
    fewer than ``min_phase_switches`` crossings, or with a bin of the bias coordinate between the two phases
    holding fewer than ``min_bridge_frames`` frames (:func:`.momt_store.basin_bridge`), the melting estimates
    are withheld (null, and why). With ``crossings_into: perfect_crystal`` (the default) a crossing must
    reach or leave a crystal the cell holds without a defect (FCC starts,
    :func:`.momt_store.perfect_crystal_frames`), not one the liquid froze into in an orientation the cell
    cannot hold."""
    return _reweight_store(path, temperatures_K, settings)[:2]


def _reweight_store(path, temperatures_K, settings: dict):
    """:func:`reweight_store`, also returning the kept frames' metadata, the attrs and the sampling
    density's ingredients (the stage's plots use them: the store is read once)."""
    cfg = default("sample.reweight")
    if set(settings) - set(cfg):
        raise ConfigError(f"unknown reweight settings {sorted(set(settings) - set(cfg))}; know {sorted(cfg)}")
    cfg.update(settings)
    if cfg["crossings_into"] not in ("perfect_crystal", "any_solid"):
        raise ConfigError(f"reweight.crossings_into must be perfect_crystal or any_solid, got "
                          f"{cfg['crossings_into']!r}")
    o_solid_fraction, phase_by = float(cfg["o_solid_fraction"]), str(cfg["phase_by"])
    n_blocks, n_bootstrap, seed = int(cfg["n_blocks"]), int(cfg["n_bootstrap"]), int(cfg["seed"])
    selection = None
    if cfg["estimator"] == "auto":
        sel, selection = choose_estimator(path, temperatures_K, float(cfg["skip_fraction"]),
                                          float(cfg["mbar_max_ln_f"]), int(cfg["mbar_skip_rounds"]))
    else:
        sel = select_frames(path, float(cfg["skip_fraction"]), str(cfg["estimator"]),
                            float(cfg["mbar_max_ln_f"]), int(cfg["mbar_skip_rounds"]))
    meta, attrs = sel["meta"], sel["attrs"]
    if meta["walker"].size == 0:
        raise ConfigError(f"{path}: no frames to reweight (momt.production_fraction = 0 and no stages?)")
    n_atoms = int(attrs["n_atoms"])
    t_ref = float(attrs["settings"]["temperature_K"])
    score = solid_scores(path, sel, phase_by)
    threshold = o_solid_fraction if phase_by == "order_parameter" else float(cfg["solid_atoms_fraction"])
    solid = score > threshold
    band = (threshold - float(cfg["crossing_half_width"]), threshold + float(cfg["crossing_half_width"]))
    if not 0.0 <= band[0] < band[1] <= 1.0:
        raise ConfigError(f"reweight crossing band {band[0]:.2f}-{band[1]:.2f} (solid threshold {threshold} "
                          "+- crossing_half_width) must lie within 0-1, the range of the solid score")
    table, boot = reweight(meta["enthalpy_eV"], bias_coordinate(meta), sel["bias"], t_ref, temperatures_K,
                           n_atoms, o_solid_fraction, meta["walker"], n_blocks, n_bootstrap, seed,
                           sel["stage"], sel["stage_biases"], solid=solid)
    summary = melting_temperature(table, boot, float(cfg["min_n_eff"]))
    grid = sel["bias"] if sel["bias"] is not None else sel["stage_biases"][0]
    history = read_history(attrs)
    ln_f = history.get("ln_f") or []
    fr = int(history.get("freeze_round", 0))
    clipped = int(meta["clipped"].sum())
    production = meta["production"] == 1
    crossings, walkers_crossing = count_basin_crossings(meta["walker"], score, *band)
    # passages between the liquid and a crystal the cell holds without a defect (FCC starts); a liquid
    # frozen into an orientation the cell cannot hold has not reached the solid coexistence measures
    perfect = perfect_crystal_frames(path, sel, float(cfg["perfect_fraction"]))
    into_perfect = (count_basin_crossings(meta["walker"], score, *band, registered=perfect)
                    if perfect is not None else (None, None))
    summary.update({
        "estimator": sel["estimator"], "phase_by": phase_by,
        "bias_coordinate": bias_coordinate_kind(meta, attrs),
        # frames the box-aligned order parameter calls liquid that hold a crystal (solid_atoms only)
        "solid_below_order_cut": (float((solid & (meta["order_parameter"] <= o_solid_fraction * n_atoms))
                                        .mean()) if phase_by == "solid_atoms" else None),
        "n_atoms": n_atoms, "t_ref_K": t_ref, "n_frames_used": int(solid.size),
        "n_production_frames": int(production.sum()),
        "n_frames_total": int(sel["n_total"]), "clipped_production_frames": clipped,
        "ln_f_at_freeze": float(ln_f[fr - 1]) if 0 < fr <= len(ln_f) else None,
        "production_solid_fraction": float(solid[production].mean()) if production.any() else None,
        "solid_fraction_used": float(solid.mean()),
        "production_phase_switches": count_phase_switches(meta["walker"][production], solid[production]),
        "phase_switches_used": count_phase_switches(meta["walker"], solid),
        "basin_crossings_used": crossings, "walkers_crossing": walkers_crossing,
        "crossings_into": str(cfg["crossings_into"]),
        "crossings_into_perfect_crystal": into_perfect[0],
        "walkers_crossing_into_perfect_crystal": into_perfect[1],
        "solid_not_perfect_crystal": (float((solid & ~perfect).sum() / max(int(solid.sum()), 1))
                                      if perfect is not None else None),
        "production_basin_crossings": count_basin_crossings(meta["walker"][production], score[production],
                                                            *band)[0],
        "crossing_band": list(band),
        # frames outside the bias grid's enthalpy range (no deposits there; see Bias2D.__call__)
        "fraction_below_enthalpy_grid": float((meta["enthalpy_eV"] < grid.h_lo).mean()),
        "fraction_above_enthalpy_grid": float((meta["enthalpy_eV"] > grid.h_hi).mean()),
        "bootstrap": {"n_blocks": n_blocks, "n_bootstrap": n_bootstrap, "seed": seed},
    })
    if selection is not None:
        summary["estimator_selection"] = selection
    if sel["estimator"] == "mbar":
        summary["mbar"] = {"n_stages_used": int(len(sel["stage_biases"])), "max_ln_f": sel["max_ln_f"],
                           "skip_rounds": cfg["mbar_skip_rounds"],
                           "stage_start_rounds": sel["stage_start_rounds"]}
    if clipped:
        summary["warning"] = (f"{clipped} frames used were clipped by the safety clip: their weights "
                              "are approximate")
    switches = summary["basin_crossings_used"]
    to_perfect = cfg["crossings_into"] == "perfect_crystal" and into_perfect[0] is not None
    if to_perfect:
        switches = into_perfect[0]
    min_phase_switches = int(cfg["min_phase_switches"])
    bridge = summary["basin_bridge"] = basin_bridge(bias_coordinate(meta), solid, grid.do)
    min_bridge = int(cfg["min_bridge_frames"])
    why = None
    if switches < min_phase_switches:
        where = "under the frozen bias" if sel["estimator"] == "frozen" else "in the stages used"
        what = ("the liquid and a crystal the cell holds without a defect" if to_perfect
                else "solid and liquid")
        other = crossings - switches if to_perfect else 0
        why = (f"the walkers crossed between {what} {switches} times {where} (need "
               f"{min_phase_switches}; a crossing runs from a solid score of at most {band[0]:.2f} to at "
               f"least {band[1]:.2f} or back)"
               + (f", and {other} more times between the liquid and a crystal frozen in an orientation the "
                  "cell cannot hold without a defect (not the solid whose melting point coexistence measures)"
                  if other else "")
               + ": the phase balance was not sampled, so P_solid reflects where they "
               "were when the bias froze; lengthen the Wang-Landau phase (more frames, a smaller grid or a "
               "narrower effective-temperature window)"
               + ("" if sel["estimator"] == "mbar" else ", or record stages (momt.stage_rounds) for MBAR"))
    elif bridge["min_frames_per_bin"] is not None and bridge["min_frames_per_bin"] < min_bridge:
        a, b = bridge["sparsest_bin"]
        why = (f"the solid and liquid basins are not connected along the bias coordinate: "
               f"{bridge['min_frames_per_bin']} frames at O = {a:.1f}-{b:.1f} (need {min_bridge} in every "
               "bin between the two phases), so their relative weight is set by the bias, not sampled; the "
               "walkers must pass between the basins (a smaller cell, a longer Wang-Landau phase)")
    if why is not None:
        for key in ("t_melt_p_solid", "t_melt_cp_peak"):
            if summary[f"{key}_K"] is not None:
                summary[f"{key}_unsupported_K"] = summary[f"{key}_K"]
            summary[f"{key}_K"] = summary[f"{key}_err_K"] = None
            summary[f"{key}_reason"] = why
    return table, summary, meta, attrs, sel


def _log_density(H: np.ndarray, O: np.ndarray, sel: dict, t_ref_K: float, newton: bool = False,
                 stage_bias_eV: np.ndarray | None = None) -> np.ndarray:
    """ln of the density the selected frames were drawn from (up to a constant; H centred). ``newton``:
    solve MBAR by Newton's method from f = 0 (pymbar where it fails), as the estimator choice does;
    ``stage_bias_eV`` (K, F): the stage biases at the frames, if known (:func:`.momt.bias_values`)."""
    beta0 = 1.0 / (KB_EV_PER_K * t_ref_K)
    h = H - H.mean()
    Ht, Ot = torch.from_numpy(H), torch.from_numpy(O)
    if sel["stage_biases"] is None:
        return -beta0 * (h + sel["bias"](Ht, Ot)[0].numpy())
    if stage_bias_eV is None:
        stage_bias_eV = bias_values(sel["stage_biases"], Ht, Ot)
    u_kn = beta0 * (h + stage_bias_eV)
    return mbar_log_density(u_kn, sel["stage"], initial_f_k=np.zeros(len(u_kn)) if newton else None)[0]


def _log_weights(H: np.ndarray, O: np.ndarray, sel: dict, t_ref_K: float, t_K: float,
                 log_den: np.ndarray | None = None) -> np.ndarray:
    """ln w of the selected frames at ``t_K`` (up to a constant), by the selection's estimator."""
    beta = 1.0 / (KB_EV_PER_K * t_K)
    if log_den is None:
        log_den = _log_density(H, O, sel, t_ref_K)
    return -beta * (H - H.mean()) - log_den


def reweight_run(store, out_csv, out_json, png=None, free_energy_png=None, flatness_png=None,
                 cfg: dict | None = None) -> dict:
    """The reweighting stage (workflow rule ``reweight_momt`` and ``nnpdistill sample reweight``): table
    ``out_csv``, summary ``out_json`` (strict JSON), and the plots. ``cfg`` is the element's
    ``sample.reweight`` mapping (schema keys; missing → defaults)."""
    from ..io_utils import atomic_path
    from .plotting import plot_flatness, plot_free_energy, plot_reweight

    cfg = {**default("sample.reweight"), **(cfg or {})}  # the schema's defaults under what is given
    temps = np.linspace(float(cfg["t_min_K"]), float(cfg["t_max_K"]), int(cfg["n_temperatures"]))
    table, summary, meta, attrs, sel = _reweight_store(
        store, temps, {k: v for k, v in cfg.items() if k not in ("t_min_K", "t_max_K", "n_temperatures")})
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    write_strict_json(summary, out_json)
    if png is not None:
        plot_reweight(table, png, summary)
    if free_energy_png is not None:
        t_ref = float(attrs["settings"]["temperature_K"])
        t_fes = summary["t_melt_p_solid_K"] or t_ref
        H, O = meta["enthalpy_eV"], bias_coordinate(meta)
        lw = _log_weights(H, O, sel, t_ref, t_fes, log_den=_log_density(H, O, sel, t_ref, newton=True))
        plot_free_energy(H, O, np.exp(lw - lw.max()), int(attrs["n_atoms"]), t_fes, free_energy_png,
                         order_label=ORDER_AXIS_LABEL[bias_coordinate_kind(meta, attrs)])
    if flatness_png is not None:
        plot_flatness(read_history(attrs), flatness_png)
    return summary
