"""The melting temperature from a reweighted table (:mod:`.reweight`): where ΔG = 0 (P_solid = ½) and where
C_P peaks, each with a bootstrap error, or ``None`` and a reason in words where the data cannot support it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["combine_seeds", "melting_temperature"]


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


def combine_seeds(summaries: list[dict], key: str = "t_melt_p_solid") -> dict:
    """One melting temperature from independent runs (other master seeds) of one recipe: each summary a
    :func:`melting_temperature` result (``{key}_K``, ``{key}_err_K``, ``{key}_reason``). The
    inverse-variance weighted mean, its internal error 1/sqrt(Σ w), and the Birge ratio
    S = sqrt(χ²/(n − 1)) of the runs about it; the error given is the internal one times max(1, S), the
    rule of the Particle Data Group's averages, so it covers the spread between the runs whenever that
    exceeds what their own error bars say (a bootstrap over a few crossing walkers can understate it).
    Runs whose estimate was withheld are counted and their reasons kept, never averaged; with one usable
    run the spread between runs is unmeasured and ``caution`` says so. Valid JSON throughout."""
    if not summaries:
        raise ValueError("combine_seeds needs at least one melting summary")
    used, withheld = [], []
    for i, s in enumerate(summaries):
        t, e = s.get(f"{key}_K"), s.get(f"{key}_err_K")
        if t is None or e is None or not np.isfinite(t) or not np.isfinite(e) or e <= 0:
            withheld.append({"run": i, "reason": s.get(f"{key}_reason") or "no error bar",
                             "unsupported_K": s.get(f"{key}_unsupported_K")})
        else:
            used.append((i, float(t), float(e)))
    sizes = {s.get("n_atoms") for s in summaries}
    out: dict = {"quantity": key, "n_runs": len(summaries), "n_used": len(used), "withheld": withheld,
                 "n_atoms": sizes.pop() if len(sizes) == 1 else None,
                 "runs": [{"run": i, "t_K": t, "err_K": e} for i, t, e in used],
                 f"{key}_K": None, f"{key}_err_K": None, f"{key}_reason": None,
                 "internal_err_K": None, "chi2": None, "birge_ratio": None,
                 "unweighted_mean_K": None, "standard_error_over_runs_K": None, "caution": None}
    if not used:
        out[f"{key}_reason"] = f"none of the {len(summaries)} runs supports an estimate"
        return out
    t = np.array([u[1] for u in used])
    w = 1.0 / np.array([u[2] for u in used]) ** 2
    mean = float((w * t).sum() / w.sum())
    internal = float(1.0 / np.sqrt(w.sum()))
    out.update({f"{key}_K": mean, "internal_err_K": internal, "unweighted_mean_K": float(t.mean())})
    if len(used) == 1:
        out[f"{key}_err_K"] = internal
        some = f" ({len(withheld)} withheld)" if withheld else ""
        out["caution"] = (f"one run supports an estimate{some}: the spread between seeds is not measured, "
                          "and the error bar is that run's own")
        return out
    chi2 = float((w * (t - mean) ** 2).sum())
    birge = float(np.sqrt(chi2 / (len(used) - 1)))
    out.update({"chi2": chi2, "birge_ratio": birge, f"{key}_err_K": internal * max(1.0, birge),
                "standard_error_over_runs_K": float(t.std(ddof=1) / np.sqrt(len(used)))})
    notes = []
    if birge > 1.0:
        notes.append(f"the runs scatter {birge:.1f}x more than their error bars say: the error is scaled by "
                     "that factor")
    if withheld:
        notes.append(f"{len(withheld)} of {len(summaries)} runs withheld: the estimate rests on those that "
                     "crossed")
    out["caution"] = "; ".join(notes) or None
    return out


def combine_melting_files(paths, out_json, reference_json=None) -> dict:
    """:func:`combine_seeds` for ΔG = 0 and the C_P peak over the melting summaries ``paths`` (one per
    seed), written to ``out_json`` with the same top-level keys as one run's summary (so
    :func:`.coexistence.compare_melting` takes it as a row), and with ``reference_json`` (a coexistence
    summary) the relative difference of each. Raises ``ValueError`` naming a file that is not a melting
    summary."""
    import json
    from pathlib import Path

    from ..io_utils import write_strict_json

    summaries = []
    for p in paths:
        try:
            d = json.loads(Path(p).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{p}: not a readable melting summary ({exc})") from exc
        if not isinstance(d, dict) or "t_melt_p_solid_K" not in d:
            raise ValueError(f"{p}: not a melting summary (no t_melt_p_solid_K; written by `nnpdistill "
                             "sample reweight` or rule reweight_momt)")
        summaries.append(d)
    out: dict = {"sources": [str(p) for p in paths]}
    ref = json.loads(Path(reference_json).read_text()).get("t_melt_K") if reference_json else None
    for key in ("t_melt_p_solid", "t_melt_cp_peak"):
        c = combine_seeds(summaries, key)
        for k in (f"{key}_K", f"{key}_err_K", f"{key}_reason"):
            out[k] = c[k]
        if c[f"{key}_K"] is not None and ref:
            c["relative_difference"] = (c[f"{key}_K"] - ref) / ref
            c["difference_in_errors"] = abs(c[f"{key}_K"] - ref) / c[f"{key}_err_K"]
        out[key] = c
        out.setdefault("n_atoms", c["n_atoms"])
    if ref:
        out["reference_t_melt_K"] = ref
    write_strict_json(out, out_json)
    return out
