"""Building the package's C++ kernels (the EAM evaluator's, :mod:`.potentials.eam_cpp`, and the q6 order
parameter's, :mod:`.md.q6_cpp`) with torch's extension builder, at first use, with fixed flags.

Each is compiled once per machine and source into ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``), under a name that carries a hash of its source and flags; later processes
load the built library (about 0.1 s). It needs a C++ compiler, the Python headers and ninja
(``pip install ninja``, or Debian's ``ninja-build``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from pathlib import Path

from .errors import NNPDistillError

log = logging.getLogger("nnpdistill.cpp")


class KernelBuildError(NNPDistillError):
    """A C++ kernel could not be compiled or loaded."""


def compile_flags() -> list[str]:
    """Fixed compiler flags: no ``-march=native`` and no FMA contraction (same instructions everywhere)."""
    flags = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
    if platform.machine() in ("x86_64", "AMD64"):
        flags.append("-march=x86-64-v2")
    return flags


def build_extension(prefix: str, source: Path, what: str):
    """Compile (or load the built) extension ``source`` as ``nnpdistill_{prefix}_{hash}``; ``what`` names
    it in the log. Raises whatever the builder raises (a missing compiler, headers or ninja)."""
    from torch.utils import cpp_extension

    try:  # the PyPI ninja wheel puts its binary beside the interpreter, which may not be on PATH
        import ninja

        os.environ["PATH"] = f"{ninja.BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"
    except ImportError:
        pass
    flags = compile_flags()
    tag = hashlib.sha256(Path(source).read_bytes() + " ".join(flags).encode()).hexdigest()[:12]
    name = f"nnpdistill_{prefix}_{tag}"
    try:  # torch's own folder and loader for it (private helpers: if a torch release drops them, the
        # builder alone)
        build_dir = Path(cpp_extension._get_build_directory(name, verbose=False))
        library = build_dir / f"{name}{cpp_extension.LIB_EXT}"
        load_built = cpp_extension._import_module_from_library
    except AttributeError:
        build_dir = library = None
    if library is not None and library.exists():  # built before: its name carries the source's hash
        try:
            return load_built(name, str(build_dir), True)
        except ImportError as exc:  # e.g. a link that a killed build left half-written: build again
            log.warning("could not load the built C++ %s (%s): building it again", what, exc)
    if build_dir is not None:
        clear_stale_lock(build_dir / "lock")
    log.info("loading the C++ %s (compiled on first use, about a minute)", what)
    return cpp_extension.load(name=name, sources=[str(source)], extra_cflags=flags, verbose=False)


# torch's builder holds a lock file in the build folder while it checks or builds an extension, and every
# other process waits, without a time limit, until that file is gone. A job killed in that window (a
# cancelled SLURM job, Ctrl-C) leaves the file behind and every later job waits for ever: the main job hung
# so after two of its sampling jobs were killed. A built library is therefore loaded without the builder,
# and a lock older than any build is removed.
STALE_LOCK_S = 600.0


def clear_stale_lock(lock: Path, max_age_s: float = STALE_LOCK_S) -> bool:
    """Remove the builder's ``lock`` file when it is older than ``max_age_s`` (a build takes about a
    minute): a process killed while holding it left it. Returns whether it was removed."""
    import time

    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age <= max_age_s:
        return False
    log.warning("removing %s, left %.0f s ago by a process that was killed while building", lock, age)
    lock.unlink(missing_ok=True)
    return True


class CppKernel:
    """One of the package's C++ extensions: built at first :meth:`load` and kept; a failed build is
    remembered and raised again as :class:`KernelBuildError`, with what it needs and ``without`` (how to
    run without it)."""

    def __init__(self, prefix: str, source: Path, what: str, without: str):
        self.prefix, self.source, self.what, self.without = prefix, Path(source), what, without
        self.module = None
        self.failure: str | None = None

    def load(self):
        if self.module is not None:
            return self.module
        if self.failure is not None:
            raise KernelBuildError(self.failure)
        try:
            self.module = build_extension(self.prefix, self.source, self.what)
        except Exception as exc:  # a missing compiler, headers or ninja: say which and how to avoid it
            why = f"{type(exc).__name__}: {exc}"
            self.failure = (f"the C++ {self.what} could not be built ({why}); it needs a C++ compiler, the "
                            "Python headers and ninja (pip install ninja). " + self.without)
            raise KernelBuildError(self.failure) from exc
        return self.module
