#!/usr/bin/env python
"""Compare two results trees of the same campaign (e.g. a local run and a SLURM run).

    python scripts/ci/compare_results.py RESULTS_A RESULTS_B [--rtol 0] [--atol 0]

Both trees must hold the same files. A file passes when its bytes are identical; otherwise, for the
formats that may legitimately embed run-specific text (a time stamp, a host name, a path), its
numeric content is compared instead and the file is listed as "same numbers, different bytes" with
the reason, so the source can be fixed:

- ``.csv``: same header and rows; numeric columns equal within rtol/atol, text columns equal
- ``.h5`` / ``.hdf5``: same datasets (names, shapes, dtypes, values), attributes equal except ones
  whose names look like time/host/path stamps
- ``.json`` / ``.yaml`` / ``.yml``: same structure; numbers within tolerance; stamp-like keys ignored
- other text (``.md``, ``.txt``, ``.tsv``, ``.xyz``/``.extxyz``): the same sequence of numbers once
  time stamps, dates and host names are blanked
- ``.png``: the same pixels
- log files (``*.log``, anything under a ``logs/`` or ``benchmarks/`` folder) hold wall times, dates
  and host names by design: only their presence is compared.

Exit status 0 when the trees agree, 1 when they differ (each difference named), 2 on bad arguments.
By default numbers must be exactly equal: the same code on the same inputs with the same seeds must
give the same floats wherever it runs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import socket
import sys
from pathlib import Path

STAMP_KEY = re.compile(r"(time|date|host|node|user|path|created|modified|elapsed|duration|uuid|pid|version)",
                       re.IGNORECASE)
# ISO dates/times, clock times, and host-ish tokens are blanked before numbers are read from text
TEXT_STAMPS = [
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:[+-]\d{2}:?\d{2}|Z)?"),
    re.compile(r"\d{4}-\d{2}-\d{2}"),
    re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"),
    re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
               r".*?\d{4}"),
]
# a number standing alone (not part of a name such as node07, iter_3 or from_Ni2)
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])|\bnan\b|\binf\b",
                    re.IGNORECASE)
LOG_DIRS = {"logs", "log", "benchmarks", "slurm_logs"}
# numeric columns that hold wall-clock durations (not physics): equal presence, values not compared
WALL_TIME_COLUMN = re.compile(
    r"^(seconds|wall.*|elapsed.*|duration.*)$|_wall(_s|_seconds)?$|_elapsed_s$", re.IGNORECASE
)


def is_log(rel: Path) -> bool:
    return rel.suffix == ".log" or any(part in LOG_DIRS for part in rel.parts[:-1])


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def compare_numbers(xs: list[float], ys: list[float], rtol: float, atol: float) -> str | None:
    if len(xs) != len(ys):
        return f"{len(xs)} vs {len(ys)} numbers"
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if not close(x, y, rtol, atol):
            return f"number #{i}: {x!r} vs {y!r}"
    return None


def blank_stamps(text: str) -> str:
    """Text with dates, clock times and this machine's host name blanked."""
    for pattern in TEXT_STAMPS:
        text = pattern.sub(" ", text)
    host = socket.gethostname()
    return text.replace(host, " ") if host else text


def text_numbers(path: Path) -> list[float]:
    return [float(m) for m in NUMBER.findall(blank_stamps(path.read_text(errors="replace")))]


def compare_csv(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    import numpy as np
    import pandas as pd

    da, db = pd.read_csv(a), pd.read_csv(b)
    if list(da.columns) != list(db.columns):
        return f"columns differ: {list(da.columns)} vs {list(db.columns)}"
    if da.shape != db.shape:
        return f"shape {da.shape} vs {db.shape}"
    for col in da.columns:
        ca, cb = da[col], db[col]
        if WALL_TIME_COLUMN.search(str(col)):
            continue
        if pd.api.types.is_numeric_dtype(ca) and pd.api.types.is_numeric_dtype(cb):
            x, y = ca.to_numpy(float), cb.to_numpy(float)
            ok = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                return f"column {col!r} row {i}: {x[i]!r} vs {y[i]!r}"
        elif STAMP_KEY.search(str(col)):
            continue
        else:
            ta = ca.astype(object).map(lambda v: blank_stamps(str(v)))
            tb = cb.astype(object).map(lambda v: blank_stamps(str(v)))
            if not ta.equals(tb):
                i = int((ta != tb).to_numpy().nonzero()[0][0])
                return f"column {col!r} row {i}: {ca.iloc[i]!r} vs {cb.iloc[i]!r}"
    return None


def _values_equal(x, y, rtol: float, atol: float) -> bool:
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return False
    if x.dtype.kind in "fc" or y.dtype.kind in "fc":
        return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(x, y))


def compare_h5(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    import h5py

    problems: list[str] = []

    def attrs(obj_a, obj_b, name: str) -> None:
        keys_a = {k for k in obj_a.attrs if not STAMP_KEY.search(k)}
        keys_b = {k for k in obj_b.attrs if not STAMP_KEY.search(k)}
        if keys_a != keys_b:
            problems.append(f"{name}: attributes {sorted(keys_a ^ keys_b)} in one file only")
            return
        for k in sorted(keys_a):
            if not _values_equal(obj_a.attrs[k], obj_b.attrs[k], rtol, atol):
                problems.append(f"{name}: attribute {k!r} differs")

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        if sorted(names_a) != sorted(names_b):
            return f"objects in one file only: {sorted(set(names_a) ^ set(names_b))[:5]}"
        attrs(fa, fb, "/")
        for name in sorted(names_a):
            oa, ob = fa[name], fb[name]
            attrs(oa, ob, name)
            if isinstance(oa, h5py.Dataset):
                if oa.shape != ob.shape or oa.dtype != ob.dtype:
                    problems.append(f"{name}: {oa.shape} {oa.dtype} vs {ob.shape} {ob.dtype}")
                elif not _values_equal(oa[()], ob[()], rtol, atol):
                    problems.append(f"{name}: values differ")
            if problems:
                break
    return problems[0] if problems else None


def _walk(x, y, rtol: float, atol: float, where: str = "") -> str | None:
    if isinstance(x, dict) and isinstance(y, dict):
        kx = {k for k in x if not STAMP_KEY.search(str(k))}
        ky = {k for k in y if not STAMP_KEY.search(str(k))}
        if kx != ky:
            return f"{where or '/'}: keys {sorted(map(str, kx ^ ky))} in one file only"
        for k in sorted(kx, key=str):
            if problem := _walk(x[k], y[k], rtol, atol, f"{where}/{k}"):
                return problem
        return None
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return f"{where}: {len(x)} vs {len(y)} items"
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            if problem := _walk(u, v, rtol, atol, f"{where}[{i}]"):
                return problem
        return None
    numeric = (int, float)
    if isinstance(x, numeric) and isinstance(y, numeric) and not isinstance(x, bool):
        return None if close(float(x), float(y), rtol, atol) else f"{where}: {x!r} vs {y!r}"
    return None if x == y else f"{where}: {x!r} vs {y!r}"


def compare_structured(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    if a.suffix == ".json":
        xa, xb = json.loads(a.read_text()), json.loads(b.read_text())
    else:
        import yaml

        xa, xb = yaml.safe_load(a.read_text()), yaml.safe_load(b.read_text())
    return _walk(xa, xb, rtol, atol)


def compare_npz(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    import numpy as np

    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"arrays {sorted(set(za.files) ^ set(zb.files))} in one file only"
        for name in sorted(za.files):
            if not _values_equal(za[name], zb[name], rtol, atol):
                return f"array {name!r} differs"
    return None


def compare_png(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    import matplotlib.image as mpimg

    return None if _values_equal(mpimg.imread(a), mpimg.imread(b), 0.0, 0.0) else "pixels differ"


def compare_text(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    return compare_numbers(text_numbers(a), text_numbers(b), rtol, atol)


COMPARERS = {
    ".csv": compare_csv,
    ".h5": compare_h5,
    ".hdf5": compare_h5,
    ".json": compare_structured,
    ".yaml": compare_structured,
    ".yml": compare_structured,
    ".png": compare_png,
    ".npz": compare_npz,
    ".md": compare_text,
    ".txt": compare_text,
    ".tsv": compare_text,
    ".xyz": compare_text,
    ".extxyz": compare_text,
}


def files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".partial")}


def compare_trees(root_a: Path, root_b: Path, rtol: float = 0.0, atol: float = 0.0) -> dict[str, list]:
    """Return {"identical": [...], "same_numbers": [(rel, why)], "logs": [...], "differ": [(rel, why)]}."""
    fa, fb = files(root_a), files(root_b)
    report: dict[str, list] = {"identical": [], "same_numbers": [], "logs": [], "differ": []}
    for rel in sorted(fa ^ fb):
        where = root_a if rel in fa else root_b
        report["differ"].append((rel, f"only in {where}"))
    for rel in sorted(fa & fb):
        a, b = root_a / rel, root_b / rel
        if is_log(rel):
            report["logs"].append(rel)
        elif a.read_bytes() == b.read_bytes():
            report["identical"].append(rel)
        elif rel.suffix.lower() not in COMPARERS:
            report["differ"].append((rel, "bytes differ (no numeric comparison for this format)"))
        else:
            try:
                problem = COMPARERS[rel.suffix.lower()](a, b, rtol, atol)
            except Exception as exc:  # unreadable file: a difference, named
                problem = f"cannot compare: {type(exc).__name__}: {exc}"
            if problem:
                report["differ"].append((rel, problem))
            else:
                report["same_numbers"].append((rel, "bytes differ, numbers equal (run-specific text?)"))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0: exact)")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0: exact)")
    args = parser.parse_args(argv)
    for root in (args.a, args.b):
        if not root.is_dir():
            print(f"compare_results: {root} is not a folder", file=sys.stderr)
            return 2
    report = compare_trees(args.a, args.b, args.rtol, args.atol)
    n_files = sum(len(v) for v in report.values())
    if n_files == 0:
        print(f"compare_results: both {args.a} and {args.b} are empty", file=sys.stderr)
        return 1
    print(f"compare {args.a} vs {args.b}: {len(report['identical'])} byte-identical, "
          f"{len(report['same_numbers'])} same numbers, {len(report['logs'])} logs (presence only), "
          f"{len(report['differ'])} different")
    for rel, why in report["same_numbers"]:
        print(f"  same numbers, different bytes: {rel} ({why})")
    for rel, why in report["differ"]:
        print(f"  DIFFERENT: {rel}: {why}")
    return 1 if report["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
