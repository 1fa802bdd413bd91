# Helpers of report.smk (input functions, params, targets), beside the other stages' helpers:
# functions only (snakemake --lint keeps rule files free of them); included by common.smk.


# used by report.smk
def summary_inputs(wildcards):
    """Named inputs of write_summary: whatever the configured campaign produces."""
    out = {}
    for element, cfg in ELEMENTS.items():
        out[f"eam/{element}"] = res(f"{element}/eam/crystals.csv")
    source = SOURCE_ELEMENT
    scfg, ncfg, dcfg = (ELEMENTS[source][k] for k in ("sample", "nnp", "distill"))
    if ncfg["table1_frames"] and ncfg["table1_size"] in scfg["sizes"]:
        for method in scfg["methods"]:
            ts = f"{source}/subset/{method}_{ncfg['table1_size']}_n{ncfg['table1_frames']}"
            out[f"table1/{method}"] = res(f"{ts}/crystals_nnp.csv")
            if "momt" in scfg["methods"]:
                out[f"table1_mae/{method}"] = res(f"{ts}/pred_momt_{ncfg['table1_size']}/metrics.csv")
    if dcfg["enabled"]:
        final = f"{source}/distill/uncertainty/iter_{dcfg['n_iterations']}"
        if "uncertainty" in dcfg["strategies"]:
            out["table2/distilled"] = res(f"{final}/crystals_nnp.csv")
        if dcfg["whole_pool_control"]:
            out["table2/whole"] = res(f"{source}/subset/{dcfg['pool']}_all/crystals_nnp.csv")
        out["curve"] = res(f"{source}/distill/learning_curve.csv")
        for element in transfer_elements():
            pool = ELEMENTS[element]["translate"]["eval_pool"]
            sets = transfer_trainsets(element)
            out[f"table3/{element}"] = res(f"{sets['translated']}/crystals_nnp.csv")
            out[f"fig3/{element}/translated"] = res(f"{sets['translated']}/pred_{pool}/metrics.csv")
            out[f"fig3/{element}/control"] = res(f"{sets['control']}/pred_{pool}/metrics.csv")
    return out
