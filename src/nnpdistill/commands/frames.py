"""``nnpdistill export`` (frame store → extended XYZ) and ``nnpdistill info`` (summary of a store)."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from ..errors import FrameStoreError


def parse_indices(tokens: list[str] | None, n_frames: int) -> np.ndarray | None:
    """Frame indices of a store of ``n_frames`` from CLI tokens: integers and Python slices ``a:b[:c]``
    (comma or space separated). Slices clip as Python's do (``0:100`` of 48 frames is 0..47; open ends
    and negative bounds work); a single index out of range is an error naming the frame count; a
    negative single index counts from the end."""
    if not tokens:
        return None
    out: list[int] = []
    for token in ",".join(tokens).split(","):
        token = token.strip()
        if not token:
            continue
        try:
            if ":" in token:
                parts = [int(p) if p.strip() else None for p in token.split(":")]
                if len(parts) > 3:
                    raise ValueError
                if len(parts) == 3 and parts[2] == 0:
                    raise FrameStoreError(f"--indices: slice {token!r} has step 0")
                out.extend(range(*slice(*parts).indices(n_frames)))
            else:
                i = int(token)
                if not -n_frames <= i < n_frames:
                    raise FrameStoreError(f"--indices: frame {i} is out of range: the store has {n_frames} "
                                          f"frames (0..{n_frames - 1})")
                out.append(i % n_frames)
        except ValueError:
            raise FrameStoreError(f"--indices: cannot parse {token!r} "
                                  "(use e.g. 0 5 10:20 or 0,5,10:20:2)") from None
    return np.asarray(out, dtype=np.int64)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..frames import FrameStore, export_extxyz

    with FrameStore(args.input) as store:
        n_frames = len(store)
    n = export_extxyz(args.input, args.output, indices=parse_indices(args.indices, n_frames))
    print(f"wrote {n} frames to {args.output}")
    return 0


def _summary(path: str) -> dict:
    from ..frames import FrameStore

    with FrameStore(path) as store:
        meta = {}
        for name in store.meta_names:
            values = store.meta(name)
            if values.dtype.kind in "fi" and values.size:
                finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
                meta[name] = {
                    "dtype": str(values.dtype),
                    "min": finite.min().item() if finite.size else None,
                    "max": finite.max().item() if finite.size else None,
                    "non_finite": int(values.size - finite.size),
                }
            else:
                uniq, counts = np.unique(values, return_counts=True)
                meta[name] = {"dtype": str(values.dtype),
                              "counts": {str(u): int(c) for u, c in zip(uniq[:20], counts[:20], strict=True)}}
        return {
            "path": os.fspath(path),
            "file_MB": round(os.path.getsize(path) / 1e6, 3),
            "frames": len(store),
            "sizes": {str(k): v for k, v in store.sizes.items()},
            "labels": list(store.labels),
            "attrs": store.attrs,
            "meta": meta,
        }


def _cmd_info(args: argparse.Namespace) -> int:
    summary = _summary(args.input)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
        return 0
    print(f"{summary['path']}: {summary['frames']} frames, {summary['file_MB']} MB")
    print("atoms -> frames: " + ", ".join(f"{k}: {v}" for k, v in summary["sizes"].items()))
    print("labels: " + (", ".join(summary["labels"]) or "none"))
    print("attributes:")
    for key, value in sorted(summary["attrs"].items()):
        is_json = isinstance(value, (dict, list))
        text = json.dumps(value, sort_keys=True, default=str) if is_json else str(value)
        if len(text) > 200:
            text = text[:197] + "..."
        print(f"  {key}: {text}")
    print("metadata:")
    for name, m in summary["meta"].items():
        if "counts" in m:
            print(f"  {name} ({m['dtype']}): " + ", ".join(f"{k}×{v}" for k, v in m["counts"].items()))
        else:
            extra = f", {m['non_finite']} non-finite" if m["non_finite"] else ""
            print(f"  {name} ({m['dtype']}): {m['min']} .. {m['max']}{extra}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export frames of an HDF5 frame store to extended XYZ",
                              description="Write frames (positions, cell, energy, forces, per-atom energies, "
                                          "stress, metadata) to extended XYZ readable by ase.io.read.")
    p.add_argument("input", help="frame store (.h5)")
    p.add_argument("output", help="extended XYZ file to write (.extxyz)")
    p.add_argument("--indices", nargs="+", metavar="I",
                   help="global frame indices: integers and Python slices a:b[:step] (clipped like "
                        "Python's), e.g. 0 5 10:20 -1 (default: all)")
    p.set_defaults(func=_cmd_export)

    q = subparsers.add_parser("info", help="summarise an HDF5 frame store",
                              description="Print attributes, frames per atom count, labels and "
                                          "metadata ranges.")
    q.add_argument("input", help="frame store (.h5)")
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    q.set_defaults(func=_cmd_info)
