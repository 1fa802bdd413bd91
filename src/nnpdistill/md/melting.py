"""The melting temperature from a reweighted table (:mod:`.reweight`): where ΔG = 0 (P_solid = ½) and where
C_P peaks, each with a bootstrap error, or ``None`` and a reason in words where the data cannot support it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["melting_temperature"]


def _crossings(t: np.ndarray, y: np.ndarray) -> list[float]:
    """Temperatures where ``y`` changes sign (linear interpolation), ascending."""
    out = []
    ok = np.isfinite(y)
    for i in range(len(t) - 1):
        if not (ok[i] and ok[i + 1]):
            continue
        if y[i] == 0:
            out.append(float(t[i]))
        elif y[i] * y[i + 1] < 0:
            out.append(float(t[i] + y[i] * (t[i + 1] - t[i]) / (y[i] - y[i + 1])))
    if len(t) and ok[-1] and y[-1] == 0:
        out.append(float(t[-1]))
    return out


def melting_temperature(table: pd.DataFrame, p_solid_boot: np.ndarray | None = None,
                        min_n_eff: float = 50.0) -> dict:
    """T_melt where ΔG = 0 (P_solid = ½) and where C_P peaks, each with a bootstrap error and, where the
    data cannot support it, ``None`` and a reason. Only temperatures with at least ``min_n_eff``
    effective frames count (outside them reweighting extrapolates and its error bars mean nothing).
    Valid JSON throughout (no NaN)."""
    t = table["temperature_K"].to_numpy()
    p = table["p_solid"].to_numpy()
    n_eff = table["n_eff"].to_numpy()
    ok = n_eff >= min_n_eff
    out: dict = {"t_melt_p_solid_K": None, "t_melt_p_solid_err_K": None, "t_melt_p_solid_reason": None,
                 "t_melt_cp_peak_K": None, "t_melt_cp_peak_err_K": None, "t_melt_cp_peak_reason": None,
                 "min_n_eff": min_n_eff,
                 "supported_range_K": [float(t[ok].min()), float(t[ok].max())] if ok.any() else None}
    if not ok.any():
        why = (f"no temperature in [{t[0]:.0f}, {t[-1]:.0f}] K has {min_n_eff:.0f} effective frames: "
               "the production phase is too short or its bias too far from flat")
        out["t_melt_p_solid_reason"] = out["t_melt_cp_peak_reason"] = why
        return out
    lo, hi = out["supported_range_K"]
    pm = np.where(ok, p - 0.5, np.nan)
    cross = _crossings(t, pm)
    if not cross:
        side = "solid" if np.nanmin(p[ok]) > 0.5 else "liquid"
        out["t_melt_p_solid_reason"] = (f"P_solid never crosses 1/2 where the data support it ({lo:.0f}-"
                                        f"{hi:.0f} K; the system is {side} throughout): sample a wider "
                                        "range of effective temperatures or both phases")
    elif len(cross) > 1:
        out["t_melt_p_solid_reason"] = ("P_solid crosses 1/2 more than once, at "
                                        + ", ".join(f"{x:.0f}" for x in cross) + " K: the production "
                                        "frames do not sample both phases well enough")
    else:
        tm = cross[0]
        out["t_melt_p_solid_K"] = tm
        out["n_eff_at_t_melt"] = float(np.interp(tm, t, n_eff))
        if p_solid_boot is not None and len(p_solid_boot) > 1:
            reps = []
            for row in p_solid_boot:
                c = _crossings(t, np.where(ok, row - 0.5, np.nan))
                if len(c) == 1:
                    reps.append(c[0])
            out["t_melt_p_solid_bootstrap_fraction"] = len(reps) / len(p_solid_boot)
            if len(reps) > 1:
                out["t_melt_p_solid_err_K"] = float(np.std(reps, ddof=1))
            if len(reps) < 0.5 * len(p_solid_boot):  # the crossing leans on thinly sampled temperatures
                out["t_melt_p_solid_caution"] = (
                    f"only {len(reps)} of {len(p_solid_boot)} bootstrap replicas cross 1/2 once inside the "
                    f"supported range ({lo:.0f}-{hi:.0f} K): the error bar comes from those and understates "
                    "the uncertainty; the crossing sits near the edge of the well-sampled temperatures")
    cp = np.where(ok, table["cp_config_kB_per_atom"].to_numpy(), np.nan)
    i = int(np.nanargmax(cp))
    one_phase = np.nanmin(np.abs(pm)) > 0.45  # P_solid within 0.05 of 0 or 1 at every supported T
    if t[i] in (lo, hi):
        out["t_melt_cp_peak_reason"] = (f"the C_P maximum lies at the edge of the supported range "
                                        f"({t[i]:.0f} K of {lo:.0f}-{hi:.0f} K): no peak inside it")
    elif one_phase:  # a peak of one phase's C_P (or of the weights moving between its frames), no latent heat
        out["t_melt_cp_peak_unsupported_K"] = float(t[i])
        out["t_melt_cp_peak_reason"] = (f"one phase carries all the weight at every supported temperature "
                                        f"(P_solid {np.nanmin(p[ok]):.2f}-{np.nanmax(p[ok]):.2f}): the C_P "
                                        f"maximum at {t[i]:.0f} K holds no latent heat, it is not melting")
    else:
        out["t_melt_cp_peak_K"] = float(t[i])
        hw = table.get("cp_config_err_kB_per_atom")
        if hw is not None and np.isfinite(hw.iloc[i]):
            # peak position uncertainty: the temperatures whose C_P is within one error bar of the peak
            near = t[ok & (cp + np.nan_to_num(hw.to_numpy()) >= cp[i] - hw.iloc[i])]
            out["t_melt_cp_peak_err_K"] = float(0.5 * (near.max() - near.min()))
    return out
