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
    for method in order:
        fr, _ = data[method]
        ax.plot(np.arange(len(fr)), fr.energy / fr.n_atoms, "o", ms=1.2, mew=0, alpha=0.5,
                color=colors.get(method), label=labels.get(method, method))
    if "momt" in data and "walker" in data["momt"][0].meta:
        fr = data["momt"][0]
        mine = np.flatnonzero(fr.meta["walker"] == fr.meta["walker"][0])
        ax.plot(mine, fr.energy[mine] / fr.n_atoms, "-", lw=0.7, color="darkgreen",
                label="MOMT, one walker")
    ax.set_xlabel("frame")
    ax.set_ylabel("EAM energy (eV/atom)")
    ax.legend(markerscale=6, loc="best")
    ax.set_title("Sampled energies (cf. paper Fig. S1)")
    fig.tight_layout()
    _save(fig, energy_png)

    fr, attrs = data["momt"]
    n = fr.n_atoms
    fig, ax = plt.subplots(figsize=(6, 4.5))
    hb = ax.hist2d(fr.meta["enthalpy_eV"] / n, fr.meta["order_parameter"] / n, bins=60, cmap="viridis",
                   cmin=1)
    fig.colorbar(hb[3], ax=ax, label="frames")
    ax.set_xlabel("H/N (eV/atom)")
    ax.set_ylabel("O/N")
    ax.set_title("MOMT visits in (H, O)")
    fig.tight_layout()
    _save(fig, visits_png)

    bias, _ = read_bias(attrs)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    hh, oo = bias.h_nodes.numpy() / n, bias.o_nodes.numpy() / n
    cs = ax.contourf(hh, oo, bias.on_nodes().numpy().T, levels=30, cmap="magma")
    fig.colorbar(cs, ax=ax, label="ΔH (eV)")
    ax.set_xlabel("H/N (eV/atom)")
    ax.set_ylabel("O/N")
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


def plot_reweight(table, png, t_melt: dict | None = None) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    t = table["temperature_K"]
    axes[0].plot(t, table["enthalpy_eV_per_atom"])
    axes[0].set_ylabel("⟨H⟩/N (eV/atom)")
    axes[1].plot(t, table["cp_config_kB_per_atom"])
    axes[1].set_ylabel("C_P,config/N (k_B)")
    axes[2].plot(t, table["p_solid"])
    axes[2].set_ylabel("P(solid)")
    for ax in axes:
        ax.set_xlabel("T (K)")
        if t_melt and np.isfinite(t_melt.get("t_melt_p_solid_K", np.nan)):
            ax.axvline(t_melt["t_melt_p_solid_K"], color="gray", ls="--", lw=0.8)
    fig.tight_layout()
    _save(fig, png)
