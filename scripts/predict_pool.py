"""Snakemake adapter for rule predict_pool: scores, metrics, parity and uncertainty plots.

The pool's AEVs come from the cache of rule compute_pool_aevs (input ``aevs``); a cache made with other
AEV settings or for another pool file is not used: the AEVs are then computed on the fly (a logged
warning; the results are the same, only slower).
"""

from nnpdistill.io_utils import atomic_path
from nnpdistill.nnp.metrics import energy_metrics, uncertainty_error_correlation
from nnpdistill.nnp.plots import parity_plot, uncertainty_plot
from nnpdistill.nnp.predict import load_ensemble, predict_pool, write_prediction
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
model = load_ensemble(list(sm.input.members))
aevs = sm.input.get("aevs")
pred = predict_pool(model, sm.input.pool, batch_frames=int(sm.params.batch_frames), progress=False,
                    aevs=aevs or None, on_mismatch="recompute")
write_prediction(pred, sm.output.scores, sm.output.atomic)
metrics = energy_metrics(pred.scores)
corr = uncertainty_error_correlation(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV)
metrics["spearman_uq_vs_atomic_error"] = corr["spearman_rho"]
with atomic_path(sm.output.metrics) as tmp:
    metrics.to_csv(tmp, index=False, float_format="%.6g")
parity_plot(pred.scores, sm.output.parity, title=f"{model.settings.element}: {len(pred.scores)} frames")
uncertainty_plot(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV, sm.output.uq, rho=corr["spearman_rho"])
log.info("pool MAE %.2f meV/atom, Spearman(uq, atomic error) %.3f", metrics.loc[0, "mae_meV_per_atom"],
         corr["spearman_rho"])
