# Helpers of nnp.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by nnp.smk
def nnp_cfg(wc):
    return element_cfg(wc)["nnp"]


# used by nnp.smk
def train_settings(wc):
    """`nnp.train`, with `nnp.train_whole_pool` laid over it for a whole-pool training set, and
    `distill.warm_start_max_epochs` for a warm-started member of the loop."""
    nnp = nnp_cfg(wc)
    if wc.trainset.endswith("_all"):
        return {**nnp["train"], **nnp["train_whole_pool"]}
    cap = distill_cfg(wc)["warm_start_max_epochs"]
    if cap is not None and warm_start_model(wc):
        return {**nnp["train"], "max_epochs": cap}
    return nnp["train"]


# used by nnp.smk
def training_frames(wc):
    if wc.trainset.startswith(("translated/", "labelled/")):
        return res(f"{wc.element}/{wc.trainset}.h5")
    return res(f"{wc.element}/{wc.trainset}/train.h5")


# used by nnp.smk
def training_inputs(wc):
    """The member's training frames, and with `distill.warm_start` the model it starts from."""
    init = warm_start_model(wc)
    return {"frames": training_frames(wc), **({"init": init} if init else {})}


def warm_start_model(wc):
    """With `distill.warm_start`, the model file member {member} of a loop iteration i > 0 starts from:
    member {member} of the latest earlier iteration of the same strategy whose ensemble is trained (every
    iteration for the loop; the compared ones for a baseline). "" otherwise (fresh weights)."""
    if not wc.trainset.startswith("distill/") or not distill_cfg(wc)["warm_start"]:
        return ""
    head, _, tail = wc.trainset.rpartition("iter_")  # head: "distill/{strategy}/"
    strategy = head.split("/")[1]
    earlier = [it for it in evaluated_iterations(distill_cfg(wc), strategy) if it < int(tail)]
    if not earlier:
        return ""
    return res(f"{wc.element}/{head}iter_{earlier[-1]}/members/{wc.member}/model.pt")


# used by nnp.smk
def member_seed(wc):
    """Seed of one ensemble member. In the distillation loop it depends on the iteration and member
    only, not the strategy: every strategy trains the same models on the same iteration-0 frames, so
    the curves differ by their selections alone."""
    if wc.trainset.startswith("distill/"):
        return seed_for("train_member", wc.element, "distill", wc.trainset.rpartition("iter_")[2], wc.member,
                        *replicate_parts(wc))
    return seed_for("train_member", wc.element, wc.trainset, wc.member)


def replicate_parts(wc):
    """Extra seed parts of a replicate distillation (``distill.replicate`` > 0); none for replicate 0,
    so the recorded campaign keeps its seeds and files bit for bit."""
    r = element_cfg(wc)["distill"]["replicate"]
    return ("replicate", r) if r else ()


def previous_trainset(wc):
    """For iteration i > 0 of the distillation loop, the folder of iteration i - 1 (else "")."""
    head, _, tail = wc.trainset.rpartition("iter_")  # head: "distill/{strategy}/"
    if not wc.trainset.startswith("distill/") or int(tail) == 0:
        return ""
    return res(f"{wc.element}/{head}iter_{int(tail) - 1}")


# used by nnp.smk
def pool_forces(wc):
    """Whether a pool prediction carries the force committee's scores: that of the selection pool by a
    strategy that selects by them (``distill/force_committee/iter_*``; a backward pass per member, so
    not for the other pools)."""
    parts = wc.trainset.split("/")
    return (len(parts) >= 2 and parts[0] == "distill" and parts[1] in FORCE_STRATEGIES
            and wc.pool == ELEMENTS[wc.element]["distill"]["pool"])


# used by nnp.smk
def member_models(wc):
    return [res(f"{wc.element}/{wc.trainset}/members/{m}/model.pt") for m in range(nnp_cfg(wc)["n_members"])]


# used by nnp.smk
def validated_trainset(element, name):
    """The training-set folder of an entry of ``validate.ensembles`` (aliases: distilled, whole_pool)."""
    d = ELEMENTS[element]["distill"]
    if name == "distilled":
        return f"distill/uncertainty/iter_{d['n_iterations']}"
    if name == "whole_pool":
        return f"subset/{d['pool']}_all"
    return name


def validate_targets(element):
    cfg = ELEMENTS[element]["validate"]
    if not cfg["ensembles"]:
        return []
    if ELEMENTS[element]["reference"]["kind"] != "eam":
        raise WorkflowError(f"element {element}: validate.ensembles needs the EAM as reference (MD with "
                            f"{ELEMENTS[element]['reference']['kind']!r} is not run); leave it empty")
    if cfg["melting_point_K"] is None and not ELEMENTS[element]["coexistence"]["enabled"]:
        raise WorkflowError(f"element {element}: validate.melting_point_K is null and coexistence is not "
                            "enabled: set one of them")
    return [res(f"{element}/{validated_trainset(element, name)}/validate/validation.csv")
            for name in cfg["ensembles"]]


def validation_inputs(wc):
    out = {"members": member_models(wc)}
    if element_cfg(wc)["validate"]["melting_point_K"] is None:
        out["coexistence"] = res(f"{wc.element}/coexistence/coexistence.json")
    return out


# used by nnp.smk: the crystal table an ensemble is compared with. An ensemble trained on frames
# labelled by a non-EAM reference (DFT) is judged against that reference's own crystals.
def reference_crystals(wc):
    if wc.trainset.startswith("labelled/") and element_cfg(wc)["reference"]["kind"] != "eam":
        return res(f"{wc.element}/reference/crystals.csv")
    return res(f"{wc.element}/eam/crystals.csv")


def reference_name(wc):
    """How the crystal table's reference row is labelled: EAM, or the reference kind (CP2K, ASE)."""
    if reference_crystals(wc) == res(f"{wc.element}/eam/crystals.csv"):
        return "EAM"
    return element_cfg(wc)["reference"]["kind"].upper()
