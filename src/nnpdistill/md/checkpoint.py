"""A sampling run's checkpoint: written atomically (temporary name, then rename), read back whole or refused
by name, so a resumed run never continues from a damaged state."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import FrameStoreError


def checkpoint_path(out_path: str | os.PathLike) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".ckpt")


def load_checkpoint(path: Path) -> dict:
    """A run's checkpoint; one that cannot be read (truncated, overwritten) is named, never half-used."""
    try:
        payload = torch.load(path, weights_only=False)
    except Exception as exc:
        raise FrameStoreError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                              "delete it to run this sample from the beginning") from exc
    if not isinstance(payload, dict):
        raise FrameStoreError(f"checkpoint {path} holds a {type(payload).__name__}, not a run checkpoint; "
                              "delete it to run this sample from the beginning")
    return payload


def save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
