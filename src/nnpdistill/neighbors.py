"""Periodic half neighbour lists over all images, batched over replicas, with a Verlet skin.

Every replica ``b`` holds ``N`` atoms in a fully periodic cell ``cells[b]`` (rows = cell vectors, Å).
A pair entry ``(i, j, S)`` stands for the separation vector ``d = x_j - x_i + S @ cell`` (``S`` integer);
each unordered pair of an atom and an image of another (or of itself, when the cutoff exceeds half a
cell) appears once: ``i < j`` with any ``S``, or ``i == j`` with ``S`` lexicographically positive.
Any number of images is included, so cutoffs larger than the cell work.

:class:`VerletList` keeps a list built with ``cutoff + skin`` and rebuilds a replica only when needed.
With ``A = h0^-1 h`` the deformation of the cell since the build and ``y_i = x_i A^-1 - x0_i`` the
displacements measured in the build cell, an excluded pair (``|d0| >= rc + skin``) now has
``|d| >= sigma_min(A) (rc + skin - 2 max|y|)`` and ``sigma_min(A) >= 1 - ||A - I||_F``; a replica is
rebuilt when that bound falls below ``rc``. This is exact for any MD (NVE/NVT/NPT, wrapped or not).

The builder is plain vectorised torch (runs on any device): fractional coordinates, image ranges from
the interplanar spacings, all (pair, image) distances by one batched matmul, O(N^2) per replica.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Shift given to padding entries: puts the "pair" ~1e6 cell lengths away, far outside any cutoff.
PAD_SHIFT = float(2**20)


@dataclass
class PairList:
    """Padded per-replica half list (all tensors on the positions' device).

    Attributes:
        i, j: ``(B, P)`` int64 indices into the flattened ``(B*N)`` atoms (``b*N + atom``).
        shifts: ``(B, P, 3)`` integer image shifts (stored in the float dtype); padding entries have
            ``(PAD_SHIFT, 0, 0)`` and ``i == j``.
        counts: ``(B,)`` number of real entries per replica (the rest is padding at the end).
    """

    i: torch.Tensor
    j: torch.Tensor
    shifts: torch.Tensor
    counts: torch.Tensor


def _triu_pairs(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.triu_indices(n, n, offset=0, device=device)
    return idx[0], idx[1]


def build_pairs(positions: torch.Tensor, cells: torch.Tensor, cutoff: float,
                max_candidates: int = 2_000_000) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """All half-list pairs with ``|d| < cutoff`` for each replica.

    For every atom pair ``i <= j`` the fractional separation is reduced to ``[-1/2, 1/2]``; the image
    shifts ``n`` with ``|n_a| <= floor(cutoff / d_a + 1/2)`` (``d_a`` the interplanar spacings) are tested
    at once through ``|f h + n h|^2 = |f h|^2 + 2 (f h).(n h) + |n h|^2`` (one batched matmul).

    Args:
        positions: ``(R, N, 3)`` Å. cells: ``(R, 3, 3)`` Å, rows = cell vectors, non-singular.
        cutoff: Å.
        max_candidates: memory bound on (replica, pair, shift) candidates processed at once.

    Returns:
        one ``(i, j, shifts)`` per replica: ``i, j`` int64 ``(P_r,)`` atom indices (sorted by ``i``),
        ``shifts`` int64 ``(P_r, 3)``.
    """
    R, N, _ = positions.shape
    device = positions.device
    # geometry in float64 for a robust build even when the evaluator runs in float32
    x = positions.detach().to(torch.float64)
    h = cells.detach().to(torch.float64)
    hinv = torch.linalg.inv(h)
    s = x @ hinv
    nwrap = torch.floor(s)
    sw = s - nwrap
    spacing = 1.0 / torch.linalg.norm(hinv, dim=1)  # (R, 3): d_a = 1 / |column a of h^-1|
    kmax = torch.floor(cutoff / spacing + 0.5).to(torch.int64)  # (R, 3)
    ti, tj = _triu_pairs(N, device)
    n_pairs = ti.shape[0]
    same = ti == tj
    cut2 = cutoff * cutoff
    out: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    r0 = 0
    while r0 < R:
        # group replicas sharing one shift set, within the memory bound
        k = kmax[r0]
        r1 = r0 + 1
        while r1 < R:
            k_new = torch.maximum(k, kmax[r1])
            n_shift = int(torch.prod(2 * k_new + 1))
            if (r1 + 1 - r0) * n_pairs * n_shift > max_candidates:
                break
            k = k_new
            r1 += 1
        rng = [torch.arange(-int(k[a]), int(k[a]) + 1, device=device) for a in range(3)]
        shifts = torch.cartesian_prod(*rng).reshape(-1, 3)  # (K, 3), lexicographic order
        lexpos = (shifts[:, 0] > 0) | ((shifts[:, 0] == 0) & ((shifts[:, 1] > 0) | (
            (shifts[:, 1] == 0) & (shifts[:, 2] > 0))))
        hh = h[r0:r1]
        f = sw[r0:r1, tj] - sw[r0:r1, ti]  # (nr, Np, 3)
        q = torch.round(f)
        f = f - q
        D = f @ hh  # (nr, Np, 3) Cartesian minimum-image-ish separations
        V = shifts.to(torch.float64) @ hh  # (nr, K, 3)
        a = (D * D).sum(2)  # (nr, Np)
        v = (V * V).sum(2)  # (nr, K)
        r2 = torch.baddbmm(v[:, None, :], D, V.transpose(1, 2), alpha=2.0)
        r2 += a[:, :, None]
        keep = r2 < cut2
        keep &= ~(same[:, None] & ~lexpos[None, :])[None]
        rep, pair, sh = torch.nonzero(keep, as_tuple=True)
        pi, pj = ti[pair], tj[pair]
        rr = rep + r0
        shift = shifts[sh] - q[rep, pair].to(torch.int64) + (nwrap[rr, pi] - nwrap[rr, pj]).to(torch.int64)
        counts = torch.bincount(rep, minlength=r1 - r0).tolist()
        parts = (torch.split(pi, counts), torch.split(pj, counts), torch.split(shift, counts))
        out.extend(zip(*parts, strict=True))
        r0 = r1
    return out


def build_pairs_vesin(positions: torch.Tensor, cells: torch.Tensor, cutoff: float
                      ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Same contract as :func:`build_pairs`, computed per replica by vesin's cell list (CPU)."""
    import numpy as np
    import vesin

    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=False)
    x = positions.detach().to(torch.float64).cpu().numpy()
    h = cells.detach().to(torch.float64).cpu().numpy()
    out = []
    for b in range(x.shape[0]):
        i, j, S = nl.compute(x[b], h[b], True, "ijS")
        i = i.astype(np.int64)
        j = j.astype(np.int64)
        S = S.astype(np.int64)
        # canonical orientation: i < j, or i == j with S lexicographically positive
        flip = (i > j) | ((i == j) & ((S[:, 0] < 0) | ((S[:, 0] == 0) & ((S[:, 1] < 0) | (
            (S[:, 1] == 0) & (S[:, 2] < 0))))))
        i2 = np.where(flip, j, i)
        j2 = np.where(flip, i, j)
        S = np.where(flip[:, None], -S, S)
        order = np.lexsort((j2, i2))
        out.append(tuple(torch.from_numpy(np.ascontiguousarray(a[order])).to(positions.device)
                         for a in (i2, j2, S)))
    return out


def pad_pairs(segments: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], n_atoms: int,
              dtype: torch.dtype, min_width: int = 0) -> PairList:
    """Stack per-replica pair segments into a padded :class:`PairList` (global flat atom indices)."""
    B = len(segments)
    counts = [int(s[0].shape[0]) for s in segments]
    width = max(max(counts, default=0), min_width, 1)
    device = segments[0][0].device
    I = torch.empty((B, width), dtype=torch.int64, device=device)
    J = torch.empty((B, width), dtype=torch.int64, device=device)
    S = torch.zeros((B, width, 3), dtype=dtype, device=device)
    for b, (i, j, s) in enumerate(segments):
        c = counts[b]
        I[b, :c] = i + b * n_atoms
        J[b, :c] = j + b * n_atoms
        S[b, :c] = s.to(dtype)
        I[b, c:] = b * n_atoms
        J[b, c:] = b * n_atoms
        S[b, c:, 0] = PAD_SHIFT
    return PairList(I, J, S, torch.tensor(counts, device=device))


class VerletList:
    """Stateful half neighbour list with a skin for ``B`` replicas of ``N`` atoms.

    ``update(positions, cells)`` returns the current :class:`PairList`, rebuilding only the replicas whose
    safety bound (module docstring) is violated. Counters: ``n_builds`` (replica builds),
    ``n_updates`` (calls).
    """

    def __init__(self, cutoff_A: float, skin_A: float = 1.0, width_slack: float = 1.05,
                 builder: str = "torch"):
        if cutoff_A <= 0 or skin_A < 0:
            raise ValueError(f"cutoff_A={cutoff_A} must be > 0 and skin_A={skin_A} >= 0")
        if builder not in ("torch", "vesin"):
            raise ValueError(f"builder must be 'torch' or 'vesin', got {builder!r}")
        self._build = build_pairs if builder == "torch" else build_pairs_vesin
        self.cutoff_A = float(cutoff_A)
        self.skin_A = float(skin_A)
        self.width_slack = float(width_slack)
        self.pairs: PairList | None = None
        self._segments: list | None = None
        self._x0: torch.Tensor | None = None
        self._h0: torch.Tensor | None = None
        self.n_builds = 0
        self.n_updates = 0
        self.version = 0  # incremented whenever the pair list changes

    def reset(self) -> None:
        self.pairs = None
        self._segments = None
        self._x0 = self._h0 = None

    def needs_rebuild(self, positions: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """``(B,)`` bool: replicas whose list may miss a pair within the cutoff."""
        x = positions.detach().to(torch.float64)
        h = cells.detach().to(torch.float64)
        h0 = self._h0
        assert h0 is not None and self._x0 is not None
        # A = h0^-1 h ; y = x A^-1 - x0 = x h^-1 h0 - x0
        ainv = torch.linalg.solve(h, h0)  # h^-1 h0
        y = torch.bmm(x, ainv) - self._x0
        ymax = torch.linalg.norm(y, dim=2).amax(dim=1)
        A = torch.linalg.solve(h0, h)
        eye = torch.eye(3, dtype=torch.float64, device=x.device)
        sig = 1.0 - torch.linalg.norm((A - eye).reshape(-1, 9), dim=1)
        bound = sig * (self.cutoff_A + self.skin_A - 2.0 * ymax)
        return bound < self.cutoff_A

    def update(self, positions: torch.Tensor, cells: torch.Tensor) -> PairList:
        """Pair list valid for ``positions (B,N,3)``, ``cells (B,3,3)`` (Å)."""
        self.n_updates += 1
        B, N, _ = positions.shape
        dtype = positions.dtype
        same_shape = (
            self.pairs is not None and self._x0 is not None and self._x0.shape == (B, N, 3)
            and self._x0.device == positions.device and self.pairs.shifts.dtype == dtype
        )
        rc = self.cutoff_A + self.skin_A
        if not same_shape:
            self._segments = self._build(positions, cells, rc)
            self.n_builds += B
            self._x0 = positions.detach().to(torch.float64).clone()
            self._h0 = cells.detach().to(torch.float64).clone()
            self.pairs = self._pad(N, dtype)
            self.version += 1
            return self.pairs
        redo = self.needs_rebuild(positions, cells)
        idx = torch.nonzero(redo).squeeze(1)
        if idx.numel() == 0:
            return self.pairs
        new = self._build(positions[idx], cells[idx], rc)
        idx_list = idx.tolist()
        for k, b in enumerate(idx_list):
            self._segments[b] = new[k]
        self.n_builds += len(idx_list)
        self._x0[idx] = positions.detach()[idx].to(torch.float64)
        self._h0[idx] = cells.detach()[idx].to(torch.float64)
        self.version += 1
        width = self.pairs.i.shape[1]
        need = max(int(s[0].shape[0]) for s in self._segments)
        if need > width:
            self.pairs = self._pad(N, dtype)
        else:
            for b in idx_list:
                i, j, s = self._segments[b]
                c = int(i.shape[0])
                self.pairs.i[b, :c] = i + b * N
                self.pairs.j[b, :c] = j + b * N
                self.pairs.shifts[b, :c] = s.to(dtype)
                self.pairs.i[b, c:] = b * N
                self.pairs.j[b, c:] = b * N
                self.pairs.shifts[b, c:] = 0.0
                self.pairs.shifts[b, c:, 0] = PAD_SHIFT
                self.pairs.counts[b] = c
        return self.pairs

    def _pad(self, n_atoms: int, dtype: torch.dtype) -> PairList:
        need = max(int(s[0].shape[0]) for s in self._segments)
        return pad_pairs(self._segments, n_atoms, dtype, min_width=int(need * self.width_slack) + 8)
