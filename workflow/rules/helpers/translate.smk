# Helpers of translate.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by translate.smk
def translate_cfg(wc):
    return element_cfg(wc)["translate"]


# used by translate.smk, report.smk
def transfer_elements():
    """The translation targets: every element with translate.enabled but the sources (the source and
    the complement, if any)."""
    if not ELEMENTS[SOURCE_ELEMENT]["distill"]["enabled"]:
        return []
    return [el for el, cfg in ELEMENTS.items() if el not in TRANSLATION_SOURCES and cfg["translate"]["enabled"]]


# used by translate.smk, report.smk: the translated set's and the control's training-set folders
def transfer_trainsets(element):
    cfg = ELEMENTS[element]["translate"]
    n_distilled = 0
    for source in TRANSLATION_SOURCES:
        source_cfg = ELEMENTS[source]["distill"]
        n_distilled += source_cfg["n_initial"] + source_cfg["n_iterations"] * source_cfg["n_per_iteration"]
    # the control: as many frames as the translated set holds (translated, native, cold crystals)
    n_frames = (n_distilled * len(cfg["scale_multipliers"]) + cfg["native_frames"]
                + len(CRYSTAL_FRAME_STRUCTURES) * len(cfg["crystal_strains"]))
    return {
        "translated": f"{element}/translated/from_{'+'.join(TRANSLATION_SOURCES)}",
        "control": f"{element}/subset/{cfg['eval_pool']}_n{n_frames}",
    }


# used by translate.smk
def translate_targets(element):
    """Translated training set, its ensemble on the target's pool and crystals, and the control."""
    if element not in transfer_elements():
        return []
    pool = ELEMENTS[element]["translate"]["eval_pool"]
    out = []
    for trainset in transfer_trainsets(element).values():
        out.append(res(f"{trainset}/pred_{pool}/metrics.csv"))
        out.append(res(f"{trainset}/crystals_nnp.md"))
    return out


# used by translate.smk: every target's translated and control results for the transfer table
def transfer_table_inputs(wildcards):
    out = {}
    for element in transfer_elements():
        pool = ELEMENTS[element]["translate"]["eval_pool"]
        sets = transfer_trainsets(element)
        out[f"{element}/translated_h5"] = res(f"{sets['translated']}.h5")
        out[f"{element}/eam_crystals"] = res(f"{element}/eam/crystals.csv")
        for name, trainset in sets.items():
            out[f"{element}/{name}_metrics"] = res(f"{trainset}/pred_{pool}/metrics.csv")
            out[f"{element}/{name}_crystals"] = res(f"{trainset}/crystals_nnp.csv")
        out[f"{element}/translated_scores"] = res(f"{sets['translated']}/pred_{pool}/scores.csv")
    return out


# used by common.smk (all_targets)
def transfer_table_targets():
    return [res("transfer.csv"), res("transfer.md")] if transfer_elements() else []


# used by translate.smk: the distilled frames of each source ("Ni" or "Ni+V"), or a given store for the
# first (translate.source_frames)
def translate_source_frames(wc):
    given = translate_cfg(wc)["source_frames"]
    strategy = translate_cfg(wc)["strategy"]
    return [given if given and k == 0 else res(f"{source}/distill/{strategy}/distilled.h5")
            for k, source in enumerate(wc.source.split("+"))]


# used by translate.smk: each source's EAM crystal table, in the order of the sources
def translate_source_crystals(wc):
    return [res(f"{source}/eam/crystals.csv") for source in wc.source.split("+")]


# used by translate.smk: the target's own pool when the translated set takes native frames from it
def translate_native_pool(wc):
    cfg = translate_cfg(wc)
    return [res(f"{wc.element}/sample/{cfg['eval_pool']}.h5")] if cfg["native_frames"] else []
