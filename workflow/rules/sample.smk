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
    params:
        **_sample_params("momt"),
    threads: 1
    resources:
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
    params:
        **_sample_params("npt"),
    threads: 1
    resources:
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
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/plot_sampling.py"


rule reweight_momt:
    """Reweight a MOMT run with its final bias: <H>(T), C_P(T), P_solid(T) and the EAM melting point."""
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
    log:
        res("{element}/logs/reweight_momt_{size}.log"),
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


