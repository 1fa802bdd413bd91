# Labelling with the element's reference method (config `reference:`; nnpdistill.reference): any
# frame store of results/{element}/ named in `label.stores` is split into `label.n_chunks` jobs, each
# labelling its slice frame by frame (resumable: results/.../chunk_{k}.h5.journal.jsonl), then merged.
# A DFT chunk asks for its own threads, memory and wall time (`label.threads`, `mem_mb`,
# `runtime_min`), so one SLURM job per chunk can take many cores and hours while EAM stays light.
# With `label.train_store` the element's ensemble trains on labelled frames and is judged on
# `label.test_store` and against crystals computed with the same reference.

wildcard_constraints:
    store=LABEL_STORE_REGEX,
    chunk=r"\d+",
    labelled_n=r"\d+",


rule label_chunk:
    """Label chunk {chunk} of a frame store with the element's reference (resumes from its journal)."""
    input:
        frames=res("{element}/{store}.h5"),
    output:
        h5=res("{element}/labelled/{store}/chunk_{chunk}.h5"),
    log:
        res("{element}/labelled/{store}/logs/label_chunk_{chunk}.log"),
    benchmark:
        res("{element}/labelled/{store}/benchmarks/label_chunk_{chunk}.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        reference=lambda wc: element_cfg(wc)["reference"],
        n_chunks=lambda wc: label_cfg(wc)["n_chunks"],
        max_frames=lambda wc: label_cfg(wc)["max_frames"],
        max_failed_fraction=lambda wc: label_cfg(wc)["max_failed_fraction"],
    threads: lambda wc: label_cfg(wc)["threads"]
    resources:
        runtime=lambda wc: label_cfg(wc)["runtime_min"],
        mem_mb=lambda wc: label_cfg(wc)["mem_mb"],
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/label_chunk.py"


rule merge_labels:
    """Join the labelled chunks of a store; failed frames are listed in its attributes and the summary."""
    input:
        chunks=label_chunks,
    output:
        h5=res("{element}/labelled/{store}.h5"),
        summary=res("{element}/labelled/{store}_summary.json"),
    log:
        res("{element}/labelled/{store}/logs/merge_labels.log"),
    benchmark:
        res("{element}/labelled/{store}/benchmarks/merge_labels.tsv"),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/merge_labels.py"


rule subsample_labelled:
    """N seeded random frames of a labelled store: the learning curve against labelled frames."""
    input:
        h5=res("{element}/labelled/{store}.h5"),
    output:
        h5=res("{element}/labelled/{store}_n{labelled_n}.h5"),
    log:
        res("{element}/labelled/{store}/logs/subsample_labelled_n{labelled_n}.log"),
    benchmark:
        res("{element}/labelled/{store}/benchmarks/subsample_labelled_n{labelled_n}.tsv"),
    params:
        seed=lambda wc: seed_for("subsample_labelled", wc.element, wc.store, wc.labelled_n),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/subsample_labelled.py"


rule compute_reference_crystals:
    """FCC/BCC/HCP with the element's reference method: E(V) scans (Birch-Murnaghan) around the EAM
    crystals for DFT or an ASE calculator; the EAM relaxation itself for an EAM reference."""
    input:
        start=res("{element}/eam/crystals.csv"),
    output:
        csv=report(
            res("{element}/reference/crystals.csv"),
            caption="../report/reference_crystals.rst",
            category="Reference crystals",
            labels={"element": "{element}"},
        ),
    log:
        res("{element}/logs/compute_reference_crystals.log"),
    benchmark:
        res("{element}/benchmarks/compute_reference_crystals.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        reference=lambda wc: element_cfg(wc)["reference"],
        crystals=lambda wc: element_cfg(wc)["crystals"],
    threads: lambda wc: label_cfg(wc)["threads"]
    resources:
        runtime=lambda wc: label_cfg(wc)["runtime_min"],
        mem_mb=lambda wc: label_cfg(wc)["mem_mb"],
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/compute_reference_crystals.py"


rule evaluate_testset:
    """A training set's ensemble on the element's labelled test store: MAE/RMSE, parity plot."""
    input:
        members=member_models,
        frames=lambda wc: res(f"{wc.element}/labelled/{label_cfg(wc)['test_store']}.h5"),
    output:
        scores=res("{element}/{trainset}/test/scores.csv"),
        metrics=report(
            res("{element}/{trainset}/test/metrics.csv"),
            caption="../report/testset.rst",
            category="Labelled test set",
            labels={"element": "{element}", "training set": "{trainset}"},
        ),
        parity=report(
            res("{element}/{trainset}/test/parity.png"),
            caption="../report/testset.rst",
            category="Labelled test set",
            labels={"element": "{element}", "training set": "{trainset}", "plot": "parity"},
        ),
    log:
        res("{element}/{trainset}/logs/evaluate_testset.log"),
    benchmark:
        res("{element}/{trainset}/benchmarks/evaluate_testset.tsv"),
    params:
        batch_frames=lambda wc: nnp_cfg(wc)["predict_batch_frames"],
    threads: 1
    resources:
        gpu=stage_gpus("predict"),
        runtime=30,
        mem_mb=3000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/evaluate_testset.py"


rule summarize_labelled:
    """Test-set error against the number of labelled training frames (CSV and plot)."""
    input:
        unpack(labelled_curve_inputs),
    output:
        csv=res("{element}/labelled/learning_curve.csv"),
        png=report(
            res("{element}/labelled/learning_curve.png"),
            caption="../report/testset.rst",
            category="Labelled test set",
            labels={"element": "{element}", "plot": "learning curve"},
        ),
    log:
        res("{element}/logs/summarize_labelled.log"),
    benchmark:
        res("{element}/benchmarks/summarize_labelled.tsv"),
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/summarize_labelled.py"
