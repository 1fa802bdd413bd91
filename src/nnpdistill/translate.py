"""Cross-element translation: scale frames of one metal to another's size, relabel, label with its EAM.

The paper scales nickel frames by the ratio of the FCC lattice constants (4.05/3.52 ≈ 1.15 for
Ni → Al). For a target whose ground state is not FCC (Nb is BCC) the ratio of ground-state atomic
volumes (cube root) is the natural choice. Rules (config ``translate.scale_rule``):

- ``fcc_lattice``: (V_fcc,target / V_fcc,source)^(1/3), i.e. the FCC lattice-constant ratio;
- ``ground_state_volume``: (V_gs,target / V_gs,source)^(1/3), ground state = lowest-energy structure;
- ``auto`` (default): ``fcc_lattice`` when both ground states are FCC, else ``ground_state_volume``;
- ``pressure_match``: the factor at which the translated frames' mean virial pressure under the
  target's EAM equals the source frames' mean virial pressure under the source's (their own stress
  labels). The source frames were sampled at the source's 1 bar; this puts them at the same mechanical
  state in the target rather than at a 0 K volume ratio, which ignores how differently the two
  potentials expand when hot and when molten. It needs only the two potentials and the source frames
  (no sampling of the target): a secant search from the ``auto`` factor, a few EAM labellings.

Scaling multiplies cell and Cartesian positions by the same factor, so fractional coordinates are
unchanged; every label (energy, forces, per-atom energies, stress) comes from the target's EAM.

Cold crystals (``translate.crystal_strains``, off by default): the source's own FCC, BCC and HCP
(c/a = √(8/3) and the paper's √3) cells at the source EAM's relaxed volume of each, at every linear strain,
translated with the same factor and labelled by the target's EAM like every other frame, so the set
holds the E(V) curves of the crystals next to the hot distilled frames (no sampling of the target).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import NNPDistillError
from .units import GPA_EV_PER_A3

if TYPE_CHECKING:  # pragma: no cover
    from .frames import Frames

SCALE_RULES: tuple[str, ...] = ("auto", "fcc_lattice", "ground_state_volume", "pressure_match")
# the source's cold crystals added with translate.crystal_strains (crystals.build_crystal's names)
CRYSTAL_FRAME_STRUCTURES: tuple[str, ...] = ("fcc", "bcc", "hcp", "hcp_ideal")
NO_CRYSTAL = "none"  # crystal_structure meta of the frames that are not cold crystals


def _volume(table: pd.DataFrame, structure: str) -> float:
    rows = table.loc[table["structure"] == structure, "volume_A3_per_atom"]
    if rows.empty:
        raise NNPDistillError(f"crystal table has no {structure!r} row")
    return float(rows.iloc[0])


def ground_state(table: pd.DataFrame) -> str:
    """The lowest-energy structure of a crystal table (``crystals.csv``)."""
    return str(table.loc[table["energy_eV_per_atom"].idxmin(), "structure"])


def scale_factor(source: pd.DataFrame, target: pd.DataFrame, rule: str = "auto") -> tuple[float, str]:
    """Length scale factor source → target from two ``crystals.csv`` tables, and the rule used."""
    if rule not in SCALE_RULES:
        raise NNPDistillError(f"unknown scale rule {rule!r}; choose one of {', '.join(SCALE_RULES)}")
    if rule == "pressure_match":
        raise NNPDistillError("the pressure_match rule needs the frames and the target's EAM: "
                              "use pressure_matched_factor (translate_dataset does)")
    if rule == "auto":
        both_fcc = ground_state(source) == "fcc" and ground_state(target) == "fcc"
        rule = "fcc_lattice" if both_fcc else "ground_state_volume"
    if rule == "fcc_lattice":
        ratio = _volume(target, "fcc") / _volume(source, "fcc")
    else:
        ratio = _volume(target, ground_state(target)) / _volume(source, ground_state(source))
    return float(ratio ** (1.0 / 3.0)), rule


def translate_frames(frames: Frames, factor: float, atomic_number: int) -> Frames:
    """Scale cell and positions by ``factor`` and relabel every atom; labels are dropped."""
    from .frames import Frames

    if not factor > 0:
        raise NNPDistillError(f"scale factor must be positive, got {factor}")
    meta = {k: v for k, v in frames.meta.items() if k not in ("enthalpy_eV", "volume_A3")}
    meta["volume_A3"] = np.abs(np.linalg.det(frames.cell)) * factor**3
    return Frames(
        numbers=np.full_like(frames.numbers, int(atomic_number)),
        positions=frames.positions * factor,
        cell=frames.cell * factor,
        meta=meta,
    )


def label_frames(frames: Frames, evaluator, batch_frames: int = 64) -> Frames:
    """Energy, forces, per-atom energies and stress of every frame from an EAM evaluator (batched)."""
    import dataclasses

    import torch

    energy, forces, energies, stress = [], [], [], []
    for start in range(0, frames.n_frames, batch_frames):
        part = slice(start, start + batch_frames)
        res = evaluator(torch.as_tensor(frames.positions[part]), torch.as_tensor(frames.cell[part]))
        evaluator.reset()  # replicas of the next batch are unrelated: no stale neighbour list
        energy.append(res.energy.detach().numpy())
        forces.append(res.forces.detach().numpy())
        energies.append(res.energies.detach().numpy())
        stress.append(res.stress.detach().numpy())
    return dataclasses.replace(frames, energy=np.concatenate(energy), forces=np.concatenate(forces),
                               energies=np.concatenate(energies), stress=np.concatenate(stress))


def _mean_pressure(parts: list[Frames]) -> float:
    """Mean virial pressure (eV/Å³, −trace(stress)/3) over every frame of ``parts``."""
    p = np.concatenate([-np.trace(f.stress, axis1=1, axis2=2) / 3.0 for f in parts])
    return float(p.mean())


def pressure_matched_factor(parts: list[Frames], evaluator, atomic_number: int, start: float,
                            tol_GPa: float = 1e-3, max_iter: int = 30) -> tuple[float, list[Frames], float]:
    """Scale factor at which the mean virial pressure of the translated ``parts`` under ``evaluator``
    equals that of ``parts``' own stress labels (source EAM). Secant search from ``start``.

    Returns (factor, the translated and labelled frames at that factor, the matched pressure in eV/Å³).
    """
    if any(f.stress is None for f in parts):
        raise NNPDistillError("the pressure_match rule needs the source frames' stress labels; "
                              "the source frame store has none")
    goal = _mean_pressure(parts)

    def labelled(factor: float) -> tuple[float, list[Frames]]:
        out = [label_frames(translate_frames(f, factor, atomic_number), evaluator) for f in parts]
        return _mean_pressure(out) - goal, out

    a, (fa, _) = start, labelled(start)
    b, (fb, out) = start * 0.99, labelled(start * 0.99)
    for _ in range(max_iter):
        if abs(fb) < tol_GPa * GPA_EV_PER_A3:
            return b, out, goal
        if fb == fa:
            break
        a, fa, b = b, fb, b - fb * (b - a) / (fb - fa)
        if not 0.5 * start < b < 2.0 * start:
            break
        fb, out = labelled(b)
    raise NNPDistillError(f"pressure_match: no scale factor near {start:.4f} gives the source's mean "
                          f"pressure {goal / GPA_EV_PER_A3:.3f} GPa (last factor {b:.4f})")


def at_multipliers(parts: list[Frames], factor: float, multipliers, evaluator,
                   atomic_number: int) -> list[Frames]:
    """Every frame of ``parts`` (already translated at ``factor``, labelled) at each of ``factor`` times
    ``multipliers``, labelled with ``evaluator``: per part, all its frames at the first multiplier,
    then at the next, ...; each frame records its length factor from the source (metadata
    ``scale_factor``)."""
    import dataclasses

    multipliers = [float(m) for m in multipliers]
    if not multipliers or any(not m > 0 for m in multipliers) or len(set(multipliers)) != len(multipliers):
        raise NNPDistillError(f"scale multipliers must be distinct positive numbers, got {multipliers}")
    out = []
    for part in parts:
        for m in multipliers:
            scaled = part if m == 1.0 else label_frames(translate_frames(part, m, atomic_number), evaluator)
            meta = dict(scaled.meta, scale_factor=np.full(scaled.n_frames, factor * m))
            out.append(dataclasses.replace(scaled, meta=meta))
    return out


def crystal_strains_checked(strains) -> list[float]:
    """``strains`` as floats: distinct linear strains within ±0.2, or a clear error."""
    out = [float(x) for x in strains]
    if len(set(out)) != len(out) or any(not (math.isfinite(x) and abs(x) < 0.2) for x in out):
        raise NNPDistillError(f"translate.crystal_strains must be distinct linear strains within ±0.2 "
                              f"(e.g. [-0.03, 0.0, 0.03]), got {out}")
    return out


def source_crystal_frames(source_table: pd.DataFrame, symbol: str, strains) -> list[Frames]:
    """The source's cold crystals, unlabelled: per structure of ``CRYSTAL_FRAME_STRUCTURES`` one
    :class:`Frames` of ``len(strains)`` perfect cells (:func:`nnpdistill.crystals.build_crystal`: 32 FCC,
    54 BCC, 48 HCP atoms) at the source's relaxed atomic volume of that structure (the FCC row's where
    the table has no row, e.g. ``hcp`` skipped), every length scaled by 1 + strain; meta
    ``crystal_structure`` and ``crystal_strain``."""
    from .crystals import build_crystal
    from .frames import Frames

    volumes = dict(zip(source_table["structure"], source_table["volume_A3_per_atom"], strict=True))
    if "fcc" not in volumes:
        raise NNPDistillError("the source's crystal table has no fcc row: cannot build its cold crystals")
    out = []
    for structure in CRYSTAL_FRAME_STRUCTURES:
        a_fcc = (4.0 * float(volumes.get(structure, volumes["fcc"]))) ** (1.0 / 3.0)
        cells = [build_crystal(symbol, structure, a_fcc, strain=x) for x in strains]
        for cell, x in zip(cells, strains, strict=True):
            cell.info.update(crystal_structure=structure, crystal_strain=float(x))
        out.append(Frames.from_atoms(cells, meta_keys=("crystal_structure", "crystal_strain")))
    return out


def _translate_source(source_h5, source_crystals, target_table: pd.DataFrame, eam, evaluator, rule: str,
                      multipliers: list[float], tag_factor: bool = False) -> tuple[list[Frames], dict]:
    """One source store scaled to the target, labelled; and what was done (attrs of the output)."""
    from .frames import FrameStore
    from .io_utils import sha256_file

    factor, used = scale_factor(pd.read_csv(source_crystals), target_table,
                                "auto" if rule == "pressure_match" else rule)
    extra = {}
    with FrameStore(source_h5) as store:
        source_element = store.element
        if rule == "pressure_match":
            factor, parts, goal = pressure_matched_factor(store.groups(labels=True), evaluator,
                                                          eam.atomic_number, factor)
            used, extra = rule, {"matched_pressure_GPa": goal / GPA_EV_PER_A3}
        else:
            parts = [label_frames(translate_frames(f, factor, eam.atomic_number), evaluator)
                     for f in store.groups(labels=False)]
    if multipliers != [1.0] or tag_factor:  # tag_factor: scale_factor meta also at the single factor
        parts = at_multipliers(parts, factor, multipliers, evaluator, eam.atomic_number)
    info = {"source_element": source_element, "source_file": os.path.basename(source_h5),
            "source_sha256": sha256_file(source_h5), "scale_factor": factor, "scale_rule": used,
            **extra, "scale_multipliers": multipliers, "n_frames": int(sum(p.n_frames for p in parts))}
    return parts, info


def _tag_source(parts: list[Frames], symbol: str, keep: set[str]) -> list[Frames]:
    """Frames with their source element as metadata ``source_element``, keeping only the ``keep`` meta."""
    import dataclasses

    return [dataclasses.replace(p, meta={**{k: v for k, v in p.meta.items() if k in keep},
                                         "source_element": np.full(p.n_frames, symbol)})
            for p in parts]


def native_frames(pool_h5, n_frames: int, seed: int) -> tuple[Frames, dict]:
    """``n_frames`` seeded random frames of the target's own (EAM-labelled) pool, with what was drawn."""
    from .frames import FrameStore
    from .io_utils import sha256_file
    from .selection import initial_random

    with FrameStore(pool_h5) as store:
        n_pool = len(store)
        if not 0 < int(n_frames) <= n_pool:
            raise NNPDistillError(f"translate.native_frames = {n_frames}, but the target's pool "
                                  f"{os.path.basename(pool_h5)} holds {n_pool} frames")
        idx = initial_random(n_pool, int(n_frames), int(seed))  # the seeded draw that starts the loop
        frames = store.read(idx)
    info = {"native_frames": int(n_frames), "native_pool": os.path.basename(pool_h5),
            "native_pool_sha256": sha256_file(pool_h5), "native_seed": int(seed),
            "native_indices": idx.tolist()}
    return frames, info


def _with_crystals(parts: list[Frames], info: dict, source_table: pd.DataFrame, first: dict, strains,
                   eam, evaluator) -> tuple[list[Frames], dict]:
    """``parts`` followed by the first source's cold crystals at ``strains``, translated with its factor
    and labelled; the metadata every frame has, ``crystal_structure`` among it; ``info`` updated."""
    factor = float(first["scale_factor"])
    crystals = []
    for c in source_crystal_frames(source_table, first["source_element"], strains):
        c = label_frames(translate_frames(c, factor, eam.atomic_number), evaluator)
        meta = {**c.meta, "scale_factor": factor * (1.0 + c.meta["crystal_strain"])}
        if "source_element" in parts[0].meta:
            meta["source_element"] = np.full(c.n_frames, first["source_element"])
        crystals.append(dataclasses.replace(c, meta=meta))
    parts = [dataclasses.replace(p, meta={**p.meta, "crystal_structure": np.full(p.n_frames, NO_CRYSTAL)})
             for p in parts] + crystals
    keep = set.intersection(*(set(p.meta) for p in parts))
    parts = [dataclasses.replace(p, meta={k: v for k, v in p.meta.items() if k in keep}) for p in parts]
    n_crystal = int(sum(c.n_frames for c in crystals))
    return parts, {**info, "crystal_strains": list(strains),
                   "crystal_structures": list(CRYSTAL_FRAME_STRUCTURES), "crystal_frames": n_crystal,
                   "n_frames": int(sum(p.n_frames for p in parts))}


def translate_dataset(source_h5, source_crystals, target_crystals: str, target_symbol: str,
                      out_h5: str, *, potential: str | None = None, rule: str = "auto",
                      multipliers=(1.0,), native_pool: str | None = None, n_native: int = 0,
                      native_seed: int = 0, native_weight: float = 1.0, crystal_strains=(),
                      crystal_weight: float = 0.05) -> dict:
    """Scale and relabel every frame of ``source_h5`` to ``target_symbol`` and label it with its EAM.

    ``multipliers`` (default ``(1.0,)``, the paper's single factor) puts every frame at each of the
    rule's factor times a multiplier, so one translated set spans a range of densities around the
    target's (e.g. ``(0.97, 1.0, 1.03)``: three times the frames). Returns what was done (factors,
    rule, counts); the same goes into the output file's attributes.

    Several sources (lists of stores and of their crystal tables, e.g. distilled FCC Ni frames and a
    complement of distilled BCC V frames) are each translated with their own factor and written as one
    set: every frame then carries its ``source_element``, the attributes hold the first source's factor
    and rule (the set's primary source) and every source's record under ``sources``, and
    ``source_element`` joins the symbols (``"Ni+V"``).

    ``n_native`` > 0 adds that many seeded random frames of the target's own pool ``native_pool`` (labelled
    by the target's EAM as sampled; :func:`native_frames`): a handful of native frames beside the
    translated ones, which let the NNP learn what translation misses (the target liquid's energy level).
    Every frame then carries ``source_element`` (the target's symbol for the native ones), and the
    metadata both kinds of frame have (``scale_factor`` with multipliers: 1 for the native ones); the
    attributes record the draw (``native_*``). ``native_weight`` ≠ 1 gives every frame a ``loss_weight``
    (the native ones ``native_weight``, the translated ones 1), which member training reads
    (:mod:`nnpdistill.nnp.train`): a handful of native frames then count like more in the loss.

    ``crystal_strains`` (default none: the paper's set) adds the first source's cold crystals at those
    linear strains (:func:`source_crystal_frames`: FCC, BCC, HCP at c/a = √(8/3) and √3, each at the
    source EAM's relaxed volume), translated with that source's factor and labelled by the target's EAM,
    after the other frames. Every frame then carries ``crystal_structure`` (``"none"`` but for these) and
    ``scale_factor`` (the crystals': factor × (1 + strain)); ``crystal_weight`` (default 0.05) is their
    ``loss_weight`` relative to a translated frame, as ``native_weight`` is the native frames'. At weight
    1 the twenty cold crystals of five strains pulled the fit away from the hot frames (Pd: pool MAE
    0.45 → 1.56 meV/atom); at 0.05 they keep the crystals within 0.003 Å and 1.2 meV/atom of the EAM and
    the pool MAE where it was (0.42).
    """
    from .frames import write_frames
    from .potentials import load_eam

    sources = [source_h5] if isinstance(source_h5, (str, os.PathLike)) else list(source_h5)
    tables = [source_crystals] if isinstance(source_crystals, (str, os.PathLike)) else list(source_crystals)
    if not sources or len(sources) != len(tables):
        raise NNPDistillError(f"{len(sources)} source stores but {len(tables)} source crystal tables: give "
                              "one crystals.csv per source, in the same order")
    target_table = pd.read_csv(target_crystals)
    eam = load_eam(target_symbol, path=potential)
    native_weight = float(native_weight)
    if not (math.isfinite(native_weight) and native_weight > 0):
        raise NNPDistillError(f"translate.native_weight must be a positive number, got {native_weight}")
    if native_weight != 1.0 and not n_native:
        raise NNPDistillError(f"translate.native_weight = {native_weight:g} weights native frames, but "
                              "native_frames is 0: set both, or leave the weight at 1")
    crystal_strains = crystal_strains_checked(crystal_strains)
    crystal_weight = float(crystal_weight)
    if not (math.isfinite(crystal_weight) and crystal_weight > 0):
        raise NNPDistillError(f"translate.crystal_weight must be a positive number, got {crystal_weight}")
    if n_native:  # the native frames are drawn and checked before any translation work
        if not native_pool:
            raise NNPDistillError(f"{n_native} native frames need the target's own pool (native_pool; "
                                  "CLI: --native-pool)")
        native, drawn = native_frames(native_pool, n_native, native_seed)
        if not np.all(native.numbers == eam.atomic_number):
            raise NNPDistillError(f"the native pool {os.path.basename(native_pool)} is not "
                                  f"{target_symbol}'s: its frames hold other elements")
    evaluator = eam.evaluator()
    multipliers = [float(m) for m in multipliers]
    done = [_translate_source(src, tab, target_table, eam, evaluator, rule, multipliers,
                              tag_factor=bool(crystal_strains))
            for src, tab in zip(sources, tables, strict=True)]
    if len(done) == 1:
        parts, info = done[0]
    else:
        keep = set.intersection(*(set(p.meta) for parts, _ in done for p in parts))
        parts = [f for ps, i in done for f in _tag_source(ps, i["source_element"], keep)]
        first = done[0][1]
        info = {"source_element": "+".join(i["source_element"] for _, i in done),
                "scale_factor": first["scale_factor"], "scale_rule": first["scale_rule"],
                "scale_multipliers": multipliers, "n_frames": int(sum(p.n_frames for p in parts)),
                "sources": [i for _, i in done]}
    if n_native:
        native = dataclasses.replace(native, meta={**native.meta, "scale_factor": np.ones(native.n_frames)})
        if len(done) == 1:
            parts = _tag_source(parts, info["source_element"], set(parts[0].meta))
        parts = [*parts, *_tag_source([native], target_symbol, set(native.meta))]
        keep = set.intersection(*(set(p.meta) for p in parts))
        parts = [dataclasses.replace(p, meta={k: v for k, v in p.meta.items() if k in keep}) for p in parts]
        info = {**info, **drawn, "n_frames": int(sum(p.n_frames for p in parts))}
    kinds = ["translated"] * len(parts)
    if n_native:
        kinds[-1] = "native"  # the native frames are the last part
    if crystal_strains:
        parts, info = _with_crystals(parts, info, pd.read_csv(tables[0]), done[0][1], crystal_strains, eam,
                                     evaluator)
        kinds += ["crystal"] * (len(parts) - len(kinds))
    if not crystal_strains:
        crystal_weight = 1.0  # no crystal frames: the weight (default 0.05) has nothing to weigh
    if native_weight != 1.0 or crystal_weight != 1.0:
        weight = {"translated": 1.0, "native": native_weight, "crystal": crystal_weight}
        parts = [dataclasses.replace(p, meta={**p.meta, "loss_weight": np.full(p.n_frames, weight[k])})
                 for p, k in zip(parts, kinds, strict=True)]
        info.update({f"{k}_weight": weight[k] for k in ("native", "crystal") if weight[k] != 1.0})
    write_frames(out_h5, parts, {"element": target_symbol, "potential": eam.path.name,
                                 "potential_sha256": eam.sha256, "method": "translated", **info})
    return info
