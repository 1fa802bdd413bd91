"""What a MOMT frame store holds for reweighting: its Wang-Landau history, its staged biases, and the
frames each estimator uses (:mod:`nnpdistill.md.reweight` reads stores through these)."""

from __future__ import annotations

import json

import numpy as np
import torch

from ..errors import ConfigError
from .momt import Bias2D


def read_history(attrs: dict) -> dict:
    """The run's ln f per round, flatness, freeze round and production visits (``momt_history_json``)."""
    raw = attrs.get("momt_history_json")
    return json.loads(raw) if isinstance(raw, str) else (raw or {})


def bias_coordinate(meta: dict) -> np.ndarray:
    """The order coordinate the frames' bias acted on: ``bias_order`` when the run biased another one than
    the box-aligned ``order_parameter`` (``momt.order`` q6_bonds), else ``order_parameter``."""
    return meta["bias_order"] if "bias_order" in meta else meta["order_parameter"]


def _run_settings(attrs: dict | None) -> dict:
    """The sampling settings a store's attributes record (a mapping, or its JSON text), else {}."""
    settings = (attrs or {}).get("settings") or {}
    return json.loads(settings) if isinstance(settings, str) else settings


def bias_coordinate_kind(meta: dict, attrs: dict | None = None) -> str:
    """``momt.order`` of the run the frames come from: the store's settings say (``attrs``); without them
    q6_bonds when the frames carry ``bias_order``, else fcc_box."""
    order = (_run_settings(attrs).get("momt") or {}).get("order")
    if order is not None:
        return order
    return "q6_bonds" if "bias_order" in meta else "fcc_box"


# axis label of the bias coordinate per ``momt.order`` (the visit and free-energy plots)
ORDER_AXIS_LABEL = {"fcc_box": "O/N (box-aligned FCC)", "q6_bonds": "q6 bond order O/N",
                    "q6_solid": "solid-like atoms by q6, O/N"}


def count_phase_switches(walker: np.ndarray, solid: np.ndarray) -> int:
    """Changes of the solid/liquid label along each walker's series, flicker at the threshold included."""
    n = 0
    for w in np.unique(walker):
        s = solid[walker == w].astype(np.int8)
        n += int(np.abs(np.diff(s)).sum())
    return n


def count_basin_crossings(walker: np.ndarray, score: np.ndarray, lo: float, hi: float,
                          registered: np.ndarray | None = None) -> tuple[int, int]:
    """Passages between the basins, with hysteresis: a walker crosses when its solid score (the share of
    solid-like atoms, or O/N) goes from at most ``lo`` to at least ``hi`` or back; frames in between keep
    the last basin, so a frame flickering about the solid/liquid threshold does not count. Returns
    (crossings, walkers that crossed at least once). In the tenth run's 256-atom Al the label flickered 190
    times while no walker passed from one basin to the other.

    ``registered`` (F,) bool: which frames hold the solid that counts (:func:`perfect_crystal_frames`: a
    crystal the cell holds without a defect). Then only passages between the liquid and that solid count;
    visits to another solid (a crystal frozen in an orientation the cell cannot hold) are skipped, so
    liquid → other solid → liquid counts nothing and liquid → other solid → perfect crystal counts one."""
    score = np.asarray(score, dtype=float)
    if not lo < hi:
        raise ConfigError(f"basin crossings need lo < hi, got {lo}, {hi}")
    reg = None if registered is None else np.asarray(registered, dtype=bool)
    if reg is not None and reg.shape != score.shape:
        raise ConfigError(f"perfect-crystal labels have shape {reg.shape}, the scores {score.shape}")
    crossings = walkers = 0
    for w in np.unique(walker):
        sel = walker == w
        x = score[sel]
        side = np.where(x >= hi, 1.0, np.where(x <= lo, 0.0, np.nan))
        if reg is not None:
            side[(side == 1.0) & ~reg[sel]] = np.nan  # another solid: neither basin of the count
        side = side[~np.isnan(side)]  # the last basin holds until the other is reached
        n = int(np.count_nonzero(np.diff(side)))
        crossings, walkers = crossings + n, walkers + (n > 0)
    return crossings, walkers


def perfect_crystal_frames(path, sel: dict, fraction: float, chunk_frames: int = 2048) -> np.ndarray | None:
    """Which frames of a selection (:func:`select_frames`) hold a crystal the cell can hold without a
    defect: O/N of the best-fitting FCC orientation (:func:`.order.fitted_order`: the box-aligned one, or
    for a 3×3×3 cell also the crystal turned with its cube edges along <221>) above ``fraction``. A liquid
    frozen into an orientation the cell cannot hold scores near 0 (144 atoms, 3×3×4 cells: at most 0.17,
    against 0.52-0.69 for the start crystal's solid frames, and 12-31 meV/atom more enthalpy at the same
    effective temperature). ``None`` for runs that did not start from FCC."""
    from ..frames import FrameStore
    from .order import fcc_cells, fitted_order

    if (_run_settings(sel["attrs"]).get("structure", "fcc") or "fcc") != "fcc":
        return None
    n_cells = fcc_cells(int(sel["attrs"]["n_atoms"]))
    index = np.asarray(sel["index"], dtype=np.int64)
    fit = np.empty(index.size)
    with FrameStore(path) as st:
        for s in range(0, index.size, chunk_frames):
            fr = st.read(index[s:s + chunk_frames], labels=False, meta=False)
            fit[s:s + chunk_frames] = fitted_order(fr.positions, fr.cell, n_cells)
    return fit > fraction


def basin_bridge(order: np.ndarray, solid: np.ndarray, bin_width: float) -> dict:
    """How the frames used connect the liquid and solid basins along the bias coordinate: the fewest frames
    in any bin (about ``bin_width`` wide, the bias grid's spacing) between the liquid frames' median O and
    the solid frames'. Reweighting sets the basins' relative weight through the frames between them; an
    empty bin means each basin was sampled on its own and their balance is whatever the bias says (256-atom
    Al, tenth run: no frame at O/N = 0.44-0.55 while the solid-atom split still counted 120 switches)."""
    order, solid = np.asarray(order, dtype=float), np.asarray(solid, dtype=bool)
    if solid.all() or not solid.any():
        return {"o_range": None, "bin_width": float(bin_width), "min_frames_per_bin": None,
                "sparsest_bin": None}
    lo, hi = sorted((float(np.median(order[~solid])), float(np.median(order[solid]))))
    edges = np.linspace(lo, hi, max(1, int(np.ceil((hi - lo) / bin_width))) + 1)
    counts = np.histogram(order, edges)[0]
    k = int(np.argmin(counts))
    return {"o_range": [lo, hi], "bin_width": float(edges[1] - edges[0]),
            "min_frames_per_bin": int(counts[k]), "sparsest_bin": [float(edges[k]), float(edges[k + 1])]}


def read_stages(attrs: dict) -> tuple[list[Bias2D], list[int], list[float], int] | None:
    """The staged biases of a MOMT store (``momt_stages_json``): (biases, start rounds, ln f at each start,
    walkers per round), or None for a run without stages."""
    raw = attrs.get("momt_stages_json")
    if raw is None:
        return None
    d = json.loads(raw) if isinstance(raw, str) else raw
    grid = (tuple(d["h_range_eV"]), tuple(d["o_range"]), int(d["n_h"]), int(d["n_o"]))
    biases = [Bias2D(*grid, torch.tensor(st["coef"], dtype=torch.float64),
                     beyond_slopes=st.get("beyond_slopes")) for st in d["stages"]]
    return (biases, [int(st["start_round"]) for st in d["stages"]], [float(st["ln_f"]) for st in d["stages"]],
            int(d["n_walkers"]))


def solid_scores(path, sel: dict, phase_by: str, chunk_frames: int = 512) -> np.ndarray:
    """The solid score of each frame of a selection (:func:`select_frames`): the share of its atoms that
    are solid-like by the orientation-independent q6 criterion (``phase_by="solid_atoms"``,
    :func:`.structure.solid_like_fraction`; positions read a chunk at a time), or O/N (``"order_parameter"``,
    box-aligned: a crystal in another orientation scores as a liquid)."""
    from ..frames import FrameStore
    from ..runtime import Progress
    from .structure import solid_like_fraction

    n_atoms = int(sel["attrs"]["n_atoms"])
    if phase_by == "order_parameter":
        return np.asarray(sel["meta"]["order_parameter"], dtype=float) / n_atoms
    if phase_by != "solid_atoms":
        raise ConfigError(f"reweight phase_by must be solid_atoms or order_parameter, got {phase_by!r}")
    if n_atoms <= 12:
        raise ConfigError(f"{path}: phase_by solid_atoms needs cells of more than 12 atoms (each atom's 12 "
                          f"nearest neighbours), this one has {n_atoms}: use order_parameter")
    index = np.asarray(sel["index"], dtype=np.int64)
    frac = np.empty(index.size)
    with FrameStore(path) as st, Progress(index.size, "solid scores", "frame") as bar:
        for s in range(0, index.size, chunk_frames):
            fr = st.read(index[s:s + chunk_frames], labels=False, meta=False)
            frac[s:s + chunk_frames] = solid_like_fraction(fr.positions, fr.cell)
            bar.update(len(fr.positions))
    return frac


def read_momt_store(path) -> dict:
    """A MOMT store's ``attrs``, every metadata column (``meta``), ``n_total`` and its parsed stages
    (``staged``, :func:`read_stages`), read once; a clear error for a store that is not a MOMT run with a
    production phase."""
    from ..frames import FrameStore

    with FrameStore(path) as st:
        attrs = st.attrs
        if attrs.get("method") != "momt":
            raise ConfigError(f"{path}: reweighting needs a MOMT run, this one is {attrs.get('method')!r}")
        if "production" not in st.meta_names:
            raise ConfigError(f"{path}: the store has no production (frozen-bias) phase; it was made before "
                              "MOMT runs had one: sample it again")
        n_total = len(st)
        meta = {name: np.asarray(st.meta(name)) for name in st.meta_names}
    return {"attrs": attrs, "meta": meta, "n_total": n_total, "staged": read_stages(attrs)}


def select_frames(path, skip_fraction: float, estimator: str = "auto", mbar_max_ln_f: float = 0.25,
                  mbar_skip_rounds: int = 1, store: dict | None = None) -> dict:
    """The frames a reweighting uses, read once: ``meta`` and store ``index`` of the kept frames, ``attrs``,
    ``n_total``,
    ``estimator`` (frozen or mbar), and either ``bias`` (frozen) or ``stage`` (F,) with ``stage_biases``
    (mbar). A clear error for a store that is not a MOMT run or lacks what the estimator needs. ``store``:
    what :func:`read_momt_store` read from ``path`` already."""
    from .run import read_bias

    if not 0 <= skip_fraction < 1:
        raise ConfigError(f"reweight skip_fraction must be in [0, 1), got {skip_fraction}")
    if estimator not in ("auto", "frozen", "mbar"):
        raise ConfigError(f"reweight estimator must be auto, frozen or mbar, got {estimator!r}")
    store = store if store is not None else read_momt_store(path)
    attrs, meta, n_total, staged = store["attrs"], store["meta"], store["n_total"], store["staged"]
    if estimator == "auto":
        estimator = "mbar" if staged is not None else "frozen"
    if estimator == "mbar" and staged is None:
        raise ConfigError(f"{path}: the mbar estimator needs a run with Wang-Landau stages "
                          "(momt.stage_rounds > 0); this one has none: use estimator frozen")
    prod = np.flatnonzero(meta["production"] == 1)
    walker = meta["walker"][prod]
    keep = np.sort(np.concatenate([prod[walker == w][int(skip_fraction * (walker == w).sum()):]
                                   for w in np.unique(walker)] or [prod]))  # none: empty, said by the caller
    out = {"attrs": attrs, "n_total": n_total, "estimator": estimator, "bias": None, "stage": None,
           "stage_biases": None, "stage_start_rounds": None}
    if estimator == "frozen":
        out["bias"] = read_bias(attrs, frozen=True)[0]
        out["meta"] = {k: v[keep] for k, v in meta.items()}
        out["index"] = keep
        return out
    biases, starts, ln_fs, n_walkers = staged
    rounds = np.arange(n_total) // n_walkers
    stage = np.searchsorted(np.asarray(starts), rounds, side="right") - 1
    use = np.array([ln_f <= mbar_max_ln_f for ln_f in ln_fs])
    in_stage = rounds - np.asarray(starts)[stage]
    wl = (meta["production"] == 0) & use[stage] & (in_stage >= int(mbar_skip_rounds))
    keep = np.union1d(keep, np.flatnonzero(wl))
    used = np.unique(stage[keep])
    remap = np.full(len(biases), -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    out["meta"] = {k: v[keep] for k, v in meta.items()}
    out["index"] = keep
    out["stage"] = remap[stage[keep]]
    out["stage_biases"] = [biases[k] for k in used]
    out["stage_start_rounds"] = [starts[k] for k in used]
    out["max_ln_f"] = float(mbar_max_ln_f)
    return out


def choose_estimator(path, temperatures_K, skip_fraction: float, mbar_max_ln_f: float,
                     mbar_skip_rounds: int) -> tuple[dict, list[dict] | None]:
    """``estimator: auto``: the frame selection whose weights are least degenerate. A run without stages
    has one (frozen). With stages, the candidates are MBAR over the stages that began with ln f at most
    ``mbar_max_ln_f``, half that, a quarter, ... (down to the freeze), and the production frames alone
    (frozen); the one with the largest median Kish effective sample size over ``temperatures_K`` wins.
    Stages that changed the bias by many k_B T leave MBAR's stage free energies poorly determined, and a
    handful of their frames then carries all the weight (a 32-atom Al run: n_eff 3-8 with the stages from
    ln f = 0.25, 42-313 from 0.05). Each candidate's MBAR is solved by Newton's method from f = 0 (8 steps,
    5 s on a 144-atom run's 151 stages, where pymbar took 15-19 s; pymbar where Newton fails); the chosen
    selection's estimate is pymbar's (:func:`.reweight.reweight`). Returns the chosen selection and every
    candidate's figures."""
    from .momt import bias_values
    from .reweight import _log_density, _log_weights

    store = read_momt_store(path)  # once for every candidate
    if store["staged"] is None:
        return select_frames(path, skip_fraction, "frozen", store=store), None
    freeze_ln_f = min(store["staged"][2])
    limits, m = [], float(mbar_max_ln_f)
    while m >= freeze_ln_f and len(limits) < 12:
        limits.append(m)
        m /= 2.0
    temps = np.asarray(temperatures_K, dtype=np.float64)
    best, best_score, rows = None, -np.inf, []
    first = None  # the widest candidate's stage biases at its frames: later candidates are subsets of both
    for est, limit in [("mbar", lim) for lim in limits] + [("frozen", None)]:
        sel = select_frames(path, skip_fraction, est, limit or mbar_max_ln_f, mbar_skip_rounds, store=store)
        H, O = sel["meta"]["enthalpy_eV"], bias_coordinate(sel["meta"])
        t_ref = float(sel["attrs"]["settings"]["temperature_K"])
        values = None
        if est == "mbar":
            if first is None:
                first = (sel["index"], sel["stage_start_rounds"], bias_values(sel["stage_biases"], H, O))
            cols = np.minimum(np.searchsorted(first[0], sel["index"]), len(first[0]) - 1)
            krows = np.minimum(np.searchsorted(first[1], sel["stage_start_rounds"]), len(first[1]) - 1)
            if (np.array_equal(first[0][cols], sel["index"])
                    and np.array_equal(np.asarray(first[1])[krows], sel["stage_start_rounds"])):
                values = first[2][np.ix_(krows, cols)]
        ld = _log_density(H, O, sel, t_ref, newton=True, stage_bias_eV=values)  # MBAR by Newton, once each
        n_eff = np.array([_kish(_log_weights(H, O, sel, t_ref, t, log_den=ld)) for t in temps])
        row = {"estimator": est, "mbar_max_ln_f": limit, "n_frames": int(H.size),
               "n_stages": None if est == "frozen" else len(sel["stage_biases"]),
               "median_n_eff": float(np.median(n_eff)), "min_n_eff": float(n_eff.min())}
        rows.append(row)
        if row["median_n_eff"] > best_score:
            best, best_score = sel, row["median_n_eff"]
    for row in rows:
        row["chosen"] = (row["estimator"] == best["estimator"]
                         and (row["mbar_max_ln_f"] == best.get("max_ln_f") or row["estimator"] == "frozen"))
    return best, rows


def _kish(lw: np.ndarray) -> float:
    w = np.exp(lw - lw.max())
    return float(w.sum() ** 2 / (w * w).sum())
