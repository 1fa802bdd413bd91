"""Batched EAM evaluator in torch, reproducing LAMMPS ``pair_style eam``, ``eam/alloy``, ``eam/fs``.

Energy of a pure element (LAMMPS's convention, per-atom ``eatom``)::

    E = sum_i e_i,   e_i = F(rho_i) + 1/2 sum_j phi(r_ij),   rho_i = sum_j rho(r_ij),   phi = z2r / r

with LAMMPS's splines (:mod:`.spline`), cutoff (pairs with ``r < cutoff``) and linear continuation of F
beyond ``rhomax``. Forces and the virial are analytic (no autograd); stress has ASE's sign:
``stress = (1/V) dE/d(strain) = (1/V) sum_pairs psi'(r) d (x) d / r``, ``virial = -V stress`` (LAMMPS's
virial, positive under compression).

The derivative of a table inside an interval is ``(3 c3 p^2 + 2 c4 p + c5) / delta``, which is LAMMPS's
``(c0 p + c1) p + c2`` up to rounding (~1e-16 relative).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import NNPDistillError
from ..neighbors import PairList, VerletList
from .eam_file import EAMFileData, atomic_number, read_eam_file
from .spline import funcfl_regrid, spline_coefficients


@dataclass
class EAMResult:
    """Output of one batched evaluation (eV, Å; B replicas of N atoms).

    energy ``(B,)``; energies ``(B, N)`` per-atom (``F_i + 1/2 sum_j phi_ij``); forces ``(B, N, 3)`` eV/Å;
    virial ``(B, 3, 3)`` eV (LAMMPS sign, ``-V * stress``); stress ``(B, 3, 3)`` eV/Å^3 (ASE sign);
    volume ``(B,)`` Å^3.
    """

    energy: torch.Tensor
    energies: torch.Tensor
    forces: torch.Tensor
    virial: torch.Tensor
    stress: torch.Tensor
    volume: torch.Tensor


class EAM:
    """One element of an EAM file, ready to evaluate (pure-element systems).

    Attributes: ``element``, ``atomic_number``, ``mass_amu``, ``cutoff_A``, ``path``, ``sha256``,
    ``format``, ``reference_lattice_A``, ``reference_structure`` (from the file header), ``dtype``,
    ``data`` (the raw :class:`EAMFileData`) and the LAMMPS spline tables (numpy, 0-based rows):
    ``F_coeffs (nrho, 7)``, ``rho_coeffs (nr, 7)``, ``z2r_coeffs (nr, 7)``; grids ``nrho, drho, nr, dr``.
    """

    def __init__(self, data: EAMFileData, element: str, dtype: torch.dtype = torch.float64,
                 sha256: str | None = None):
        k = data.element_index(element)
        self.data = data
        self.element = element
        self.path = Path(data.path)
        self.format = data.format
        self.sha256 = sha256
        self.atomic_number = int(data.atomic_numbers[k]) or atomic_number(element)
        self.mass_amu = float(data.masses[k])
        self.cutoff_A = float(data.cutoff)
        self.reference_lattice_A = float(data.lattice_constants[k])
        self.reference_structure = data.lattice_types[k].lower()
        self.dtype = dtype
        F, rho, z2r = data.F[k], data.rho[k, k], data.z2r[k, k]
        nrho, drho, nr, dr = data.nrho, data.drho, data.nr, data.dr
        self.rhomax = (nrho - 1) * drho
        if data.format == "eam":
            # LAMMPS re-grids funcfl tables (one point fewer; 4-point Lagrange), see spline.funcfl_regrid
            rmax = (nr - 1) * dr
            nr_new = int(rmax / dr + 0.5)
            nrho_new = int(self.rhomax / drho + 0.5)
            F = funcfl_regrid(F, drho, nrho_new, drho)
            rho = funcfl_regrid(rho, dr, nr_new, dr)
            Zr = funcfl_regrid(data.Z_r[k], dr, nr_new, dr)
            z2r = 27.2 * 0.529 * Zr * Zr
            nrho, nr = nrho_new, nr_new
        self.nrho, self.drho, self.nr, self.dr = nrho, drho, nr, dr
        self.F_coeffs = spline_coefficients(F, drho)
        self.rho_coeffs = spline_coefficients(rho, dr)
        self.z2r_coeffs = spline_coefficients(z2r, dr)
        self._tables: dict = {}

    def __repr__(self) -> str:
        return (f"EAM(element={self.element!r}, path={str(self.path)!r}, format={self.format!r}, "
                f"cutoff_A={self.cutoff_A}, dtype={self.dtype})")

    def tables(self, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> dict:
        """Spline tables as torch tensors on ``device``: 1-based rows with row 0 all zeros.

        ``rho3..rho6``, ``z3..z6`` ``(nr + 1,)`` (LAMMPS coefficients 3..6 of the value cubic);
        ``F`` ``(nrho + 1, 7)``.
        """
        dtype = dtype or self.dtype
        key = (str(torch.device(device)), dtype)
        if key not in self._tables:
            def col(c, k):
                return torch.tensor(np.concatenate([[0.0], c[:, k]]), dtype=dtype, device=device)
            t = {f"rho{k}": col(self.rho_coeffs, k) for k in (3, 4, 5, 6)}
            t.update({f"z{k}": col(self.z2r_coeffs, k) for k in (3, 4, 5, 6)})
            t["F"] = torch.tensor(np.concatenate([np.zeros((1, 7)), self.F_coeffs]), dtype=dtype,
                                  device=device)
            self._tables[key] = t
        return self._tables[key]

    def evaluator(self, skin_A: float = 1.0, chunk_pairs: int = 40_000, builder: str = "torch"
                  ) -> EAMEvaluator:
        """A stateful evaluator owning a Verlet list (``skin_A`` Å) over all periodic images."""
        return EAMEvaluator(self, skin_A=skin_A, chunk_pairs=chunk_pairs, builder=builder)

    # numpy reference of the single functions (LAMMPS order of operations), for tests and tools
    def embedding(self, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``F(rho)`` and ``F'(rho)`` in eV as LAMMPS evaluates them (linear beyond rhomax)."""
        rho = np.asarray(rho, dtype=np.float64)
        p = rho / self.drho + 1.0
        m = np.clip(np.trunc(p).astype(np.int64), 1, self.nrho - 1)
        p = np.minimum(p - m, 1.0)
        c = self.F_coeffs[m - 1]
        fp = (c[..., 0] * p + c[..., 1]) * p + c[..., 2]
        e = ((c[..., 3] * p + c[..., 4]) * p + c[..., 5]) * p + c[..., 6]
        e = e + np.where(rho > self.rhomax, fp * (rho - self.rhomax), 0.0)
        return e, fp

    def pair(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``rho(r), rho'(r), phi(r), phi'(r)`` (zero at ``r >= cutoff``), LAMMPS's interpolation."""
        r = np.asarray(r, dtype=np.float64)
        p = r / self.dr + 1.0
        m = np.minimum(np.trunc(p).astype(np.int64), self.nr - 1)
        p = np.minimum(p - m, 1.0)
        inside = r < self.cutoff_A
        a = self.rho_coeffs[m - 1]
        z = self.z2r_coeffs[m - 1]
        rho = ((a[..., 3] * p + a[..., 4]) * p + a[..., 5]) * p + a[..., 6]
        rhop = (a[..., 0] * p + a[..., 1]) * p + a[..., 2]
        z2 = ((z[..., 3] * p + z[..., 4]) * p + z[..., 5]) * p + z[..., 6]
        z2p = (z[..., 0] * p + z[..., 1]) * p + z[..., 2]
        phi = z2 / r
        phip = z2p / r - phi / r
        return tuple(np.where(inside, v, 0.0) for v in (rho, rhop, phi, phip))


class EAMEvaluator:
    """Batched EAM energy/forces/stress with a Verlet neighbour list (see :mod:`nnpdistill.neighbors`).

    Call with ``positions (B, N, 3)`` and ``cells (B, 3, 3)`` (Å, rows = cell vectors, fully periodic);
    the dtype is the EAM's, the device the positions'. Replicas may have different cells. The list is
    rebuilt per replica only when the skin bound requires it, so consecutive MD steps reuse it.
    """

    def __init__(self, eam: EAM, skin_A: float = 1.0, chunk_pairs: int = 40_000, builder: str = "torch"):
        self.eam = eam
        self.dtype = eam.dtype
        self.nlist = VerletList(eam.cutoff_A, skin_A, builder=builder)
        self.chunk_pairs = int(chunk_pairs)
        self._shift_key = None
        self._shift_cart = None
        self._cells_cached = None

    @property
    def n_builds(self) -> int:
        """Replica list builds so far."""
        return self.nlist.n_builds

    def reset(self) -> None:
        """Forget the neighbour list (next call builds afresh)."""
        self.nlist.reset()
        self._shift_key = None

    def _shifts(self, pairs: PairList, cells: torch.Tensor) -> torch.Tensor:
        """Cartesian image shifts ``(3, B, P)`` for the current list and cells (cached)."""
        key = (self.nlist.version, id(pairs))
        if (self._shift_key == key and self._cells_cached is not None
                and self._cells_cached.shape == cells.shape and torch.equal(self._cells_cached, cells)):
            return self._shift_cart
        sc = torch.bmm(pairs.shifts, cells)  # (B, P, 3)
        self._shift_cart = sc.permute(2, 0, 1).contiguous()
        self._shift_key = key
        self._cells_cached = cells.clone()
        return self._shift_cart

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor, per_atom: bool = True) -> EAMResult:
        """Evaluate ``B`` replicas. ``per_atom=False`` skips the per-atom energies (returns zeros)."""
        if positions.dim() != 3 or positions.shape[-1] != 3:
            raise NNPDistillError(f"positions must have shape (B, N, 3), got {tuple(positions.shape)}")
        B, N, _ = positions.shape
        if cells.shape != (B, 3, 3):
            raise NNPDistillError(f"cells must have shape ({B}, 3, 3), got {tuple(cells.shape)}")
        dt = self.dtype
        dev = positions.device
        x = positions.detach().to(dt)
        h = cells.detach().to(device=dev, dtype=dt)
        vol = torch.linalg.det(h)
        if bool((vol.abs() < 1e-6).any()):
            raise NNPDistillError(
                "a cell is singular (volume ~ 0); the EAM evaluator needs 3-D periodic cells"
            )
        e = self.eam
        T = e.tables(dev, dt)
        pairs = self.nlist.update(x, h)
        P = pairs.i.shape[1]
        shc = self._shifts(pairs, h)
        xs = x.reshape(B * N, 3).t().contiguous()  # (3, B*N)
        BN = B * N
        D = torch.empty((3, B, P), dtype=dt, device=dev)
        G1 = torch.empty((B, P), dtype=dt, device=dev)
        G2 = torch.empty((B, P), dtype=dt, device=dev)
        PHI = torch.empty((B, P), dtype=dt, device=dev)
        rho = torch.zeros(BN, dtype=dt, device=dev)
        rdr = 1.0 / e.dr
        cutsq = e.cutoff_A * e.cutoff_A
        nrm1 = e.nr - 1
        step = max(1, self.chunk_pairs // max(P, 1))
        chunks = [(b0, min(B, b0 + step)) for b0 in range(0, B, step)]
        # ---- pass 1: pair terms (density, its derivative, phi, phi') ----
        for b0, b1 in chunks:
            I = pairs.i[b0:b1].reshape(-1)
            J = pairs.j[b0:b1].reshape(-1)
            dx = torch.index_select(xs[0], 0, J, out=D[0, b0:b1].view(-1))
            dy = torch.index_select(xs[1], 0, J, out=D[1, b0:b1].view(-1))
            dz = torch.index_select(xs[2], 0, J, out=D[2, b0:b1].view(-1))
            dx.sub_(xs[0].index_select(0, I)).add_(shc[0, b0:b1].reshape(-1))
            dy.sub_(xs[1].index_select(0, I)).add_(shc[1, b0:b1].reshape(-1))
            dz.sub_(xs[2].index_select(0, I)).add_(shc[2, b0:b1].reshape(-1))
            r2 = dx * dx
            r2.addcmul_(dy, dy).addcmul_(dz, dz)
            rinv = torch.rsqrt(r2)
            p = r2 * rinv
            p.mul_(rdr).add_(1.0)
            m = p.to(torch.int64)
            m.clamp_(max=nrm1)
            p.sub_(m)
            p.clamp_(max=1.0)
            m.masked_fill_(r2 >= cutsq, 0)  # row 0 is all zeros: no contribution
            a3 = T["rho3"].index_select(0, m)
            a4 = T["rho4"].index_select(0, m)
            a5 = T["rho5"].index_select(0, m)
            v = torch.addcmul(a4, a3, p)
            v = torch.addcmul(a5, v, p)
            rho_v = torch.addcmul(T["rho6"].index_select(0, m), v, p)
            rho.scatter_add_(0, I, rho_v)
            rho.scatter_add_(0, J, rho_v)
            # rho'(r) * dr, divided by r: G1
            g1 = torch.addcmul(a4, a3, p, value=1.5)
            g1 = torch.addcmul(a5, g1, p, value=2.0)
            torch.mul(g1, rinv, out=G1[b0:b1].view(-1))
            c3 = T["z3"].index_select(0, m)
            c4 = T["z4"].index_select(0, m)
            c5 = T["z5"].index_select(0, m)
            w = torch.addcmul(c4, c3, p)
            w = torch.addcmul(c5, w, p)
            z2 = torch.addcmul(T["z6"].index_select(0, m), w, p)
            phi = torch.mul(z2, rinv, out=PHI[b0:b1].view(-1))
            z2p = torch.addcmul(c4, c3, p, value=1.5)
            z2p = torch.addcmul(c5, z2p, p, value=2.0)
            # phi'/r = (z2' - phi) / r^2 ; z2' = z2p * rdr
            z2p.mul_(rdr).sub_(phi).mul_(rinv).mul_(rinv)
            G2[b0:b1].view(-1).copy_(z2p)
        # ---- embedding ----
        pr = rho * (1.0 / e.drho) + 1.0
        mr = pr.to(torch.int64).clamp_(1, e.nrho - 1)
        pr = (pr - mr).clamp_(max=1.0)
        cf = T["F"].index_select(0, mr)
        fp = (cf[:, 0] * pr + cf[:, 1]) * pr + cf[:, 2]
        emb = ((cf[:, 3] * pr + cf[:, 4]) * pr + cf[:, 5]) * pr + cf[:, 6]
        emb = emb + fp * (rho - e.rhomax).clamp(min=0.0)
        fps = fp * rdr
        # ---- pass 2: forces ----
        Fp = torch.zeros((3, BN), dtype=dt, device=dev)
        Fm = torch.zeros((3, BN), dtype=dt, device=dev)
        FV = torch.empty((3, B, P), dtype=dt, device=dev)
        for b0, b1 in chunks:
            I = pairs.i[b0:b1].reshape(-1)
            J = pairs.j[b0:b1].reshape(-1)
            fsum = fps.index_select(0, I)
            fsum.add_(fps.index_select(0, J))
            fpair = torch.addcmul(G2[b0:b1].reshape(-1), fsum, G1[b0:b1].reshape(-1))
            for c in range(3):
                fc = torch.mul(fpair, D[c, b0:b1].reshape(-1), out=FV[c, b0:b1].view(-1))
                Fp[c].scatter_add_(0, I, fc)
                Fm[c].scatter_add_(0, J, fc)
        forces = (Fp - Fm).t().reshape(B, N, 3)
        # stress = (1/V) sum_pairs f_pair d (x) d ; virial = -V stress
        s = torch.bmm(D.permute(1, 0, 2), FV.permute(1, 2, 0))  # (B, 3, 3)
        s = 0.5 * (s + s.transpose(1, 2))
        virial = -s
        stress = s / vol.abs()[:, None, None]
        energy = emb.reshape(B, N).sum(1) + PHI.sum(1)
        if per_atom:
            half = 0.5 * PHI.reshape(-1)
            ea = emb.clone()
            ea.scatter_add_(0, pairs.i.reshape(-1), half)
            ea.scatter_add_(0, pairs.j.reshape(-1), half)
            energies = ea.reshape(B, N)
        else:
            energies = torch.zeros((B, N), dtype=dt, device=dev)
        return EAMResult(energy=energy, energies=energies, forces=forces, virial=virial, stress=stress,
                         volume=vol.abs())


def load_eam(element: str, path: str | os.PathLike | None = None, dtype: torch.dtype = torch.float64,
             format: str | None = None) -> EAM:  # noqa: A002
    """The EAM for ``element`` from ``path`` (``None``: the shipped default of the registry).

    Raises ElementNotFoundError (element not in the file / registry) and PotentialFileError (bad file).
    """
    from ..io_utils import sha256_file
    from .registry import potential_path

    resolved = potential_path(element, path)
    data = read_eam_file(resolved, format=format)
    return EAM(data, element, dtype=dtype, sha256=sha256_file(resolved))
