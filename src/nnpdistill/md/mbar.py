"""MBAR over the Wang-Landau stages of a MOMT run: pymbar for the estimate, Newton's method for bootstrap
replicas warm-started from it and for the estimator choice's candidates.

The frames of all stages are one mixture p_mix(x) ∝ Σ_k N_k exp(f_k − u_k(x)) whose stage free energies f_k
MBAR solves (pymbar; Shirts & Chodera, J. Chem. Phys. 129, 124105 (2008)). A bootstrap over whole walkers
solves them again for every replica (200 by default). Without JAX, pymbar's solver took 10-16 s per replica
on a 144-atom run's 151 stages × 43,200 frames (200 replicas: most of the reweighting stage's 21 min). A
replica's f_k lie close to the full data's, so Newton's method on MBAR's convex objective from there (with a
backtracking line search; f_0 = 0) converges in about four steps, under a second, to the f_k pymbar finds
(within 1e-9 k_B T on that run; ``tests/test_mbar.py``); where it does not converge in ``max_iter`` steps,
pymbar solves the replica as before. From f = 0 it needs about eight steps.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def _import_mbar():
    """pymbar's MBAR, imported quietly (pymbar logs a timeseries caveat and a JAX note at import)."""
    import contextlib
    import io
    import logging

    logging.getLogger("pymbar").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from pymbar import MBAR
    return MBAR


def newton_free_energies(u_kn: np.ndarray, n_k: np.ndarray, weight_n: np.ndarray, f_start: np.ndarray,
                         tol: float = 1e-9, max_iter: int = 30) -> np.ndarray | None:
    """MBAR's stage free energies (f_0 = 0) by Newton's method from ``f_start``: the minimum of
    F(f) = Σ_n w_n ln Σ_k N_k exp(f_k − u_kn) − Σ_k N_k f_k, whose gradient vanishes where every stage's
    reweighted count Σ_n w_n W_nk N_k equals N_k. ``u_kn`` (K, F) reduced potentials, ``n_k`` (K,) frames per
    stage (> 0, counted with their weights), ``weight_n`` (F,) each frame's multiplicity. Converged when every
    |gradient_k| / N_k < ``tol``; None if not within ``max_iter`` steps."""
    log_n = np.log(n_k)
    buffers = [np.empty_like(u_kn), np.empty_like(u_kn)]  # (K, F) each: the current and the trial point

    def evaluate(f, out):
        np.subtract((log_n + f)[:, None], u_kn, out=out)
        amax = out.max(0)
        out -= amax
        np.exp(out, out=out)
        s = out.sum(0)
        out /= s  # N_k W_nk: each frame's responsibilities over the stages, summing to 1
        return float(weight_n @ (amax + np.log(s))) - float(n_k @ f)

    f = np.asarray(f_start, dtype=np.float64) - f_start[0]
    obj = evaluate(f, buffers[0])
    w32 = weight_n.astype(np.float32)
    for _ in range(max_iter):
        resp = buffers[0]
        counts = resp @ weight_n
        grad = counts - n_k
        if np.max(np.abs(grad) / n_k) < tol:
            return f
        # the Hessian only steers the step (the gradient, in float64, decides convergence): float32 halves
        # the cost of its (K, F) x (F, K) product
        r32 = resp.astype(np.float32)
        hess = np.diag(counts) - ((r32 * w32) @ r32.T).astype(np.float64)
        step = np.zeros_like(f)
        try:
            step[1:] = np.linalg.solve(hess[1:, 1:], -grad[1:])
        except np.linalg.LinAlgError:
            return None
        t, slope = 1.0, float(grad @ step)
        while True:  # Armijo backtracking; the slack covers rounding in an objective of 1e5-1e7
            obj_new = evaluate(f + t * step, buffers[1])
            if obj_new <= obj + 1e-4 * t * slope + 1e-12 * abs(obj):
                break
            t *= 0.5
            if t < 1e-8:
                return None
        f, obj = f + t * step, obj_new
        buffers.reverse()
    return None


def mbar_log_density(u_kn: np.ndarray, stage: np.ndarray, multiplicity: np.ndarray | None = None,
                     initial_f_k: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ln Σ_k N_k exp(f_k − u_kn) for every frame n, the (unnormalised) log density of the mixture of
    stages the frames were drawn from, with the stage free energies f_k solved by MBAR.

    ``u_kn`` (K, F): reduced potential of frame n under stage k's bias; ``stage`` (F,): the stage each
    frame was drawn under; ``multiplicity`` (F,): how often each frame counts (bootstrap replicas; 0 drops
    it); ``initial_f_k``: a start (the full data's solution for a replica, zeros for the estimator choice):
    Newton's method from there (:func:`newton_free_energies`), pymbar from it where that fails; without it,
    pymbar. Returns (log density (F,), f_k (K,), NaN for stages without frames)."""
    u_kn = np.asarray(u_kn, dtype=np.float64)
    stage = np.asarray(stage, dtype=np.int64)
    K, F = u_kn.shape
    mult = np.ones(F, dtype=np.int64) if multiplicity is None else np.asarray(multiplicity).astype(np.int64)
    N_k = np.bincount(stage, weights=mult, minlength=K)
    used = np.flatnonzero(N_k > 0)
    if used.size == 0:
        raise ConfigError("MBAR needs at least one frame")
    f_used = np.zeros(used.size)
    if used.size > 1:
        init = None
        if initial_f_k is not None and np.all(np.isfinite(initial_f_k[used])):
            init = initial_f_k[used] - initial_f_k[used][0]
        kept = mult > 0
        solved = None if init is None else newton_free_energies(
            u_kn[np.ix_(used, np.flatnonzero(kept))], N_k[used], mult[kept].astype(np.float64), init)
        if solved is not None:
            f_used = solved
        else:
            remap = np.full(K, -1, dtype=np.int64)
            remap[used] = np.arange(used.size)
            idx = np.repeat(np.arange(F), mult)
            idx = idx[np.argsort(remap[stage[idx]], kind="stable")]
            # "robust" (L-BFGS-B on MBAR's convex objective): the default Newton/adaptive path stalled on
            # Wang-Landau stages whose biases differ by tens of k_B T
            mbar = _import_mbar()(u_kn[used][:, idx], N_k[used], initial_f_k=init,
                                  x_kindices=remap[stage[idx]], solver_protocol="robust")
            f_used = np.asarray(mbar.f_k, dtype=np.float64)
    a = np.log(N_k[used])[:, None] + f_used[:, None] - u_kn[used]
    amax = a.max(0)
    log_den = amax + np.log(np.exp(a - amax).sum(0))
    f_k = np.full(K, np.nan)
    f_k[used] = f_used
    return log_den, f_k
