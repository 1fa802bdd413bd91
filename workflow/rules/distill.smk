# Data distillation: the active-learning loop as a DAG with one job per iteration and member.
# Iteration 0: the same seeded random subset for every strategy. Iteration i > 0: the selection of
# iteration i-1 plus n_per_iteration frames chosen by {strategy} from the ensemble of iteration i-1
# (its predictions on the selection pool). Everything of an iteration lives under
# results/{element}/distill/{strategy}/iter_{iteration}/.

wildcard_constraints:
    strategy=STRATEGY_PATTERN,
    iteration=r"\d+",


# the settings one selection step depends on: changing anything else (n_iterations, strategies,
# eval_pools) must not re-run existing iterations
rule init_selection:
    """Iteration 0: a seeded random subset of the selection pool, the same for every strategy."""
    input:
        pool=selection_pool,
    output:
        csv=res("{element}/distill/{strategy}/iter_0/selection.csv"),
    log:
        res("{element}/distill/{strategy}/iter_0/logs/init_selection.log"),
    benchmark:
        res("{element}/distill/{strategy}/iter_0/benchmarks/init_selection.tsv"),
    params:
        n_initial=lambda wc: distill_cfg(wc)["n_initial"],
        seed=lambda wc: seed_for("init_selection", wc.element, *replicate_parts(wc)),
    priority: job_priority
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
        scores=selection_scores,
        pool=selection_pool,
        # fps_aev and direct read the frames' pooled descriptors from the pool's AEV cache
        aevs=selection_descriptors,
        # quests takes the next frames of its ranking of the pool
        ranking=selection_ranking,
    output:
        csv=res("{element}/distill/{strategy}/iter_{iteration}/selection.csv"),
    log:
        res("{element}/distill/{strategy}/iter_{iteration}/logs/select_frames.log"),
    benchmark:
        res("{element}/distill/{strategy}/iter_{iteration}/benchmarks/select_frames.tsv"),
    wildcard_constraints:
        iteration=r"[1-9]\d*",
    params:
        cfg=selection_settings,
        seed=lambda wc: seed_for("select_frames", wc.element, wc.strategy, wc.iteration, *replicate_parts(wc)),
    priority: job_priority
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/select_frames.py"


rule rank_frames:
    """A ranked strategy's order of the pool after the initial subset, its first quests_ranked_frames
    frames computed once (quests: QUESTS descriptors, entropies, minimum-set-cover order); each
    iteration takes its next frames."""
    input:
        pool=selection_pool,
        initial=res("{element}/distill/{strategy}/iter_0/selection.csv"),
    output:
        csv=res("{element}/distill/{strategy}/ranking.csv"),
    log:
        res("{element}/distill/{strategy}/logs/rank_frames.log"),
    benchmark:
        res("{element}/distill/{strategy}/benchmarks/rank_frames.tsv"),
    wildcard_constraints:
        strategy="|".join(RANKED_STRATEGIES),
    params:
        cfg=ranking_settings,
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/rank_frames.py"


rule write_training_set:
    """The frames of an iteration's selection as a frame store (the members' training data)."""
    input:
        selection=res("{element}/distill/{strategy}/iter_{iteration}/selection.csv"),
        pool=selection_pool,
    output:
        h5=res("{element}/distill/{strategy}/iter_{iteration}/train.h5"),
    log:
        res("{element}/distill/{strategy}/iter_{iteration}/logs/write_training_set.log"),
    benchmark:
        res("{element}/distill/{strategy}/iter_{iteration}/benchmarks/write_training_set.tsv"),
    priority: job_priority
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/write_training_set.py"


rule summarize_distillation:
    """MAE/RMSE against the fraction of the pool used, per strategy and pool (paper Figure 2)."""
    input:
        unpack(curve_inputs),
    output:
        csv=report(
            res("{element}/distill/learning_curve.csv"),
            caption="../report/learning_curve.rst",
            category="Distillation",
            labels={"element": "{element}", "figure": "learning-curve table"},
        ),
        figure=report(
            res("{element}/distill/figure2.png"),
            caption="../report/figure2.rst",
            category="Distillation",
            labels={"element": "{element}", "figure": "learning curves"},
        ),
    log:
        res("{element}/distill/logs/summarize_distillation.log"),
    benchmark:
        res("{element}/distill/benchmarks/summarize_distillation.tsv"),
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
    benchmark:
        res("{element}/distill/{strategy}/benchmarks/export_distilled.tsv"),
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





rule write_dataset_card:
    """The distilled set's card: what was sampled and how, how it was distilled, files and checksums,
    licences, and the transfer table when it was translated to other metals (card.json, card.md)."""
    input:
        unpack(card_inputs),
    output:
        json=res("{element}/distill/{strategy}/card.json"),
        md=report(res("{element}/distill/{strategy}/card.md"), caption="../report/card.rst", category="Distillation"),
    log:
        res("{element}/distill/{strategy}/logs/write_dataset_card.log"),
    benchmark:
        res("{element}/distill/{strategy}/benchmarks/write_dataset_card.tsv"),
    params:
        distill=lambda wc: distill_cfg(wc),
        nnp=lambda wc: element_cfg(wc)["nnp"],
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/write_dataset_card.py"
