"""Job setup shared by the script adapters and the CLI: logging to a file, torch threads."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .cpu_kernels import check_pinned
from .io_utils import set_torch_threads

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_JOB_LOG = [False]  # set by setup_job with a log file: progress then goes to the log as lines


def setup_job(
    log_path: str | Path | None = None, threads: int = 1, level: int = logging.INFO
) -> logging.Logger:
    """Send log records to ``log_path`` (and stderr), and set torch to ``threads`` threads."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    _JOB_LOG[0] = bool(log_path)
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    set_torch_threads(threads)
    logger = logging.getLogger("nnpdistill")
    logger.info(check_pinned())  # a ConfigError when the CPU-kernel pin the job runs under did not take

    failed = []

    def _log_uncaught(exc_type, exc, tb):
        # the job's log file then says why it failed (Snakemake and SLURM show that file)
        failed.append(exc_type)
        if issubclass(exc_type, KeyboardInterrupt):
            return sys.__excepthook__(exc_type, exc, tb)
        logger.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = _log_uncaught
    if log_path:  # a workflow job: one line when it ends, with its wall time, in the run's output too
        import atexit
        import time

        start = time.perf_counter()

        def _done():
            # only while this job's logging is in place (a process that set up logging again, or a
            # test that cleared it, has closed these handlers)
            if not failed and any(h in logging.getLogger().handlers for h in handlers[1:]):
                wall = time.perf_counter() - start
                took = f"{wall:.1f} s" if wall < 90 else f"{wall / 60:.1f} min"
                logger.info("job done in %s: %s", took, Path(log_path).name)

        atexit.register(_done)
    return logger


class Progress:
    """Progress of a long loop that a person can follow: a tqdm bar on an interactive terminal, or, in a
    workflow job (after :func:`setup_job` with a log file) and whenever stderr is not a terminal, a log
    line every ``every_s`` seconds and at the end ("desc: k/n unit (x %), r unit/s, about t left"),
    so the job's log streams while it runs and parallel jobs never interleave bars.

    ``update(n)``, ``close()``; a context manager. ``enabled=False`` is silent.
    """

    def __init__(self, total: int, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True,
                 every_s: float = 60.0):
        import time

        self.total, self.desc, self.unit, self.n = int(total), desc, unit, int(initial)
        self.enabled, self.every_s = enabled, float(every_s)
        self._time = time.perf_counter
        self._t0 = self._last = self._time()
        self._n0 = self.n
        self.bar = None
        if enabled and not _JOB_LOG[0] and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.n, desc=desc, unit=unit, mininterval=1.0)

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and self._time() - self._last >= self.every_s:
            self._log()

    def _log(self) -> None:
        now = self._time()
        self._last = now
        rate = (self.n - self._n0) / max(now - self._t0, 1e-9)
        left = (self.total - self.n) / rate if rate > 0 else float("inf")
        eta = f"about {left / 60:.0f} min left" if left != float("inf") else "rate unknown"
        pct = 100.0 * self.n / self.total if self.total else 100.0
        logging.getLogger("nnpdistill.progress").info(
            "%s: %d/%d %s (%.0f %%), %.3g %s/s, %s", self.desc, self.n, self.total, self.unit, pct, rate,
            self.unit, eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and self.n > self._n0:
            self._log()
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
