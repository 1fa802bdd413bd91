# Helpers of sample.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by sample.smk, nnp.smk and label.smk (resources)
def stage_gpus(stage):
    """GPUs each job of ``stage`` requests (SLURM `gpu` resource), one where the stage runs on cuda."""
    return 1 if config["device"][stage].startswith("cuda") else 0


# used by sample.smk
def _sample_params(method):
    return dict(
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        method=method if method != "npt" else (lambda wc: wc.npt_method),
        # only the keys that shape a run: which sizes/methods are wanted, or how a finished run is
        # reweighted, must not make Snakemake re-sample an existing pool (params trigger)
        cfg=lambda wc: {k: v for k, v in element_cfg(wc)["sample"].items() if k not in ("sizes", "methods", "reweight")},
        seed=lambda wc: seed_for("sample", wc.element, method if method != "npt" else wc.npt_method, wc.size),
    )


# used by sample.smk
def sample_targets(element):
    """Every sampling output of ``element`` (frame stores, plots, reweighting)."""
    cfg = ELEMENTS[element]["sample"]
    out = []
    for size in cfg["sizes"]:
        for method in cfg["methods"]:
            out.append(res(f"{element}/sample/{method}_{size}.h5"))
        if {"momt", "npt_fcc", "npt_liq"} <= set(cfg["methods"]):
            out.append(res(f"{element}/sample/plots/energy_{size}.png"))
        if "momt" in cfg["methods"]:
            out.append(res(f"{element}/sample/reweight_{size}.csv"))
    if ELEMENTS[element]["coexistence"]["enabled"]:
        out.append(res(f"{element}/coexistence/coexistence.png"))
        if "momt" in cfg["methods"]:
            out.append(res(f"{element}/sample/melting_comparison.md"))
    return out
