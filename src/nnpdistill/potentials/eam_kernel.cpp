#include <torch/extension.h>
#include <vector>
#include <algorithm>
#include <cmath>

// Fused EAM energy, forces and virial of B replicas over a padded half neighbour list, on one thread, in
// LAMMPS's pair_eam order of work: densities, embedding, pair forces. Built at first use by
// nnpdistill.potentials.eam_cpp with fixed flags (no -march=native, no FMA contraction), so every x86-64
// machine runs the same instructions and writes the same bytes.
//
// x (B*N, 3); h (B, 3, 3), rows the cell vectors; I, J (B, P) indices into the B*N atoms; S (B, 3, P)
// integer image shifts stored as floats, a pair's separation d = x_J - x_I + S h (padding: a huge shift);
// rt, zt (nr + 1, 4): LAMMPS's value coefficients c3..c6 of rho(r) and z2(r) = r phi(r), 1-based rows;
// Ft (nrho + 1, 7) the embedding table. buf (5 P), ibuf (3 P): d, r, p and i, j, m of the pairs within
// the cutoff, written by the density pass for the force pass.
template <typename T>
static void eam_impl(const T* x, const T* h, const int64_t* I, const int64_t* J, const T* S,
                     int64_t B, int64_t N, int64_t P,
                     const T* rt, const T* zt, const T* Ft, T* buf, int64_t* ibuf,
                     int64_t nr, int64_t nrho, double dr, double drho, double cutoff, double rhomax,
                     T* rho, T* fp, T* eatom, T* f, T* vir, T* energy, bool per_atom) {
  const T rdr = T(1.0 / dr), rdrho = T(1.0 / drho), cutsq = T(cutoff * cutoff);
  for (int64_t b = 0; b < B; ++b) {
    const T* hb = h + 9 * b;
    const int64_t* Ib = I + P * b;
    const int64_t* Jb = J + P * b;
    const T* Sb = S + 3 * P * b;
    // pass 1: densities; the pairs within the cutoff are kept compactly for pass 2
    int64_t nin = 0;
    for (int64_t k = 0; k < P; ++k) {
      const int64_t i = Ib[k], j = Jb[k];
      const T s0 = Sb[k], s1 = Sb[P + k], s2 = Sb[2 * P + k];
      T d[3];
      for (int c = 0; c < 3; ++c)
        d[c] = (s0 * hb[c] + s1 * hb[3 + c] + s2 * hb[6 + c]) + x[3 * j + c] - x[3 * i + c];
      const T r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      if (!(r2 < cutsq)) continue;
      const T r = std::sqrt(r2);
      T p = r * rdr + T(1);
      int64_t m = static_cast<int64_t>(p);
      if (m > nr - 1) m = nr - 1;
      p -= T(m);
      if (p > T(1)) p = T(1);
      const T* c = rt + 4 * m;
      const T v = ((c[0] * p + c[1]) * p + c[2]) * p + c[3];
      T* bk = buf + 5 * nin;
      bk[0] = d[0]; bk[1] = d[1]; bk[2] = d[2]; bk[3] = r; bk[4] = p;
      ibuf[3 * nin] = i; ibuf[3 * nin + 1] = j; ibuf[3 * nin + 2] = m;
      ++nin;
      rho[i] += v;
      rho[j] += v;
    }
    // embedding
    T eemb = 0;
    for (int64_t a = b * N; a < (b + 1) * N; ++a) {
      T p = rho[a] * rdrho + T(1);
      int64_t m = static_cast<int64_t>(p);
      if (m < 1) m = 1;
      if (m > nrho - 1) m = nrho - 1;
      p -= T(m);
      if (p > T(1)) p = T(1);
      const T* c = Ft + 7 * m;
      const T fpa = (c[0] * p + c[1]) * p + c[2];
      T e = ((c[3] * p + c[4]) * p + c[5]) * p + c[6];
      if (rho[a] > T(rhomax)) e += fpa * (rho[a] - T(rhomax));
      fp[a] = fpa;
      eatom[a] = e;
      eemb += e;
    }
    // pass 2: forces, virial, pair energy
    T v00 = 0, v01 = 0, v02 = 0, v11 = 0, v12 = 0, v22 = 0, ep = 0;
    for (int64_t k = 0; k < nin; ++k) {
      const int64_t i = ibuf[3 * k], j = ibuf[3 * k + 1], m = ibuf[3 * k + 2];
      const T* bk = buf + 5 * k;
      const T d[3] = {bk[0], bk[1], bk[2]};
      const T r = bk[3], p = bk[4];
      const T rinv = T(1) / r;
      const T* a = rt + 4 * m; const T* zc = zt + 4 * m;
      const T rhop = ((T(3) * a[0] * p + T(2) * a[1]) * p + a[2]) * rdr;
      const T z2 = ((zc[0] * p + zc[1]) * p + zc[2]) * p + zc[3];
      const T z2p = ((T(3) * zc[0] * p + T(2) * zc[1]) * p + zc[2]) * rdr;
      const T phi = z2 * rinv;
      const T phip = (z2p - phi) * rinv;
      const T psip = (fp[i] + fp[j]) * rhop + phip;
      const T fpair = psip * rinv;  // force on i: fpair * d, on j: -fpair * d
      for (int c = 0; c < 3; ++c) {
        f[3 * i + c] += fpair * d[c];
        f[3 * j + c] -= fpair * d[c];
      }
      v00 += fpair * d[0] * d[0]; v01 += fpair * d[0] * d[1]; v02 += fpair * d[0] * d[2];
      v11 += fpair * d[1] * d[1]; v12 += fpair * d[1] * d[2]; v22 += fpair * d[2] * d[2];
      ep += phi;
      if (per_atom) { eatom[i] += T(0.5) * phi; eatom[j] += T(0.5) * phi; }
    }
    T* vb = vir + 9 * b;
    vb[0] = v00; vb[1] = v01; vb[2] = v02; vb[3] = v01; vb[4] = v11; vb[5] = v12; vb[6] = v02; vb[7] = v12;
    vb[8] = v22;
    energy[b] = eemb + ep;
  }
}

std::vector<torch::Tensor> eam_forward(torch::Tensor x, torch::Tensor h, torch::Tensor I, torch::Tensor J,
                                       torch::Tensor S, std::vector<torch::Tensor> tabs, int64_t nr,
                                       int64_t nrho, double dr, double drho, double cutoff, double rhomax,
                                       bool per_atom) {
  const int64_t B = h.size(0), BN = x.size(0), N = BN / B, P = I.size(1);
  auto opts = x.options();
  auto rho = torch::zeros({BN}, opts), fp = torch::empty({BN}, opts), eatom = torch::empty({BN}, opts);
  auto buf = torch::empty({5 * P}, opts);
  auto ibuf = torch::empty({3 * P}, I.options());
  auto f = torch::zeros({BN, 3}, opts), vir = torch::empty({B, 3, 3}, opts),
       energy = torch::empty({B}, opts);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "eam_forward", [&] {
    eam_impl<scalar_t>(x.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), I.data_ptr<int64_t>(),
                       J.data_ptr<int64_t>(), S.data_ptr<scalar_t>(), B, N, P,
                       tabs[0].data_ptr<scalar_t>(), tabs[1].data_ptr<scalar_t>(), tabs[2].data_ptr<scalar_t>(),
                       buf.data_ptr<scalar_t>(), ibuf.data_ptr<int64_t>(),
                       nr, nrho, dr, drho, cutoff, rhomax, rho.data_ptr<scalar_t>(), fp.data_ptr<scalar_t>(),
                       eatom.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), vir.data_ptr<scalar_t>(),
                       energy.data_ptr<scalar_t>(), per_atom);
  });
  return {energy, eatom, f, vir};
}

// Half neighbour lists of R replicas, the contract of nnpdistill.neighbors.build_pairs: every pair of an
// atom and an image of another (or of itself, for lexicographically positive shifts) with |d| < cutoff,
// d = x_j - x_i + S h, once, i <= j, sorted by i, then j, then the shift. Brute force over atom pairs and
// the images within floor(cutoff / spacing + 1/2) cells (spacing: the cell's interplanar spacings), on
// wrapped fractional coordinates. x (R, N, 3), h (R, 3, 3) float64. Returns i, j (M,), S (M, 3) int64 and
// the counts (R,).
std::vector<torch::Tensor> build_pairs(torch::Tensor x, torch::Tensor h, double cutoff) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat64 && h.scalar_type() == torch::kFloat64, "float64 input");
  x = x.contiguous();
  h = h.contiguous();
  const int64_t R = x.size(0), N = x.size(1);
  const double* X = x.data_ptr<double>();
  const double* Hs = h.data_ptr<double>();
  const double cut2 = cutoff * cutoff;
  std::vector<int64_t> I, J, S, counts(R);
  std::vector<double> sw(3 * N), nw(3 * N);
  for (int64_t r = 0; r < R; ++r) {
    const double* H = Hs + 9 * r;
    const double a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], hh = H[7], k = H[8];
    const double det = a * (e * k - f * hh) - b * (d * k - f * g) + c * (d * hh - e * g);
    TORCH_CHECK(std::abs(det) > 1e-6, "a cell is singular (volume ~ 0)");
    const double inv[9] = {(e * k - f * hh) / det, (c * hh - b * k) / det, (b * f - c * e) / det,
                           (f * g - d * k) / det, (a * k - c * g) / det, (c * d - a * f) / det,
                           (d * hh - e * g) / det, (b * g - a * hh) / det, (a * e - b * d) / det};
    int64_t km[3];
    for (int q = 0; q < 3; ++q) {  // spacing d_q = 1 / |column q of h^-1|
      const double nrm = std::sqrt(inv[q] * inv[q] + inv[3 + q] * inv[3 + q] + inv[6 + q] * inv[6 + q]);
      km[q] = static_cast<int64_t>(std::floor(cutoff * nrm + 0.5));
    }
    const double* xr = X + 3 * N * r;
    for (int64_t i = 0; i < N; ++i)
      for (int q = 0; q < 3; ++q) {
        const double sq = xr[3 * i] * inv[q] + xr[3 * i + 1] * inv[3 + q] + xr[3 * i + 2] * inv[6 + q];
        nw[3 * i + q] = std::floor(sq);
        sw[3 * i + q] = sq - nw[3 * i + q];
      }
    const int64_t before = static_cast<int64_t>(I.size());
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = i; j < N; ++j) {
        double fr[3], qr[3], D[3];
        for (int q = 0; q < 3; ++q) {
          fr[q] = sw[3 * j + q] - sw[3 * i + q];
          qr[q] = std::nearbyint(fr[q]);  // half to even, as torch.round
          fr[q] -= qr[q];
        }
        for (int q = 0; q < 3; ++q) D[q] = fr[0] * H[q] + fr[1] * H[3 + q] + fr[2] * H[6 + q];
        for (int64_t n0 = -km[0]; n0 <= km[0]; ++n0)
          for (int64_t n1 = -km[1]; n1 <= km[1]; ++n1)
            for (int64_t n2 = -km[2]; n2 <= km[2]; ++n2) {
              if (i == j && !(n0 > 0 || (n0 == 0 && (n1 > 0 || (n1 == 0 && n2 > 0))))) continue;
              double r2 = 0;
              for (int q = 0; q < 3; ++q) {
                const double v = D[q] + n0 * H[q] + n1 * H[3 + q] + n2 * H[6 + q];
                r2 += v * v;
              }
              if (!(r2 < cut2)) continue;
              I.push_back(i);
              J.push_back(j);
              const int64_t n[3] = {n0, n1, n2};
              for (int q = 0; q < 3; ++q)
                S.push_back(n[q] + static_cast<int64_t>(nw[3 * i + q] - nw[3 * j + q] - qr[q]));
            }
      }
    counts[r] = static_cast<int64_t>(I.size()) - before;
  }
  const int64_t M = static_cast<int64_t>(I.size());
  auto lo = torch::TensorOptions().dtype(torch::kInt64);
  auto ti = torch::empty({M}, lo), tj = torch::empty({M}, lo), ts = torch::empty({M, 3}, lo);
  auto tc = torch::empty({R}, lo);
  std::copy(I.begin(), I.end(), ti.data_ptr<int64_t>());
  std::copy(J.begin(), J.end(), tj.data_ptr<int64_t>());
  std::copy(S.begin(), S.end(), ts.data_ptr<int64_t>());
  std::copy(counts.begin(), counts.end(), tc.data_ptr<int64_t>());
  return {ti, tj, ts, tc};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("eam_forward", &eam_forward, "EAM energy (B), per-atom energies (B*N), forces (B*N, 3) and the "
        "sum over pairs of f_pair d (x) d (B, 3, 3) of B replicas over a padded half list");
  m.def("build_pairs", &build_pairs, "half neighbour lists of R replicas (i, j, S, counts)");
}
