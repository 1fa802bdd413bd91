# NNP stage: train ensemble members, score a pool, relax crystals with the NNP.
# Reads element config keys (defaults in parentheses; the lead adds them to element.schema.yaml):
#   nnp.n_members (5), nnp.settings ({}: NNPSettings fields), nnp.train ({}: TrainSettings fields),
#   nnp.pool ("momt_32": results/{element}/sample/{pool}.h5 scored every iteration),
#   nnp.predict_batch_frames (128), nnp.relax_strains ([0.0, -0.03, 0.03]), nnp.relax_fmax_eV_per_A (1e-3)
# Training frames of an iteration: results/{element}/distill/{strategy}/iter_{iteration}/train.h5
# (written by the distill stage).

ITER = "{element}/distill/{strategy}/iter_{iteration}"


def nnp_cfg(wc):
    return element_cfg(wc).get("nnp", {})


def member_models(wc):
    n = int(nnp_cfg(wc).get("n_members", 5))
    return [res(f"{wc.element}/distill/{wc.strategy}/iter_{wc.iteration}/members/{m}/model.pt") for m in range(n)]


rule train_member:
    """Train ensemble member {member} (its own seed and train/validation split) on the iteration's frames."""
    input:
        frames=res(ITER + "/train.h5"),
    output:
        model=res(ITER + "/members/{member}/model.pt"),
        curve=res(ITER + "/members/{member}/learning_curve.csv"),
    log:
        res(ITER + "/logs/train_member_{member}.log"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        nnp_settings=lambda wc: nnp_cfg(wc).get("settings", {}),
        train_settings=lambda wc: nnp_cfg(wc).get("train", {}),
        seed=lambda wc: seed_for("train_member", wc.element, wc.strategy, wc.iteration, wc.member),
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
    script:
        "../../scripts/train_member.py"


rule predict_pool:
    """Energies, per-atom energies and atomic uncertainty of every pool frame with the iteration's ensemble."""
    input:
        members=member_models,
        pool=lambda wc: res(f"{wc.element}/sample/{nnp_cfg(wc).get('pool', 'momt_32')}.h5"),
    output:
        scores=res(ITER + "/scores.csv"),
        atomic=res(ITER + "/atomic.npz"),
        metrics=res(ITER + "/metrics.csv"),
        parity=res(ITER + "/parity.png"),
        uq=res(ITER + "/uq_vs_error.png"),
    log:
        res(ITER + "/logs/predict_pool.log"),
    params:
        batch_frames=lambda wc: int(nnp_cfg(wc).get("predict_batch_frames", 128)),
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    script:
        "../../scripts/predict_pool.py"


rule relax_crystals:
    """Relax FCC/BCC/HCP with the iteration's NNP; compare with the EAM table (paper Tables 1-3)."""
    input:
        members=member_models,
        reference=res("{element}/eam/crystals.csv"),
    output:
        csv=res(ITER + "/crystals_nnp.csv"),
        markdown=res(ITER + "/crystals_nnp.md"),
    log:
        res(ITER + "/logs/relax_crystals.log"),
    params:
        strains=lambda wc: list(nnp_cfg(wc).get("relax_strains", [0.0, -0.03, 0.03])),
        fmax_eV_per_A=lambda wc: float(nnp_cfg(wc).get("relax_fmax_eV_per_A", 1e-3)),
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    script:
        "../../scripts/relax_crystals.py"
