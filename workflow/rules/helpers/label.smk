# Helpers of label.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by label.smk
LABEL_STORE_REGEX = (r"translated/from_[A-Z][a-z]?|sample/(momt|npt_fcc|npt_liq)_\d+"
                     r"|subset/(momt|npt_fcc|npt_liq)_\d+_n\d+/train|distill/[a-z_]+/distilled"
                     r"|(distill/[a-z_]+/iter_\d+|subset/(momt|npt_fcc|npt_liq)_\d+_(all|n\d+))/validate/candidates")


def label_cfg(wc):
    return element_cfg(wc)["label"]


def label_chunks(wc):
    n = label_cfg(wc)["n_chunks"]
    return [res(f"{wc.element}/labelled/{wc.store}/chunk_{k}.h5") for k in range(n)]


def labelled_trainsets(element):
    """Training sets of labelled frames: the whole labelled store and its train_sizes subsets."""
    label = ELEMENTS[element]["label"]
    if not label["train_store"]:
        return []
    base = f"labelled/{label['train_store']}"
    return [base] + [f"{base}_n{n}" for n in label["train_sizes"]]


def labelled_curve_inputs(wc):
    label = ELEMENTS[wc.element]["label"]
    return {ts: res(f"{wc.element}/{ts}/test/metrics.csv") for ts in labelled_trainsets(wc.element)} | {
        f"frames:{ts}": res(f"{wc.element}/{ts}.h5") for ts in labelled_trainsets(wc.element)}


def label_targets(element):
    """Labelled stores, their summaries; with a training store: the ensembles, test-set metrics,
    the learning curve and the crystals against the reference's own."""
    cfg = ELEMENTS[element]
    label = cfg["label"]
    out = []
    for store in label["stores"]:
        out.append(res(f"{element}/labelled/{store}.h5"))
        out.append(res(f"{element}/labelled/{store}_summary.json"))
    trainsets = labelled_trainsets(element)
    if trainsets:
        out.append(res(f"{element}/{trainsets[0]}/crystals_nnp.md"))
        if label["test_store"]:
            out += [res(f"{element}/{ts}/test/metrics.csv") for ts in trainsets]
            out.append(res(f"{element}/labelled/learning_curve.csv"))
    if cfg["reference"]["kind"] != "eam":
        out.append(res(f"{element}/reference/crystals.csv"))
    return out
