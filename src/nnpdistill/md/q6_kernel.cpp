#include <torch/extension.h>
#include <vector>
#include <cmath>

// The q6 bond-order correlation O of B replicas (nnpdistill.md.order_q6) and its analytic derivatives with
// respect to the positions and a homogeneous strain, on one thread, over the padded half neighbour list of
// the Verlet list: the same function as the torch code there (which autograd differentiates), in four
// passes: neighbour harmonics, normalised q6m, scores, and (with gradient) the chain rule back to the pairs.
// Built at first use by nnpdistill.md.q6_cpp with the EAM kernel's fixed flags (same bytes on every x86-64).
//
// x (B*N, 3); h (B, 3, 3), rows the cell vectors; I, J (B, P) indices into the B*N atoms; S (B, 3, P) image
// shifts as floats (d = x_J - x_I + S h; padding: a huge shift, so r > r_off and it weighs 0);
// C (7, 7): N_6m P6^(m)(z) = sum_k z^k C[k, m]. solid_width > 0: O = sum_a F(u_a) with F the smooth step
// (1 + tanh((u - solid_center) / solid_width)) / 2 of atom a's score u_a (order q6_solid), else sum_a u_a.
namespace {

constexpr int L = 6;
constexpr int M = L + 1;
constexpr double PI = 3.14159265358979323846;

struct Pair {
  int64_t i, j;
  double d[3], r, w, dw, c;
  double yr[M], yi[M];  // Y6m(u), m = 0..6
  double poly[M], pr[M], pi[M], dpoly[M];
};

inline double wm(int m) { return m == 0 ? 1.0 : 2.0; }

}  // namespace

std::vector<torch::Tensor> q6_forward(torch::Tensor x_, torch::Tensor h_, torch::Tensor I_, torch::Tensor J_,
                                      torch::Tensor S_, torch::Tensor C_, int64_t N, double r_on, double r_off,
                                      bool gradient, double solid_center, double solid_width) {
  TORCH_CHECK(x_.scalar_type() == torch::kFloat64, "the q6 kernel runs in float64");
  auto x = x_.contiguous(), h = h_.contiguous(), I = I_.contiguous(), J = J_.contiguous();
  auto S = S_.contiguous(), C = C_.contiguous();
  const int64_t B = h.size(0), P = I.size(1);
  const double* X = x.data_ptr<double>();
  const double* H = h.data_ptr<double>();
  const int64_t* Ip = I.data_ptr<int64_t>();
  const int64_t* Jp = J.data_ptr<int64_t>();
  const double* Sp = S.data_ptr<double>();
  const double* Cp = C.data_ptr<double>();
  auto opt = x.options();
  auto O = torch::zeros({B}, opt);
  auto gpos = torch::zeros({B * N, 3}, opt);
  auto geps = torch::zeros({B, 3, 3}, opt);
  double* Op = O.data_ptr<double>();
  double* G = gpos.data_ptr<double>();
  double* E = geps.data_ptr<double>();
  const double roff2 = r_off * r_off, width = r_off - r_on;
  std::vector<Pair> pairs;
  pairs.reserve(P);
  std::vector<double> qr(N * M), qi(N * M), wsum(N), score(N), nrm(N), Gr(N * M), Gi(N * M), g(N), hs(N);
  std::vector<double> phi(N, 1.0);  // dO/du_a for O = sum_a F(u_a), u_a = score_a / max(wsum_a, 1)
  const bool solid = solid_width > 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const double* hb = H + 9 * b;
    const int64_t* Ib = Ip + P * b;
    const int64_t* Jb = Jp + P * b;
    const double* Sb = Sp + 3 * P * b;
    const int64_t base = b * N;
    pairs.clear();
    std::fill(qr.begin(), qr.end(), 0.0);
    std::fill(qi.begin(), qi.end(), 0.0);
    std::fill(wsum.begin(), wsum.end(), 0.0);
    std::fill(score.begin(), score.end(), 0.0);
    // pass 1: the pairs within r_off, their weights and harmonics, summed into q6m
    for (int64_t k = 0; k < P; ++k) {
      const int64_t i = Ib[k], j = Jb[k];
      const double s0 = Sb[k], s1 = Sb[P + k], s2 = Sb[2 * P + k];
      Pair p;
      for (int c = 0; c < 3; ++c)
        p.d[c] = (s0 * hb[c] + s1 * hb[3 + c] + s2 * hb[6 + c]) + X[3 * j + c] - X[3 * i + c];
      const double r2 = p.d[0] * p.d[0] + p.d[1] * p.d[1] + p.d[2] * p.d[2];
      if (!(r2 < roff2)) continue;
      p.i = i - base;
      p.j = j - base;
      p.r = std::sqrt(r2);
      const double t = p.r <= r_on ? 0.0 : (p.r - r_on) / width;
      p.w = 0.5 * (1.0 + std::cos(PI * t));
      p.dw = (p.r > r_on) ? -0.5 * PI * std::sin(PI * t) / width : 0.0;
      const double ux = p.d[0] / p.r, uy = p.d[1] / p.r, uz = p.d[2] / p.r;
      double zp[M];
      zp[0] = 1.0;
      for (int q = 1; q < M; ++q) zp[q] = zp[q - 1] * uz;
      for (int m = 0; m < M; ++m) {
        double v = 0.0, dv = 0.0;
        for (int q = 0; q < M; ++q) v += zp[q] * Cp[q * M + m];
        for (int q = 1; q < M; ++q) dv += q * zp[q - 1] * Cp[q * M + m];
        p.poly[m] = v;
        p.dpoly[m] = dv;
      }
      p.pr[0] = 1.0;
      p.pi[0] = 0.0;
      for (int m = 1; m < M; ++m) {
        p.pr[m] = p.pr[m - 1] * ux - p.pi[m - 1] * uy;
        p.pi[m] = p.pr[m - 1] * uy + p.pi[m - 1] * ux;
      }
      for (int m = 0; m < M; ++m) {
        p.yr[m] = p.poly[m] * p.pr[m];
        p.yi[m] = p.poly[m] * p.pi[m];
        qr[p.i * M + m] += p.w * p.yr[m];
        qr[p.j * M + m] += p.w * p.yr[m];
        qi[p.i * M + m] += p.w * p.yi[m];
        qi[p.j * M + m] += p.w * p.yi[m];
      }
      wsum[p.i] += p.w;
      wsum[p.j] += p.w;
      pairs.push_back(p);
    }
    // normalised q6m
    for (int64_t a = 0; a < N; ++a) {
      double s = 0.0;
      for (int m = 0; m < M; ++m) s += wm(m) * (qr[a * M + m] * qr[a * M + m] + qi[a * M + m] * qi[a * M + m]);
      nrm[a] = std::sqrt(s + 1e-30);
      for (int m = 0; m < M; ++m) {
        qr[a * M + m] /= nrm[a];
        qi[a * M + m] /= nrm[a];
      }
    }
    // pass 2: the bond overlaps and the atoms' scores
    for (auto& p : pairs) {
      double c = 0.0;
      for (int m = 0; m < M; ++m)
        c += wm(m) * (qr[p.i * M + m] * qr[p.j * M + m] + qi[p.i * M + m] * qi[p.j * M + m]);
      p.c = c;
      score[p.i] += p.w * c;
      score[p.j] += p.w * c;
    }
    double o = 0.0;
    for (int64_t a = 0; a < N; ++a) {
      const double u = score[a] / std::max(wsum[a], 1.0);
      if (solid) {  // order q6_solid: F(u) = (1 + tanh((u - c) / w)) / 2, a smooth count of solid-like atoms
        const double t = std::tanh((u - solid_center) / solid_width);
        o += 0.5 * (1.0 + t);
        phi[a] = 0.5 * (1.0 - t * t) / solid_width;
      } else {
        o += u;
      }
    }
    Op[b] = o;
    if (!gradient) continue;
    // pass 3: dO/d(normalised q6m), then dO/dq6m through the normalisation
    for (int64_t a = 0; a < N; ++a) {
      const double D = std::max(wsum[a], 1.0);
      g[a] = phi[a] / D;
      hs[a] = wsum[a] >= 1.0 ? -phi[a] * score[a] / (D * D) : 0.0;
    }
    std::fill(Gr.begin(), Gr.end(), 0.0);
    std::fill(Gi.begin(), Gi.end(), 0.0);
    for (const auto& p : pairs) {
      const double a = p.w * (g[p.i] + g[p.j]);
      for (int m = 0; m < M; ++m) {
        Gr[p.i * M + m] += a * wm(m) * qr[p.j * M + m];
        Gi[p.i * M + m] += a * wm(m) * qi[p.j * M + m];
        Gr[p.j * M + m] += a * wm(m) * qr[p.i * M + m];
        Gi[p.j * M + m] += a * wm(m) * qi[p.i * M + m];
      }
    }
    for (int64_t a = 0; a < N; ++a) {
      double t = 0.0;
      for (int m = 0; m < M; ++m) t += Gr[a * M + m] * qr[a * M + m] + Gi[a * M + m] * qi[a * M + m];
      for (int m = 0; m < M; ++m) {
        Gr[a * M + m] = (Gr[a * M + m] - wm(m) * qr[a * M + m] * t) / nrm[a];
        Gi[a * M + m] = (Gi[a * M + m] - wm(m) * qi[a * M + m] * t) / nrm[a];
      }
    }
    // pass 4: back to each pair's weight and unit vector, then to its separation
    double* Gb = G + 3 * base;
    double* Eb = E + 9 * b;
    for (const auto& p : pairs) {
      double dOdw = (g[p.i] + g[p.j]) * p.c + hs[p.i] + hs[p.j];
      double gx = 0.0, gy = 0.0, gz = 0.0;
      for (int m = 0; m < M; ++m) {
        const double qqr = Gr[p.i * M + m] + Gr[p.j * M + m], qqi = Gi[p.i * M + m] + Gi[p.j * M + m];
        dOdw += qqr * p.yr[m] + qqi * p.yi[m];
        const double ar = p.w * qqr, ai = p.w * qqi;
        if (m > 0) {
          gx += p.poly[m] * m * (ar * p.pr[m - 1] + ai * p.pi[m - 1]);
          gy += p.poly[m] * m * (-ar * p.pi[m - 1] + ai * p.pr[m - 1]);
        }
        gz += p.dpoly[m] * (ar * p.pr[m] + ai * p.pi[m]);
      }
      const double u[3] = {p.d[0] / p.r, p.d[1] / p.r, p.d[2] / p.r};
      const double gu[3] = {gx, gy, gz};
      const double ug = u[0] * gx + u[1] * gy + u[2] * gz;
      double gd[3];
      for (int c = 0; c < 3; ++c) gd[c] = (gu[c] - u[c] * ug) / p.r + dOdw * p.dw * u[c];
      for (int c = 0; c < 3; ++c) {
        Gb[3 * p.j + c] += gd[c];
        Gb[3 * p.i + c] -= gd[c];
      }
      for (int a = 0; a < 3; ++a)
        for (int c = 0; c < 3; ++c) Eb[3 * a + c] += p.d[a] * gd[c];
    }
  }
  return {O, gpos, geps};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("q6_forward", &q6_forward, "q6 bond-order correlation O (B), dO/dx (B*N, 3) and dO/d(strain) (B, 3, 3)");
}
