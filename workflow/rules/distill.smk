# Data distillation: the active-learning loop as a DAG with one job per iteration and member.
# Iteration 0: the same seeded random subset for every strategy. Iteration i > 0: the selection of
# iteration i-1 plus n_per_iteration frames chosen by {strategy} from the ensemble of iteration i-1
# (its predictions on the selection pool). Everything of an iteration lives under
# results/{element}/distill/{strategy}/iter_{iteration}/.

DISTILL = "{element}/distill/{strategy}/iter_{iteration}"


wildcard_constraints:
    strategy="uncertainty|random|grid|fps",
    iteration=r"\d+",


def distill_cfg(wc):
    return element_cfg(wc)["distill"]


def selection_pool(wc):
    return res(f"{wc.element}/sample/{distill_cfg(wc)['pool']}.h5")


# the settings one selection step depends on: changing anything else (n_iterations, strategies,
# eval_pools) must not re-run existing iterations
SELECTION_KEYS = ("n_per_iteration", "score", "guard_max_per_cell", "guard_bins", "grid_bins",
                  "target_mae_meV_per_atom", "target_uq_eV")


def selection_settings(wc):
    cfg = distill_cfg(wc)
    return {key: cfg[key] for key in SELECTION_KEYS}


def previous_iteration(wc, path):
    return res(f"{wc.element}/distill/{wc.strategy}/iter_{int(wc.iteration) - 1}/{path}")


rule init_selection:
    """Iteration 0: a seeded random subset of the selection pool, the same for every strategy."""
    input:
        pool=selection_pool,
    output:
        csv=res("{element}/distill/{strategy}/iter_0/selection.csv"),
    log:
        res("{element}/distill/{strategy}/iter_0/logs/init_selection.log"),
    params:
        n_initial=lambda wc: distill_cfg(wc)["n_initial"],
        seed=lambda wc: seed_for("init_selection", wc.element),
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/init_selection.py"


rule select_frames:
    """Iteration i > 0: add frames chosen by {strategy} using the previous iteration's ensemble."""
    input:
        previous=lambda wc: previous_iteration(wc, "selection.csv"),
        scores=lambda wc: previous_iteration(wc, f"pred_{distill_cfg(wc)['pool']}/scores.csv"),
        pool=selection_pool,
    output:
        csv=res(DISTILL + "/selection.csv"),
    log:
        res(DISTILL + "/logs/select_frames.log"),
    wildcard_constraints:
        iteration=r"[1-9]\d*",
    params:
        cfg=selection_settings,
        seed=lambda wc: seed_for("select_frames", wc.element, wc.strategy, wc.iteration),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/select_frames.py"


rule write_training_set:
    """The frames of an iteration's selection as a frame store (the members' training data)."""
    input:
        selection=res(DISTILL + "/selection.csv"),
        pool=selection_pool,
    output:
        h5=res(DISTILL + "/train.h5"),
    log:
        res(DISTILL + "/logs/write_training_set.log"),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/write_training_set.py"


def final_iteration(element):
    return ELEMENTS[element]["distill"]["n_iterations"]


def curve_inputs(wc):
    cfg = ELEMENTS[wc.element]["distill"]
    out = {"pool": res(f"{wc.element}/sample/{cfg['pool']}.h5")}
    for strategy in cfg["strategies"]:
        for it in range(cfg["n_iterations"] + 1):
            base = f"{wc.element}/distill/{strategy}/iter_{it}"
            out[f"{strategy}/{it}/selection"] = res(f"{base}/selection.csv")
            for pool in cfg["eval_pools"]:
                out[f"{strategy}/{it}/{pool}"] = res(f"{base}/pred_{pool}/metrics.csv")
    return out


rule summarize_distillation:
    """MAE/RMSE against the fraction of the pool used, per strategy and pool (paper Figure 2)."""
    input:
        unpack(curve_inputs),
    output:
        csv=res("{element}/distill/learning_curve.csv"),
        figure=report(
            res("{element}/distill/figure2.png"),
            caption="../report/figure2.rst",
            category="Distillation",
            labels={"element": "{element}", "figure": "learning curves"},
        ),
    log:
        res("{element}/distill/logs/summarize_distillation.log"),
    params:
        cfg=lambda wc: ELEMENTS[wc.element]["distill"],
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/summarize_distillation.py"


rule export_distilled:
    """The final selection of a strategy as its own dataset: frame store, extxyz and manifest."""
    input:
        selection=lambda wc: res(f"{wc.element}/distill/{wc.strategy}/iter_{final_iteration(wc.element)}/selection.csv"),
        pool=selection_pool,
    output:
        h5=res("{element}/distill/{strategy}/distilled.h5"),
        extxyz=res("{element}/distill/{strategy}/distilled.extxyz"),
        manifest=res("{element}/distill/{strategy}/manifest.json"),
    log:
        res("{element}/distill/{strategy}/logs/export_distilled.log"),
    params:
        strategy=lambda wc: wc.strategy,
        iteration=lambda wc: final_iteration(wc.element),
        seeds=lambda wc: {"campaign_seed": config["seed"]},
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/export_distilled.py"


def distill_targets(element):
    cfg = ELEMENTS[element]["distill"]
    final = cfg["n_iterations"]
    out = [res(f"{element}/distill/learning_curve.csv"), res(f"{element}/distill/figure2.png")]
    for strategy in cfg["strategies"]:
        out.append(res(f"{element}/distill/{strategy}/manifest.json"))
    # Table 2: the final distilled ensemble and, for comparison, one trained on the whole pool
    out.append(res(f"{element}/distill/uncertainty/iter_{final}/crystals_nnp.md"))
    if cfg["whole_pool_control"]:
        out.append(res(f"{element}/subset/{cfg['pool']}_all/crystals_nnp.md"))
        for pool in cfg["eval_pools"]:
            out.append(res(f"{element}/subset/{cfg['pool']}_all/pred_{pool}/metrics.csv"))
    return out
