# Helpers of translate.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by translate.smk
def translate_cfg(wc):
    return element_cfg(wc)["translate"]


# used by translate.smk
def translate_targets(element):
    """Translated training set, its ensemble on the target's pool and crystals, and the control."""
    cfg = ELEMENTS[element]["translate"]
    if element == SOURCE_ELEMENT or not cfg["enabled"]:
        return []
    source_cfg = ELEMENTS[SOURCE_ELEMENT]["distill"]
    n_frames = source_cfg["n_initial"] + source_cfg["n_iterations"] * source_cfg["n_per_iteration"]
    out = []
    for trainset in (f"translated/from_{SOURCE_ELEMENT}", f"subset/{cfg['eval_pool']}_n{n_frames}"):
        out.append(res(f"{element}/{trainset}/pred_{cfg['eval_pool']}/metrics.csv"))
        out.append(res(f"{element}/{trainset}/crystals_nnp.md"))
    return out


# used by translate.smk: the distilled source frames, or a given store (translate.source_frames)
def translate_source_frames(wc):
    given = translate_cfg(wc)["source_frames"]
    if given:
        return given
    return res(f"{wc.source}/distill/{translate_cfg(wc)['strategy']}/distilled.h5")
