"""How well one distilled set serves other metals: the transfer table (issue 19).

One row per target metal: the ensemble trained on the source's distilled frames translated to it,
judged on the target's own MOMT pool beside a control trained on as many of the target's own frames,
and its FCC/BCC/HCP (c/a = √3) crystals against the target's EAM. The targets (README, docs/campaign):
pool MAE of the translated ensemble at most ``MAE_RATIO_TARGET`` × the control's (FCC metals: at most
``MAE_RATIO_TARGET_FCC`` ×), crystals within ``NN_TARGET_A`` and ``ENERGY_TARGET_MEV`` of the EAM with
the right energy order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from .io_utils import atomic_path
from .summary import PAPER_COLUMNS, _order, _row_from_crystals

MAE_RATIO_TARGET = 1.5
MAE_RATIO_TARGET_FCC = 1.2
NN_TARGET_A = 0.01
ENERGY_TARGET_MEV = 10.0

COLUMNS = (
    "element", "ground_state", "scale_rule", "scale_factor", "scale_multipliers", "n_frames", "pool",
    "pool_mae_translated_meV_per_atom", "pool_mae_control_meV_per_atom", "mae_ratio", "mae_ratio_target",
    "max_nn_error_A", "max_energy_error_meV_per_atom", "order_right",
    "control_max_nn_error_A", "control_max_energy_error_meV_per_atom", "control_order_right",
    "meets_mae_target", "meets_crystal_target",
    # what limits transfer (transfer_diagnostics): density, phase, offset
    "volume_ratio_translated_to_pool", "mae_solid_meV_per_atom", "mae_liquid_meV_per_atom",
    "mean_error_meV_per_atom", "mae_offset_fitted_meV_per_atom",
    # frames of the target's own pool inside the translated set (translate.native_frames; in n_frames)
    "native_frames",
    # their loss weight relative to a translated frame (translate.native_weight)
    "native_weight",
    # the source's cold crystals in the set (translate.crystal_strains; in n_frames), and their weight
    "crystal_frames", "crystal_weight",
)
SOLID_ORDER = 0.5  # O/N above which a pool frame counts as solid (the reweighting's split)
N_OFFSET_FRAMES = 10  # target frames labelled to fit a per-metal energy offset


def transfer_diagnostics(scores_csv: str | os.PathLike, translated_h5: str | os.PathLike,
                         seed: int = 0) -> dict:
    """What limits a translated ensemble on the target's pool (its ``scores.csv``): the median atomic
    volume of the translated frames over the pool's (density mismatch), the MAE on the pool's solid
    (O/N > 0.5) and liquid frames, the mean signed error (an offset), and the MAE left after an energy
    offset fitted on ``N_OFFSET_FRAMES`` seeded pool frames is removed (what a handful of labelled
    target frames would buy)."""
    import numpy as np

    from .frames import FrameStore

    sc = pd.read_csv(scores_csv)
    err = (sc["energy_pred_eV_per_atom"] - sc["energy_true_eV_per_atom"]).to_numpy() * 1000.0
    solid = (sc["order_parameter"] / sc["n_atoms"]).to_numpy() > SOLID_ORDER
    with FrameStore(translated_h5) as store:
        volumes = np.concatenate([np.abs(np.linalg.det(f.cell)) / f.n_atoms
                                  for f in store.groups(labels=False)])
    pool_volumes = (sc["volume_A3"] / sc["n_atoms"]).to_numpy()
    pick = np.random.default_rng(seed).choice(len(err), size=min(N_OFFSET_FRAMES, len(err)), replace=False)
    return {
        "volume_ratio_translated_to_pool": float(np.median(volumes) / np.median(pool_volumes)),
        "mae_solid_meV_per_atom": float(np.abs(err[solid]).mean()) if solid.any() else float("nan"),
        "mae_liquid_meV_per_atom": float(np.abs(err[~solid]).mean()) if (~solid).any() else float("nan"),
        "mean_error_meV_per_atom": float(err.mean()),
        "mae_offset_fitted_meV_per_atom": float(np.abs(err - err[pick].mean()).mean()),
    }


def _pool_mae(metrics_csv: str | os.PathLike) -> float:
    m = pd.read_csv(metrics_csv)
    return float(m.loc[m["subset"] == "all", "mae_meV_per_atom"].iloc[0])


def _crystal_errors(nnp_csv: str | os.PathLike,
                    eam: Mapping[str, tuple[float, float]]) -> tuple[float, float, bool]:
    """Largest |Δ nn distance| (Å), largest |Δ energy| (meV/atom) over the paper's three structures,
    and whether the energy order is EAM's."""
    row = _row_from_crystals(pd.read_csv(nnp_csv))
    missing = [s for s in PAPER_COLUMNS if s not in row or s not in eam]
    if missing:
        raise ValueError(f"{nnp_csv}: no row for {', '.join(missing)}")
    dnn = max(abs(row[s][0] - eam[s][0]) for s in PAPER_COLUMNS)
    de = max(abs(row[s][1] - eam[s][1]) for s in PAPER_COLUMNS) * 1000.0
    return dnn, de, _order(row) == _order(eam)


def transfer_row(element: str, *, translated_h5, translated_metrics, control_metrics, translated_crystals,
                 control_crystals, eam_crystals, pool: str, translated_scores=None) -> dict:
    """One metal's row of the transfer table (see the module docstring)."""
    from .frames import FrameStore

    eam_table = pd.read_csv(eam_crystals)
    eam = _row_from_crystals(eam_table)
    ground = str(eam_table.sort_values("energy_eV_per_atom").iloc[0]["structure"])
    with FrameStore(translated_h5) as store:
        attrs, n_frames = store.attrs, len(store)
    multipliers = attrs.get("scale_multipliers", [1.0])
    mae_t, mae_c = _pool_mae(translated_metrics), _pool_mae(control_metrics)
    dnn, de, order = _crystal_errors(translated_crystals, eam)
    cdnn, cde, corder = _crystal_errors(control_crystals, eam)
    target = MAE_RATIO_TARGET_FCC if ground == "fcc" else MAE_RATIO_TARGET
    return {
        "element": element, "ground_state": ground, "scale_rule": attrs["scale_rule"],
        "scale_factor": float(attrs["scale_factor"]),
        "scale_multipliers": " ".join(f"{float(m):g}" for m in multipliers), "n_frames": int(n_frames),
        "pool": pool, "pool_mae_translated_meV_per_atom": mae_t, "pool_mae_control_meV_per_atom": mae_c,
        "mae_ratio": mae_t / mae_c, "mae_ratio_target": target,
        "max_nn_error_A": dnn, "max_energy_error_meV_per_atom": de, "order_right": order,
        "control_max_nn_error_A": cdnn, "control_max_energy_error_meV_per_atom": cde,
        "control_order_right": corder,
        "meets_mae_target": mae_t / mae_c <= target,
        "meets_crystal_target": dnn <= NN_TARGET_A and de <= ENERGY_TARGET_MEV and order,
        **(transfer_diagnostics(translated_scores, translated_h5) if translated_scores is not None else {}),
        "native_frames": int(attrs.get("native_frames", 0)),
        "native_weight": float(attrs.get("native_weight", 1.0)),
        "crystal_frames": int(attrs.get("crystal_frames", 0)),
        "crystal_weight": float(attrs.get("crystal_weight", 1.0)),
    }


def _frames_cell(r) -> str:
    extra = []
    for kind, label in (("native", "native"), ("crystal", "crystals")):
        n = int(r.get(f"{kind}_frames", 0) or 0)
        weight = float(r.get(f"{kind}_weight", 1.0) or 1.0)
        if n:
            extra.append(f"{n} {label}" + (f" (weight {weight:g})" if weight != 1.0 else ""))
    if not extra:
        return str(r["n_frames"])
    translated = int(r["n_frames"]) - sum(int(r.get(f"{k}_frames", 0) or 0) for k in ("native", "crystal"))
    return " + ".join([str(translated), *extra])


def transfer_markdown(table: pd.DataFrame, source: str) -> str:
    lines = [
        f"### Transfer of the distilled {source} frames to other metals",
        "",
        "| metal | ground state | factor (rule) × multipliers | frames | pool MAE translated / control "
        "(meV/atom) | ratio (target) | crystals: max Δnn (Å) / ΔE (meV/atom), order | control's crystals |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        ok = "✓" if r["meets_mae_target"] else "✗"
        crystal_ok = "✓" if r["meets_crystal_target"] else "✗"
        order = "right" if r["order_right"] else "wrong"
        control_order = "right" if r["control_order_right"] else "wrong"
        cells = [
            r["element"],
            r["ground_state"],
            f"{r['scale_factor']:.3f} ({r['scale_rule']}) × {r['scale_multipliers']}",
            _frames_cell(r),
            f"{r['pool_mae_translated_meV_per_atom']:.2f} / {r['pool_mae_control_meV_per_atom']:.2f}",
            f"{r['mae_ratio']:.2f} (≤ {r['mae_ratio_target']:.1f}) {ok}",
            f"{r['max_nn_error_A']:.3f} / {r['max_energy_error_meV_per_atom']:.1f}, {order} {crystal_ok}",
            f"{r['control_max_nn_error_A']:.3f} / {r['control_max_energy_error_meV_per_atom']:.1f}, "
            f"{control_order}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    n = len(table)
    lines += [
        "",
        f"Targets: pool MAE ratio ≤ {MAE_RATIO_TARGET_FCC} (FCC) / ≤ {MAE_RATIO_TARGET} (others): "
        f"{int(table['meets_mae_target'].sum())} of {n} met; crystals within {NN_TARGET_A} Å and "
        f"{ENERGY_TARGET_MEV:g} meV/atom of the EAM with the right order (FCC, BCC, HCP c/a = √3): "
        f"{int(table['meets_crystal_target'].sum())} of {n} met.",
        "",
    ]
    return "\n".join(lines)


def write_transfer_table(rows: Sequence[Mapping], out_csv: str | os.PathLike,
                         out_md: str | os.PathLike, source: str) -> pd.DataFrame:
    """``transfer.csv`` (columns ``COLUMNS``) and its Markdown; both written whole or not at all."""
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_md) as tmp:
        with open(tmp, "w") as fh:
            fh.write(transfer_markdown(table, source))
    return table
