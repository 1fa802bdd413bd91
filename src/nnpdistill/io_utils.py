"""Small I/O helpers shared by every stage: atomic writes and file checksums."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name a result is written under before it is complete."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    On any exception the temporary file is removed, so a reader never sees a half-written result.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    if tmp.exists():
        tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def set_torch_threads(n_threads: int = 1) -> None:
    """Set torch's intra- and inter-op thread counts and the BLAS/OpenMP pools of NumPy and SciPy (default
    one: let Snakemake run jobs side by side). Snakemake's jobs get the BLAS count from their environment;
    a command-line job gets it here, so both write the same bytes (a multi-threaded BLAS sums in another
    order: the reweighting's error bars differed in the 16th digit between the two paths)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(int(n_threads))
    with contextlib.suppress(RuntimeError):  # may only be set once per process
        torch.set_num_interop_threads(int(n_threads))
    threadpool_limits(limits=int(n_threads))  # stays in force (not used as a context manager)


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file so that ``dst`` appears complete or not at all."""
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save_npz(target, **arrays) -> None:
    """Like ``numpy.savez`` but byte-reproducible: fixed member order and zip timestamps.

    ``target`` is a path or a binary file object; ``numpy.load`` reads the result as usual.
    """
    import io
    import zipfile

    import numpy as np

    with zipfile.ZipFile(target, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for name in arrays:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def write_strict_json(summary: dict, path) -> None:
    """Write ``summary`` as strict JSON (NaN/inf become null) through a temporary file."""
    import numpy as np

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            return clean(x.item())
        return x

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(clean(summary), indent=2, allow_nan=False))
