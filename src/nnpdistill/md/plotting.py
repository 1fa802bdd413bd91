"""Sampling figures (matplotlib Agg): energy per atom against frame for NPT-from-FCC, NPT-from-liquid and
MOMT (the paper's Figure S1), the (H, O) visit map, the final bias surface, T_eff over the run, and the
reweighting curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    from ..io_utils import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    _plt().close(fig)


def plot_sampling(stores: dict[str, str | os.PathLike], energy_png, visits_png, bias_png, teff_png) -> None:
    """``stores`` maps method (npt_fcc, npt_liq, momt) to frame-store paths of one element and size."""
    from ..frames import FrameStore
    from .momt_store import ORDER_AXIS_LABEL, bias_coordinate, bias_coordinate_kind
    from .run import read_bias

    plt = _plt()
    data = {}
    for method, path in stores.items():
        with FrameStore(path) as st:
            fr = st.read()
            data[method] = (fr, st.attrs)
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {"npt_fcc": "tab:blue", "npt_liq": "tab:red", "momt": "tab:green"}
    labels = {"npt_fcc": "NPT from FCC", "npt_liq": "NPT from liquid", "momt": "MOMT"}
    # conventional runs first, MOMT on top; one MOMT walker as a line shows its solid <-> liquid trips
    order = sorted(data, key=lambda m: m == "momt")
    # markers that stay visible from a few dozen frames (smoke) to 20,000 (paper): 5 pt down to 1.2 pt
    ms = float(np.clip(40.0 / np.sqrt(max(max(len(d[0]) for d in data.values()), 1)), 1.2, 5.0))
    for method in order:
        fr, _ = data[method]
        ax.plot(np.arange(len(fr)), fr.energy / fr.n_atoms, "o", ms=ms, mew=0, alpha=0.5,
                color=colors.get(method), label=labels.get(method, method))
    if "momt" in data and "walker" in data["momt"][0].meta:
        fr = data["momt"][0]
        mine = np.flatnonzero(fr.meta["walker"] == fr.meta["walker"][0])
        ax.plot(mine, fr.energy[mine] / fr.n_atoms, "-", lw=0.7, color="darkgreen",
                label="MOMT, one walker")
    ax.set_xlabel("frame")
    ax.set_ylabel("EAM energy (eV/atom)")
    ax.legend(markerscale=max(1.0, 7.0 / ms), loc="best")
    ax.set_title("Sampled energies (cf. paper Fig. S1)")
    fig.tight_layout()
    _save(fig, energy_png)

    fr, attrs = data["momt"]
    n = fr.n_atoms
    fig, ax = plt.subplots(figsize=(6, 4.5))
    o_label = ORDER_AXIS_LABEL[bias_coordinate_kind(fr.meta, attrs)]
    hb = ax.hist2d(fr.meta["enthalpy_eV"] / n, bias_coordinate(fr.meta) / n, bins=60, cmap="viridis",
                   cmin=1)
    fig.colorbar(hb[3], ax=ax, label="frames")
    ax.set_xlabel("H/N (eV/atom)")
    ax.set_ylabel(o_label)
    ax.set_title("MOMT visits in (H, O)")
    fig.tight_layout()
    _save(fig, visits_png)

    bias, _ = read_bias(attrs)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    hh, oo = bias.h_nodes.numpy() / n, bias.o_nodes.numpy() / n
    cs = ax.contourf(hh, oo, bias.on_nodes().numpy().T, levels=30, cmap="magma")
    fig.colorbar(cs, ax=ax, label="ΔH (eV)")
    ax.set_xlabel("H/N (eV/atom)")
    ax.set_ylabel(o_label)
    ax.set_title("Final MOMT bias")
    fig.tight_layout()
    _save(fig, bias_png)

    fig, ax = plt.subplots(figsize=(7, 4))
    walker = fr.meta["walker"]
    for w in np.unique(walker)[:8]:
        sel = walker == w
        ax.plot(fr.meta["step"][sel], fr.meta["t_eff_K"][sel], lw=0.6)
    ax.set_xlabel("MD step")
    ax.set_ylabel("T_eff (K)")
    ax.set_title("MOMT effective temperature (first 8 walkers)")
    fig.tight_layout()
    _save(fig, teff_png)


def plot_reweight(table, png, t_melt: dict | None = None, reference: dict | None = None) -> None:
    """⟨H⟩(T), C_P(T), P_solid(T) and ΔG(T) with bootstrap error bands; the MOMT melting estimate as a
    dashed line, the coexistence reference (``reference``: t_melt_K, t_melt_err_K) as a grey band; the
    temperatures with too few effective frames shaded."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    t = table["temperature_K"].to_numpy()
    cols = [("enthalpy_eV_per_atom", "enthalpy_err_eV_per_atom", "⟨H⟩/N (eV/atom)"),
            ("cp_config_kB_per_atom", "cp_config_err_kB_per_atom", "C_P,config/N (k_B)"),
            ("p_solid", "p_solid_err", "P(solid)"),
            ("delta_g_eV_per_atom", "delta_g_err_eV_per_atom", "G_solid − G_liquid (eV/atom)")]
    for ax, (col, err, label) in zip(axes, cols, strict=True):
        y = table[col].to_numpy()
        ax.plot(t, y, color="tab:blue")
        if err in table:
            e = np.nan_to_num(table[err].to_numpy())
            ax.fill_between(t, y - e, y + e, color="tab:blue", alpha=0.25, lw=0)
        ax.set_ylabel(label)
        ax.set_xlabel("T (K)")
        ax.set_xlim(t[0], t[-1])
        if not np.isfinite(y).any():  # e.g. ΔG when the frames hold one phase only: say so, not a blank
            ax.text(0.5, 0.5, "no finite values: one phase only,\nor too few effective frames",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.3")
    axes[3].axhline(0.0, color="k", lw=0.5)
    tm = (t_melt or {}).get("t_melt_p_solid_K")
    lo_hi = (t_melt or {}).get("supported_range_K")
    for ax in axes:
        if tm is not None:
            ax.axvline(tm, color="tab:green", ls="--", lw=1, label="MOMT T_m")
        if reference and reference.get("t_melt_K") is not None:
            r, e = reference["t_melt_K"], reference.get("t_melt_err_K") or 0.0
            ax.axvspan(r - e, r + e, color="gray", alpha=0.35, lw=0, label="coexistence T_m")
        if lo_hi:
            ax.axvspan(t[0], lo_hi[0], color="k", alpha=0.08, lw=0)
            ax.axvspan(lo_hi[1], t[-1], color="k", alpha=0.08, lw=0)
    if tm is not None or reference:
        axes[2].legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, png)


def plot_free_energy(enthalpy_eV, order, weights, n_atoms: int, temperature_K: float, png,
                     bins: int = 40, order_label: str = "O/N") -> None:
    """−k_B T ln P(H, O) at ``temperature_K`` from reweighted frames (weights (F,)), in eV, zero at its
    minimum: the solid and liquid basins and the barrier between them. ``order_label``: the O axis."""
    from ..units import KB_EV_PER_K

    plt = _plt()
    hist, he, oe = np.histogram2d(np.asarray(enthalpy_eV) / n_atoms, np.asarray(order) / n_atoms, bins=bins,
                                  weights=weights)
    with np.errstate(divide="ignore"):
        f = -KB_EV_PER_K * temperature_K * np.log(hist / hist.sum())
    f -= np.nanmin(f[np.isfinite(f)])
    f[~np.isfinite(f)] = np.nan
    fig, ax = plt.subplots(figsize=(6, 4.5))
    m = ax.pcolormesh(he, oe, f.T, cmap="viridis", shading="flat")
    fig.colorbar(m, ax=ax, label="free energy (eV)")
    ax.set_xlabel("H/N (eV/atom)")
    ax.set_ylabel(order_label)
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))  # eV/atom ticks are wide: five fit without overlap
    ax.set_title(f"−k_B T ln P(H, O) at {temperature_K:.0f} K")
    fig.tight_layout()
    _save(fig, png)


def plot_flatness(history: dict, png) -> None:
    """ln f and the stage histogram's flatness (min/mean) per frame round, the freeze marked; and the
    production visit histogram in (H, O) nodes."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ln_f = np.asarray(history.get("ln_f", []), dtype=float)
    fl = np.asarray(history.get("flatness", []), dtype=float)
    fr = int(history.get("freeze_round", len(ln_f)))
    r = np.arange(len(ln_f))
    ax = axes[0]
    ax.semilogy(r[:fr], np.maximum(ln_f[:fr], 1e-12), color="tab:red", label="ln f")
    ax.set_xlabel("frame round")
    ax.set_ylabel("ln f")
    ax2 = ax.twinx()
    ax2.plot(r[:fr], fl[:fr], color="tab:blue", lw=0.7, label="flatness (min/mean)")
    ax2.set_ylabel("stage histogram min/mean")
    ax2.set_ylim(0, 1)
    ax.axvline(fr, color="k", ls="--", lw=0.8)
    ax.set_title("Wang–Landau phase (bias frozen at the dashed line)")
    pv = np.asarray(history.get("production_visits", [[0]]), dtype=float)
    ax = axes[1]
    m = ax.imshow(np.where(pv > 0, pv, np.nan).T, origin="lower", aspect="auto", cmap="viridis")
    fig.colorbar(m, ax=ax, label="production frames")
    ax.set_xlabel("H node")
    ax.set_ylabel("O node")
    vis = pv[pv > 0]
    ax.set_title(f"production visits (min/mean {vis.min() / vis.mean():.2f} over visited)" if vis.size
                 else "no production visits")
    fig.tight_layout()
    _save(fig, png)


def plot_coexistence(series, summary: dict, png) -> None:
    """Temperature and solid fraction against time in the NPH coexistence run, T_m and its window."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    t = series["time_ps"]
    axes[0].plot(t, series["temperature_K"], lw=0.6)
    axes[0].set_ylabel("T (K)")
    if summary.get("t_melt_K") is not None:
        axes[0].axhline(summary["t_melt_K"], color="tab:green", ls="--",
                        label=f"T_m = {summary['t_melt_K']:.0f} ± {summary['t_melt_err_K']:.0f} K")
        axes[0].legend(fontsize=8)
    axes[1].plot(t, series["solid_fraction"], lw=0.8)
    axes[1].set_ylabel("solid fraction (slabs)")
    axes[1].set_ylim(-0.04, 1.04)  # a run that stays all solid (1) or all liquid (0) stays visible
    for ax in axes:
        ax.set_xlabel("NPH time (ps)")
        ax.axvline(float(t.iloc[len(t) // 2]), color="gray", lw=0.6)
    fig.suptitle(f"{summary.get('element', '')} solid–liquid coexistence, {summary.get('n_atoms', '')} atoms")
    fig.tight_layout()
    _save(fig, png)
