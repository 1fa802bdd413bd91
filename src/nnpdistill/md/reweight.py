"""Reweighting a MOMT run with its final (frozen) bias to canonical NPT averages at any temperature.

ln w_i = β0 (H_i + ΔH(H_i, O_i)) − β H_i, ⟨A⟩_T = Σ w_i A_i / Σ w_i (H = U + P0 V, potential enthalpy).
Outputs per temperature: ⟨H⟩/N (eV/atom), configurational C_P/N = Var(H)/(N k_B T²) (k_B per atom; add
3/2 for the kinetic part), the probability of the solid phase P(O > o_solid_fraction·N), and the effective
sample size. The EAM's melting temperature is where P_solid crosses 1/2 (and near the C_P peak).
Caveat: the bias changed while frames were recorded and T_eff was clipped, so this is an estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError
from ..units import KB_EV_PER_K
from .momt import Bias2D


def reweight(enthalpy_eV: np.ndarray, order: np.ndarray, bias: Bias2D, t_ref_K: float, temperatures_K,
             n_atoms: int, o_solid_fraction: float = 0.5) -> pd.DataFrame:
    """Canonical averages at ``temperatures_K`` from MOMT frames (H (F,) eV, O (F,))."""
    H = np.asarray(enthalpy_eV, dtype=np.float64)
    O = np.asarray(order, dtype=np.float64)
    if H.size == 0 or H.shape != O.shape:
        raise ConfigError(f"reweighting needs matching non-empty H and O arrays, got {H.shape} and {O.shape}")
    temps = np.asarray(temperatures_K, dtype=np.float64)
    if temps.size == 0 or np.any(temps <= 0):
        raise ConfigError(f"reweighting temperatures must be positive and non-empty, got {temps}")
    dH = bias(torch.from_numpy(H), torch.from_numpy(O))[0].numpy()
    beta0 = 1.0 / (KB_EV_PER_K * t_ref_K)
    solid = (O > o_solid_fraction * n_atoms).astype(np.float64)
    rows = []
    for T in temps:
        beta = 1.0 / (KB_EV_PER_K * T)
        lw = beta0 * (H + dH) - beta * H
        w = np.exp(lw - lw.max())
        w /= w.sum()
        h_mean = float(np.sum(w * H))
        h_var = float(np.sum(w * (H - h_mean) ** 2))
        rows.append({"temperature_K": T, "enthalpy_eV_per_atom": h_mean / n_atoms,
                     "cp_config_kB_per_atom": h_var / (n_atoms * (KB_EV_PER_K * T) ** 2),
                     "p_solid": float(np.sum(w * solid)), "n_eff": float(1.0 / np.sum(w * w))})
    return pd.DataFrame(rows)


def melting_temperature(table: pd.DataFrame) -> dict:
    """T where P_solid crosses 1/2 (linear interpolation; NaN if it never does) and T of the C_P peak."""
    t = table["temperature_K"].to_numpy()
    p = table["p_solid"].to_numpy()
    t_half = float("nan")
    for i in range(len(t) - 1):
        if (p[i] - 0.5) * (p[i + 1] - 0.5) <= 0 and p[i] != p[i + 1]:
            t_half = float(t[i] + (0.5 - p[i]) * (t[i + 1] - t[i]) / (p[i + 1] - p[i]))
            break
    t_cp = float(t[int(np.argmax(table["cp_config_kB_per_atom"].to_numpy()))])
    return {"t_melt_p_solid_K": t_half, "t_melt_cp_peak_K": t_cp}


def reweight_store(path, temperatures_K, skip_fraction: float = 0.25, o_solid_fraction: float = 0.5):
    """Reweight the MOMT frame store ``path`` (its final bias) after dropping the first ``skip_fraction``
    of frames (recorded while ln f was large). Returns (table, melting-temperature dict)."""
    from ..frames import FrameStore
    from .run import read_bias

    if not 0 <= skip_fraction < 1:
        raise ConfigError(f"reweight skip_fraction must be in [0, 1), got {skip_fraction}")
    with FrameStore(path) as st:
        attrs = st.attrs
        fr = st.read()
    if attrs.get("method") != "momt":
        raise ConfigError(f"{path}: reweighting needs a MOMT run, this one is {attrs.get('method')!r}")
    bias, _ = read_bias(attrs)
    start = int(skip_fraction * len(fr))
    table = reweight(fr.meta["enthalpy_eV"][start:], fr.meta["order_parameter"][start:], bias,
                     float(attrs["settings"]["temperature_K"]), temperatures_K, fr.n_atoms, o_solid_fraction)
    return table, melting_temperature(table)
