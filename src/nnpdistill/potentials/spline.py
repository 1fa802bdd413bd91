"""LAMMPS's EAM table interpolation (pair_eam.cpp ``file2array``/``array2spline``/``interpolate``).

LAMMPS turns every tabulated function ``f[1..n]`` on a uniform grid of spacing ``delta`` into one cubic per
interval, stored as 7 coefficients per grid point ``m``::

    value(p)      = ((c3 p + c4) p + c5) p + c6          0 <= p <= 1 within interval m
    derivative(p) = (c0 p + c1) p + c2                    (already divided by delta)

with ``c5`` a 5-point finite-difference slope (1-sided and 3-point at the ends), ``c4, c3`` the Hermite
terms, and ``c2 = c5/delta, c1 = 2 c4/delta, c0 = 3 c3/delta``. The index and clamping follow LAMMPS::

    p = x / delta + 1;  m = int(p);  m = min(m, n - 1)   [density tables also: m = max(m, 1)]
    p -= m;  p = min(p, 1)

so beyond the last grid point a table is held at its last value (r) and the embedding energy is continued
linearly past ``rhomax = (nrho - 1) drho`` (``F += F'(rhomax) (rho - rhomax)``, done in the evaluator).

Here arrays are 0-based: coefficient row ``k`` is LAMMPS's row ``m = k + 1``.
"""

from __future__ import annotations

import numpy as np


def spline_coefficients(f: np.ndarray, delta: float) -> np.ndarray:
    """LAMMPS ``PairEAM::interpolate``: the ``(n, 7)`` coefficient table of the samples ``f`` (n >= 5)."""
    f = np.asarray(f, dtype=np.float64)
    n = f.shape[0]
    if n < 5:
        raise ValueError(f"a LAMMPS EAM spline needs at least 5 samples, got {n}")
    s = np.zeros((n, 7))
    s[:, 6] = f
    s[0, 5] = f[1] - f[0]
    s[1, 5] = 0.5 * (f[2] - f[0])
    s[n - 2, 5] = 0.5 * (f[n - 1] - f[n - 3])
    s[n - 1, 5] = f[n - 1] - f[n - 2]
    s[2 : n - 2, 5] = ((f[0 : n - 4] - f[4:n]) + 8.0 * (f[3 : n - 1] - f[1 : n - 3])) / 12.0
    df = f[1:] - f[:-1]
    s[: n - 1, 4] = 3.0 * df - 2.0 * s[: n - 1, 5] - s[1:, 5]
    s[: n - 1, 3] = s[: n - 1, 5] + s[1:, 5] - 2.0 * df
    s[n - 1, 4] = 0.0
    s[n - 1, 3] = 0.0
    s[:, 2] = s[:, 5] / delta
    s[:, 1] = 2.0 * s[:, 4] / delta
    s[:, 0] = 3.0 * s[:, 3] / delta
    return s


def funcfl_regrid(values: np.ndarray, delta_file: float, n_new: int, delta_new: float) -> np.ndarray:
    """LAMMPS's 4-point Lagrange re-gridding of a funcfl table (``PairEAM::file2array``) → ``(n_new,)``.

    With one funcfl file LAMMPS uses ``n_new = int((n - 1) * delta / delta + 0.5)`` (one point fewer than
    the file) and the same spacing; the formula is reproduced exactly, rounding included.
    """
    f = np.asarray(values, dtype=np.float64)
    n_file = f.shape[0]
    fpad = np.concatenate([[0.0], f])  # 1-based like LAMMPS
    m = np.arange(1, n_new + 1)
    x = (m - 1) * delta_new
    p = x / delta_file + 1.0
    k = p.astype(np.int64)
    k = np.minimum(k, n_file - 2)
    k = np.maximum(k, 2)
    p = p - k
    p = np.minimum(p, 2.0)
    sixth = 1.0 / 6.0
    cof1 = -sixth * p * (p - 1.0) * (p - 2.0)
    cof2 = 0.5 * (p * p - 1.0) * (p - 2.0)
    cof3 = -0.5 * p * (p + 1.0) * (p - 2.0)
    cof4 = sixth * p * (p * p - 1.0)
    return cof1 * fpad[k - 1] + cof2 * fpad[k] + cof3 * fpad[k + 1] + cof4 * fpad[k + 2]


def spline_index(x: np.ndarray, inv_delta: float, n: int, clamp_low: bool) -> tuple[np.ndarray, np.ndarray]:
    """LAMMPS's (0-based row, fraction) for abscissae ``x`` on a table of ``n`` points."""
    p = np.asarray(x, dtype=np.float64) * inv_delta + 1.0
    m = np.trunc(p).astype(np.int64)  # static_cast<int>: truncation toward zero
    m = np.minimum(m, n - 1)
    if clamp_low:
        m = np.maximum(m, 1)
    p = np.minimum(p - m, 1.0)
    return m - 1, p


def spline_eval(coeffs: np.ndarray, x: np.ndarray, delta: float, clamp_low: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Reference (numpy) value and derivative of a LAMMPS spline at ``x``, same operation order as LAMMPS."""
    n = coeffs.shape[0]
    k, p = spline_index(x, 1.0 / delta, n, clamp_low)
    c = coeffs[k]
    value = ((c[..., 3] * p + c[..., 4]) * p + c[..., 5]) * p + c[..., 6]
    deriv = (c[..., 0] * p + c[..., 1]) * p + c[..., 2]
    return value, deriv
