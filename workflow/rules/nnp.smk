# NNP stage: train ensemble members, score a pool, relax crystals with the NNP.
# A training set is a folder results/{element}/{trainset}/ holding train.h5, e.g.
#   distill/{strategy}/iter_{iteration}   one iteration of the distillation loop
#   subset/{pool}_n{count} | subset/{pool}_all   seeded random frames of a sampled pool (Table 1)
#   translated/from_{source}              frames translated from another element (its train.h5 is
#                                         results/{element}/translated/from_{source}.h5)
#   labelled/translated/from_{source}[_n{N}]  those frames labelled by the element's reference
#                                         (results/{element}/labelled/translated/from_{source}.h5)
# Its ensemble goes to members/{member}/model.pt, pool predictions to pred_{pool}/, the NNP crystal
# table to crystals_nnp.csv/.md.

wildcard_constraints:
    trainset=r"distill/[a-z_]+/iter_\d+|subset/[a-z_]+_\d+_(all|n\d+)|translated/from_[A-Z][a-z]?(\+[A-Z][a-z]?)*"
    r"|labelled/translated/from_[A-Z][a-z]?(_n\d+)?",
    pool=r"(momt|npt_fcc|npt_liq)_\d+",
    member=r"\d+",


rule train_member:
    """Train ensemble member {member} (its own seed and train/validation split) on a training set."""
    input:
        unpack(training_inputs),
    output:
        model=res("{element}/{trainset}/members/{member}/model.pt"),
        curve=res("{element}/{trainset}/members/{member}/learning_curve.csv"),
    log:
        res("{element}/{trainset}/logs/train_member_{member}.log"),
    benchmark:
        res("{element}/{trainset}/benchmarks/train_member_{member}.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        nnp_settings=lambda wc: nnp_cfg(wc)["settings"],
        train_settings=train_settings,
        seed=lambda wc: member_seed(wc),
        # an iteration whose selection equals the previous one (early stop) copies its member
        previous=previous_trainset,
    priority: job_priority
    threads: 1
    resources:
        runtime=120,
        mem_mb=3000,
        gpu=max(config["train_gpus"], stage_gpus("train")),
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/train_member.py"


rule compute_pool_aevs:
    """The AEVs of every atom of a sampled pool, computed once: they do not depend on the networks, so
    every ensemble that scores the pool (each distillation iteration) only evaluates its networks."""
    input:
        pool=res("{element}/sample/{pool}.h5"),
    output:
        aevs=res("{element}/sample/aev/{pool}.h5"),
    log:
        res("{element}/sample/aev/logs/compute_pool_aevs_{pool}.log"),
    benchmark:
        res("{element}/sample/aev/benchmarks/compute_pool_aevs_{pool}.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        # the whole settings dict: a changed AEV setting re-runs this rule (params trigger); the file
        # stores the AEV settings hash and predict_pool checks it against the models
        nnp_settings=lambda wc: nnp_cfg(wc)["settings"],
        batch_frames=64,
    priority: job_priority
    threads: 1
    resources:
        runtime=60,
        mem_mb=3000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/compute_pool_aevs.py"


rule predict_pool:
    """Energies, per-atom energies and atomic uncertainty of every frame of a sampled pool."""
    input:
        members=member_models,
        pool=res("{element}/sample/{pool}.h5"),
        aevs=res("{element}/sample/aev/{pool}.h5"),
    output:
        scores=res("{element}/{trainset}/pred_{pool}/scores.csv"),
        atomic=res("{element}/{trainset}/pred_{pool}/atomic.npz"),
        metrics=report(
            res("{element}/{trainset}/pred_{pool}/metrics.csv"),
            caption="../report/metrics.rst",
            category="NNP pool errors",
            labels={"element": "{element}", "training set": "{trainset}", "pool": "{pool}"},
        ),
        parity=report(
            res("{element}/{trainset}/pred_{pool}/parity.png"),
            caption="../report/parity.rst",
            category="NNP parity",
            labels={"element": "{element}", "training set": "{trainset}", "pool": "{pool}"},
        ),
        uq=report(
            res("{element}/{trainset}/pred_{pool}/uq_vs_error.png"),
            caption="../report/uq.rst",
            category="Uncertainty quality",
            labels={"element": "{element}", "training set": "{trainset}", "pool": "{pool}"},
        ),
    log:
        res("{element}/{trainset}/logs/predict_{pool}.log"),
    benchmark:
        res("{element}/{trainset}/benchmarks/predict_pool_{pool}.tsv"),
    params:
        batch_frames=lambda wc: nnp_cfg(wc)["predict_batch_frames"],
        forces=pool_forces,
    priority: job_priority
    threads: 1
    resources:
        gpu=stage_gpus("predict"),
        runtime=120,
        mem_mb=6000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/predict_pool.py"


rule relax_crystals:
    """Relax FCC/BCC/HCP with a training set's NNP; compare with the EAM table (paper Tables 1-3)."""
    input:
        members=member_models,
        reference=reference_crystals,
    output:
        csv=report(
            res("{element}/{trainset}/crystals_nnp.csv"),
            caption="../report/crystals_nnp.rst",
            category="Crystal relaxations (Tables 1-3)",
            labels={"element": "{element}", "training set": "{trainset}"},
        ),
        markdown=res("{element}/{trainset}/crystals_nnp.md"),
    log:
        res("{element}/{trainset}/logs/relax_crystals.log"),
    benchmark:
        res("{element}/{trainset}/benchmarks/relax_crystals.tsv"),
    params:
        reference_name=reference_name,
        strains=lambda wc: nnp_cfg(wc)["relax_strains"],
        fmax_eV_per_A=lambda wc: nnp_cfg(wc)["relax_fmax_eV_per_A"],
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/relax_crystals.py"


rule subsample_pool:
    """A seeded random subset of a sampled pool as a training set (the paper's Table 1 uses 2,000)."""
    input:
        pool=res("{element}/sample/{pool}.h5"),
    output:
        h5=res("{element}/subset/{pool}_{nframes}/train.h5"),
    log:
        res("{element}/subset/{pool}_{nframes}/logs/subsample_pool.log"),
    benchmark:
        res("{element}/subset/{pool}_{nframes}/benchmarks/subsample_pool.tsv"),
    wildcard_constraints:
        nframes=r"all|n\d+",
    params:
        seed=lambda wc: seed_for("subsample_pool", wc.element, wc.pool, wc.nframes),
    threads: 1
    resources:
        runtime=10,
        mem_mb=4000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/subsample_pool.py"


rule validate_nnp:
    """NPT with a training set's NNP ensemble and with the EAM at the same state points (solid and liquid
    around the reference's melting point, the paper's 2000 K): density, energy, g(r), uncertainty,
    stability, NVE drift; the NNP's uncertain frames as a candidate store for the labelling stage."""
    input:
        unpack(validation_inputs),
    output:
        csv=report(
            res("{element}/{trainset}/validate/validation.csv"),
            caption="../report/validation.rst",
            category="NNP validation in MD",
            labels={"element": "{element}", "training set": "{trainset}", "file": "table"},
        ),
        markdown=res("{element}/{trainset}/validate/validation.md"),
        json=res("{element}/{trainset}/validate/validation.json"),
        png=report(
            res("{element}/{trainset}/validate/rdf.png"),
            caption="../report/validation.rst",
            category="NNP validation in MD",
            labels={"element": "{element}", "training set": "{trainset}", "file": "g(r) and uncertainty"},
        ),
        candidates=res("{element}/{trainset}/validate/candidates.h5"),
    log:
        res("{element}/{trainset}/logs/validate_nnp.log"),
    benchmark:
        res("{element}/{trainset}/benchmarks/validate_nnp.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        settings=lambda wc: {k: v for k, v in element_cfg(wc)["validate"].items() if k != "ensembles"},
        seed=lambda wc: seed_for("validate_nnp", wc.element, wc.trainset),
    threads: 1
    resources:
        gpu=stage_gpus("validate"),
        runtime=240,
        mem_mb=4000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/validate_nnp.py"
