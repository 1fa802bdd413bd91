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

# Full-list builders: vectorised torch (any device), vesin's cell list, the C++ brute force (eam_cpp).
BUILDERS = ("torch", "vesin", "cpp")
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
    diag = torch.nonzero(ti == tj).squeeze(1)
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
        nr, K = r1 - r0, shifts.shape[0]
        # r2 = |D|^2 + 2 D.V + |V|^2 as one batched matmul of augmented (nr, Np, 5) x (nr, 5, K)
        ones_p = torch.ones((nr, n_pairs, 1), dtype=torch.float64, device=device)
        ones_k = torch.ones((nr, K, 1), dtype=torch.float64, device=device)
        Da = torch.cat([D, (D * D).sum(2, keepdim=True), ones_p], 2)
        Va = torch.cat([2.0 * V, ones_k, (V * V).sum(2, keepdim=True)], 2)
        r2 = torch.bmm(Da, Va.transpose(1, 2))  # (nr, Np, K)
        # an atom and its own images: only lexicographically positive shifts
        r2[:, diag[:, None], torch.nonzero(~lexpos).squeeze(1)[None, :]] = float("inf")
        flat = torch.nonzero((r2 < cut2).view(-1)).squeeze(1)
        rep = torch.div(flat, n_pairs * K, rounding_mode="floor")
        rem = flat - rep * (n_pairs * K)
        pair = torch.div(rem, K, rounding_mode="floor")
        sh = rem - pair * K
        pi, pj = ti[pair], tj[pair]
        rr = rep + r0
        qk = q.reshape(-1, 3).index_select(0, rep * n_pairs + pair)
        wi = nwrap.reshape(-1, 3).index_select(0, rr * N + pi)
        wj = nwrap.reshape(-1, 3).index_select(0, rr * N + pj)
        shift = shifts.index_select(0, sh) + (wi - wj - qk).to(torch.int64)
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


def interleave_pairs(seg: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reorder one replica's half list so that consecutive entries belong to different atoms ``i``.

    Entries are sorted by (rank within the atom's own entries, ``i``): the first neighbour of every atom,
    then the second, ... Scatter-adds (``index_add_``) over ``i`` then have no chains of dependent
    additions to one address, which makes them ~2-3x faster on CPU than over an ``i``-sorted list.
    """
    i, j, s = seg
    if i.numel() == 0:
        return seg
    if not bool((i[1:] >= i[:-1]).all()):
        o = torch.argsort(i, stable=True)
        i, j, s = i[o], j[o], s[o]
    n_i = int(i[-1]) + 1
    rank = torch.arange(i.shape[0], device=i.device) - torch.searchsorted(i, i)
    key = rank * n_i + i  # unique: place entries by key (a counting sort) instead of sorting
    slots = torch.full((int(key.max()) + 1,), -1, dtype=torch.int64, device=i.device)
    slots[key] = torch.arange(i.shape[0], device=i.device)
    o = slots[slots >= 0]
    return i[o], j[o], s[o]


def _write_rows(pairs: PairList, segments: list, rows: list[int], n_atoms: int) -> None:
    """Overwrite rows ``rows`` of a padded list in place (the width must suffice)."""
    for b in rows:
        i, j, s = segments[b]
        c = int(i.shape[0])
        pairs.i[b, :c] = i + b * n_atoms
        pairs.j[b, :c] = j + b * n_atoms
        pairs.shifts[b, :c] = s.to(pairs.shifts.dtype)
        pairs.i[b, c:] = b * n_atoms
        pairs.j[b, c:] = b * n_atoms
        pairs.shifts[b, c:] = 0.0
        pairs.shifts[b, c:, 0] = PAD_SHIFT
        pairs.counts[b] = c


class VerletList:
    """Stateful half neighbour list with a skin for ``B`` replicas of ``N`` atoms.

    ``update(positions, cells)`` returns the current :class:`PairList`, rebuilding only the replicas whose
    safety bound (module docstring) is violated. Counters: ``n_builds`` (replica builds),
    ``n_updates`` (calls), ``n_filters`` (replica lists re-filtered from the full list, see below).

    Two levels (``inner_skin_A < skin_A``): the full O(N^2) build uses ``cutoff + skin_A``; the returned
    list holds only the entries within ``cutoff + inner_skin_A``, filtered from the full list (cheap, one
    distance per entry). The working list is re-filtered when its own bound (with ``inner_skin_A``) fails;
    the full list is rebuilt first when its bound no longer guarantees every pair within
    ``cutoff + inner_skin_A``. Both are exact by the same argument as the single-level list. Entries are
    stored interleaved over atoms (:func:`interleave_pairs`), not sorted by ``i``, except from the C++
    builder (sorted by ``i``, as the C++ EAM kernel reads them best).
    """

    def __init__(self, cutoff_A: float, skin_A: float = 1.0, width_slack: float = 1.05,
                 builder: str = "torch", inner_skin_A: float | None = None):
        if cutoff_A <= 0 or skin_A < 0:
            raise ValueError(f"cutoff_A={cutoff_A} must be > 0 and skin_A={skin_A} >= 0")
        if inner_skin_A is not None and inner_skin_A < 0:
            raise ValueError(f"inner_skin_A={inner_skin_A} must be >= 0")
        if builder not in BUILDERS:
            raise ValueError(f"builder must be one of {BUILDERS}, got {builder!r}")
        if builder == "cpp":
            from .potentials.eam_cpp import build_pairs_cpp

            self._build = build_pairs_cpp
        else:
            self._build = build_pairs if builder == "torch" else build_pairs_vesin
        # interleaved entries speed up torch's scatter-adds; the C++ kernel runs fastest on i-sorted ones
        self._order = (lambda sg: sg) if builder == "cpp" else interleave_pairs
        self.cutoff_A = float(cutoff_A)
        self.skin_A = float(skin_A)
        self.inner_skin_A = self.skin_A if inner_skin_A is None else min(float(inner_skin_A), self.skin_A)
        self._two_level = self.inner_skin_A < self.skin_A
        self.width_slack = float(width_slack)
        self.pairs: PairList | None = None
        self.shifts_t: torch.Tensor | None = None  # (B, 3, P) copy of pairs.shifts, transposed
        self._segments: list | None = None  # working list per replica (int64 i, j, shifts)
        self._full: list | None = None  # full list per replica (two levels only)
        self._full_pairs: PairList | None = None  # the same, padded, for filtering
        self._full_shifts_t: torch.Tensor | None = None  # (B, 3, Pf) float64
        self._x0: torch.Tensor | None = None  # reference of the working list
        self._h0: torch.Tensor | None = None
        self._xf: torch.Tensor | None = None  # reference of the full list (two levels only)
        self._hf: torch.Tensor | None = None
        self.n_builds = 0
        self.n_filters = 0
        self.n_updates = 0
        self.version = 0  # incremented whenever the pair list changes

    def reset(self) -> None:
        self.pairs = None
        self.shifts_t = None
        self._segments = self._full = self._full_pairs = self._full_shifts_t = None
        self._x0 = self._h0 = self._xf = self._hf = None

    @staticmethod
    def _bound(x: torch.Tensor, h: torch.Tensor, x0: torch.Tensor, h0: torch.Tensor, radius: float
               ) -> torch.Tensor:
        """``(B,)`` lower bound on today's distance of any pair that was ``>= radius`` at ``(x0, h0)``."""
        # A = h0^-1 h ; y = x A^-1 - x0 = x h^-1 h0 - x0
        ainv = torch.linalg.solve(h, h0)  # h^-1 h0
        y = torch.bmm(x, ainv) - x0
        ymax = torch.linalg.norm(y, dim=2).amax(dim=1)
        A = torch.linalg.solve(h0, h)
        eye = torch.eye(3, dtype=torch.float64, device=x.device)
        sig = 1.0 - torch.linalg.norm((A - eye).reshape(-1, 9), dim=1)
        return sig * (radius - 2.0 * ymax)

    def needs_rebuild(self, positions: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """``(B,)`` bool: replicas whose working list may miss a pair within the cutoff."""
        assert self._h0 is not None and self._x0 is not None
        x = positions.detach().to(torch.float64)
        h = cells.detach().to(torch.float64)
        return self._bound(x, h, self._x0, self._h0, self.cutoff_A + self.inner_skin_A) < self.cutoff_A

    def _filter(self, idx: list[int], x: torch.Tensor, h: torch.Tensor) -> list:
        """Working-list segments of replicas ``idx``: full-list entries within ``cutoff + inner_skin_A``
        at positions ``x (B,N,3)`` and cells ``h (B,3,3)`` (float64)."""
        fp = self._full_pairs
        B, N, _ = x.shape
        sel = torch.tensor(idx, device=x.device)
        k, Pf = len(idx), fp.i.shape[1]
        d = torch.bmm(h[sel].transpose(1, 2), self._full_shifts_t[sel])  # (k, 3, Pf)
        I = fp.i[sel].reshape(-1)
        J = fp.j[sel].reshape(-1)
        xs = x.reshape(B * N, 3).t()
        r2 = torch.zeros((k, Pf), dtype=torch.float64, device=x.device)
        for c in range(3):
            xc = xs[c].contiguous()
            dc = d[:, c, :]
            dc.add_(xc.index_select(0, J).view(k, Pf)).sub_(xc.index_select(0, I).view(k, Pf))
            r2.addcmul_(dc, dc)
        keep = (r2 < (self.cutoff_A + self.inner_skin_A) ** 2).view(-1)  # padding entries are far away
        counts = keep.view(k, Pf).sum(1).tolist()
        flat = torch.nonzero(keep).squeeze(1)
        ii = I.index_select(0, flat).remainder_(N)
        jj = J.index_select(0, flat).remainder_(N)
        st = self._full_shifts_t[sel]
        ss = torch.stack([st[:, c, :].reshape(-1).index_select(0, flat) for c in range(3)], 1)
        ss = ss.to(torch.int64)
        self.n_filters += k
        return list(zip(torch.split(ii, counts), torch.split(jj, counts), torch.split(ss, counts),
                        strict=True))

    def _set_full(self, idx: list[int], n_atoms: int) -> None:
        """(Re)write the padded full list for replicas ``idx`` from ``self._full``."""
        need = max(int(sg[0].shape[0]) for sg in self._full)
        if self._full_pairs is None or need > self._full_pairs.i.shape[1]:
            self._full_pairs = pad_pairs(self._full, n_atoms, torch.float64,
                                         min_width=int(need * self.width_slack) + 8)
        else:
            _write_rows(self._full_pairs, self._full, idx, n_atoms)
        self._full_shifts_t = self._full_pairs.shifts.transpose(1, 2).contiguous()

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
        x = positions.detach().to(torch.float64)
        h = cells.detach().to(torch.float64)
        if not same_shape:
            full = [self._order(sg) for sg in self._build(x, h, rc)]
            self.n_builds += B
            if self._two_level:
                self._full = full
                self._full_pairs = None
                self._set_full(list(range(B)), N)
                self._xf, self._hf = x.clone(), h.clone()
                self._segments = self._filter(list(range(B)), x, h)
            else:
                self._segments = full
            self._x0, self._h0 = x.clone(), h.clone()
            self.pairs = self._pad(N, dtype)
            self.version += 1
            return self.pairs
        redo = self.needs_rebuild(x, h)
        idx = torch.nonzero(redo).squeeze(1)
        if idx.numel() == 0:
            return self.pairs
        idx_list = idx.tolist()
        if self._two_level:
            bf = self._bound(x[idx], h[idx], self._xf[idx], self._hf[idx], rc)
            ridx = idx[bf < self.cutoff_A + self.inner_skin_A]
            if ridx.numel():
                new = self._build(x[ridx], h[ridx], rc)
                for k, b in enumerate(ridx.tolist()):
                    self._full[b] = self._order(new[k])
                self.n_builds += int(ridx.numel())
                self._xf[ridx] = x[ridx]
                self._hf[ridx] = h[ridx]
                self._set_full(ridx.tolist(), N)
            for b, sg in zip(idx_list, self._filter(idx_list, x, h), strict=True):
                self._segments[b] = sg
        else:
            new = self._build(x[idx], h[idx], rc)
            for k, b in enumerate(idx_list):
                self._segments[b] = self._order(new[k])
            self.n_builds += len(idx_list)
        self._x0[idx] = x[idx]
        self._h0[idx] = h[idx]
        self.version += 1
        width = self.pairs.i.shape[1]
        need = max(int(s[0].shape[0]) for s in self._segments)
        if need > width:
            self.pairs = self._pad(N, dtype)
        else:
            _write_rows(self.pairs, self._segments, idx_list, N)
            self.shifts_t[idx] = self.pairs.shifts[idx].transpose(1, 2)
        return self.pairs

    def _pad(self, n_atoms: int, dtype: torch.dtype) -> PairList:
        need = max(int(s[0].shape[0]) for s in self._segments)
        pairs = pad_pairs(self._segments, n_atoms, dtype, min_width=int(need * self.width_slack) + 8)
        self.shifts_t = pairs.shifts.transpose(1, 2).contiguous()
        return pairs
