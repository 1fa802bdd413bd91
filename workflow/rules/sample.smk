# Sampling: MOMT and conventional NPT with the element's EAM (paper: 32- and 108-atom Ni, 2000 K, 1 bar).
# Settings: element_cfg(wildcards)["sample"] (see workflow/schemas/element.schema.yaml).
# A killed job resumes from results/{element}/sample/{method}_{size}.h5.ckpt when rerun
# (keep the .partial and .ckpt files: snakemake --keep-incomplete, or rerun the script by hand).


wildcard_constraints:
    size=r"\d+",
    npt_method="npt_fcc|npt_liq",


rule sample_momt:
    """MOMT (multiorder-multithermal) NPT at T0/P0 with a Wang-Landau bias on (H, O)."""
    output:
        h5=res("{element}/sample/momt_{size}.h5"),
    log:
        res("{element}/logs/sample_momt_{size}.log"),
    benchmark:
        res("{element}/benchmarks/sample_momt_{size}.tsv"),
    params:
        **_sample_params("momt"),
    priority: job_priority
    threads: 1
    resources:
        gpu=stage_gpus("sample"),
        runtime=24 * 60,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/sample.py"


rule sample_npt:
    """Conventional NPT at T0/P0 from FCC (npt_fcc) or from a melted-and-quenched liquid (npt_liq)."""
    output:
        h5=res("{element}/sample/{npt_method}_{size}.h5"),
    log:
        res("{element}/logs/sample_{npt_method}_{size}.log"),
    benchmark:
        res("{element}/benchmarks/sample_{npt_method}_{size}.tsv"),
    params:
        **_sample_params("npt"),
    threads: 1
    resources:
        gpu=stage_gpus("sample"),
        runtime=24 * 60,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/sample.py"


rule plot_sampling:
    """Energy per atom vs frame (NPT-FCC, NPT-LIQ, MOMT; paper Fig. S1), (H, O) visits, bias, T_eff."""
    input:
        npt_fcc=res("{element}/sample/npt_fcc_{size}.h5"),
        npt_liq=res("{element}/sample/npt_liq_{size}.h5"),
        momt=res("{element}/sample/momt_{size}.h5"),
    output:
        energy=report(
            res("{element}/sample/plots/energy_{size}.png"),
            caption="../report/sampling.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "energy"},
        ),
        visits=report(
            res("{element}/sample/plots/visits_{size}.png"),
            caption="../report/sampling.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "visits"},
        ),
        bias=report(
            res("{element}/sample/plots/bias_{size}.png"),
            caption="../report/sampling.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "bias"},
        ),
        teff=report(
            res("{element}/sample/plots/t_eff_{size}.png"),
            caption="../report/sampling.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "t_eff"},
        ),
    log:
        res("{element}/logs/plot_sampling_{size}.log"),
    benchmark:
        res("{element}/benchmarks/plot_sampling_{size}.tsv"),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/plot_sampling.py"


rule reweight_momt:
    """Reweight the frozen-bias production frames of a MOMT run: <H>(T), C_P(T), P_solid(T), dG(T) with
    block-bootstrap errors, and the EAM melting point (null and a reason where the data cannot say)."""
    input:
        h5=res("{element}/sample/momt_{size}.h5"),
    output:
        csv=res("{element}/sample/reweight_{size}.csv"),
        json=res("{element}/sample/melting_{size}.json"),
        png=report(
            res("{element}/sample/plots/reweight_{size}.png"),
            caption="../report/reweight.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "reweighting"},
        ),
        free_energy=report(
            res("{element}/sample/plots/free_energy_{size}.png"),
            caption="../report/reweight.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "free energy (H, O)"},
        ),
        flatness=report(
            res("{element}/sample/plots/flatness_{size}.png"),
            caption="../report/reweight.rst",
            category="Sampling",
            labels={"element": "{element}", "size": "{size}", "plot": "Wang-Landau flatness"},
        ),
    log:
        res("{element}/logs/reweight_momt_{size}.log"),
    benchmark:
        res("{element}/benchmarks/reweight_momt_{size}.tsv"),
    params:
        cfg=lambda wc: element_cfg(wc)["sample"]["reweight"],
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/reweight_momt.py"


rule run_coexistence:
    """Direct solid-liquid coexistence (NPH, an interface in an elongated cell): the EAM's melting point,
    the independent check of the MOMT estimate."""
    output:
        json=res("{element}/coexistence/coexistence.json"),
        csv=res("{element}/coexistence/coexistence.csv"),
        png=report(
            res("{element}/coexistence/coexistence.png"),
            caption="../report/coexistence.rst",
            category="Sampling",
            labels={"element": "{element}", "plot": "coexistence"},
        ),
    log:
        res("{element}/logs/run_coexistence.log"),
    benchmark:
        res("{element}/benchmarks/run_coexistence.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        cfg=lambda wc: {k: v for k, v in element_cfg(wc)["coexistence"].items() if k != "enabled"},
    threads: 1
    resources:
        gpu=stage_gpus("sample"),
        runtime=6 * 60,
        mem_mb=4000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/run_coexistence.py"


rule compare_melting:
    """MOMT melting temperatures of every sampled size beside the coexistence reference (CSV, Markdown)."""
    input:
        momt=lambda wc: [res(f"{wc.element}/sample/melting_{n}.json") for n in element_cfg(wc)["sample"]["sizes"]],
        coexistence=res("{element}/coexistence/coexistence.json"),
    output:
        csv=res("{element}/sample/melting_comparison.csv"),
        md=res("{element}/sample/melting_comparison.md"),
    log:
        res("{element}/logs/compare_melting.log"),
    benchmark:
        res("{element}/benchmarks/compare_melting.tsv"),
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/compare_melting.py"
