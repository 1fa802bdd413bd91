"""Job setup shared by the script adapters and the CLI: logging to a file, torch threads."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .io_utils import set_torch_threads

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_job(
    log_path: str | Path | None = None, threads: int = 1, level: int = logging.INFO
) -> logging.Logger:
    """Send log records to ``log_path`` (and stderr), and set torch to ``threads`` threads."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    set_torch_threads(threads)
    logger = logging.getLogger("nnpdistill")

    def _log_uncaught(exc_type, exc, tb):
        # the job's log file then says why it failed (Snakemake and SLURM show that file)
        if issubclass(exc_type, KeyboardInterrupt):
            return sys.__excepthook__(exc_type, exc, tb)
        logger.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = _log_uncaught
    return logger
