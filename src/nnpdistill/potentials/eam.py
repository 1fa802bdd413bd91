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
from ..neighbors import VerletList
from .eam_file import EAMFileData, atomic_number, read_eam_file
from .spline import funcfl_regrid, spline_coefficients

# Default skin (Å) of the working list filtered from the full Verlet list (see VerletList).
INNER_SKIN_A = 0.3


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
        # The element's symbol decides (LAMMPS ignores the file's number: W_zhou.eam.alloy, shipped
        # with LAMMPS, writes 1 for tungsten); the file's number only for a label that is no symbol.
        self.atomic_number = atomic_number(element) or int(data.atomic_numbers[k])
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

    def _pair_tables(self, device: torch.device | str, dtype: torch.dtype) -> dict:
        """Tables for the evaluator: as :meth:`tables`, but row ``nr`` of ``rho3..6``, ``z3..6`` is the
        constant continuation of row ``nr - 1`` (its value and slope at ``p = 1``, in the order of
        operations of the evaluator), so that clamping ``p`` at ``nr`` gives LAMMPS's index/fraction clamps.
        """
        key = ("pair", str(torch.device(device)), dtype)
        if key not in self._tables:
            t = dict(self.tables(device, dtype))
            for pre, c in (("rho", self.rho_coeffs), ("z", self.z2r_coeffs)):
                c3, c4, c5, c6 = (float(v) for v in c[self.nr - 2, 3:7])
                end = {3: 0.0, 4: 0.0, 5: c5 + 2.0 * (c4 + 1.5 * c3), 6: ((c3 + c4) + c5) + c6}
                for k in (3, 4, 5, 6):
                    col = t[f"{pre}{k}"].clone()
                    col[self.nr] = end[k]
                    t[f"{pre}{k}"] = col
            self._tables[key] = t
        return self._tables[key]

    def evaluator(self, skin_A: float = 1.0, chunk_pairs: int = 40_000, builder: str | None = None,
                  inner_skin_A: float | None = None, kernel: str | None = None) -> EAMEvaluator:
        """A stateful evaluator owning a Verlet list (``skin_A`` Å) over all periodic images.

        ``inner_skin_A``: skin of the working list filtered from the full list (see
        :class:`~nnpdistill.neighbors.VerletList`); ``None`` picks ``min(skin_A, INNER_SKIN_A)``.
        ``kernel``: auto (the fused C++ loop on CPUs, :mod:`.eam_cpp`), cpp or torch (eager torch; GPUs);
        None: :func:`.eam_cpp.default_kernel`. ``builder``, ``inner_skin_A``: by kernel when None.
        """
        return EAMEvaluator(self, skin_A=skin_A, chunk_pairs=chunk_pairs, builder=builder,
                            inner_skin_A=inner_skin_A, kernel=kernel)

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


def _spline_row(tables, m, p, w, slope_out):
    """Value and slope (d/dp, the r-derivative times dr) of a LAMMPS cubic table, coefficient columns
    c3..c6, at rows ``m`` and fractions ``p``: slope 3 c3 p^2 + 2 c4 p + c5 into ``slope_out``, value
    ((c3 p + c4) p + c5) p + c6 into ``w["a3"]``; the row buffers ``w["a3"]``..``w["a6"]`` are overwritten."""
    a3, a4, a5, a6 = (torch.index_select(t, 0, m, out=w[k]) for t, k in zip(tables, ("a3", "a4", "a5", "a6"),
                                                                             strict=True))
    g = torch.addcmul(a4, a3, p, value=1.5, out=slope_out)
    torch.addcmul(a5, g, p, value=2.0, out=g)
    v = torch.addcmul(a4, a3, p, out=a3)
    torch.addcmul(a5, v, p, out=v)
    return g, torch.addcmul(a6, v, p, out=v)


class EAMEvaluator:
    """Batched EAM energy/forces/stress with a Verlet neighbour list (see :mod:`nnpdistill.neighbors`).

    Call with ``positions (B, N, 3)`` and ``cells (B, 3, 3)`` (Å, rows = cell vectors, fully periodic);
    the dtype is the EAM's, the device the positions'. Replicas may have different cells. The list is
    rebuilt per replica only when the skin bound requires it, so consecutive MD steps reuse it.

    Evaluation runs over chunks of whole replicas (about ``chunk_pairs`` list entries each): pair
    separations, densities, embedding, pair forces and the virial of a chunk are computed while its
    arrays are still in cache, with flat 1-D tensor operations (gathers of single-column spline tables,
    ``index_add_`` accumulation), which are the fastest eager torch kernels on CPU.
    """

    def __init__(self, eam: EAM, skin_A: float = 1.0, chunk_pairs: int = 40_000, builder: str | None = None,
                 inner_skin_A: float | None = None, kernel: str | None = None):
        from .eam_cpp import KERNELS, default_kernel

        kernel = kernel or default_kernel()
        if kernel not in KERNELS:
            raise NNPDistillError(f"EAM kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel = kernel  # resolved (torch or cpp) at the first call, on the positions' device
        self.eam = eam
        self.dtype = eam.dtype
        # the list's defaults follow the kernel (set at the first call unless given): the torch kernel
        # filters a working list (inner skin 0.3 Å) from a full torch-built list; the C++ one, whose
        # per-pair cost is small, uses the full list of its own C++ builder directly
        self._list_args = (float(skin_A), builder, inner_skin_A)
        inner = min(skin_A, INNER_SKIN_A) if inner_skin_A is None else inner_skin_A
        self.nlist = VerletList(eam.cutoff_A, skin_A, builder=builder or "torch", inner_skin_A=inner)
        self.chunk_pairs = int(chunk_pairs)
        self._ws: dict = {}

    @property
    def n_builds(self) -> int:
        """Replica list builds so far."""
        return self.nlist.n_builds

    def reset(self) -> None:
        """Forget the neighbour list (next call builds afresh)."""
        self.nlist.reset()

    def _workspace(self, n: int, dt: torch.dtype, dev: torch.device) -> dict:
        """Reusable per-chunk buffers for ``n`` list entries (avoids re-allocating large tensors)."""
        key = (n, dt, str(dev))
        ws = self._ws.get(key)
        if ws is None:
            def f():
                return torch.empty(n, dtype=dt, device=dev)
            ws = {"FV": torch.empty((3, n), dtype=dt, device=dev),
                  "D": torch.empty((3, n), dtype=dt, device=dev),
                  "mask": torch.empty(n, dtype=torch.bool, device=dev),
                  "m": torch.empty(n, dtype=torch.int32, device=dev)}
            for name in ("t", "r2", "rinv", "p", "a3", "a4", "a5", "a6", "g", "G1", "phi", "fs"):
                ws[name] = f()
            self._ws = {key: ws}
        return ws

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
        if self.kernel not in ("torch", "cpp") or self.nlist.n_updates == 0:
            from .eam_cpp import resolve_kernel

            self.kernel = resolve_kernel(self.kernel, dev)
            skin, builder, inner = self._list_args
            if self.kernel == "cpp" and self.nlist.n_updates == 0:
                self.nlist = VerletList(e.cutoff_A, skin, builder=builder or "cpp",
                                        inner_skin_A=skin if inner is None else inner)
        pairs = self.nlist.update(x, h)
        shifts_t = self.nlist.shifts_t  # (B, 3, P) integer image shifts in dt
        if self.kernel == "cpp":
            from .eam_cpp import evaluate

            energy, energies, forces, s = evaluate(e, x, h, pairs, shifts_t, per_atom)
            return EAMResult(energy=energy, energies=energies, forces=forces, virial=-s,
                             stress=s / vol.abs()[:, None, None], volume=vol.abs())
        T = e._pair_tables(dev, dt)
        P = pairs.i.shape[1]
        BN = B * N
        xs = x.reshape(BN, 3).t().contiguous()  # (3, B*N)
        hT = h.transpose(1, 2).contiguous()
        rdr = 1.0 / e.dr
        cutsq = e.cutoff_A * e.cutoff_A
        one = torch.ones((), dtype=dt, device=dev)
        rho = torch.zeros(BN, dtype=dt, device=dev)
        emb = torch.empty(BN, dtype=dt, device=dev)
        fps = torch.empty(BN, dtype=dt, device=dev)
        F = torch.zeros((3, BN), dtype=dt, device=dev)
        ea = torch.zeros(BN, dtype=dt, device=dev) if per_atom else None
        s = torch.empty((B, 3, 3), dtype=dt, device=dev)
        ephi = torch.empty(B, dtype=dt, device=dev)
        # float32 arrays are half the bytes and its ops cheaper: larger chunks amortise per-op overhead
        per_chunk = self.chunk_pairs * (4 if dt == torch.float32 else 1)
        step = max(1, min(B, per_chunk // max(P, 1)))
        ws = self._workspace(step * P, dt, dev)
        rho_tables = (T["rho3"], T["rho4"], T["rho5"], T["rho6"])
        z_tables = (T["z3"], T["z4"], T["z5"], T["z6"])
        Ftab = T["F"]
        inv_drho = 1.0 / e.drho
        for b0 in range(0, B, step):
            b1 = min(B, b0 + step)
            nb = b1 - b0
            C = nb * P
            I = pairs.i[b0:b1].reshape(-1)
            J = pairs.j[b0:b1].reshape(-1)
            w = {k: v[:C] if v.dim() == 1 else v.view(-1)[: 3 * C] for k, v in ws.items()}
            tmp = w["t"]
            # ---- separations d = x_j - x_i + S h, layout (nb, 3, P) ----
            D = torch.bmm(hT[b0:b1], shifts_t[b0:b1], out=w["D"].view(nb, 3, P))
            for c in range(3):
                dc = D[:, c, :]
                dc.add_(torch.index_select(xs[c], 0, J, out=tmp).view(nb, P))
                dc.sub_(torch.index_select(xs[c], 0, I, out=tmp).view(nb, P))
            dx, dy, dz = (D[:, c, :] for c in range(3))
            r2 = w["r2"].view(nb, P)
            torch.mul(dx, dx, out=r2)
            r2.addcmul_(dy, dy).addcmul_(dz, dz)
            r2 = r2.view(-1)
            rinv = torch.rsqrt(r2, out=w["rinv"])
            # ---- LAMMPS's table index: p = r/dr + 1, m = min(int(p), nr-1), p = min(p - m, 1) ----
            # (row nr of the tables holds the value/slope at the end of row nr-1, so clamping p at nr
            # reproduces both clamps; pairs beyond the cutoff use the all-zero row 0)
            p = torch.addcmul(one, r2, rinv, value=rdr, out=w["p"])
            p.clamp_(max=float(e.nr))
            m = w["m"]
            m.copy_(p)
            p.sub_(m)
            m.mul_(torch.lt(r2, cutsq, out=w["mask"]))
            # rho(r) and rho'(r) dr (kept in g), then z2(r) = r phi(r) and z2'(r) dr (kept in gz)
            g, rho_v = _spline_row(rho_tables, m, p, w, w["g"])
            rho.index_add_(0, I, rho_v)
            rho.index_add_(0, J, rho_v)
            gz, z2 = _spline_row(z_tables, m, p, w, w["G1"])
            phi = torch.mul(z2, rinv, out=w["phi"])
            # -phi'(r) = (phi - z2'(r)) / r with z2' = gz / dr  (kept in gz)
            nphip = torch.sub(phi, gz, alpha=rdr, out=gz)
            # ---- embedding of this chunk's atoms ----
            a0, a1 = b0 * N, b1 * N
            rr = rho[a0:a1]
            pr = rr * inv_drho
            pr.add_(1.0)
            mr = pr.to(torch.int64).clamp_(1, e.nrho - 1)
            pr.sub_(mr).clamp_(max=1.0)
            cf = Ftab.index_select(0, mr)
            fp = torch.addcmul(cf[:, 1], cf[:, 0], pr)
            fp = torch.addcmul(cf[:, 2], fp, pr)
            em = torch.addcmul(cf[:, 4], cf[:, 3], pr)
            em = torch.addcmul(cf[:, 5], em, pr)
            em = torch.addcmul(cf[:, 6], em, pr, out=emb[a0:a1])
            em.addcmul_(fp, (rr - e.rhomax).clamp_(min=0.0))  # linear beyond rhomax (LAMMPS)
            torch.mul(fp, rdr, out=fps[a0:a1])
            # ---- pair forces f_ij = (F'_i + F'_j) rho'(r)/r + phi'(r)/r  (times d) ----
            fs = torch.index_select(fps, 0, I, out=w["fs"])
            fs.add_(torch.index_select(fps, 0, J, out=tmp))
            # -f_pair = (-phi'(r) - (F'_i + F'_j) rho'(r)) / r: forces on i are f_pair * d, on j -f_pair * d
            nf = nphip.mul_(rinv).addcmul_(fs, g, value=-1.0).mul_(rinv)
            FV = w["FV"].view(3, nb, P)  # contiguous (3, C) block
            nfv = nf.view(nb, P)
            for c in range(3):
                fc = torch.mul(nfv, D[:, c, :], out=FV[c]).view(-1)
                F[c].index_add_(0, J, fc)
                F[c].index_add_(0, I, fc, alpha=-1)
            torch.bmm(D, FV.permute(1, 2, 0), out=s[b0:b1])  # -sum_pairs f_pair d (x) d
            torch.sum(phi.view(nb, P), dim=1, out=ephi[b0:b1])
            if ea is not None:
                ea.index_add_(0, I, phi, alpha=0.5)
                ea.index_add_(0, J, phi, alpha=0.5)
        forces = F.t().reshape(B, N, 3)
        # stress = (1/V) sum_pairs f_pair d (x) d ; virial = -V stress
        s = -0.5 * (s + s.transpose(1, 2))
        virial = -s
        stress = s / vol.abs()[:, None, None]
        energy = emb.reshape(B, N).sum(1) + ephi
        if ea is not None:
            energies = (ea + emb).reshape(B, N)
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
