# Helpers of distill.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by distill.smk
def distill_cfg(wc):
    return element_cfg(wc)["distill"]


# used by distill.smk
def selection_pool(wc):
    return res(f"{wc.element}/sample/{distill_cfg(wc)['pool']}.h5")


# used by distill.smk: the settings each strategy's selection step reads, so that tuning one
# strategy (e.g. the uncertainty guard) does not re-run the baselines' selections
SELECTION_KEYS = ("n_per_iteration", "target_mae_meV_per_atom", "target_uq_eV")
# strategy names as a wildcard pattern, longest first (fps_aev before fps)
STRATEGY_PATTERN = "|".join(sorted(STRATEGIES, key=len, reverse=True))


# used by distill.smk
def selection_settings(wc):
    cfg = distill_cfg(wc)
    keys = SELECTION_KEYS + REGISTRY[wc.strategy].config_keys
    if cfg["target_uq_eV"] is not None and "score" not in keys:
        keys += ("score",)  # the early-stop uncertainty target reads the frame score
    return {key: cfg[key] for key in keys}


# used by distill.smk
def previous_iteration(wc, path):
    return res(f"{wc.element}/distill/{wc.strategy}/iter_{int(wc.iteration) - 1}/{path}")


# used by distill.smk
def final_iteration(element):
    return ELEMENTS[element]["distill"]["n_iterations"]


# used by distill.smk
def selection_scores(wc):
    """The scores select_frames reads. The uncertainty and ceiling strategies (and any strategy under
    an early-stop target) need the previous iteration's ensemble; random, grid and FPS only need the pool's energies
    and order parameters, which every scores file of the pool holds, so they read iteration 0's and
    their chain of selections does not wait for (or force) the training of every iteration."""
    cfg = distill_cfg(wc)
    needs_model = wc.strategy in MODEL_STRATEGIES or cfg["target_mae_meV_per_atom"] is not None \
        or cfg["target_uq_eV"] is not None
    it = int(wc.iteration) - 1 if needs_model else 0
    return res(f"{wc.element}/distill/{wc.strategy}/iter_{it}/pred_{cfg['pool']}/scores.csv")


# used by distill.smk
def selection_descriptors(wc):
    """fps_aev and direct read the frames' pooled descriptors from the selection pool's AEV cache."""
    if wc.strategy not in DESCRIPTOR_STRATEGIES:
        return []
    return res(f"{wc.element}/sample/aev/{distill_cfg(wc)['pool']}.h5")


# used by distill.smk
def selection_ranking(wc):
    """quests takes its frames in the order of the pool's one-off ranking (rank_frames)."""
    if wc.strategy not in RANKED_STRATEGIES:
        return []
    return res(f"{wc.element}/distill/{wc.strategy}/ranking.csv")


# used by distill.smk: the settings a ranked strategy's ranking depends on (not n_iterations: raising
# it must run only the new iterations)
def ranking_settings(wc):
    cfg = distill_cfg(wc)
    return {key: cfg[key] for key in REGISTRY[wc.strategy].config_keys}


# used by distill.smk
def evaluated_iterations(cfg, strategy):
    """Iterations whose ensemble is trained and scored for the learning curve: every one for the
    uncertainty loop and the ceiling; for a baseline, those of ``baseline_iterations`` or else every
    ``baseline_stride``-th one (0, s, 2s, ...), and always 0 and the final iteration."""
    final = cfg["n_iterations"]
    if strategy in MODEL_STRATEGIES:  # every iteration's ensemble is trained and scored anyway
        return list(range(final + 1))
    if cfg.get("baseline_iterations") is not None:
        chosen = {it for it in cfg["baseline_iterations"] if it <= final}
    else:
        chosen = set(range(0, final + 1, cfg["baseline_stride"]))
    # iteration 0 (shared with the loop) and the final budget are always compared
    return sorted(chosen | {0, final})


# used by distill.smk
def curve_inputs(wc):
    cfg = ELEMENTS[wc.element]["distill"]
    out = {"pool": res(f"{wc.element}/sample/{cfg['pool']}.h5")}
    for strategy in cfg["strategies"]:
        for it in evaluated_iterations(cfg, strategy):
            base = f"{wc.element}/distill/{strategy}/iter_{it}"
            out[f"{strategy}/{it}/selection"] = res(f"{base}/selection.csv")
            for pool in cfg["eval_pools"]:
                out[f"{strategy}/{it}/{pool}"] = res(f"{base}/pred_{pool}/metrics.csv")
    return out


# used by distill.smk
def distill_targets(element):
    cfg = ELEMENTS[element]["distill"]
    final = cfg["n_iterations"]
    out = [res(f"{element}/distill/learning_curve.csv"), res(f"{element}/distill/figure2.png")]
    for strategy in cfg["strategies"]:
        out.append(res(f"{element}/distill/{strategy}/manifest.json"))
    for strategy in card_strategies(element):
        out.append(res(f"{element}/distill/{strategy}/card.md"))
    # Table 2: the final distilled ensemble and, for comparison, one trained on the whole pool
    out.append(res(f"{element}/distill/uncertainty/iter_{final}/crystals_nnp.md"))
    if cfg["whole_pool_control"]:
        out.append(res(f"{element}/subset/{cfg['pool']}_all/crystals_nnp.md"))
        for pool in cfg["eval_pools"]:
            out.append(res(f"{element}/subset/{cfg['pool']}_all/pred_{pool}/metrics.csv"))
    return out


# used by distill.smk: the distilled sets that get a dataset card: those translated to other metals
# (their card carries the transfer table), else the uncertainty loop's
def card_strategies(element):
    strategies = ELEMENTS[element]["distill"]["strategies"]
    translated = set()
    if element == SOURCE_ELEMENT:
        translated = {ELEMENTS[t]["translate"]["strategy"] for t in transfer_elements()}
    return sorted(s for s in strategies if s in translated or (not translated and s == "uncertainty"))


# used by distill.smk
def card_inputs(wc):
    base = f"{wc.element}/distill/{wc.strategy}"
    out = {
        "manifest": res(f"{base}/manifest.json"),
        "h5": res(f"{base}/distilled.h5"),
        "extxyz": res(f"{base}/distilled.extxyz"),
        "pool": selection_pool(wc),
    }
    if wc.element == SOURCE_ELEMENT and any(
        ELEMENTS[t]["translate"]["strategy"] == wc.strategy for t in transfer_elements()
    ):
        out["transfer"] = res("transfer.csv")
    return out
