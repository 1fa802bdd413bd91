"""The parity plot's low-accuracy region (paper Figure 3): the flagged energy range is where the
errors are, and nowhere else."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nnpdistill.nnp.plots import low_accuracy_bins, parity_plot


def test_low_accuracy_bins_find_the_bad_energy_range(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.uniform(-4.8, -3.8, 4000)
    err = rng.normal(0.0, 1.0, true.size)  # meV/atom everywhere ...
    bad = (true > -4.05) & (true < -3.95)
    err[bad] *= 20.0  # ... except one window
    poor = low_accuracy_bins(true, err, n_bins=20)
    assert poor, "the bad window must be flagged"
    for lo, hi, mae in poor:
        assert lo < -3.95 and hi > -4.05, (lo, hi)  # every flagged bin overlaps the window
        assert mae > 2 * np.abs(err).mean()
    covered = sum(hi - lo for lo, hi, _ in poor)
    assert covered <= 0.2  # at most the two bins that overlap the 0.1 eV window
    assert low_accuracy_bins(true, np.ones_like(true)) == []  # uniform error: nothing flagged

    scores = pd.DataFrame({"energy_true_eV_per_atom": true, "energy_pred_eV_per_atom": true + err / 1000,
                           "uq_mean_eV": np.abs(err) / 1000})
    parity_plot(scores, tmp_path / "parity.png", title="test")
    assert (tmp_path / "parity.png").read_bytes()[:4] == b"\x89PNG"
