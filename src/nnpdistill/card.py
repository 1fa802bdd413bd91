"""The dataset card of a distilled set (issue 19): what it holds and how it was made, machine-readable
(``card.json``) and for people (``card.md``).

It records what was sampled (pool, method, MOMT settings, potential and its checksum and licence), how
it was distilled (strategy, budgets, seed, the ensembles' settings), the files with their checksums,
the units, and, where the campaign translated the set to other metals, the transfer table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .io_utils import atomic_path, sha256_file

CARD_FORMAT = "nnpdistill-dataset-card"
CARD_VERSION = 1

# licence of the potential files the project knows (the shipped ones: src/nnpdistill/potentials/data)
SHIPPED_LICENCE = "CDDL-1.0 (OpenKIM archive; see src/nnpdistill/potentials/data/PROVENANCE.md)"
LAMMPS_LICENCE = "distributed with LAMMPS (GPL-2.0); cite the publication named in the file's header"
SHIPPED_FILES = {"Ni_Nb_Zhang2016.eam.fs", "Al1_Mendelev2008.eam.fs"}


def potential_licence(name: str) -> str:
    """The licence note of a potential file by its name (shipped, LAMMPS's, or the user's own)."""
    if name in SHIPPED_FILES:
        return SHIPPED_LICENCE
    from .errors import PotentialFileError
    from .potentials.registry import lammps_potential

    try:
        lammps_potential(name)
        return LAMMPS_LICENCE
    except PotentialFileError:
        return "the user's own file: its licence is the user's to state"


# a distilled set that misses more than this share of the pool's coldest frames gets a warning on its card
COLD_SHARE_WARNING = 0.05


def temperature_coverage(pool_h5: str | os.PathLike, distilled_h5: str | os.PathLike) -> dict | None:
    """What effective temperatures (``t_eff_K``: MOMT's walker temperature, NPT's thermostat's) the pool and
    the distilled set cover: 5/50/95 % quantiles of each, the distilled set's coldest frame, and the share
    of the pool colder than it. At the taste scale two seeds of three distilled no frame below 1,400-1,600
    K while 5 % of their pools lay below 1,000-1,200 K, and every translated metal then had to extrapolate
    to its cold crystal (docs/campaign/transfer, seed replicates). ``None`` when a store lacks the column."""
    from .frames import FrameStore

    with FrameStore(pool_h5) as pool, FrameStore(distilled_h5) as dist:
        if "t_eff_K" not in pool.meta_names or "t_eff_K" not in dist.meta_names or not len(dist):
            return None
        tp, td = np.asarray(pool.meta("t_eff_K"), float), np.asarray(dist.meta("t_eff_K"), float)
    q = [5, 50, 95]
    cold = float(np.mean(tp < td.min()))
    return {"pool_t_eff_K_5_50_95": [float(x) for x in np.percentile(tp, q)],
            "distilled_t_eff_K_5_50_95": [float(x) for x in np.percentile(td, q)],
            "distilled_t_eff_min_K": float(td.min()), "pool_share_colder_than_distilled": cold,
            "warning": (f"the distilled set holds no frame from the coldest {100 * cold:.0f} % of the pool "
                        f"(effective temperature below {td.min():.0f} K, where the crystals lie): a model "
                        "trained on it extrapolates there; distil from a longer pool or add cold frames "
                        "(translate.crystal_strains)") if cold > COLD_SHARE_WARNING else None}


def dataset_card(manifest_json: str | os.PathLike, distilled_h5: str | os.PathLike,
                 extxyz: str | os.PathLike, pool_h5: str | os.PathLike, *, distill_settings: Mapping,
                 nnp_settings: Mapping, transfer_csv: str | os.PathLike | None = None) -> dict:
    """The card as a dict (JSON-ready)."""
    from .frames import FrameStore

    manifest = json.loads(open(manifest_json).read())
    with FrameStore(pool_h5) as pool:
        pattrs, n_pool, pool_sizes = pool.attrs, len(pool), pool.sizes
    with FrameStore(distilled_h5) as store:
        sizes, labels = store.sizes, list(store.labels)
    run = dict(pattrs.get("settings") or {})  # the store decodes it
    added = [int(k) for k in manifest.get("iteration_added", [])]
    per_iteration = [added.count(k) for k in range(1, int(manifest["iteration"]) + 1)] or [0]
    momt = run.get("momt", {}) if pattrs.get("method") == "momt" else {}
    card = {
        "format": CARD_FORMAT, "format_version": CARD_VERSION,
        "name": f"nnp-distill {manifest['element']} distilled set ({manifest['strategy']})",
        "element": manifest["element"],
        "n_frames": int(manifest["n_frames"]),
        "atoms_per_frame": {str(k): int(v) for k, v in sizes.items()},
        "files": {
            os.path.basename(distilled_h5): sha256_file(distilled_h5),
            os.path.basename(extxyz): sha256_file(extxyz),
        },
        "labels": {"energy": "eV (total)", "forces": "eV/Å", "energies": "eV per atom", "stress":
                   "eV/Å³, ASE sign (pressure = −trace/3)", "present": labels},
        "reference": {"method": "EAM", "potential": pattrs.get("potential"),
                      "potential_sha256": pattrs.get("potential_sha256"),
                      "licence": potential_licence(str(pattrs.get("potential")))},
        "sampled": {
            "pool": manifest["source_pool"], "pool_sha256": manifest["source_pool_sha256"],
            "pool_frames": int(n_pool),
            "pool_atoms_per_frame": {str(k): int(v) for k, v in pool_sizes.items()},
            "method": pattrs.get("method"), "temperature_K": run.get("temperature_K"),
            "pressure_bar": run.get("md", {}).get("pressure_bar"), "n_walkers": run.get("n_walkers"),
            "frame_stride": run.get("frame_stride"), "timestep_fs": run.get("md", {}).get("timestep_fs"),
            "momt_effective_temperature_K": [momt.get("t_min_K"), momt.get("t_max_K")] if momt else None,
            "momt_production_fraction": momt.get("production_fraction") if momt else None,
        },
        "distilled": {
            "strategy": manifest["strategy"], "iteration": manifest["iteration"],
            "fraction_of_pool": manifest["fraction_of_pool"],
            # from the manifest (what happened), not the config (what was asked)
            "n_initial": int(added.count(0)),
            "n_per_iteration": per_iteration[0] if len(set(per_iteration)) == 1 else per_iteration,
            "n_iterations": int(manifest["iteration"]),
            "score": distill_settings.get("score"),
            "guard_max_per_cell": distill_settings.get("guard_max_per_cell"),
            "ensemble_members": nnp_settings.get("n_members"),
            "train_fraction": (nnp_settings.get("train") or {}).get("train_fraction"),
            "campaign_seed": manifest.get("seeds", {}).get("campaign_seed"),
        },
        "licence": "frames: produced by nnp-distill (MIT); labels derive from the potential above",
        "citation": "Jung, Lee & Choi, Data Distillation for Neural Network Potentials toward Foundational "
                    "Dataset (NeurIPS 2023 AI4Mat workshop); nnp-distill",
        "transfer": None,
        "temperature_coverage": temperature_coverage(pool_h5, distilled_h5),
    }
    if transfer_csv is not None:
        card["transfer"] = json.loads(pd.read_csv(transfer_csv).to_json(orient="records"))
    return card


def card_markdown(card: Mapping) -> str:
    s, d, ref = card["sampled"], card["distilled"], card["reference"]
    lines = [
        f"# Dataset card: {card['name']}",
        "",
        f"{card['n_frames']} frames of {card['element']} "
        f"({', '.join(f'{v} of {k} atoms' for k, v in card['atoms_per_frame'].items())}), "
        f"labelled with energy, forces, per-atom energies and stress by {ref['method']} "
        f"(`{ref['potential']}`, sha256 {str(ref['potential_sha256'])[:12]}…).",
        "",
        "## How it was made",
        "",
        f"- **Sampled**: {s['method']} at {s['temperature_K']} K and {s['pressure_bar']} bar, "
        f"{s['n_walkers']} walkers, a frame every {s['frame_stride']} steps of {s['timestep_fs']} fs"
        + (f", effective temperatures {s['momt_effective_temperature_K'][0]}–"
           f"{s['momt_effective_temperature_K'][1]} K" if s["momt_effective_temperature_K"] else "")
        + f"; pool `{s['pool']}` of {s['pool_frames']} frames (sha256 {s['pool_sha256'][:12]}…).",
        f"- **Distilled**: strategy `{d['strategy']}`, {d['n_initial']} initial frames + "
        f"{d['n_iterations']} × {d['n_per_iteration']}, {100 * d['fraction_of_pool']:.1f} % of the pool"
        + (f", {d['ensemble_members']}-member ensembles" if d["ensemble_members"] else "")
        + (f" ({d['train_fraction']} of each selection for training)" if d["train_fraction"] else "")
        + f", campaign seed {d['campaign_seed']}.",
        f"- **Licence**: {card['licence']}; potential: {ref['licence']}.",
        *_coverage_lines(card.get("temperature_coverage")),
        "",
        "## Files",
        "",
        "| file | sha256 |",
        "|---|---|",
        *(f"| `{name}` | `{digest}` |" for name, digest in card["files"].items()),
        "",
        "Units: " + "; ".join(f"{k} {v}" for k, v in card["labels"].items() if k != "present") + ".",
        "",
    ]
    if card.get("transfer"):
        from .transfer import transfer_markdown

        lines += ["## How well it transfers to other metals", "",
                  transfer_markdown(pd.DataFrame(card["transfer"]), card["element"])]
    lines += ["## Cite", "", card["citation"], ""]
    return "\n".join(lines)


def _coverage_lines(cov: Mapping | None) -> list[str]:
    if not cov:
        return []
    p, d = cov["pool_t_eff_K_5_50_95"], cov["distilled_t_eff_K_5_50_95"]
    line = (f"- **Effective temperatures** (5 / 50 / 95 %): pool {p[0]:.0f} / {p[1]:.0f} / {p[2]:.0f} K, "
            f"distilled set {d[0]:.0f} / {d[1]:.0f} / {d[2]:.0f} K; "
            f"{100 * cov['pool_share_colder_than_distilled']:.1f} % of the pool is colder than its coldest "
            f"frame ({cov['distilled_t_eff_min_K']:.0f} K).")
    return [line] + ([f"- **Warning**: {cov['warning']}."] if cov["warning"] else [])


def write_dataset_card(card: Mapping, out_json: str | os.PathLike, out_md: str | os.PathLike) -> None:
    """``card.json`` and ``card.md``, each written whole or not at all."""
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(card, indent=1, sort_keys=True, ensure_ascii=False))
    with atomic_path(out_md) as tmp:
        tmp.write_text(card_markdown(card))
